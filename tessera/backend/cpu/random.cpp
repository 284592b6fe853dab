// Random number kernels: element i of a draw takes Philox block (offset + i), transformed by the
// shared math/random.h, so the stream depends on the generator state only (never on the thread
// count) and equals the CUDA backend's bit for bit. Compiled with -ffp-contract=off (see
// tessera/CMakeLists.txt): the transforms must round exactly as written.
#include "tessera/backend/cpu/cpu_backend.h"
#include "tessera/backend/cpu/loops.h"
#include "tessera/backend/math/random.h"

namespace tessera::cpu {

namespace {
// Fills a contiguous out: f(block) -> value, one Philox block per element.
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
    fill_random<T>(out, g, [&](const Philox4x32& r) { return math::uniform_value<T>(r, lo, hi); });
  });
}

void CpuBackend::normal(const Tensor& out, double mean, double std, Generator& g) {
  dispatch_floating(out.dtype(), "normal", [&](auto tag) {
    using T = typename decltype(tag)::type;
    fill_random<T>(out, g, [&](const Philox4x32& r) { return math::normal_value<T>(r, mean, std); });
  });
}

void CpuBackend::bernoulli(const Tensor& out, const Tensor& p, Generator& g) {
  int64_t n = out.numel();
  uint64_t seed = g.seed(), offset = g.reserve(uint64_t(n));
  Tensor pd = p;  // read p through its strides, in out's (contiguous) element order
  dispatch_all(out.dtype(), [&](auto otag) {
    using O = typename decltype(otag)::type;
    dispatch_floating(p.dtype(), "bernoulli", [&](auto ptag) {
      using P = typename decltype(ptag)::type;
      StridedLoop<1> loop({&pd});
      O* o = static_cast<O*>(out.data_ptr());
      parallel_for(n, 4096, [&](int64_t b, int64_t e) {
        int64_t i = b;
        loop.run_range(b, e, [&](char** q, const int64_t* s, int64_t len) {
          for (int64_t j = 0; j < len; ++j, ++i) {
            double prob = double(math::opmath_t<P>(*reinterpret_cast<const P*>(q[0] + j * s[0])));
            o[i] = O(math::bernoulli_value(philox4x32(seed, offset + uint64_t(i)), prob));
          }
        });
      });
    });
  });
}

void CpuBackend::randint(const Tensor& out, int64_t lo, int64_t hi, Generator& g) {
  uint64_t range = uint64_t(hi) - uint64_t(lo);
  dispatch_all(out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    fill_random<T>(out, g, [&](const Philox4x32& r) { return math::randint_value<T>(r, lo, range); });
  });
}

}  // namespace tessera::cpu
