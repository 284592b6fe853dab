// Random number kernels: every element i draws from Philox block (offset + i / lanes), so the
// stream depends on the generator state only, never on the thread count.
#include <cmath>

#include "tessera/backend/cpu/cpu_backend.h"
#include "tessera/backend/cpu/loops.h"

namespace tessera::cpu {

namespace {
inline float u32_to_unit_float(uint32_t x) { return float(x >> 8) * (1.0f / 16777216.0f); }  // [0, 1)
inline double u64_to_unit_double(uint32_t hi, uint32_t lo) {
  return double(((uint64_t(hi) << 32) | lo) >> 11) * (1.0 / 9007199254740992.0);
}

// Fills a contiguous out: f(i, block) -> value, one Philox block per element.
template <class T, class F>
void fill_random(const Tensor& out, Generator& g, const F& f) {
  int64_t n = out.numel();
  uint64_t seed = g.seed(), offset = g.reserve(uint64_t(n));
  T* o = static_cast<T*>(out.data_ptr());
  parallel_for(n, 4096, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) o[i] = f(philox4x32(seed, offset + uint64_t(i)));
  });
}
}  // namespace

void CpuBackend::uniform(const Tensor& out, double lo, double hi, Generator& g) {
  dispatch_floating(out.dtype(), "uniform", [&](auto tag) {
    using T = typename decltype(tag)::type;
    fill_random<T>(out, g, [&](const Philox4x32& r) {
      if constexpr (std::is_same_v<T, double>) return lo + (hi - lo) * u64_to_unit_double(r.v[0], r.v[1]);
      else return T(float(lo) + float(hi - lo) * u32_to_unit_float(r.v[0]));
    });
  });
}

void CpuBackend::normal(const Tensor& out, double mean, double std, Generator& g) {
  dispatch_floating(out.dtype(), "normal", [&](auto tag) {
    using T = typename decltype(tag)::type;
    fill_random<T>(out, g, [&](const Philox4x32& r) {
      // Box-Muller; 1 - u keeps the log argument in (0, 1].
      double u1 = 1.0 - u64_to_unit_double(r.v[0], r.v[1]), u2 = u64_to_unit_double(r.v[2], r.v[3]);
      double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
      return T(opmath_t<T>(mean + std * z));
    });
  });
}

void CpuBackend::bernoulli(const Tensor& out, const Tensor& p, Generator& g) {
  Storage tmp = allocate(size_t(out.numel()) * sizeof(double));
  Tensor u(tmp, out.shape(), contiguous_strides(out.shape()), 0, DType::Float64);
  uniform(u, 0.0, 1.0, g);
  Tensor pd(allocate(size_t(out.numel()) * sizeof(double)), out.shape(), contiguous_strides(out.shape()), 0,
            DType::Float64);
  copy(pd, p);
  Tensor mask(allocate(size_t(out.numel())), out.shape(), contiguous_strides(out.shape()), 0, DType::Bool);
  binary(BinaryOp::Lt, mask, u, pd);
  copy(out, mask);
}

void CpuBackend::randint(const Tensor& out, int64_t lo, int64_t hi, Generator& g) {
  uint64_t range = uint64_t(hi) - uint64_t(lo);
  dispatch_all(out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    fill_random<T>(out, g, [&](const Philox4x32& r) {
      uint64_t x = (uint64_t(r.v[0]) << 32) | r.v[1];
      return T(opmath_t<T>(int64_t(uint64_t(lo) + x % range)));
    });
  });
}

}  // namespace tessera::cpu
