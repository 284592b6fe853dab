// CUDA devices, streams and memory. The public API runs on a driver: the CUDA runtime (linked
// statically, so the library loads and runs on machines without a driver, where is_available()
// says why not), the test emulation (TESSERA_EMULATE_CUDA=1 where no device answers: one cuda:0
// in host memory, see cuda.h), or none (a build without the toolkit, or no device).
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "tessera/backend/backend.h"
#include "tessera/backend/cuda/cuda.h"
#include "tessera/core/error.h"

#ifdef TESSERA_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace tessera::cuda {

namespace {
// Pinned blocks belong to no stream (kHostStream): every stream a copy used must be recorded
// and pass the point of the free before a block is reused.
constexpr StreamId kHostStream = ~StreamId(0);
const char* kNoCuda = "this build of tessera has no CUDA support (configure with the CUDA toolkit present)";

class Driver {
 public:
  int count = 0;
  std::string reason;
  bool emulated = false;
  virtual ~Driver() = default;
  virtual DeviceProperties properties(int device) = 0;
  virtual int get_device() = 0;
  virtual void set_device(int device) = 0;
  virtual void synchronize(int device) = 0;
  virtual StreamId create_stream(int device) = 0;
  virtual void synchronize_stream(int device, StreamId s) = 0;
  virtual std::unique_ptr<RawAllocator> device_memory(int device) = 0;
  virtual std::unique_ptr<RawAllocator> pinned_memory() = 0;
};

// No device: the public API refuses before reaching these.
class NoDriver final : public Driver {
 public:
  explicit NoDriver(std::string why) { reason = std::move(why); }
  [[noreturn]] void refuse() { throw DeviceError(detail::str("CUDA is not available: ", reason)); }
  DeviceProperties properties(int) override { refuse(); }
  int get_device() override { refuse(); }
  void set_device(int) override { refuse(); }
  void synchronize(int) override { refuse(); }
  StreamId create_stream(int) override { refuse(); }
  void synchronize_stream(int, StreamId) override { refuse(); }
  std::unique_ptr<RawAllocator> device_memory(int) override { refuse(); }
  std::unique_ptr<RawAllocator> pinned_memory() override { refuse(); }
};

// Host memory standing in for device memory: work is synchronous, so every event is done.
class HostMemory final : public RawAllocator {
 public:
  explicit HostMemory(std::string name) : name_(std::move(name)) {}
  void* raw_malloc(size_t n) override { return std::aligned_alloc(256, (n + 255) / 256 * 256); }
  void raw_free(void* p) override { std::free(p); }
  EventId record_event(StreamId) override { return 1; }
  bool event_done(EventId) override { return true; }
  void destroy_event(EventId) override {}
  std::string name() const override { return name_; }

 private:
  std::string name_;
};

class EmulatedDriver final : public Driver {
 public:
  EmulatedDriver() {
    count = 1;
    emulated = true;
  }
  DeviceProperties properties(int) override { return {"emulated CUDA device (host memory, CPU kernels)", 0, 0, 0, 1}; }
  int get_device() override { return 0; }
  void set_device(int) override {}
  void synchronize(int) override {}
  StreamId create_stream(int) override { return ++streams_; }
  void synchronize_stream(int, StreamId) override {}
  std::unique_ptr<RawAllocator> device_memory(int) override { return std::make_unique<HostMemory>("cuda:0 (emulated)"); }
  std::unique_ptr<RawAllocator> pinned_memory() override { return std::make_unique<HostMemory>("pinned host memory"); }

 private:
  std::atomic<StreamId> streams_{0};
};

#ifdef TESSERA_WITH_CUDA
void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear the error so that later calls do not report it again
    throw DeviceError(detail::str("CUDA: ", what, " failed: ", cudaGetErrorString(e), " (", cudaGetErrorName(e), ")"));
  }
}

// Device memory: cudaMalloc on the allocator's device; events mark stream progress.
class CudaMemory : public RawAllocator {
 public:
  explicit CudaMemory(int device) : device_(device) {}
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

// Pinned host memory, for asynchronous copies (its events are recorded on the copying streams).
class PinnedMemory final : public CudaMemory {
 public:
  PinnedMemory() : CudaMemory(0) {}
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

class CudaDriver final : public Driver {
 public:
  CudaDriver() {
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
      cudaGetLastError();
      count = 0;
      reason = detail::str("CUDA driver: ", cudaGetErrorString(e), " (", cudaGetErrorName(e), ")");
    } else if (count == 0) {
      reason = "no CUDA device";
    }
  }
  DeviceProperties properties(int device) override {
    cudaDeviceProp p{};
    check(cudaGetDeviceProperties(&p, device), "cudaGetDeviceProperties");
    return {p.name, p.totalGlobalMem, p.major, p.minor, p.multiProcessorCount};
  }
  int get_device() override {
    int d = 0;
    check(cudaGetDevice(&d), "cudaGetDevice");
    return d;
  }
  void set_device(int device) override { check(cudaSetDevice(device), "cudaSetDevice"); }
  void synchronize(int device) override {
    DeviceGuard g(device);
    check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  }
  StreamId create_stream(int device) override {
    DeviceGuard g(device);
    cudaStream_t st = nullptr;
    check(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    return reinterpret_cast<StreamId>(st);
  }
  void synchronize_stream(int device, StreamId s) override {
    DeviceGuard g(device);
    check(cudaStreamSynchronize(reinterpret_cast<cudaStream_t>(s)), "cudaStreamSynchronize");
  }
  std::unique_ptr<RawAllocator> device_memory(int device) override { return std::make_unique<CudaMemory>(device); }
  std::unique_ptr<RawAllocator> pinned_memory() override { return std::make_unique<PinnedMemory>(); }
};
#endif

Driver& driver() {
  static Driver* d = []() -> Driver* {  // never destroyed: storages may be freed after static destructors ran
    std::string why = kNoCuda;
#ifdef TESSERA_WITH_CUDA
    auto real = std::make_unique<CudaDriver>();
    if (real->count > 0) return real.release();
    why = real->reason;
#endif
    const char* emulate = std::getenv("TESSERA_EMULATE_CUDA");
    if (emulate && std::strcmp(emulate, "1") == 0) return new EmulatedDriver;
    return new NoDriver(why);
  }();
  return *d;
}

void check_device(int device) {
  TS_CHECK_DEVICE(driver().count > 0, "cuda:", device, " is not available: ", driver().reason);
  TS_CHECK_DEVICE(device >= 0 && device < driver().count, "cuda:", device, " does not exist (", driver().count,
                  " device", driver().count == 1 ? "" : "s", ")");
}

struct Allocators {
  std::vector<std::unique_ptr<RawAllocator>> raw;
  std::vector<std::unique_ptr<CachingAllocator>> caches;
  std::unique_ptr<RawAllocator> pinned_raw;
  std::unique_ptr<CachingAllocator> pinned;
};
Allocators& allocators() {
  static Allocators* a = [] {  // never destroyed, like the driver
    auto* r = new Allocators;
    for (int d = 0; d < driver().count; ++d) {
      r->raw.push_back(driver().device_memory(d));
      r->caches.push_back(std::make_unique<CachingAllocator>(*r->raw.back()));
    }
    if (driver().count > 0) {
      r->pinned_raw = driver().pinned_memory();
      r->pinned = std::make_unique<CachingAllocator>(*r->pinned_raw);
    }
    return r;
  }();
  return *a;
}

constexpr int kMaxDevices = 64;
thread_local StreamId tls_stream[kMaxDevices] = {};
int resolve(int device) { return device < 0 ? current_device() : device; }
}  // namespace

bool built_with_cuda() {
#ifdef TESSERA_WITH_CUDA
  return true;
#else
  return false;
#endif
}
int device_count() { return driver().count; }
std::string unavailable_reason() { return driver().reason; }
bool is_available() { return device_count() > 0; }
bool is_emulated() { return driver().emulated; }

DeviceProperties get_device_properties(int device) {
  check_device(device);
  return driver().properties(device);
}

int current_device() {
  TS_CHECK_DEVICE(driver().count > 0, "CUDA is not available: ", driver().reason);
  return driver().get_device();
}

void set_device(int device) {
  check_device(device);
  driver().set_device(device);
}

DeviceGuard::DeviceGuard(int device) : previous_(current_device()) {
  if (device != previous_) set_device(device);
}
DeviceGuard::~DeviceGuard() {
  try {
    if (driver().get_device() != previous_) driver().set_device(previous_);
  } catch (...) {  // destructors do not throw; the previous device was valid when saved
  }
}

void synchronize(int device) {
  device = resolve(device);
  check_device(device);
  driver().synchronize(device);
}

CachingAllocator& device_allocator(int device) {
  check_device(device);
  return *allocators().caches[size_t(device)];
}

CachingAllocator& pinned_allocator() {
  TS_CHECK_DEVICE(driver().count > 0, "pinned memory needs CUDA, which is not available: ", driver().reason);
  return *allocators().pinned;
}

void* allocate_pinned(size_t nbytes) { return pinned_allocator().allocate(nbytes, kHostStream); }

bool is_pinned(const void* p) { return driver().count > 0 && p && allocators().pinned->owns(p); }

Stream current_stream(int device) {
  device = resolve(device);
  check_device(device);
  TS_CHECK_DEVICE(device < kMaxDevices, "cuda:", device, ": at most ", kMaxDevices, " devices are supported");
  return {device, tls_stream[device]};
}

void set_current_stream(const Stream& s) {
  check_device(s.device);
  TS_CHECK_DEVICE(s.device < kMaxDevices, "cuda:", s.device, ": at most ", kMaxDevices, " devices are supported");
  tls_stream[s.device] = s.id;
}

Stream create_stream(int device) {
  device = resolve(device);
  check_device(device);
  return {device, driver().create_stream(device)};
}

void synchronize_stream(const Stream& s) {
  check_device(s.device);
  driver().synchronize_stream(s.device, s.id);
}

StreamGuard::StreamGuard(const Stream& s) : previous_(current_stream(s.device)) { set_current_stream(s); }
StreamGuard::~StreamGuard() {
  try {
    set_current_stream(previous_);
  } catch (...) {  // destructors do not throw; the previous stream was valid when saved
  }
}

MemoryStats memory_stats(int device) { return device_allocator(resolve(device)).stats(); }

void empty_cache() {
  for (int d = 0; d < device_count(); ++d) device_allocator(d).empty_cache();
  if (is_available()) pinned_allocator().empty_cache();
}

void reset_peak_memory_stats(int device) { device_allocator(resolve(device)).reset_peak_stats(); }

namespace {
std::atomic<bool> g_matmul_tf32{false}, g_cudnn_tf32{true}, g_cudnn_benchmark{true}, g_cudnn_deterministic{false};
}
void set_cudnn_deterministic(bool on) { g_cudnn_deterministic = on; }
bool cudnn_deterministic() { return g_cudnn_deterministic; }
void set_matmul_allow_tf32(bool on) { g_matmul_tf32 = on; }
bool matmul_allow_tf32() { return g_matmul_tf32; }
void set_cudnn_allow_tf32(bool on) { g_cudnn_tf32 = on; }
bool cudnn_allow_tf32() { return g_cudnn_tf32; }
void set_cudnn_benchmark(bool on) { g_cudnn_benchmark = on; }
bool cudnn_benchmark() { return g_cudnn_benchmark; }

#ifdef TESSERA_WITH_CUDA
Backend* cuda_backend_instance();  // cuda_backend.cpp
#endif
Backend* emulated_backend_instance();  // emulated_backend.cpp
}  // namespace tessera::cuda

namespace tessera {
// The backend of CUDA tensors: the CUDA backend where a device answers, the emulation's where
// TESSERA_EMULATE_CUDA=1 stands in for one, null otherwise.
Backend* make_cuda_backend() {
  if (!cuda::is_available()) return nullptr;
  if (cuda::is_emulated()) return cuda::emulated_backend_instance();
#ifdef TESSERA_WITH_CUDA
  return cuda::cuda_backend_instance();
#else
  return nullptr;
#endif
}
}  // namespace tessera
