// Random number kernels: element i of a draw takes Philox block (offset + i), transformed by the
// shared math/random.h, so the stream depends on the generator state only (never on the thread
// count) and equals the CUDA backend's bit for bit. Compiled with -ffp-contract=off (see
// tessera/CMakeLists.txt): the transforms must round exactly as written.
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <algorithm>

#include "tessera/backend/cpu/cpu_backend.h"
#include "tessera/backend/cpu/loops.h"
#include "tessera/backend/math/random.h"

namespace tessera::cpu {

namespace {
// Philox blocks (seed, at + l) for 16 lanes l at once, the same bits as philox4x32: with
// AVX-512 the rounds run on all lanes together (the compiler does not vectorize the 32x32 ->
// 64-bit products by itself).
constexpr int kLanes = 16;
struct PhiloxLanes {
  uint32_t v[4][kLanes];
  Philox4x32 operator[](int l) const { return {{v[0][l], v[1][l], v[2][l], v[3][l]}}; }
};

#if defined(__AVX512F__)
// GCC 12's AVX-512 headers start some intrinsics from an "undefined" register it then warns
// about (a known false positive).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// One 32x32 -> 64-bit product per lane of 16: its high and low halves.
inline void mul_hi_lo(__m512i a, __m512i m, __m512i& hi, __m512i& lo) {
  __m512i even = _mm512_mul_epu32(a, m);                        // lanes 0, 2, ...: 64-bit products
  __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m);  // lanes 1, 3, ...
  hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 32), odd);
  lo = _mm512_mullo_epi32(a, m);
}

inline void philox_lanes(uint64_t seed, uint64_t at, PhiloxLanes& out) {
  alignas(64) uint32_t lo[kLanes], hi[kLanes];
  for (int l = 0; l < kLanes; ++l) {
    lo[l] = uint32_t(at + uint64_t(l));
    hi[l] = uint32_t((at + uint64_t(l)) >> 32);
  }
  __m512i c0 = _mm512_load_si512(lo), c1 = _mm512_load_si512(hi), c2 = _mm512_setzero_si512(), c3 = c2;
  const __m512i m0 = _mm512_set1_epi32(int(0xD2511F53u)), m1 = _mm512_set1_epi32(int(0xCD9E8D57u));
  uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    __m512i h0, l0, h1, l1;
    mul_hi_lo(c0, m0, h0, l0);
    mul_hi_lo(c2, m1, h1, l1);
    __m512i n0 = _mm512_xor_si512(_mm512_xor_si512(h1, c1), _mm512_set1_epi32(int(k0)));
    __m512i n2 = _mm512_xor_si512(_mm512_xor_si512(h0, c3), _mm512_set1_epi32(int(k1)));
    c1 = l1;
    c3 = l0;
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  _mm512_storeu_si512(out.v[0], c0);
  _mm512_storeu_si512(out.v[1], c1);
  _mm512_storeu_si512(out.v[2], c2);
  _mm512_storeu_si512(out.v[3], c3);
}
#pragma GCC diagnostic pop
#else
inline void philox_lanes(uint64_t seed, uint64_t at, PhiloxLanes& out) {
  for (int l = 0; l < kLanes; ++l) {
    Philox4x32 r = philox4x32(seed, at + uint64_t(l));
    for (int w = 0; w < 4; ++w) out.v[w][l] = r.v[w];
  }
}
#endif

// Calls f(j, block (seed, at + j)) for j in [0, n), 16 blocks at a time.
template <class F>
inline void for_blocks(uint64_t seed, uint64_t at, int64_t n, const F& f) {
  int64_t j = 0;
  PhiloxLanes lanes;
  for (; j + kLanes <= n; j += kLanes) {
    philox_lanes(seed, at + uint64_t(j), lanes);
    for (int l = 0; l < kLanes; ++l) f(j + l, lanes[l]);
  }
  for (; j < n; ++j) f(j, philox4x32(seed, at + uint64_t(j)));
}

// Fills a contiguous out: f(block) -> value, one Philox block per element.
template <class T, class F>
void fill_random(const Tensor& out, Generator& g, const F& f) {
  int64_t n = out.numel();
  const uint64_t seed = g.seed(), offset = g.reserve(uint64_t(n));
  T* const o = static_cast<T*>(out.data_ptr());
  parallel_for(n, 4096, [&](int64_t b, int64_t e) {
    T* const ob = o + b;
    for_blocks(seed, offset + uint64_t(b), e - b, [&](int64_t j, const Philox4x32& r) { ob[j] = f(r); });
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
          O* const oi = o + i;
          const uint64_t at = offset + uint64_t(i);
          if (s[0] == 0) {  // one probability for the run (dropout)
            const double prob = double(math::opmath_t<P>(*reinterpret_cast<const P*>(q[0])));
            for_blocks(seed, at, len,
                       [&](int64_t j, const Philox4x32& r) { oi[j] = O(math::bernoulli_value(r, prob)); });
          } else {
            const char* pp = q[0];
            const int64_t ps = s[0];
            for_blocks(seed, at, len, [&](int64_t j, const Philox4x32& r) {
              double prob = double(math::opmath_t<P>(*reinterpret_cast<const P*>(pp + j * ps)));
              oi[j] = O(math::bernoulli_value(r, prob));
            });
          }
          i += len;
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
