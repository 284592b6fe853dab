#pragma once
// Internal to the CUDA backend (host code of .cpp and .cu files): status checks that become
// tessera errors naming the op, the current stream of a tensor's device, scratch memory and
// launch sizes.
#include <cuda_runtime_api.h>

#include <string>

#include "tessera/backend/cuda/cuda.h"
#include "tessera/core/tensor.h"

namespace tessera::cuda {

// Throws DeviceError ("<op>: <what> failed: <CUDA's message> (<name>) [context]"), or
// OutOfMemoryError for cudaErrorMemoryAllocation, after clearing CUDA's error state.
[[noreturn]] void throw_cuda_error(cudaError_t e, const std::string& op, const char* what, const std::string& context);
inline void check(cudaError_t e, const std::string& op, const char* what, const std::string& context = {}) {
  if (e != cudaSuccess) throw_cuda_error(e, op, what, context);
}
// "float32 [2, 3] on cuda:0" for error messages.
std::string describe(const Tensor& t);
// Checks the launch of a kernel just queued for op on t.
void check_launch(const char* op, const Tensor& t);

// The calling thread's current stream of t's (a CUDA tensor's) device.
cudaStream_t stream_of(const Tensor& t);
cudaStream_t stream_of(int device);
// Makes t's device current for an op's scope (a no-op with one device).
class OpDevice {
 public:
  explicit OpDevice(const Tensor& t);
  ~OpDevice();
  OpDevice(const OpDevice&) = delete;
  OpDevice& operator=(const OpDevice&) = delete;

 private:
  int previous_ = -1;
};

int multiprocessor_count(int device);
// Blocks for a grid-stride loop over n items with `threads` threads per block, `per_thread`
// items each: enough to fill the device a few times over, at least 1.
unsigned blocks_for(int64_t n, int threads, int per_thread, int device);

// A new contiguous tensor on like's device (from the caching allocator, on the current stream).
Tensor new_tensor(const Shape& shape, DType dtype, const Tensor& like);
// n bytes of device memory on like's device, alive as long as the returned tensor.
Tensor scratch(const Tensor& like, size_t nbytes);

}  // namespace tessera::cuda
