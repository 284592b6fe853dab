#pragma once
// The strided N-operand iteration shared by every device.
//
// StridedPlan (host) describes N same-shaped operands (an output and its inputs, broadcast
// inputs with stride 0, flipped ones with negative strides): size-1 dims dropped, dims merged
// where every operand allows, optionally reordered so the first operand's fastest dim comes
// first, and byte strides. The CPU loop walks it in runs; a GPU kernel maps each thread's
// linear index to byte offsets with OffsetCalculator, in 32-bit arithmetic: for_each_32bit
// splits a plan whose offsets or element count exceed 32 bits into pieces that do not.
#include <cstdint>

#include "tessera/core/host_device.h"

namespace tessera::math {

inline constexpr int kMaxIterDims = 16;

// Division by a fixed 32-bit divisor as a multiply-high and a shift (Granlund and Montgomery);
// exact for numerators below 2^31.
struct IntDivider {
  uint32_t divisor = 1, magic = 1, shift = 0;
  IntDivider() = default;
  explicit IntDivider(uint32_t d) : divisor(d) {
    shift = 0;
    while (shift < 32 && (uint64_t(1) << shift) < d) ++shift;
    magic = uint32_t(((uint64_t(1) << 32) * ((uint64_t(1) << shift) - d)) / d + 1);
  }
  TS_INLINE uint32_t div(uint32_t n) const {
#if defined(__CUDA_ARCH__)
    uint32_t t = __umulhi(n, magic);
#else
    uint32_t t = uint32_t((uint64_t(n) * magic) >> 32);
#endif
    return (t + n) >> shift;
  }
};

template <int N>
struct StridedPlan {
  int ndim = 0;                         // dims after coalescing; dim 0 is the innermost
  int64_t sizes[kMaxIterDims] = {};
  int64_t strides[N][kMaxIterDims] = {};  // bytes
  int64_t base[N] = {};                 // bytes from each operand's first element (pieces of a split)
  int64_t numel = 1;

  // shape: nd sizes, outermost first; strides[k]: operand k's strides in elements;
  // elem_size[k]: its element size in bytes. reorder sorts dims by operand 0's |stride|
  // (ties by the next operands'), which any elementwise op may do.
  static StridedPlan make(int nd, const int64_t* shape, const int64_t* const* strides, const int64_t* elem_size,
                          bool reorder) {
    StridedPlan p;
    int64_t sz[kMaxIterDims], st[N][kMaxIterDims];
    int n = 0;
    for (int d = nd - 1; d >= 0; --d) {  // innermost first
      p.numel *= shape[d];
      if (shape[d] == 1) continue;
      sz[n] = shape[d];
      for (int k = 0; k < N; ++k) st[k][n] = strides[k][d] * elem_size[k];
      ++n;
    }
    if (p.numel == 0) return p;
    if (reorder) {  // insertion sort: stable, and n is small
      for (int i = 1; i < n; ++i)
        for (int j = i; j > 0 && stride_less(st, j, j - 1); --j) {
          int64_t t = sz[j];
          sz[j] = sz[j - 1];
          sz[j - 1] = t;
          for (int k = 0; k < N; ++k) {
            t = st[k][j];
            st[k][j] = st[k][j - 1];
            st[k][j - 1] = t;
          }
        }
    }
    for (int d = 0; d < n; ++d) {
      bool merge = p.ndim > 0;
      for (int k = 0; k < N && merge; ++k) merge = st[k][d] == p.strides[k][p.ndim - 1] * p.sizes[p.ndim - 1];
      if (merge) {
        p.sizes[p.ndim - 1] *= sz[d];
        continue;
      }
      p.sizes[p.ndim] = sz[d];
      for (int k = 0; k < N; ++k) p.strides[k][p.ndim] = st[k][d];
      ++p.ndim;
    }
    return p;
  }

  // The largest |byte offset| operand k reaches from its base.
  int64_t extent(int k) const {
    int64_t e = 0;
    for (int d = 0; d < ndim; ++d) e += (sizes[d] - 1) * (strides[k][d] < 0 ? -strides[k][d] : strides[k][d]);
    return e;
  }
  bool fits(int64_t limit) const {
    if (numel > limit) return false;
    for (int k = 0; k < N; ++k)
      if (extent(k) > limit) return false;
    return true;
  }
  // Halves the dim of largest byte extent: lo takes its first half, hi the rest.
  void split(StridedPlan& lo, StridedPlan& hi) const {
    int best = 0;
    int64_t best_extent = -1;
    for (int d = 0; d < ndim; ++d)
      for (int k = 0; k < N; ++k) {
        int64_t s = strides[k][d] < 0 ? -strides[k][d] : strides[k][d];
        int64_t e = (sizes[d] - 1) * (s > 0 ? s : 1);  // a broadcast dim still counts its elements
        if (sizes[d] > 1 && e > best_extent) best_extent = e, best = d;
      }
    lo = hi = *this;
    int64_t half = sizes[best] / 2;
    lo.sizes[best] = half;
    hi.sizes[best] = sizes[best] - half;
    lo.numel = numel / sizes[best] * half;
    hi.numel = numel - lo.numel;
    for (int k = 0; k < N; ++k) hi.base[k] += half * strides[k][best];
  }

 private:
  static bool stride_less(const int64_t (&st)[N][kMaxIterDims], int a, int b) {
    for (int k = 0; k < N; ++k) {
      int64_t x = st[k][a] < 0 ? -st[k][a] : st[k][a], y = st[k][b] < 0 ? -st[k][b] : st[k][b];
      if (x != y) return x < y;
    }
    return false;
  }
};

// Calls f(piece) on pieces of p whose element count and every operand's extent are at most
// limit (2^31 - 1 for 32-bit kernels; tests use small limits). Pieces cover p exactly once.
template <int N, class F>
void for_each_32bit(const StridedPlan<N>& p, const F& f, int64_t limit = INT32_MAX) {
  if (p.numel == 0) return;
  if (p.fits(limit)) return f(p);
  StridedPlan<N> lo, hi;
  p.split(lo, hi);
  for_each_32bit(lo, f, limit);
  for_each_32bit(hi, f, limit);
}

// Maps a linear index of a plan that fits 32 bits to each operand's byte offset from its base.
template <int N>
struct OffsetCalculator {
  int ndim = 0;
  IntDivider sizes[kMaxIterDims];
  int32_t strides[kMaxIterDims][N];

  OffsetCalculator() = default;
  explicit OffsetCalculator(const StridedPlan<N>& p) : ndim(p.ndim) {
    for (int d = 0; d < p.ndim; ++d) {
      sizes[d] = IntDivider(uint32_t(p.sizes[d]));
      for (int k = 0; k < N; ++k) strides[d][k] = int32_t(p.strides[k][d]);
    }
  }
  struct Offsets {
    int32_t v[N];
  };
  TS_INLINE Offsets get(uint32_t linear) const {
    Offsets o;
    for (int k = 0; k < N; ++k) o.v[k] = 0;
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
    for (int d = 0; d < kMaxIterDims; ++d) {
      if (d == ndim) break;
      uint32_t q = sizes[d].div(linear), i = linear - q * sizes[d].divisor;
      for (int k = 0; k < N; ++k) o.v[k] += int32_t(i) * strides[d][k];
      linear = q;
    }
    return o;
  }
};

// The same mapping in 64-bit arithmetic, for plans that do not fit 32 bits and whose elements
// must keep one global numbering (plain division: slower, used where the work per index is large).
template <int N>
struct OffsetCalculator64 {
  int ndim = 0;
  int64_t sizes[kMaxIterDims];
  int64_t strides[kMaxIterDims][N];

  OffsetCalculator64() = default;
  explicit OffsetCalculator64(const StridedPlan<N>& p) : ndim(p.ndim) {
    for (int d = 0; d < p.ndim; ++d) {
      sizes[d] = p.sizes[d];
      for (int k = 0; k < N; ++k) strides[d][k] = p.strides[k][d];
    }
  }
  struct Offsets {
    int64_t v[N];
  };
  TS_INLINE Offsets get(int64_t linear) const {
    Offsets o;
    for (int k = 0; k < N; ++k) o.v[k] = 0;
    for (int d = 0; d < kMaxIterDims; ++d) {
      if (d == ndim) break;
      int64_t q = linear / sizes[d], i = linear - q * sizes[d];
      for (int k = 0; k < N; ++k) o.v[k] += i * strides[d][k];
      linear = q;
    }
    return o;
  }
};

}  // namespace tessera::math
