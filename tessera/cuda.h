#pragma once
// CUDA devices and their memory (torch.cuda's queries): availability, device properties, the
// current device, synchronization, and the statistics of the caching allocator that serves
// device and pinned host memory. Every build has this API: without the CUDA toolkit, a driver
// or a device, is_available() is false and unavailable_reason() says which.
#include <string>

#include "tessera/backend/caching_allocator.h"

namespace tessera::cuda {

// True when this build has CUDA and at least one device answers.
bool is_available();
// The number of devices (0 without CUDA, a driver or a device).
int device_count();
// Why is_available() is false ("" when it is true): "this build of tessera has no CUDA
// support", "CUDA driver: <error>", "no CUDA device".
std::string unavailable_reason();
// Whether the library was built with the CUDA toolkit (the runtime, at least).
bool built_with_cuda();

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

// Waits for all work on device (the current one when -1).
void synchronize(int device = -1);

// The caching allocator of a device's memory, and of pinned (page-locked) host memory.
CachingAllocator& device_allocator(int device);
CachingAllocator& pinned_allocator();
MemoryStats memory_stats(int device = -1);
// Releases the cached, unused memory of every device and of pinned memory.
void empty_cache();
void reset_peak_memory_stats(int device = -1);

}  // namespace tessera::cuda
