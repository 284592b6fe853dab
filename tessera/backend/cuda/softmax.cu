// Softmax and log-softmax on CUDA with the shared online merge (math::SoftmaxOp): rows of a
// contiguous last dim by a warp or a block each, any other dim by a thread per line.
#include "tessera/backend/cuda/cuda_backend.h"
#include "tessera/backend/cuda/launch.cuh"
#include "tessera/backend/dispatch.h"
#include "tessera/backend/math/reduce.h"

namespace tessera::cuda {

namespace {
template <class T>
__global__ void
    softmax_rows_kernel(T* out, const T* in, int64_t rows, int64_t n, bool log, int rows_per_block) {
  using M = math::opmath_t<T>;
  using Op = math::SoftmaxOp<M>;
  __shared__ typename Op::acc smem[32];
  int threads = rows_per_block == 1 ? blockDim.x : 32;
  int t = rows_per_block == 1 ? threadIdx.x : threadIdx.x % 32;
  int64_t row = int64_t(blockIdx.x) * rows_per_block + (rows_per_block == 1 ? 0 : threadIdx.x / 32);
  if (row >= rows) return;  // a whole warp or block
  const T* x = in + row * n;
  typename Op::acc a = Op::identity();
  for (int64_t i = t; i < n; i += threads) a = Op::reduce(a, M(x[i]));
  a = rows_per_block == 1 ? block_combine<Op>(a, smem) : warp_combine<Op>(a);
  M lse = Op::logsumexp(a);
  T* o = out + row * n;
  for (int64_t i = t; i < n; i += threads) o[i] = T(log ? M(x[i]) - lse : math::fast_exp(M(x[i]) - lse));
}

// One line per thread: heads (the line starts of out and in) from the offset calculator.
template <class T>
__global__ void softmax_lines_kernel(math::OffsetCalculator<2> heads, char* out, const char* in, uint32_t lines,
                                     int64_t n, int64_t so, int64_t si, bool log) {
  using M = math::opmath_t<T>;
  using Op = math::SoftmaxOp<M>;
  for (uint32_t l = blockIdx.x * blockDim.x + threadIdx.x; l < lines; l += blockDim.x * gridDim.x) {
    auto h = heads.get(l);
    char* o = out + h.v[0];
    const char* x = in + h.v[1];
    typename Op::acc a = Op::identity();
    for (int64_t i = 0; i < n; ++i) a = Op::reduce(a, M(*reinterpret_cast<const T*>(x + i * si)));
    M lse = Op::logsumexp(a);
    for (int64_t i = 0; i < n; ++i) {
      M v = M(*reinterpret_cast<const T*>(x + i * si));
      *reinterpret_cast<T*>(o + i * so) = T(log ? v - lse : math::fast_exp(v - lse));
    }
  }
}
}  // namespace

void CudaBackend::softmax(const Tensor& out, const Tensor& in, int64_t dim, bool log) {
  if (in.numel() == 0) return;
  const char* name = log ? "log_softmax" : "softmax";
  int64_t n = in.size(dim);
  OpDevice g(in);
  cudaStream_t st = stream_of(in);
  dispatch_floating(in.dtype(), name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (dim == in.dim() - 1 && in.is_contiguous() && out.is_contiguous()) {
      int64_t rows = in.numel() / n;
      int per_block = n <= 1024 ? kBlock / 32 : 1;
      int64_t blocks = (rows + per_block - 1) / per_block;
      TS_CHECK_VALUE(blocks <= INT32_MAX, name, ": too many rows on CUDA (", rows, ")");
      softmax_rows_kernel<T><<<unsigned(blocks), kBlock, 0, st>>>(static_cast<T*>(out.data_ptr()),
                                                                   static_cast<const T*>(in.data_ptr()), rows, n, log,
                                                                   per_block);
      check_launch(name, in);
      return;
    }
    Tensor ho = out.select(dim, 0), hi = in.select(dim, 0);
    auto plan = plan_of<2>({&ho, &hi}, true);
    int64_t so = out.stride(dim) * int64_t(sizeof(T)), si = in.stride(dim) * int64_t(sizeof(T));
    math::for_each_32bit(plan, [&](const math::StridedPlan<2>& p) {
      softmax_lines_kernel<T><<<blocks_for(p.numel, kBlock, 1, in.device().index), kBlock, 0, st>>>(
          math::OffsetCalculator<2>(p), static_cast<char*>(out.data_ptr()) + p.base[0],
          static_cast<const char*>(in.data_ptr()) + p.base[1], uint32_t(p.numel), n, so, si, log);
      check_launch(name, in);
    });
  });
}

}  // namespace tessera::cuda
