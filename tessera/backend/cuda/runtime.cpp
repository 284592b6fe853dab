// CUDA devices and memory through the CUDA runtime (linked statically: the library loads and
// runs on machines without a driver, where is_available() says why not). Without the toolkit
// (TESSERA_WITH_CUDA undefined) the same API reports "no CUDA support in this build".
#include <memory>
#include <mutex>
#include <vector>

#include "tessera/core/error.h"
#include "tessera/cuda.h"

#ifdef TESSERA_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace tessera::cuda {

#ifdef TESSERA_WITH_CUDA
namespace {
void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error state
    throw DeviceError(detail::str("CUDA: ", what, " failed: ", cudaGetErrorString(e), " (", cudaGetErrorName(e), ")"));
  }
}

struct Probe {
  int count = 0;
  std::string reason;
};
const Probe& probe() {
  static const Probe p = [] {
    Probe r;
    cudaError_t e = cudaGetDeviceCount(&r.count);
    if (e != cudaSuccess) {
      cudaGetLastError();
      r.count = 0;
      r.reason = detail::str("CUDA driver: ", cudaGetErrorString(e), " (", cudaGetErrorName(e), ")");
    } else if (r.count == 0) {
      r.reason = "no CUDA device";
    }
    return r;
  }();
  return p;
}

void check_device(int device) {
  TS_CHECK_DEVICE(probe().count > 0, "cuda:", device, " is not available: ", probe().reason);
  TS_CHECK_DEVICE(device >= 0 && device < probe().count, "cuda:", device, " does not exist (", probe().count,
                  " device", probe().count == 1 ? "" : "s", ")");
}

// Device memory: cudaMalloc on the allocator's device; events mark stream progress.
class DeviceMemory : public RawAllocator {
 public:
  explicit DeviceMemory(int device) : device_(device) {}
  void* raw_malloc(size_t n) override {
    DeviceGuard g(device_);
    void* p = nullptr;
    cudaError_t e = cudaMalloc(&p, n);
    if (e == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      return nullptr;
    }
    check(e, "cudaMalloc");
    return p;
  }
  void raw_free(void* p) override {
    DeviceGuard g(device_);
    check(cudaFree(p), "cudaFree");
  }
  EventId record_event(StreamId s) override {
    DeviceGuard g(device_);
    cudaEvent_t ev;
    check(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming), "cudaEventCreate");
    check(cudaEventRecord(ev, reinterpret_cast<cudaStream_t>(s)), "cudaEventRecord");
    return reinterpret_cast<EventId>(ev);
  }
  bool event_done(EventId e) override {
    cudaError_t r = cudaEventQuery(reinterpret_cast<cudaEvent_t>(e));
    if (r == cudaErrorNotReady) {
      cudaGetLastError();
      return false;
    }
    check(r, "cudaEventQuery");
    return true;
  }
  void destroy_event(EventId e) override { cudaEventDestroy(reinterpret_cast<cudaEvent_t>(e)); }
  std::string name() const override { return "cuda:" + std::to_string(device_); }

 private:
  int device_;
};

// Pinned host memory, for asynchronous copies.
class PinnedMemory : public DeviceMemory {
 public:
  PinnedMemory() : DeviceMemory(0) {}
  void* raw_malloc(size_t n) override {
    void* p = nullptr;
    cudaError_t e = cudaHostAlloc(&p, n, cudaHostAllocDefault);
    if (e == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      return nullptr;
    }
    check(e, "cudaHostAlloc");
    return p;
  }
  void raw_free(void* p) override { check(cudaFreeHost(p), "cudaFreeHost"); }
  std::string name() const override { return "pinned host memory"; }
};

struct Allocators {
  std::vector<std::unique_ptr<DeviceMemory>> raw;
  std::vector<std::unique_ptr<CachingAllocator>> caches;
  std::unique_ptr<PinnedMemory> pinned_raw;
  std::unique_ptr<CachingAllocator> pinned;
};
Allocators& allocators() {
  // Never destroyed: storages may be freed after static destructors ran.
  static Allocators* a = [] {
    auto* r = new Allocators;
    for (int d = 0; d < probe().count; ++d) {
      r->raw.push_back(std::make_unique<DeviceMemory>(d));
      r->caches.push_back(std::make_unique<CachingAllocator>(*r->raw.back()));
    }
    r->pinned_raw = std::make_unique<PinnedMemory>();
    r->pinned = std::make_unique<CachingAllocator>(*r->pinned_raw);
    return r;
  }();
  return *a;
}
}  // namespace

bool built_with_cuda() { return true; }
int device_count() { return probe().count; }
std::string unavailable_reason() { return probe().reason; }

DeviceProperties get_device_properties(int device) {
  check_device(device);
  cudaDeviceProp p{};
  check(cudaGetDeviceProperties(&p, device), "cudaGetDeviceProperties");
  return {p.name, p.totalGlobalMem, p.major, p.minor, p.multiProcessorCount};
}

int current_device() {
  TS_CHECK_DEVICE(probe().count > 0, "CUDA is not available: ", probe().reason);
  int d = 0;
  check(cudaGetDevice(&d), "cudaGetDevice");
  return d;
}

void set_device(int device) {
  check_device(device);
  check(cudaSetDevice(device), "cudaSetDevice");
}

DeviceGuard::DeviceGuard(int device) : previous_(current_device()) {
  if (device != previous_) set_device(device);
}
DeviceGuard::~DeviceGuard() {
  int now = -1;
  if (cudaGetDevice(&now) == cudaSuccess && now != previous_) cudaSetDevice(previous_);
}

void synchronize(int device) {
  DeviceGuard g(device < 0 ? current_device() : device);
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

CachingAllocator& device_allocator(int device) {
  check_device(device);
  return *allocators().caches[size_t(device)];
}

CachingAllocator& pinned_allocator() {
  TS_CHECK_DEVICE(probe().count > 0, "pinned memory needs CUDA, which is not available: ", probe().reason);
  return *allocators().pinned;
}

#else  // no CUDA toolkit at build time

namespace {
const char* kNoCuda = "this build of tessera has no CUDA support (configure with the CUDA toolkit present)";
}
bool built_with_cuda() { return false; }
int device_count() { return 0; }
std::string unavailable_reason() { return kNoCuda; }
DeviceProperties get_device_properties(int device) { throw DeviceError(detail::str("cuda:", device, ": ", kNoCuda)); }
int current_device() { throw DeviceError(kNoCuda); }
void set_device(int device) { throw DeviceError(detail::str("cuda:", device, ": ", kNoCuda)); }
DeviceGuard::DeviceGuard(int device) : previous_(device) { throw DeviceError(detail::str("cuda:", device, ": ", kNoCuda)); }
DeviceGuard::~DeviceGuard() = default;
void synchronize(int) { throw DeviceError(kNoCuda); }
CachingAllocator& device_allocator(int device) { throw DeviceError(detail::str("cuda:", device, ": ", kNoCuda)); }
CachingAllocator& pinned_allocator() { throw DeviceError(kNoCuda); }

#endif

bool is_available() { return device_count() > 0; }

MemoryStats memory_stats(int device) { return device_allocator(device < 0 ? current_device() : device).stats(); }

void empty_cache() {
  for (int d = 0; d < device_count(); ++d) device_allocator(d).empty_cache();
  if (is_available()) pinned_allocator().empty_cache();
}

void reset_peak_memory_stats(int device) {
  device_allocator(device < 0 ? current_device() : device).reset_peak_stats();
}

}  // namespace tessera::cuda
