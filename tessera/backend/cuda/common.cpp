// Host helpers of the CUDA backend: errors, streams, the op's device, launch sizes, scratch memory.
#include "tessera/backend/cuda/common.cuh"

#include <mutex>
#include <sstream>
#include <vector>

#include "tessera/backend/backend.h"

namespace tessera::cuda {

void throw_cuda_error(cudaError_t e, const std::string& op, const char* what, const std::string& context) {
  cudaGetLastError();  // clear the error so later calls do not report it again
  std::string msg = detail::str(op, ": ", what, " failed: ", cudaGetErrorString(e), " (", cudaGetErrorName(e), ")",
                                context.empty() ? "" : " [", context, context.empty() ? "" : "]");
  if (e == cudaErrorMemoryAllocation) throw OutOfMemoryError(msg);
  throw DeviceError(msg);
}

std::string describe(const Tensor& t) {
  std::ostringstream os;
  os << t.dtype() << " " << t.shape() << " on " << t.device();
  return os.str();
}

void check_launch(const char* op, const Tensor& t) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw_cuda_error(e, op, "kernel launch", describe(t));
}

cudaStream_t stream_of(int device) { return reinterpret_cast<cudaStream_t>(current_stream(device).id); }
cudaStream_t stream_of(const Tensor& t) { return stream_of(t.device().index); }

OpDevice::OpDevice(const Tensor& t) {
  if (device_count() < 2) return;
  int now = 0;
  check(cudaGetDevice(&now), "cuda", "cudaGetDevice");
  if (now != t.device().index) {
    check(cudaSetDevice(t.device().index), "cuda", "cudaSetDevice");
    previous_ = now;
  }
}
OpDevice::~OpDevice() {
  if (previous_ >= 0) cudaSetDevice(previous_);
}

int multiprocessor_count(int device) {
  static std::mutex m;
  static std::vector<int> counts;
  std::lock_guard<std::mutex> g(m);
  if (counts.empty()) {
    counts.resize(size_t(device_count()), 0);
    for (int d = 0; d < device_count(); ++d) counts[size_t(d)] = get_device_properties(d).multiprocessors;
  }
  return counts.at(size_t(device));
}

unsigned blocks_for(int64_t n, int threads, int per_thread, int device) {
  int64_t per_block = int64_t(threads) * per_thread;
  int64_t need = (n + per_block - 1) / per_block;
  int64_t cap = int64_t(multiprocessor_count(device)) * 16;  // a grid-stride loop does the rest
  return unsigned(std::max<int64_t>(1, std::min(need, cap)));
}

Tensor new_tensor(const Shape& shape, DType dtype, const Tensor& like) {
  Storage s = backend_for(like.device()).allocate(size_t(numel_of(shape)) * dtype_size(dtype), like.device());
  return Tensor(std::move(s), shape, contiguous_strides(shape), 0, dtype);
}

Tensor scratch(const Tensor& like, size_t nbytes) {
  return new_tensor({int64_t(std::max<size_t>(nbytes, 1))}, DType::UInt8, like);
}

}  // namespace tessera::cuda
