#pragma once
// CPU kernel machinery (internal): parallel_for and the strided N-operand loop. Dtype dispatch
// (backend/dispatch.h) and the op math (backend/math/) are shared with the other devices.
#include <omp.h>

#include <array>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "tessera/backend/dispatch.h"
#include "tessera/backend/iteration.h"
#include "tessera/backend/math/unary.h"
#include "tessera/core/tensor.h"

namespace tessera::cpu {

using math::acc_t;
using math::fast_exp;
using math::fast_expf;
using math::opmath_t;

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

// The strided loop over N tensors of one shape: f(char* ptrs[N], const int64_t byte_strides[N],
// int64_t n) is called on runs of the plan's innermost dim, in parallel over the flattened range.
template <int N>
struct StridedLoop {
  math::StridedPlan<N> plan;
  char* base[N];

  explicit StridedLoop(const std::array<const Tensor*, N>& ts) : plan(plan_of<N>(ts)) {
    for (int k = 0; k < N; ++k) base[k] = static_cast<char*>(ts[k]->data_ptr());
    if (plan.ndim == 0) {  // a single element (or none)
      plan.ndim = 1;
      plan.sizes[0] = plan.numel;
      for (int k = 0; k < N; ++k) plan.strides[k][0] = 0;
    }
  }

  template <class F>
  void run_range(int64_t begin, int64_t end, const F& f) const {
    const int64_t* sizes = plan.sizes;
    int64_t idx[kMaxDims];
    int64_t rem = begin;
    char* p[N];
    for (int k = 0; k < N; ++k) p[k] = base[k];
    for (int d = 0; d < plan.ndim; ++d) {
      idx[d] = rem % sizes[d];
      rem /= sizes[d];
      for (int k = 0; k < N; ++k) p[k] += idx[d] * plan.strides[k][d];
    }
    int64_t inner[N];
    for (int k = 0; k < N; ++k) inner[k] = plan.strides[k][0];
    int64_t pos = begin;
    while (pos < end) {
      int64_t n = std::min(sizes[0] - idx[0], end - pos);
      f(p, inner, n);
      pos += n;
      for (int k = 0; k < N; ++k) p[k] += n * plan.strides[k][0];
      idx[0] += n;
      for (int d = 0; d + 1 < plan.ndim && idx[d] == sizes[d]; ++d) {  // carry into outer dims
        for (int k = 0; k < N; ++k) p[k] += plan.strides[k][d + 1] - sizes[d] * plan.strides[k][d];
        idx[d] = 0;
        ++idx[d + 1];
      }
    }
  }

  template <class F>
  void run(const F& f, int64_t grain = 32768) const {
    if (plan.numel == 0) return;
    parallel_for(plan.numel, grain, [&](int64_t b, int64_t e) { run_range(b, e, f); });
  }
};

template <int N, class F>
void for_each(const std::array<const Tensor*, N>& ts, const F& f, int64_t grain = 32768) {
  StridedLoop<N>(ts).run(f, grain);
}

}  // namespace tessera::cpu
