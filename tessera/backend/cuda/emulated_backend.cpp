// The backend of the emulated CUDA device (a test harness, see cuda.h): the CPU backend's kernels
// and transfers on host memory that is tagged cuda:0, so tensors keep their device through every
// op and transfers go through Backend::transfer as they do on a GPU.
#include "tessera/backend/cpu/cpu_backend.h"
#include "tessera/backend/cuda/cuda.h"

namespace tessera::cuda {

namespace {
class EmulatedBackend final : public cpu::CpuBackend {
 public:
  Device device() const override { return Device::cuda(0); }
  std::string name() const override { return "emulated cuda"; }
  Storage allocate(size_t nbytes, Device d) override {
    if (d.is_cpu()) return cpu::CpuBackend::allocate(nbytes);
    CachingAllocator& alloc = device_allocator(d.index);
    void* p = alloc.allocate(nbytes, current_stream(d.index).id);
    return std::make_shared<StorageImpl>(p, nbytes, d, [&alloc](void* q) { alloc.free(q); });
  }
};
}  // namespace

Backend* emulated_backend_instance() {
  static EmulatedBackend b;
  return &b;
}

}  // namespace tessera::cuda
