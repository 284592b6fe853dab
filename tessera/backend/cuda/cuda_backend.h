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
  void transfer(const Tensor& dst, const Tensor& src, bool non_blocking) override;
  void copy(const Tensor& dst, const Tensor& src) override;
  void fill(const Tensor& dst, const Scalar& v) override;
  void arange(const Tensor& out, double start, double step) override;
  void unary(UnaryOp op, const Tensor& out, const Tensor& in) override;
  void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) override;
  void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) override;
  void clamp(const Tensor& out, const Tensor& in, std::optional<Scalar> lo, std::optional<Scalar> hi) override;
  void fma(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& c) override;
  void reduce(ReduceOp op, const Tensor& out, const Tensor& in) override;
  void arg_reduce(bool is_max, const Tensor& out, const Tensor& in, int64_t dim) override;
  void cumsum(const Tensor& out, const Tensor& in, int64_t dim) override;
  void softmax(const Tensor& out, const Tensor& in, int64_t dim, bool log) override;
  void moments(const Tensor& mean, const Tensor& var, const Tensor& x, int64_t A, int64_t C, int64_t B) override;
  void layer_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& weight,
                  const Tensor& bias, double eps) override;
  void sort(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t dim, bool descending) override;
  void topk(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k, int64_t dim,
            bool largest) override;
  void gather(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index) override;
  void scatter(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, bool accumulate) override;
  Tensor nonzero(const Tensor& in) override;
  void matmul(const Tensor& out, const Tensor& a, const Tensor& b) override;
  void conv2d(const Tensor& out, const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p) override;
  void conv2d_backward_input(const Tensor& grad_x, const Tensor& grad_out, const Tensor& w,
                             const Conv2dParams& p) override;
  void conv2d_backward_weight(const Tensor& grad_w, const Tensor& grad_bias, const Tensor& x, const Tensor& grad_out,
                              const Conv2dParams& p) override;
  void max_pool2d(const Tensor& out, const Tensor& indices, const Tensor& x, const Pool2dParams& p) override;
  void max_pool2d_backward(const Tensor& grad_x, const Tensor& grad_out, const Tensor& indices) override;
  void avg_pool2d(const Tensor& out, const Tensor& x, const Pool2dParams& p) override;
  void avg_pool2d_backward(const Tensor& grad_x, const Tensor& grad_out, const Pool2dParams& p) override;
  void uniform(const Tensor& out, double lo, double hi, Generator& g) override;
  void normal(const Tensor& out, double mean, double std, Generator& g) override;
  void bernoulli(const Tensor& out, const Tensor& p, Generator& g) override;
  void randint(const Tensor& out, int64_t lo, int64_t hi, Generator& g) override;
};

}  // namespace tessera::cuda
