#pragma once
// CPU kernel machinery (internal): dtype dispatch, the strided N-operand loop, parallel_for.
#include <omp.h>

#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "tessera/core/tensor.h"

namespace tessera::cpu {

template <class T> struct TypeTag { using type = T; };

// Calls f(TypeTag<T>{}) with T the C++ type of dtype t.
template <class F>
void dispatch_all(DType t, F&& f) {
  switch (t) {
    case DType::Bool: return f(TypeTag<bool>{});
    case DType::UInt8: return f(TypeTag<uint8_t>{});
    case DType::Int8: return f(TypeTag<int8_t>{});
    case DType::Int32: return f(TypeTag<int32_t>{});
    case DType::Int64: return f(TypeTag<int64_t>{});
    case DType::Float16: return f(TypeTag<Half>{});
    case DType::BFloat16: return f(TypeTag<BFloat16>{});
    case DType::Float32: return f(TypeTag<float>{});
    case DType::Float64: return f(TypeTag<double>{});
  }
}
template <class F>
void dispatch_floating(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::Float16: return f(TypeTag<Half>{});
    case DType::BFloat16: return f(TypeTag<BFloat16>{});
    case DType::Float32: return f(TypeTag<float>{});
    case DType::Float64: return f(TypeTag<double>{});
    default: throw DTypeError(detail::str(op, ": expected a floating-point tensor, got ", t));
  }
}

// The type arithmetic happens in: float for the 16-bit floats, the type itself otherwise.
template <class T>
using opmath_t = std::conditional_t<std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>, float, T>;
// The accumulation type of sums and scans: double for every float type (reductions here are
// memory-bound, so the wider adds cost nothing and keep long sums exact to float precision),
// int64 for integers.
template <class T>
using acc_t = std::conditional_t<std::is_floating_point_v<opmath_t<T>>, double, int64_t>;

inline int num_threads_for(int64_t work, int64_t grain) {
  if (work <= grain || omp_in_parallel()) return 1;
  int64_t t = std::min<int64_t>(omp_get_max_threads(), (work + grain - 1) / grain);
  return int(std::max<int64_t>(t, 1));
}

// Calls f(begin, end) on disjoint chunks of [0, n) in parallel (grain: elements per thread at least).
template <class F>
void parallel_for(int64_t n, int64_t grain, const F& f) {
  if (n <= 0) return;
  int nt = num_threads_for(n, grain);
  if (nt == 1) return f(int64_t(0), n);
#pragma omp parallel num_threads(nt)
  {
    int t = omp_get_thread_num(), k = omp_get_num_threads();
    int64_t chunk = (n + k - 1) / k, b = t * chunk, e = std::min(n, b + chunk);
    if (b < e) f(b, e);
  }
}

// The strided loop over N tensors of one shape: dims are coalesced where every operand allows,
// then f(char* ptrs[N], const int64_t byte_strides[N], int64_t n) is called on runs of the
// innermost dim, in parallel over the flattened range.
template <int N>
struct StridedLoop {
  int ndim = 0;  // dim 0 is the innermost
  int64_t sizes[kMaxDims];
  int64_t strides[N][kMaxDims];  // bytes
  char* base[N];
  int64_t numel = 1;

  explicit StridedLoop(const std::array<const Tensor*, N>& ts) {
    const Shape& shape = ts[0]->shape();
    for (int k = 0; k < N; ++k) base[k] = static_cast<char*>(ts[k]->data_ptr());
    for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
      int64_t sz = shape[d];
      numel *= sz;
      if (sz == 1) continue;
      bool merge = ndim > 0;
      for (int k = 0; k < N && merge; ++k)
        merge = ts[k]->strides()[d] * int64_t(ts[k]->element_size()) == strides[k][ndim - 1] * sizes[ndim - 1];
      if (merge) {
        sizes[ndim - 1] *= sz;
        continue;
      }
      for (int k = 0; k < N; ++k) strides[k][ndim] = ts[k]->strides()[d] * int64_t(ts[k]->element_size());
      sizes[ndim++] = sz;
    }
    if (ndim == 0) {  // a single element
      sizes[0] = 1;
      for (int k = 0; k < N; ++k) strides[k][0] = 0;
      ndim = 1;
    }
  }

  template <class F>
  void run_range(int64_t begin, int64_t end, const F& f) const {
    int64_t idx[kMaxDims];
    int64_t rem = begin;
    char* p[N];
    for (int k = 0; k < N; ++k) p[k] = base[k];
    for (int d = 0; d < ndim; ++d) {
      idx[d] = rem % sizes[d];
      rem /= sizes[d];
      for (int k = 0; k < N; ++k) p[k] += idx[d] * strides[k][d];
    }
    int64_t inner[N];
    for (int k = 0; k < N; ++k) inner[k] = strides[k][0];
    int64_t pos = begin;
    while (pos < end) {
      int64_t n = std::min(sizes[0] - idx[0], end - pos);
      f(p, inner, n);
      pos += n;
      for (int k = 0; k < N; ++k) p[k] += n * strides[k][0];
      idx[0] += n;
      for (int d = 0; d + 1 < ndim && idx[d] == sizes[d]; ++d) {  // carry into outer dims
        for (int k = 0; k < N; ++k) p[k] += strides[k][d + 1] - sizes[d] * strides[k][d];
        idx[d] = 0;
        ++idx[d + 1];
      }
    }
  }

  template <class F>
  void run(const F& f, int64_t grain = 32768) const {
    if (numel == 0) return;
    parallel_for(numel, grain, [&](int64_t b, int64_t e) { run_range(b, e, f); });
  }
};

template <int N, class F>
void for_each(const std::array<const Tensor*, N>& ts, const F& f, int64_t grain = 32768) {
  StridedLoop<N>(ts).run(f, grain);
}

// exp for float that vectorizes (Cephes' polynomial, about 1 ulp); std::exp does not vectorize
// without -ffast-math, which would break NaN handling elsewhere. 2^n is applied in two halves
// so that results near FLT_MAX stay finite and tiny ones come out as denormals, like std::exp.
[[gnu::always_inline]] inline float fast_expf(float x) {
  float xc = x > 88.7228f ? 88.7228f : (x < -103.9f ? -103.9f : x);
  xc = xc == xc ? xc : 0.0f;  // NaN: any finite value here, the select below returns x
  float n = std::nearbyint(xc * 1.44269504088896341f);
  float r = xc - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500E-4f;
  p = p * r + 1.3981999507E-3f;
  p = p * r + 8.3334519073E-3f;
  p = p * r + 4.1665795894E-2f;
  p = p * r + 1.6666665459E-1f;
  p = p * r + 5.0000001201E-1f;
  p = p * r * r + r + 1.0f;
  int32_t ni = int32_t(n), n1 = ni >> 1, n2 = ni - n1;  // n in [-150, 128]
  float y = p * std::bit_cast<float>((n1 + 127) << 23) * std::bit_cast<float>((n2 + 127) << 23);
  y = x > 88.7228f ? INFINITY : y;
  y = x < -103.9f ? 0.0f : y;
  return x != x ? x : y;
}
inline double fast_exp(double x) { return std::exp(x); }
inline float fast_exp(float x) { return fast_expf(x); }

}  // namespace tessera::cpu
