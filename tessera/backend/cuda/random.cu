// Random numbers on CUDA: element i of a draw takes Philox block (offset + i) through the shared
// transforms of math/random.h, so a seed gives the same bits on the CPU and here. Compiled with
// --fmad=false (see tessera/CMakeLists.txt): the transforms must round exactly as written.
#include "tessera/backend/cuda/cuda_backend.h"
#include "tessera/backend/cuda/launch.cuh"
#include "tessera/backend/dispatch.h"
#include "tessera/backend/math/random.h"

namespace tessera::cuda {

namespace {
enum class Dist { Uniform, Normal, Randint };

template <class T>
__global__ void random_kernel(T* out, int64_t n, uint64_t seed, uint64_t offset, Dist dist, double a, double b,
                              int64_t lo, uint64_t range) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    Philox4x32 r = philox4x32(seed, offset + uint64_t(i));
    if constexpr (math::is_float_v<T>) {
      if (dist == Dist::Uniform) out[i] = math::uniform_value<T>(r, a, b);
      else if (dist == Dist::Normal) out[i] = math::normal_value<T>(r, a, b);
      else out[i] = math::randint_value<T>(r, lo, range);
    } else {
      out[i] = math::randint_value<T>(r, lo, range);
    }
  }
}

// out (contiguous, element i at byte i * sizeof(O)) = uniform() < p, p read through its strides.
template <class O, class P>
__global__ void bernoulli_kernel(math::OffsetCalculator<2> calc, char* out_start, char* out, const char* p, uint32_t n,
                                 uint64_t seed, uint64_t offset) {
  for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
    auto o = calc.get(i);
    char* at = out + o.v[0];
    uint64_t element = uint64_t(at - out_start) / sizeof(O);  // the global index: out is contiguous
    double prob = double(math::opmath_t<P>(*reinterpret_cast<const P*>(p + o.v[1])));
    *reinterpret_cast<O*>(at) = O(math::bernoulli_value(philox4x32(seed, offset + element), prob));
  }
}

template <class T>
void draw(const Tensor& out, Generator& g, Dist dist, double a, double b, int64_t lo, uint64_t range) {
  int64_t n = out.numel();
  uint64_t seed = g.seed(), offset = g.reserve(uint64_t(n));
  if (n == 0) return;
  OpDevice dev(out);
  random_kernel<T><<<blocks_for(n, kBlock, 1, out.device().index), kBlock, 0, stream_of(out)>>>(
      static_cast<T*>(out.data_ptr()), n, seed, offset, dist, a, b, lo, range);
  check_launch("random", out);
}
}  // namespace

void CudaBackend::uniform(const Tensor& out, double lo, double hi, Generator& g) {
  dispatch_floating(out.dtype(), "uniform",
                    [&](auto tag) { draw<typename decltype(tag)::type>(out, g, Dist::Uniform, lo, hi, 0, 1); });
}

void CudaBackend::normal(const Tensor& out, double mean, double std, Generator& g) {
  dispatch_floating(out.dtype(), "normal",
                    [&](auto tag) { draw<typename decltype(tag)::type>(out, g, Dist::Normal, mean, std, 0, 1); });
}

void CudaBackend::randint(const Tensor& out, int64_t lo, int64_t hi, Generator& g) {
  uint64_t range = uint64_t(hi) - uint64_t(lo);
  dispatch_all(out.dtype(),
               [&](auto tag) { draw<typename decltype(tag)::type>(out, g, Dist::Randint, 0, 0, lo, range); });
}

void CudaBackend::bernoulli(const Tensor& out, const Tensor& p, Generator& g) {
  int64_t n = out.numel();
  uint64_t seed = g.seed(), offset = g.reserve(uint64_t(n));
  if (n == 0) return;
  OpDevice dev(out);
  cudaStream_t st = stream_of(out);
  auto plan = plan_of<2>({&out, &p}, true);
  char* base = static_cast<char*>(out.data_ptr());
  dispatch_all(out.dtype(), [&](auto otag) {
    using O = typename decltype(otag)::type;
    dispatch_floating(p.dtype(), "bernoulli", [&](auto ptag) {
      using P = typename decltype(ptag)::type;
      math::for_each_32bit(plan, [&](const math::StridedPlan<2>& piece) {
        bernoulli_kernel<O, P><<<blocks_for(piece.numel, kBlock, 1, out.device().index), kBlock, 0, st>>>(
            math::OffsetCalculator<2>(piece), base, base + piece.base[0], static_cast<const char*>(p.data_ptr()) + piece.base[1],
            uint32_t(piece.numel), seed, offset);
        check_launch("bernoulli", out);
      });
    });
  });
}

}  // namespace tessera::cuda
