// The CUDA backend's registration, memory and transfers (host code; the kernels live in the .cu
// files of this folder).
#include "tessera/backend/cuda/cuda_backend.h"

#include "tessera/backend/cuda/common.cuh"

namespace tessera::cuda {

Backend* cuda_backend_instance() {
  static CudaBackend b;
  return &b;
}

Device CudaBackend::device() const { return Device::cuda(current_device()); }

void CudaBackend::synchronize() { cuda::synchronize(); }

Storage CudaBackend::allocate(size_t nbytes, Device device) {
  int dev = device.index;
  CachingAllocator& alloc = device_allocator(dev);
  void* p = alloc.allocate(nbytes, current_stream(dev).id);
  return std::make_shared<StorageImpl>(p, nbytes, Device::cuda(dev), [&alloc](void* q) { alloc.free(q); });
}

void CudaBackend::transfer(const Tensor& dst, const Tensor& src, bool non_blocking) {
  size_t n = size_t(dst.numel()) * dst.element_size();
  if (n == 0) return;
  bool to_device = dst.device().is_cuda(), from_device = src.device().is_cuda();
  const Tensor& dev = to_device ? dst : src;
  OpDevice g(dev);
  cudaStream_t st = stream_of(dev);
  std::string what = detail::str("copy of ", describe(src), " to ", dst.device());
  if (to_device && from_device) {
    // The source's queued work must be done before its device's memory is read.
    check(cudaStreamSynchronize(stream_of(src)), "to", "cudaStreamSynchronize", what);
    check(cudaMemcpyPeerAsync(dst.data_ptr(), dst.device().index, src.data_ptr(), src.device().index, n, st), "to",
          "cudaMemcpyPeerAsync", what);
    if (!non_blocking) check(cudaStreamSynchronize(st), "to", "cudaStreamSynchronize", what);
    return;
  }
  const Tensor& host = to_device ? src : dst;
  void* block = host.storage()->data();
  bool pinned = is_pinned(block);
  check(cudaMemcpyAsync(dst.data_ptr(), src.data_ptr(), n, to_device ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost,
                        st),
        "to", "cudaMemcpyAsync", what);
  if (non_blocking && pinned) {  // the host block is not reused before this copy is done
    pinned_allocator().record_stream(block, reinterpret_cast<StreamId>(st));
    return;
  }
  check(cudaStreamSynchronize(st), "to", "cudaStreamSynchronize", what);
}

}  // namespace tessera::cuda
