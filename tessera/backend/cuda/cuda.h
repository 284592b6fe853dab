#pragma once
// CUDA devices, streams and memory (torch.cuda's queries): availability, device properties, the
// current device and stream, synchronization, the statistics of the caching allocator that
// serves device and pinned host memory, and the switches of the math libraries. Every build has
// this API: without the CUDA toolkit, a driver or a device, is_available() is false and
// unavailable_reason() says which.
#include <string>

#include "tessera/backend/caching_allocator.h"

namespace tessera::cuda {

// True when this build has the CUDA backend and at least one device answers.
bool is_available();
// The number of devices (0 without CUDA, a driver or a device).
int device_count();
// Why is_available() is false ("" when it is true): "this build of tessera has no CUDA
// support", "CUDA driver: <error>", "no CUDA device".
std::string unavailable_reason();
// Whether the library was built with the CUDA toolkit (the runtime and the kernels).
bool built_with_cuda();
// A test harness, not a GPU: with TESSERA_EMULATE_CUDA=1 in the environment and no device
// answering, there is one emulated cuda:0 whose memory is host memory and whose kernels are the
// CPU backend's, so that device plumbing (transfers, module moves, device checks, pinned
// batches) is tested on machines without a GPU. is_emulated() says so.
bool is_emulated();

struct DeviceProperties {
  std::string name;
  size_t total_memory = 0;
  int major = 0, minor = 0;  // compute capability
  int multiprocessors = 0;
};
DeviceProperties get_device_properties(int device);

int current_device();
void set_device(int device);
// Makes device current for its scope (and restores the previous one).
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_;
};

// A CUDA stream of one device. id 0 is the device's default stream; every op of this thread
// runs on the current stream of its tensors' device, asynchronously: item(), printing and
// copies to the CPU wait for it.
struct Stream {
  int device = 0;
  StreamId id = 0;
  bool operator==(const Stream&) const = default;
};
// The calling thread's current stream on device (the current device when -1).
Stream current_stream(int device = -1);
// Makes s the calling thread's current stream of its device.
void set_current_stream(const Stream& s);
// A new stream on device (non-blocking with respect to the default stream); it lives as long
// as the process.
Stream create_stream(int device = -1);
// Makes a stream current for its scope.
class StreamGuard {
 public:
  explicit StreamGuard(const Stream& s);
  ~StreamGuard();
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  Stream previous_;
};
// Waits for all work queued on s.
void synchronize_stream(const Stream& s);

// Waits for all work on device (the current one when -1).
void synchronize(int device = -1);

// The caching allocator of a device's memory, and of pinned (page-locked) host memory.
CachingAllocator& device_allocator(int device);
CachingAllocator& pinned_allocator();
// A block of pinned host memory (free it with pinned_allocator().free). Its reuse waits for the
// streams recorded on it (record_stream) to pass the point where it was freed.
void* allocate_pinned(size_t nbytes);
// Whether p is the start of a block of pinned host memory handed out by pinned_allocator().
bool is_pinned(const void* p);
MemoryStats memory_stats(int device = -1);
// Releases the cached, unused memory of every device and of pinned memory.
void empty_cache();
void reset_peak_memory_stats(int device = -1);

// The math libraries' switches, with PyTorch's defaults:
// torch.backends.cuda.matmul.allow_tf32 (false): float32 matmuls may round inputs to TF32;
// torch.backends.cudnn.allow_tf32 (true): float32 convolutions may use TF32;
// torch.backends.cudnn.benchmark (true here): cuDNN times the algorithms once per shape and
// keeps the fastest; false takes cuDNN's heuristic choice.
void set_matmul_allow_tf32(bool on);
bool matmul_allow_tf32();
void set_cudnn_allow_tf32(bool on);
bool cudnn_allow_tf32();
void set_cudnn_benchmark(bool on);
bool cudnn_benchmark();
// torch.backends.cudnn.deterministic (false here): only algorithms cuDNN reports deterministic
// are chosen for convolutions.
void set_cudnn_deterministic(bool on);
bool cudnn_deterministic();

}  // namespace tessera::cuda
