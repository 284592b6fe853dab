// Integer matmul on CUDA (cuBLAS has none): 16x16 tiles through shared memory, any strides,
// accumulating in 64-bit unsigned arithmetic so that results wrap like the CPU's.
#include "tessera/backend/cuda/cuda_backend.h"
#include "tessera/backend/cuda/launch.cuh"
#include "tessera/backend/dispatch.h"

namespace tessera::cuda {

namespace {
constexpr int kTile = 16;
struct MatmulArgs {
  int64_t M, N, K;
  int64_t as[3], bs[3], os[3];  // element strides of a, b, out
};

template <class T>
__global__ void matmul_int_kernel(T* out, const T* a, const T* b, MatmulArgs g) {
  __shared__ T ta[kTile][kTile], tb[kTile][kTile];
  int64_t batch = blockIdx.z, row = int64_t(blockIdx.y) * kTile + threadIdx.y, col = int64_t(blockIdx.x) * kTile + threadIdx.x;
  const T* ab = a + batch * g.as[0];
  const T* bb = b + batch * g.bs[0];
  uint64_t acc = 0;
  for (int64_t k0 = 0; k0 < g.K; k0 += kTile) {
    int64_t ka = k0 + threadIdx.x, kb = k0 + threadIdx.y;
    ta[threadIdx.y][threadIdx.x] = row < g.M && ka < g.K ? ab[row * g.as[1] + ka * g.as[2]] : T(0);
    tb[threadIdx.y][threadIdx.x] = kb < g.K && col < g.N ? bb[kb * g.bs[1] + col * g.bs[2]] : T(0);
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kTile; ++k) acc += uint64_t(int64_t(ta[threadIdx.y][k])) * uint64_t(int64_t(tb[k][threadIdx.x]));
    __syncthreads();
  }
  if (row < g.M && col < g.N) out[batch * g.os[0] + row * g.os[1] + col * g.os[2]] = T(int64_t(acc));
}
}  // namespace

void matmul_integer(const Tensor& out, const Tensor& a, const Tensor& b) {
  MatmulArgs g{out.size(1), out.size(2), a.size(2), {}, {}, {}};
  for (int i = 0; i < 3; ++i) {
    g.as[i] = a.stride(i);
    g.bs[i] = b.stride(i);
    g.os[i] = out.stride(i);
  }
  int64_t batch = out.size(0);
  TS_CHECK_VALUE(batch <= 65535 && (g.M + kTile - 1) / kTile <= 65535, "matmul: integer matmuls on CUDA take at most ",
                 "65535 batches and 65535 * 16 rows, got ", out.shape());
  dim3 grid(unsigned((g.N + kTile - 1) / kTile), unsigned((g.M + kTile - 1) / kTile), unsigned(batch));
  OpDevice dev(out);
  dispatch_all(out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (math::is_int_v<T>)
      matmul_int_kernel<T><<<grid, dim3(kTile, kTile), 0, stream_of(out)>>>(
          static_cast<T*>(out.data_ptr()), static_cast<const T*>(a.data_ptr()), static_cast<const T*>(b.data_ptr()), g);
    else
      throw DTypeError(detail::str("matmul: no integer kernel for ", out.dtype()));
  });
  check_launch("matmul", out);
}

}  // namespace tessera::cuda
