// Max and average 2-D pooling and their backward passes on NCHW planes.
#include <algorithm>
#include <limits>
#include <memory>
#include <type_traits>
#include <vector>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "tessera/backend/cpu/cpu_backend.h"
#include "tessera/backend/cpu/loops.h"
#include "tessera/backend/math/pool.h"

namespace tessera::cpu {

namespace {
using math::TapRange;
std::vector<TapRange> tap_ranges(int64_t outs, int64_t size, int64_t k, int64_t stride, int64_t pad, int64_t dil) {
  std::vector<TapRange> r(static_cast<size_t>(outs));
  for (int64_t o = 0; o < outs; ++o) r[size_t(o)] = math::tap_range(o, size, k, stride, pad, dil);
  return r;
}
// Planes per chunk: about 16K input elements, so that small feature maps stay on one thread.
int64_t plane_grain(int64_t plane_elems) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(plane_elems, 1)); }

#if defined(__AVX512F__) && defined(__AVX512BW__)
// GCC 12 reports its own intrinsics' _mm512_undefined_* placeholders as maybe-uninitialized.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// The first n (<= 32) of 32 consecutive values as float: float, or bfloat16 widened (exact).
template <class T>
inline void load32(const T* p, int64_t n, __m512& lo, __m512& hi) {
  __mmask32 m = n >= 32 ? ~__mmask32(0) : (__mmask32(1) << n) - 1;
  if constexpr (std::is_same_v<T, float>) {
    lo = _mm512_maskz_loadu_ps(__mmask16(m), p);
    hi = _mm512_maskz_loadu_ps(__mmask16(m >> 16), p + 16);
  } else {
    __m512i w = _mm512_maskz_loadu_epi16(m, p);
    lo = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(w)), 16));
    hi = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(w, 1)), 16));
  }
}
template <class T>
inline void store16(T* p, __mmask16 m, __m512 v) {
  if constexpr (std::is_same_v<T, float>) {
    _mm512_mask_storeu_ps(p, m, v);
  } else {  // the bits of a value that came from bfloat16; NaNs quieted as BFloat16(float) does
    __m512i b = _mm512_srli_epi32(_mm512_castps_si512(v), 16);
    __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    b = _mm512_mask_or_epi32(b, nan, b, _mm512_set1_epi32(0x40));
    _mm256_mask_storeu_epi16(p, m, _mm512_cvtepi32_epi16(b));
  }
}

// One output row of the 2x2 / stride-2 window, 16 outputs at a time (float and bfloat16): the
// four taps of each window de-interleaved from two input rows, the take rule of
// math::max_pool_takes (NaN wins, the first maximum is kept), indices within the plane as int64.
template <class T>
void max_pool_2x2_row_avx512(const T* r0, const T* r1, int64_t base, int64_t W, int64_t OW, T* o, int64_t* oi) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __m512i lane2 = _mm512_slli_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), 1);
  const int32_t offset[4] = {0, 1, int32_t(W), int32_t(W) + 1};
  for (int64_t ow = 0; ow < OW; ow += 16) {
    int64_t n = std::min<int64_t>(16, OW - ow);
    __mmask16 m = n == 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1);
    __m512 a0, a1, b0, b1;
    load32(r0 + 2 * ow, 2 * n, a0, a1);
    load32(r1 + 2 * ow, 2 * n, b0, b1);
    __m512 v[4] = {_mm512_permutex2var_ps(a0, even, a1), _mm512_permutex2var_ps(a0, odd, a1),
                   _mm512_permutex2var_ps(b0, even, b1), _mm512_permutex2var_ps(b0, odd, b1)};
    __m512 best = v[0];
    __m512i at = _mm512_set1_epi32(0);
    for (int t = 1; t < 4; ++t) {
      __mmask16 take = _mm512_cmp_ps_mask(v[t], best, _CMP_GT_OQ) |
                       (_mm512_cmp_ps_mask(v[t], v[t], _CMP_UNORD_Q) & _mm512_cmp_ps_mask(best, best, _CMP_ORD_Q));
      best = _mm512_mask_blend_ps(take, best, v[t]);
      at = _mm512_mask_blend_epi32(take, at, _mm512_set1_epi32(offset[t]));
    }
    store16(o + ow, m, best);
    // base + 2 * (ow + lane) + the tap's offset, as int64.
    __m512i rel = _mm512_add_epi32(at, _mm512_add_epi32(lane2, _mm512_set1_epi32(int32_t(2 * ow))));
    __m512i b64 = _mm512_set1_epi64(base);
    _mm512_mask_storeu_epi64(oi + ow, __mmask8(m), _mm512_add_epi64(b64, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(rel))));
    _mm512_mask_storeu_epi64(oi + ow + 8, __mmask8(m >> 8),
                             _mm512_add_epi64(b64, _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(rel, 1))));
  }
}
// 16 values (the first n) as float.
template <class T>
inline __m512 load16(const T* p, __mmask16 m) {
  if constexpr (std::is_same_v<T, float>) {
    return _mm512_maskz_loadu_ps(m, p);
  } else {
    __m256i w = _mm256_maskz_loadu_epi16(m, p);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(w), 16));
  }
}

// One output position of a channels-last max pool, 16 channels at a time: the taps' channel
// vectors compared in window order (NaN wins, the first maximum is kept).
template <class T>
void max_pool_nhwc_position_avx512(const T* const* taps, const int64_t* at, int ntaps, int64_t C, T* o, int64_t* oi) {
  for (int64_t c = 0; c < C; c += 16) {
    int64_t n = std::min<int64_t>(16, C - c);
    __mmask16 m = n == 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1);
    __m512 best = load16(taps[0] + c, m);
    __m512i idx = _mm512_set1_epi32(int32_t(at[0]));
    for (int t = 1; t < ntaps; ++t) {
      __m512 v = load16(taps[t] + c, m);
      __mmask16 take = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) |
                       (_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q) & _mm512_cmp_ps_mask(best, best, _CMP_ORD_Q));
      best = _mm512_mask_blend_ps(take, best, v);
      idx = _mm512_mask_blend_epi32(take, idx, _mm512_set1_epi32(int32_t(at[t])));
    }
    store16(o + c, m, best);
    _mm512_mask_storeu_epi64(oi + c, __mmask8(m), _mm512_cvtepi32_epi64(_mm512_castsi512_si256(idx)));
    _mm512_mask_storeu_epi64(oi + c + 8, __mmask8(m >> 8), _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(idx, 1)));
  }
}
#pragma GCC diagnostic pop
#elif defined(__AVX2__)
// math::max_pool_takes on 8 lanes: v beats best when greater, or NaN over a non-NaN. The value
// and the index (int32 lanes) of the winner follow.
inline void take_avx2(__m256 v, __m256i at, __m256& best, __m256i& idx) {
  __m256 take = _mm256_or_ps(_mm256_cmp_ps(v, best, _CMP_GT_OQ),
                             _mm256_and_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q), _mm256_cmp_ps(best, best, _CMP_ORD_Q)));
  best = _mm256_blendv_ps(best, v, take);
  idx = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(idx), _mm256_castsi256_ps(at), take));
}
// The first n (<= 8) of 8 int32 indices plus base, stored as int64.
inline void store_indices_avx2(int64_t* oi, __m256i idx, int64_t base, int64_t n) {
  __m256i b64 = _mm256_set1_epi64x(base);
  __m256i i0 = _mm256_add_epi64(b64, _mm256_cvtepi32_epi64(_mm256_castsi256_si128(idx)));
  __m256i i1 = _mm256_add_epi64(b64, _mm256_cvtepi32_epi64(_mm256_extracti128_si256(idx, 1)));
  if (n == 8) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(oi), i0);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(oi + 4), i1);
    return;
  }
  alignas(32) int64_t bi[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(bi), i0);
  _mm256_store_si256(reinterpret_cast<__m256i*>(bi + 4), i1);
  for (int64_t i = 0; i < n; ++i) oi[i] = bi[i];
}

// One output row of the 2x2 / stride-2 window on AVX2, 8 outputs at a time (float and
// bfloat16, computed in float: exact), as max_pool_2x2_row_avx512 does with 16.
template <class T>
void max_pool_2x2_row_avx2(const T* r0, const T* r1, int64_t base, int64_t W, int64_t OW, T* o, int64_t* oi) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const int32_t offset[4] = {0, 1, int32_t(W), int32_t(W) + 1};
  // 2n consecutive values of a row (n <= 8) as two vectors of float.
  auto load = [&](const T* p, int64_t n, __m256& lo, __m256& hi) {
    __m256i mlo = _mm256_cmpgt_epi32(_mm256_set1_epi32(int32_t(std::min<int64_t>(2 * n, 8))), lane);
    __m256i mhi = _mm256_cmpgt_epi32(_mm256_set1_epi32(int32_t(std::max<int64_t>(2 * n - 8, 0))), lane);
    if constexpr (std::is_same_v<T, float>) {
      lo = _mm256_maskload_ps(p, mlo);
      hi = _mm256_maskload_ps(p + 8, mhi);
    } else {
      alignas(32) float f[16] = {};
      for (int64_t i = 0; i < 2 * n; ++i) f[i] = float(p[i]);
      lo = _mm256_load_ps(f);
      hi = _mm256_load_ps(f + 8);
    }
  };
  // Even and odd elements of [lo, hi], in order.
  auto split = [](__m256 lo, __m256 hi, __m256& even, __m256& odd) {
    even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0x88)), 0xD8));
    odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0xDD)), 0xD8));
  };
  for (int64_t ow = 0; ow < OW; ow += 8) {
    int64_t n = std::min<int64_t>(8, OW - ow);
    __m256 a0, a1, b0, b1, v[4];
    load(r0 + 2 * ow, n, a0, a1);
    load(r1 + 2 * ow, n, b0, b1);
    split(a0, a1, v[0], v[1]);
    split(b0, b1, v[2], v[3]);
    __m256 best = v[0];
    __m256i at = _mm256_setzero_si256();
    for (int t = 1; t < 4; ++t) take_avx2(v[t], _mm256_set1_epi32(offset[t]), best, at);
    // base + 2 * (ow + lane) + the tap's offset.
    store_indices_avx2(oi + ow, _mm256_add_epi32(at, _mm256_slli_epi32(lane, 1)), base + 2 * ow, n);
    if constexpr (std::is_same_v<T, float>) {
      if (n == 8) {
        _mm256_storeu_ps(o + ow, best);
        continue;
      }
    }
    alignas(32) float bf[8];
    _mm256_store_ps(bf, best);
    for (int64_t i = 0; i < n; ++i) o[ow + i] = T(bf[i]);
  }
}

// One output position of a channels-last max pool on AVX2, 8 float channels at a time, as
// max_pool_nhwc_position_avx512 does with 16.
inline void max_pool_nhwc_position_avx2(const float* const* taps, const int64_t* at, int ntaps, int64_t C, float* o,
                                        int64_t* oi) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int64_t c = 0; c < C; c += 8) {
    int64_t n = std::min<int64_t>(8, C - c);
    __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(int32_t(n)), lane);
    __m256 best = _mm256_maskload_ps(taps[0] + c, m);
    __m256i idx = _mm256_set1_epi32(int32_t(at[0]));
    for (int t = 1; t < ntaps; ++t) take_avx2(_mm256_maskload_ps(taps[t] + c, m), _mm256_set1_epi32(int32_t(at[t])), best, idx);
    _mm256_maskstore_ps(o + c, m, best);
    store_indices_avx2(oi + c, idx, 0, n);
  }
}
#endif
}  // namespace

namespace {
bool nhwc(const Tensor& t) { return t.suggest_memory_format() == MemoryFormat::ChannelsLast; }

// Channels-last max pooling: out, indices and x all [N, H, W, C] in memory. Each output position
// scans its window with the channels as the inner, contiguous (vectorized) loop; the indices
// are h * W + w within each channel's plane, as in the NCHW kernel.
void max_pool2d_nhwc(const Tensor& out, const Tensor& indices, const Tensor& x, const Pool2dParams& p) {
  int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), OH = out.size(2), OW = out.size(3);
  auto rows = tap_ranges(OH, H, p.kernel[0], p.stride[0], p.padding[0], p.dilation[0]);
  auto cols = tap_ranges(OW, W, p.kernel[1], p.stride[1], p.padding[1], p.dilation[1]);
  int64_t dh = p.dilation[0], dw = p.dilation[1];
  dispatch_all(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using M = opmath_t<T>;
    const T* xp = static_cast<const T*>(x.data_ptr());
    T* op = static_cast<T*>(out.data_ptr());
    int64_t* ip = static_cast<int64_t*>(indices.data_ptr());
    parallel_for(N * OH, std::max<int64_t>(1, 16384 / std::max<int64_t>(OW * C * p.kernel[0] * p.kernel[1], 1)),
                 [&](int64_t b, int64_t e) {
      std::unique_ptr<M[]> best_(new M[static_cast<size_t>(C)]);
      M* best = best_.get();
      for (int64_t r = b; r < e; ++r) {
        int64_t n = r / OH, oh = r % OH;
        const math::TapRange& rh = rows[size_t(oh)];
        for (int64_t ow = 0; ow < OW; ++ow) {
          const math::TapRange& rw = cols[size_t(ow)];
          T* o = op + ((n * OH + oh) * OW + ow) * C;
          int64_t* oi = ip + ((n * OH + oh) * OW + ow) * C;
          if (rh.lo >= rh.hi || rw.lo >= rw.hi) {  // a window entirely in the padding
            for (int64_t c = 0; c < C; ++c) o[c] = T(-std::numeric_limits<M>::infinity()), oi[c] = -1;
            continue;
          }
#if (defined(__AVX512F__) && defined(__AVX512BW__)) || defined(__AVX2__)
          // The vector kernels: AVX-512 for float32 and bfloat16, AVX2 for float32.
#if defined(__AVX512F__) && defined(__AVX512BW__)
          constexpr bool vec = std::is_same_v<T, float> || std::is_same_v<T, BFloat16>;
#else
          constexpr bool vec = std::is_same_v<T, float>;
#endif
          if constexpr (vec) {
            int64_t ntaps = (rh.hi - rh.lo) * (rw.hi - rw.lo);
            if (ntaps <= 64 && H * W < (int64_t(1) << 31)) {
              const T* taps[64];
              int64_t at[64];
              int t = 0;
              for (int64_t kh = rh.lo; kh < rh.hi; ++kh)
                for (int64_t kw = rw.lo; kw < rw.hi; ++kw, ++t) {
                  int64_t ih = rh.start + kh * dh, iw = rw.start + kw * dw;
                  at[t] = ih * W + iw;
                  taps[t] = xp + ((n * H + ih) * W + iw) * C;
                }
#if defined(__AVX512F__) && defined(__AVX512BW__)
              max_pool_nhwc_position_avx512(taps, at, t, C, o, oi);
#else
              max_pool_nhwc_position_avx2(taps, at, t, C, o, oi);
#endif
              continue;
            }
          }
#endif
          bool first = true;
          for (int64_t kh = rh.lo; kh < rh.hi; ++kh)
            for (int64_t kw = rw.lo; kw < rw.hi; ++kw) {
              int64_t ih = rh.start + kh * dh, iw = rw.start + kw * dw, at = ih * W + iw;
              const T* v = xp + ((n * H + ih) * W + iw) * C;
              if (first) {
                for (int64_t c = 0; c < C; ++c) best[c] = M(v[c]), oi[c] = at;
                first = false;
                continue;
              }
              for (int64_t c = 0; c < C; ++c) {  // NaN wins, the first maximum is kept
                M m = M(v[c]);
                bool take = math::max_pool_takes(m, best[c]);
                best[c] = take ? m : best[c];
                oi[c] = take ? at : oi[c];
              }
            }
          for (int64_t c = 0; c < C; ++c) o[c] = T(best[c]);
        }
      }
    });
  });
}

void max_pool2d_backward_nhwc(const Tensor& grad_x, const Tensor& grad_out, const Tensor& indices) {
  int64_t N = grad_x.size(0), C = grad_x.size(1), HW = grad_x.size(2) * grad_x.size(3),
          OHW = grad_out.size(2) * grad_out.size(3);
  dispatch_floating(grad_x.dtype(), "max_pool2d_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* gx = static_cast<T*>(grad_x.data_ptr());
    const T* gy = static_cast<const T*>(grad_out.data_ptr());
    const int64_t* ip = static_cast<const int64_t*>(indices.data_ptr());
    parallel_for(N, 1, [&](int64_t b, int64_t e) {  // each image's gradient is written by one thread
      for (int64_t n = b; n < e; ++n)
        for (int64_t i = 0; i < OHW; ++i) {
          const T* g = gy + (n * OHW + i) * C;
          const int64_t* k = ip + (n * OHW + i) * C;
          T* base = gx + n * HW * C;
          for (int64_t c = 0; c < C; ++c)
            if (k[c] >= 0 && k[c] < HW) {
              T& d = base[k[c] * C + c];
              d = T(opmath_t<T>(d) + opmath_t<T>(g[c]));
            }
        }
    });
  });
}
}  // namespace

void CpuBackend::max_pool2d(const Tensor& out, const Tensor& indices, const Tensor& x, const Pool2dParams& p) {
  int64_t planes = x.size(0) * x.size(1), H_ = x.size(2), W_ = x.size(3), OH_ = out.size(2), OW_ = out.size(3);
  if (out.numel() == 0) return;
  if (nhwc(x)) return max_pool2d_nhwc(out, indices, x, p);
  auto rows = tap_ranges(OH_, H_, p.kernel[0], p.stride[0], p.padding[0], p.dilation[0]);
  auto cols = tap_ranges(OW_, W_, p.kernel[1], p.stride[1], p.padding[1], p.dilation[1]);
  int64_t dh_ = p.dilation[0], dw_ = p.dilation[1];
  bool k2x2 = p.kernel[0] == 2 && p.kernel[1] == 2 && p.stride[0] == 2 && p.stride[1] == 2 && p.padding[0] == 0 &&
              p.padding[1] == 0 && dh_ == 1 && dw_ == 1 && 2 * OH_ <= H_ && 2 * OW_ <= W_;
  dispatch_all(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using M = opmath_t<T>;
    const T* xp_ = static_cast<const T*>(x.data_ptr());
    T* op_ = static_cast<T*>(out.data_ptr());
    int64_t* ip_ = static_cast<int64_t*>(indices.data_ptr());
    parallel_for(planes, plane_grain(H_ * W_), [&](int64_t b, int64_t e) {
      // Locals, not captures: the int64 index stores below could alias anything the lambda
      // reaches through a pointer, which would then be reloaded after every store.
      const int64_t H = H_, W = W_, OH = OH_, OW = OW_, dh = dh_, dw = dw_;
      const T* const xp = xp_;
      T* const op = op_;
      int64_t* const ip = ip_;
      for (int64_t pl = b; pl < e; ++pl) {
        const T* in = xp + pl * H * W;
        T* o = op + pl * OH * OW;
        int64_t* oi = ip + pl * OH * OW;
        if (k2x2) {  // the common 2x2 / stride 2 window: straight-line code that vectorizes over ow
          for (int64_t oh = 0; oh < OH; ++oh) {
            const T* r0 = in + 2 * oh * W;
            const T* r1 = r0 + W;
            int64_t base = 2 * oh * W;
#if defined(__AVX512F__) && defined(__AVX512BW__)
            // (The scalar form below compiles to branches, unpredictable on real data.)
            if constexpr (std::is_same_v<T, float> || std::is_same_v<T, BFloat16>) {
              if (H * W < (int64_t(1) << 31)) {
                max_pool_2x2_row_avx512(r0, r1, base, W, OW, o + oh * OW, oi + oh * OW);
                continue;
              }
            }
#elif defined(__AVX2__)
            if constexpr (std::is_same_v<T, float> || std::is_same_v<T, BFloat16>) {
              if (H * W < (int64_t(1) << 31)) {
                max_pool_2x2_row_avx2(r0, r1, base, W, OW, o + oh * OW, oi + oh * OW);
                continue;
              }
            }
#endif
            for (int64_t ow = 0; ow < OW; ++ow) {
              M v[4] = {M(r0[2 * ow]), M(r0[2 * ow + 1]), M(r1[2 * ow]), M(r1[2 * ow + 1])};
              int64_t at[4] = {base + 2 * ow, base + 2 * ow + 1, base + W + 2 * ow, base + W + 2 * ow + 1};
              M best = v[0];
              int64_t bi = at[0];
              for (int t = 1; t < 4; ++t) {
                bool take = math::max_pool_takes(v[t], best);
                best = take ? v[t] : best;
                bi = take ? at[t] : bi;
              }
              o[oh * OW + ow] = T(best);
              oi[oh * OW + ow] = bi;
            }
          }
          continue;
        }
        for (int64_t oh = 0; oh < OH; ++oh) {
          const TapRange& rh = rows[size_t(oh)];
          for (int64_t ow = 0; ow < OW; ++ow) {
            const TapRange& rw = cols[size_t(ow)];
            if (rh.lo >= rh.hi || rw.lo >= rw.hi) {  // a window entirely in the padding
              o[oh * OW + ow] = T(-std::numeric_limits<M>::infinity());
              oi[oh * OW + ow] = -1;
              continue;
            }
            // Branch-free scan (selects, not jumps: the comparisons are unpredictable on real
            // data). NaN wins, and the first maximum is kept, as in PyTorch.
            int64_t bi = (rh.start + rh.lo * dh) * W + rw.start + rw.lo * dw;
            M best = M(in[bi]);
            for (int64_t kh = rh.lo; kh < rh.hi; ++kh) {
              int64_t base = (rh.start + kh * dh) * W + rw.start;
              for (int64_t kw = rw.lo; kw < rw.hi; ++kw) {
                int64_t at = base + kw * dw;
                M v = M(in[at]);
                bool take = math::max_pool_takes(v, best);
                best = take ? v : best;
                bi = take ? at : bi;
              }
            }
            o[oh * OW + ow] = T(best);
            oi[oh * OW + ow] = bi;
          }
        }
      }
    });
  });
}

void CpuBackend::max_pool2d_backward(const Tensor& grad_x, const Tensor& grad_out, const Tensor& indices) {
  int64_t planes = grad_x.size(0) * grad_x.size(1), HW = grad_x.size(2) * grad_x.size(3),
          OHW = grad_out.size(2) * grad_out.size(3);
  fill(grad_x, 0);
  if (nhwc(grad_x)) return max_pool2d_backward_nhwc(grad_x, grad_out, indices);
  dispatch_floating(grad_x.dtype(), "max_pool2d_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* gx = static_cast<T*>(grad_x.data_ptr());
    const T* gy = static_cast<const T*>(grad_out.data_ptr());
    const int64_t* ip = static_cast<const int64_t*>(indices.data_ptr());
    parallel_for(planes, plane_grain(HW), [&](int64_t b, int64_t e) {
      for (int64_t pl = b; pl < e; ++pl)
        for (int64_t i = 0; i < OHW; ++i) {
          int64_t k = ip[pl * OHW + i];
          if (k >= 0 && k < HW) gx[pl * HW + k] = T(opmath_t<T>(gx[pl * HW + k]) + opmath_t<T>(gy[pl * OHW + i]));
        }
    });
  });
}

void CpuBackend::avg_pool2d(const Tensor& out, const Tensor& x, const Pool2dParams& p) {
  int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3), OH = out.size(2), OW = out.size(3);
  if (out.numel() == 0) return;
  dispatch_floating(x.dtype(), "avg_pool2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using M = opmath_t<T>;
    const T* xp = static_cast<const T*>(x.data_ptr());
    T* op = static_cast<T*>(out.data_ptr());
    parallel_for(planes, plane_grain(H * W), [&](int64_t b, int64_t e) {
      for (int64_t pl = b; pl < e; ++pl)
        for (int64_t oh = 0; oh < OH; ++oh)
          for (int64_t ow = 0; ow < OW; ++ow) {
            math::AvgWindow wd = math::avg_window(oh, ow, H, W, p.kernel, p.stride, p.padding, p.count_include_pad);
            M s = 0;
            for (int64_t ih = wd.h0; ih < wd.h1; ++ih)
              for (int64_t iw = wd.w0; iw < wd.w1; ++iw) s += M(xp[(pl * H + ih) * W + iw]);
            op[(pl * OH + oh) * OW + ow] = T(s / M(wd.divisor));
          }
    });
  });
}

void CpuBackend::avg_pool2d_backward(const Tensor& grad_x, const Tensor& grad_out, const Pool2dParams& p) {
  int64_t planes = grad_x.size(0) * grad_x.size(1), H = grad_x.size(2), W = grad_x.size(3), OH = grad_out.size(2),
          OW = grad_out.size(3);
  fill(grad_x, 0);
  dispatch_floating(grad_x.dtype(), "avg_pool2d_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using M = opmath_t<T>;
    T* gx = static_cast<T*>(grad_x.data_ptr());
    const T* gy = static_cast<const T*>(grad_out.data_ptr());
    parallel_for(planes, plane_grain(H * W), [&](int64_t b, int64_t e) {
      for (int64_t pl = b; pl < e; ++pl)
        for (int64_t oh = 0; oh < OH; ++oh)
          for (int64_t ow = 0; ow < OW; ++ow) {
            math::AvgWindow wd = math::avg_window(oh, ow, H, W, p.kernel, p.stride, p.padding, p.count_include_pad);
            M g = M(gy[(pl * OH + oh) * OW + ow]) / M(wd.divisor);
            for (int64_t ih = wd.h0; ih < wd.h1; ++ih)
              for (int64_t iw = wd.w0; iw < wd.w1; ++iw) {
                T& d = gx[(pl * H + ih) * W + iw];
                d = T(M(d) + g);
              }
          }
    });
  });
}

}  // namespace tessera::cpu
