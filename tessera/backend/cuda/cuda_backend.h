#pragma once
// The CUDA backend: kernels over the shared op math (backend/math) for the elementwise, reduction,
// indexing and random ops, CUB for scans and sorts, cuBLASLt for matmul, cuDNN for convolution.
// One instance serves every CUDA device: each op runs on its tensors' device, on the calling
// thread's current stream of that device, asynchronously. Its ops are spread over the files of
// this folder, one concern each, named like the CPU backend's.
#include "tessera/backend/backend.h"

namespace tessera::cuda {

class CudaBackend final : public Backend {
 public:
  Device device() const override;
  std::string name() const override { return "cuda"; }
  void synchronize() override;
  Storage allocate(size_t nbytes, Device device) override;
  TESSERA_BACKEND_OPS(override)
};

}  // namespace tessera::cuda
