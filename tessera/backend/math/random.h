#pragma once
// Counter-based random numbers shared by every device: the Philox4x32-10 block function and
// the transforms that turn one block into one value of a distribution. Element i of a draw
// uses block (seed, offset + i), so a stream depends on the generator state only, never on
// the thread count or the device.
//
// CPU and GPU give the same bits: the transforms use only IEEE-exact operations (+ - * / sqrt
// and explicit fma, all correctly rounded on both) and their own log and cos below instead of
// the platform's. The files that instantiate them are compiled without floating-point
// contraction (-ffp-contract=off, nvcc --fmad=false) so no compiler fuses differently.
#include <cmath>
#include <cstdint>

#include "tessera/backend/math/convert.h"

namespace tessera {

struct Philox4x32 {
  uint32_t v[4];
};

// The Philox4x32-10 block of counter ctr under key (Salmon et al., SC11).
TS_INLINE Philox4x32 philox4x32_block(const uint32_t ctr[4], const uint32_t key[2]) {
  uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3], k0 = key[0], k1 = key[1];
  for (int r = 0; r < 10; ++r) {
    uint64_t p0 = uint64_t(0xD2511F53u) * c0, p1 = uint64_t(0xCD9E8D57u) * c2;
    uint32_t n0 = uint32_t(p1 >> 32) ^ c1 ^ k0, n2 = uint32_t(p0 >> 32) ^ c3 ^ k1;
    c1 = uint32_t(p1);
    c3 = uint32_t(p0);
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {{c0, c1, c2, c3}};
}
// The block for key = seed and counter = (offset, subsequence).
TS_INLINE Philox4x32 philox4x32(uint64_t seed, uint64_t offset, uint64_t subseq = 0) {
  const uint32_t ctr[4] = {uint32_t(offset), uint32_t(offset >> 32), uint32_t(subseq), uint32_t(subseq >> 32)};
  const uint32_t key[2] = {uint32_t(seed), uint32_t(seed >> 32)};
  return philox4x32_block(ctr, key);
}

namespace math {

// [0, 1) with 24 random bits (float) or 53 (double); both exact.
TS_INLINE float unit_float(uint32_t x) { return float(int32_t(x >> 8)) * (1.0f / 16777216.0f); }
TS_INLINE double unit_double(uint32_t hi, uint32_t lo) {
  // Through int64 (the value is below 2^53, so exact either way): that conversion vectorizes.
  return double(int64_t(((uint64_t(hi) << 32) | lo) >> 11)) * (1.0 / 9007199254740992.0);
}

// log(x) for positive finite x, within 1 ulp (fdlibm's reduction to [sqrt(2)/2, sqrt(2)) and
// its minimax polynomial in s = f / (2 + f)).
TS_INLINE double portable_log(double x) {
  uint64_t bits = bit_cast<uint64_t>(x);
  int k = 0;
  if (bits < (uint64_t(1) << 52)) {  // subnormal: scale into the normal range
    x *= 18014398509481984.0;        // 2^54
    bits = bit_cast<uint64_t>(x);
    k = -54;
  }
  k += int(bits >> 52) - 1023;
  uint64_t mant = bits & ((uint64_t(1) << 52) - 1);
  // m in [1, 2); halve it when above sqrt(2) so that f = m - 1 is small either side of 0.
  bool high = mant > 0x6A09E667F3BCDull;
  double m = bit_cast<double>(mant | (uint64_t(high ? 1022 : 1023) << 52));
  k += high;
  double f = m - 1.0, s = f / (2.0 + f), z = s * s, w = z * z;
  double t1 = w * fma(w, fma(w, 1.531383769920937332e-01, 2.222219843214978396e-01), 3.999999999940941908e-01);
  double t2 = z * fma(w, fma(w, fma(w, 1.479819860511658591e-01, 1.818357216161805012e-01), 2.857142874366239149e-01),
                      6.666666666666735130e-01);
  double r = t2 + t1, hfsq = 0.5 * f * f, dk = double(k);
  return dk * 6.93147180369123816490e-01 - ((hfsq - (s * (hfsq + r) + dk * 1.90821492927058770002e-10)) - f);
}

// sin and cos on [-pi/4, pi/4] (fdlibm's kernels).
TS_INLINE double kernel_sin(double x) {
  double z = x * x, w = z * z, v = z * x;
  double r = fma(z, fma(z, 2.75573137070700676789e-06, -1.98412698298579493134e-04), 8.33333333332248946124e-03) +
             z * w * fma(z, 1.58969099521155010221e-10, -2.50507602534068634195e-08);
  return x + v * fma(z, r, -1.66666666666666324348e-01);
}
TS_INLINE double kernel_cos(double x) {
  double z = x * x, w = z * z;
  double r = z * fma(z, fma(z, 2.48015872894767294178e-05, -1.38888888888741095749e-03), 4.16666666666666019037e-02) +
             w * w * fma(z, fma(z, -1.13596475577881948265e-11, 2.08757232129817482790e-09), -2.75573143513906633035e-07);
  double hz = 0.5 * z, one_minus = 1.0 - hz;
  return one_minus + (((1.0 - one_minus) - hz) + z * r);
}
// cos(2 pi u) for u in [0, 1): the reduction happens exactly in turns (u's bits allow it), so
// only an angle in [-pi/4, pi/4] reaches the kernels.
TS_INLINE double cos_2pi(double u) {
  double v = u - std::nearbyint(u);  // [-1/2, 1/2], exact
  v = v < 0 ? -v : v;                 // cos is even
  double q = std::nearbyint(v * 4.0); // quarter turns: 0, 1 or 2
  double a = (v - q * 0.25) * 6.28318530717958647692;  // [-pi/4, pi/4]
  if (q == 0) return kernel_cos(a);
  if (q == 1) return -kernel_sin(a);
  return -kernel_cos(a);
}

// Uniform in [lo, hi) for a floating type T (computed in double for double, float otherwise).
template <class T>
TS_INLINE T uniform_value(const Philox4x32& r, double lo, double hi) {
  if constexpr (std::is_same_v<T, double>) return fma(hi - lo, unit_double(r.v[0], r.v[1]), lo);
  else return T(fmaf(float(hi - lo), unit_float(r.v[0]), float(lo)));
}
// A standard normal by Box-Muller (1 - u keeps the log argument in (0, 1]).
TS_INLINE double standard_normal(const Philox4x32& r) {
  double u1 = 1.0 - unit_double(r.v[0], r.v[1]), u2 = unit_double(r.v[2], r.v[3]);
  return sqrt(-2.0 * portable_log(u1)) * cos_2pi(u2);
}
template <class T>
TS_INLINE T normal_value(const Philox4x32& r, double mean, double std) {
  return T(opmath_t<T>(fma(std, standard_normal(r), mean)));
}
// True with probability p.
TS_INLINE bool bernoulli_value(const Philox4x32& r, double p) { return unit_double(r.v[0], r.v[1]) < p; }
// Uniform in [lo, lo + range) (range >= 1; the 64-bit modulo's bias is below 2^-32 for ranges
// under 2^32).
template <class T>
TS_INLINE T randint_value(const Philox4x32& r, int64_t lo, uint64_t range) {
  uint64_t x = (uint64_t(r.v[0]) << 32) | r.v[1];
  return T(opmath_t<T>(int64_t(uint64_t(lo) + x % range)));
}

}  // namespace math
}  // namespace tessera
