#pragma once
// The window geometry of 2-D pooling, shared by every device: which taps of a window fall
// inside the input, PyTorch's divisor for average pooling, and the max-pool scan rule.
#include <cstdint>

#include "tessera/backend/math/types.h"

namespace tessera::math {

// The taps of output position o's window along one axis that fall inside [0, size): k in
// [lo, hi), at input position start + k * dil.
struct TapRange {
  int64_t start, lo, hi;
};
TS_INLINE TapRange tap_range(int64_t o, int64_t size, int64_t k, int64_t stride, int64_t pad, int64_t dil) {
  int64_t s = o * stride - pad;
  // The first tap at or after 0 and the last before size (ceil/floor divisions by dil).
  int64_t lo = s >= 0 ? 0 : (-s + dil - 1) / dil;
  int64_t hi = s >= size ? 0 : (size - 1 - s) / dil + 1;
  if (hi > k) hi = k;
  if (lo > k) lo = k;
  if (hi < lo) hi = lo;
  return {s, lo, hi};
}

// NaN wins, and the first maximum is kept (as in PyTorch): take v over best?
template <class M>
TS_INLINE bool max_pool_takes(M v, M best) {
  return (v > best) | ((v != v) & (best == best));
}

// The window of output (oh, ow) clipped to the input, and PyTorch's divisor for it
// (count_include_pad counts the padding inside the window, never the part beyond it).
struct AvgWindow {
  int64_t h0, h1, w0, w1, divisor;
};
TS_INLINE AvgWindow avg_window(int64_t oh, int64_t ow, int64_t H, int64_t W, const int64_t kernel[2],
                               const int64_t stride[2], const int64_t padding[2], bool count_include_pad) {
  AvgWindow w;
  w.h0 = oh * stride[0] - padding[0];
  w.w0 = ow * stride[1] - padding[1];
  w.h1 = w.h0 + kernel[0] < H + padding[0] ? w.h0 + kernel[0] : H + padding[0];
  w.w1 = w.w0 + kernel[1] < W + padding[1] ? w.w0 + kernel[1] : W + padding[1];
  int64_t padded = (w.h1 - w.h0) * (w.w1 - w.w0);
  w.h0 = w.h0 > 0 ? w.h0 : 0;
  w.w0 = w.w0 > 0 ? w.w0 : 0;
  w.h1 = w.h1 < H ? w.h1 : H;
  w.w1 = w.w1 < W ? w.w1 : W;
  w.divisor = count_include_pad ? padded : (w.h1 - w.h0) * (w.w1 - w.w0);
  if (w.divisor <= 0) w.divisor = 1;
  return w;
}

}  // namespace tessera::math
