#pragma once
// CPU kernel machinery (internal): parallel_for and the strided N-operand loop. Dtype dispatch
// (backend/dispatch.h) and the op math (backend/math/) are shared with the other devices.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "tessera/backend/cpu/thread_pool.h"
#include "tessera/backend/dispatch.h"
#include "tessera/backend/iteration.h"
#include "tessera/backend/math/unary.h"
#include "tessera/core/tensor.h"

namespace tessera::cpu {

using math::acc_t;
using math::fast_exp;
using math::fast_expf;
using math::opmath_t;

// Chunks per thread of a parallel_for: a few, so that a late or descheduled thread leaves less
// for the others to wait on (the caller takes whatever is still unclaimed).
constexpr int64_t kChunksPerThread = 4;

// How many chunks parallel_for cuts [0, n) into: 1 (the calling thread does it all) when the
// work is at most one grain, inside another parallel job, or with one thread.
inline int64_t chunks_for(int64_t n, int64_t grain) {
  if (n <= grain || in_parallel_region()) return 1;
  int64_t nt = pool_threads();
  if (nt <= 1) return 1;
  return std::min<int64_t>((n + grain - 1) / grain, nt * kChunksPerThread);
}

// Calls f(c) for every chunk c in [0, chunks) on the thread pool (thread_pool.h).
template <class F>
void parallel_chunks(int64_t chunks, const F& f) {
  if (chunks <= 0) return;
  if (chunks == 1) return f(int64_t(0));
  run_chunks(
      chunks, [](void* ctx, int64_t c) { (*static_cast<const F*>(ctx))(c); },
      const_cast<void*>(static_cast<const void*>(&f)));
}

// Calls f(begin, end) on disjoint chunks of [0, n) in parallel (grain: elements per chunk at least).
template <class F>
void parallel_for(int64_t n, int64_t grain, const F& f) {
  if (n <= 0) return;
  int64_t chunks = chunks_for(n, std::max<int64_t>(grain, 1));
  if (chunks == 1) return f(int64_t(0), n);
  // Near-equal chunks (sizes differ by at most one): 50 channels in 8 chunks are 6 or 7 each,
  // not seven 7s and a 1.
  int64_t base = n / chunks, extra = n % chunks;
  parallel_chunks(chunks, [&](int64_t c) {
    int64_t b = c * base + std::min(c, extra);
    f(b, b + base + (c < extra ? 1 : 0));
  });
}

// The strided loop over N tensors of one shape: f(char* ptrs[N], const int64_t byte_strides[N],
// int64_t n) is called on runs of the plan's innermost dim, in parallel over the flattened range.
template <int N>
struct StridedLoop {
  math::StridedPlan<N> plan;
  char* base[N];

  // any_order: the loop may visit the elements in operand 0's memory order (every elementwise
  // op may; random and order-dependent kernels keep the logical order), so that tensors laid out
  // alike in another order (channels last) run as one contiguous stretch.
  explicit StridedLoop(const std::array<const Tensor*, N>& ts, bool any_order = false)
      : plan(plan_of<N>(ts, any_order)) {
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
// The same for elementwise kernels, in whatever order the memory is laid out.
template <int N, class F>
void for_each_elementwise(const std::array<const Tensor*, N>& ts, const F& f, int64_t grain = 32768) {
  StridedLoop<N>(ts, true).run(f, grain);
}

}  // namespace tessera::cpu
