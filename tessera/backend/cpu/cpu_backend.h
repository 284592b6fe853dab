#pragma once
// The CPU backend: OpenMP loops, oneDNN for matmul and convolution. Its ops are spread over the
// files of this folder, one concern each (elementwise.cpp, reduce.cpp, index.cpp, ...).
#include "tessera/backend/backend.h"

namespace tessera::cpu {

class CpuBackend : public Backend {
 public:
  Device device() const override { return Device::cpu(); }
  std::string name() const override { return "cpu"; }
  Storage allocate(size_t nbytes, Device) override { return allocate(nbytes); }
  Storage allocate(size_t nbytes);
  TESSERA_BACKEND_OPS(override)
  bool channels_last(DType dt) const override;
  // For bfloat16 operands where oneDNN has no bfloat16 kernels (CPUs without AVX-512; see
  // widen_bf16): a float32 copy of t, for the float32 kernels (a broadcast, stride-0 leading dim
  // stays broadcast; values false: an output, left uninitialized); an undefined tensor stays
  // undefined.
  Tensor widened(const Tensor& t, bool values = true);
  bool batch_norm_backward(const Tensor& gx, const Tensor& gw, const Tensor& gb, const Tensor& g, const Tensor& x,
                           const Tensor& mean, const Tensor& rstd, const Tensor& weight, int64_t A, int64_t C,
                           int64_t B) override;
  bool rnn_forward(const RnnArgs& a, const Tensor& y, const Tensor& hn, const Tensor& cn, Tensor* workspace) override;
  bool rnn_backward(const RnnArgs& a, const Tensor& y, const Tensor& hn, const Tensor& cn, const Tensor& workspace,
                    const Tensor& gy, const Tensor& ghn, const Tensor& gcn, const RnnGrads& grads) override;
};

}  // namespace tessera::cpu
