// Normalization statistics on CUDA: per-channel moments through the reduction engine with the
// shared Welford combine (in double), and a fused row-wise layer norm.
#include "tessera/backend/cuda/cuda_backend.h"
#include "tessera/backend/cuda/reduce.cuh"
#include "tessera/backend/dispatch.h"

namespace tessera::cuda {

namespace {
template <class T>
struct MomentsPolicy {
  using acc = math::Welford;
  ptrdiff_t var_minus_mean;  // bytes from an output's mean to its variance
  static __device__ __forceinline__ acc identity() { return math::WelfordOp::identity(); }
  static __device__ __forceinline__ acc combine(acc a, acc b) { return math::WelfordOp::combine(a, b); }
  __device__ __forceinline__ acc step(acc a, const char* p, uint32_t) const {
    return math::WelfordOp::reduce(a, double(math::opmath_t<T>(*reinterpret_cast<const T*>(p))));
  }
  __device__ __forceinline__ void finish(char* out, acc a) const {
    using M = math::opmath_t<T>;
    *reinterpret_cast<T*>(out) = T(M(math::WelfordOp::mean(a)));
    *reinterpret_cast<T*>(out + var_minus_mean) = T(M(math::WelfordOp::variance(a)));
  }
};

// One row of [M, N] per warp (rows_per_block = 8) or per block (1).
template <class T>
__global__ void
    layer_norm_kernel(T* out, T* mean, T* rstd, const T* x, const T* w, const T* b, int64_t rows, int64_t n,
                      double eps, int rows_per_block) {
  using M = math::opmath_t<T>;
  using Op = math::WelfordOp;
  __shared__ math::Welford smem[32];
  int threads = rows_per_block == 1 ? blockDim.x : 32;
  int t = rows_per_block == 1 ? threadIdx.x : threadIdx.x % 32;
  int64_t row = int64_t(blockIdx.x) * rows_per_block + (rows_per_block == 1 ? 0 : threadIdx.x / 32);
  if (row >= rows) return;  // a whole warp (rows_per_block > 1) or block: no barrier is skipped by part of one
  const T* xr = x + row * n;
  math::Welford a = Op::identity();
  for (int64_t i = t; i < n; i += threads) a = Op::reduce(a, double(M(xr[i])));
  a = rows_per_block == 1 ? block_combine<Op>(a, smem) : warp_combine<Op>(a);
  M mu = M(Op::mean(a)), rs = M(1.0 / sqrt(Op::variance(a) + eps));
  if (t == 0) {
    mean[row] = T(mu);
    rstd[row] = T(rs);
  }
  T* orow = out + row * n;
  for (int64_t i = t; i < n; i += threads) {
    M y = (M(xr[i]) - mu) * rs;
    if (w) y *= M(w[i]);
    if (b) y += M(b[i]);
    orow[i] = T(y);
  }
}
}  // namespace

void CudaBackend::moments(const Tensor& mean, const Tensor& var, const Tensor& x, int64_t A, int64_t C, int64_t B) {
  dispatch_floating(x.dtype(), "moments", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t es = int64_t(sizeof(T));
    const int64_t kshape[1] = {C}, kin[1] = {B}, kout[1] = {1};
    const int64_t* kst[2] = {kin, kout};
    const int64_t kel[2] = {es, es};
    auto kept = math::StridedPlan<2>::make(1, kshape, kst, kel, false);
    const int64_t rshape[2] = {A, B}, rin[2] = {C * B, 1};
    const int64_t* rst[1] = {rin};
    const int64_t rel[1] = {es};
    auto red = math::StridedPlan<1>::make(2, rshape, rst, rel, true);
    MomentsPolicy<T> pol{static_cast<char*>(var.data_ptr()) - static_cast<char*>(mean.data_ptr())};
    run_reduction("moments", mean, pol, kept, red, static_cast<const char*>(x.data_ptr()),
                  static_cast<char*>(mean.data_ptr()));
  });
}

void CudaBackend::layer_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x,
                             const Tensor& weight, const Tensor& bias, double eps) {
  int64_t rows = x.size(0), n = x.size(1);
  if (rows == 0) return;
  OpDevice g(x);
  dispatch_floating(x.dtype(), "layer_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    int per_block = n <= 1024 ? kBlock / 32 : 1;
    int64_t blocks = (rows + per_block - 1) / per_block;
    TS_CHECK_VALUE(blocks <= INT32_MAX, "layer_norm: too many rows on CUDA (", rows, ")");
    layer_norm_kernel<T><<<unsigned(blocks), kBlock, 0, stream_of(x)>>>(
        static_cast<T*>(out.data_ptr()), static_cast<T*>(mean.data_ptr()), static_cast<T*>(rstd.data_ptr()),
        static_cast<const T*>(x.data_ptr()), weight.defined() ? static_cast<const T*>(weight.data_ptr()) : nullptr,
        bias.defined() ? static_cast<const T*>(bias.data_ptr()) : nullptr, rows, n, eps, per_block);
  });
  check_launch("layer_norm", x);
}

}  // namespace tessera::cuda
