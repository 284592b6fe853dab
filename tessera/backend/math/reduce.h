#pragma once
// Reduction ops as identity / reduce / combine / project, shared by every device. `reduce`
// folds one input value into an accumulator; `combine` merges two accumulators of disjoint
// parts in any tree order (a CPU thread's partial result, a GPU warp's); `project` turns the
// final accumulator into the output value. Accumulators of float data are double (sum, prod,
// Welford) or the value's own compare type (max, min, arg-reductions).
#include <cmath>

#include "tessera/backend/math/convert.h"
#include "tessera/backend/math/unary.h"

namespace tessera::math {

template <class A>
struct SumOp {
  using acc = A;
  static TS_INLINE A identity() { return A(0); }
  static TS_INLINE A reduce(A a, A x) { return wrapping_add(a, x); }
  static TS_INLINE A combine(A a, A b) { return wrapping_add(a, b); }
};
template <class A>
struct ProdOp {
  using acc = A;
  static TS_INLINE A identity() { return A(1); }
  static TS_INLINE A reduce(A a, A x) { return wrapping_mul(a, x); }
  static TS_INLINE A combine(A a, A b) { return wrapping_mul(a, b); }
};
// NaN wins: once the accumulator is NaN it stays NaN.
template <class A>
struct MaxOp {
  using acc = A;
  static TS_INLINE A identity() { return lowest<A>(); }
  static TS_INLINE A reduce(A a, A x) { return (x > a || x != x) && a == a ? x : a; }
  static TS_INLINE A combine(A a, A b) { return reduce(a, b); }
};
template <class A>
struct MinOp {
  using acc = A;
  static TS_INLINE A identity() { return highest<A>(); }
  static TS_INLINE A reduce(A a, A x) { return (x < a || x != x) && a == a ? x : a; }
  static TS_INLINE A combine(A a, A b) { return reduce(a, b); }
};
struct AnyOp {
  using acc = bool;
  static TS_INLINE bool identity() { return false; }
  static TS_INLINE bool reduce(bool a, bool x) { return a || x; }
  static TS_INLINE bool combine(bool a, bool b) { return a || b; }
};
struct AllOp {
  using acc = bool;
  static TS_INLINE bool identity() { return true; }
  static TS_INLINE bool reduce(bool a, bool x) { return a && x; }
  static TS_INLINE bool combine(bool a, bool b) { return a && b; }
};

// Calls f(Op{}) with the accumulator type of reducing storage type T by op.
template <class T, class F>
decltype(auto) dispatch_reduce(ReduceOp op, F&& f) {
  static_assert(kNumReduceOps == 6, "dispatch_reduce: a ReduceOp has no functor");
  switch (op) {
    case ReduceOp::Sum: return f(SumOp<acc_t<T>>{});
    case ReduceOp::Prod: return f(ProdOp<acc_t<T>>{});
    case ReduceOp::Max: return f(MaxOp<opmath_t<T>>{});
    case ReduceOp::Min: return f(MinOp<opmath_t<T>>{});
    case ReduceOp::Any: return f(AnyOp{});
    case ReduceOp::All:
    case ReduceOp::Count: break;
  }
  return f(AllOp{});
}

// Welford's running mean and sum of squared deviations, in double; combine is Chan et al.'s
// pairwise update, so partial results merge in any order.
struct Welford {
  double mean = 0, m2 = 0, n = 0;
};
struct WelfordOp {
  using acc = Welford;
  static TS_INLINE Welford identity() { return {}; }
  static TS_INLINE Welford reduce(Welford a, double x) {
    a.n += 1;
    double d = x - a.mean;
    a.mean += d / a.n;
    a.m2 += d * (x - a.mean);
    return a;
  }
  static TS_INLINE Welford combine(Welford a, Welford b) {
    if (a.n == 0) return b;
    if (b.n == 0) return a;
    double n = a.n + b.n, d = b.mean - a.mean;
    return {a.mean + d * (b.n / n), a.m2 + b.m2 + d * d * (a.n * b.n / n), n};
  }
  // The biased variance (divisor n); NaN for no values.
  static TS_INLINE double variance(const Welford& w) { return w.n > 0 ? w.m2 / w.n : NAN; }
  static TS_INLINE double mean(const Welford& w) { return w.n > 0 ? w.mean : NAN; }
};

// argmax/argmin: the first index of the extreme value; NaN counts as larger than everything
// (so the first NaN wins both). Ties between parts go to the lower index, which makes combine
// order-independent.
template <class M>
struct ArgAcc {
  M value;
  int64_t index;
};
template <class M, bool IsMax>
struct ArgOp {
  using acc = ArgAcc<M>;
  static TS_INLINE acc identity() { return {IsMax ? lowest<M>() : highest<M>(), INT64_MAX}; }
  static TS_INLINE bool better(M v, M best) { return v != v ? best == best : (IsMax ? v > best : v < best); }
  static TS_INLINE acc reduce(acc a, M v, int64_t i) { return combine(a, acc{v, i}); }
  static TS_INLINE acc combine(acc a, acc b) {
    if (better(b.value, a.value)) return b;
    if (better(a.value, b.value)) return a;
    return b.index < a.index ? b : a;
  }
};

// Online softmax: the running maximum and the sum of exp(x - maximum), rescaled when the
// maximum grows. Partial states of any parts merge exactly like the sequential fold. A row
// that is all -inf has sum 0 and log-sum-exp -inf (so softmax gives NaN, as PyTorch's does);
// a NaN makes the sum NaN.
template <class M>
struct SoftmaxAcc {
  M max, sum;
};
template <class M>
struct SoftmaxOp {
  using acc = SoftmaxAcc<M>;
  static TS_INLINE acc identity() { return {lowest<M>(), M(0)}; }
  // sum * exp(from - to); a part whose maximum is -inf holds 0 (or NaN, which must survive).
  static TS_INLINE M scaled(M sum, M from, M to) { return from == lowest<M>() ? sum * M(0) : sum * fast_exp(from - to); }
  // exp(x - x) is 1, or NaN for x = +inf, as in the two-pass form.
  static TS_INLINE acc reduce(acc a, M x) {
    if (x > a.max) return {x, scaled(a.sum, a.max, x) + fast_exp(x - x)};
    return {a.max, a.sum + (a.max == lowest<M>() && x == a.max ? M(0) : fast_exp(x - a.max))};
  }
  static TS_INLINE acc combine(acc a, acc b) {
    if (b.max > a.max) return {b.max, b.sum + scaled(a.sum, a.max, b.max)};
    return {a.max, a.sum + scaled(b.sum, b.max, a.max)};
  }
  // log(sum exp(x)) of the part.
  static TS_INLINE M logsumexp(const acc& a) { return (a.max == lowest<M>() ? M(0) : a.max) + std::log(a.sum); }
};

}  // namespace tessera::math
