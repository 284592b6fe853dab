#pragma once
// One functor per UnaryOp, shared by the CPU loops and the CUDA kernels. A functor computes in
// opmath_t<T> and says which storage types it is defined for (`supports<T>`); integer
// arithmetic wraps as in PyTorch. dispatch_unary maps a runtime op to its functor.
#include <cmath>

#include "tessera/backend/math/convert.h"
#include "tessera/backend/math/ops.h"

namespace tessera::math {

// e^x / 2^n for n = round(x / ln 2): the reduced argument r = x - n ln 2 (ln 2 in two parts) and
// Cephes' polynomial for e^r. T: float, or a vector of floats (the CPU's LSTM cell, rnn.cpp).
template <class T>
TS_INLINE T expf_mantissa(T x, T n) {
  T r = x - n * 0.693359375f + n * 2.12194440e-4f;
  T p = r * 1.9875691500E-4f + 1.3981999507E-3f;
  p = p * r + 8.3334519073E-3f;
  p = p * r + 4.1665795894E-2f;
  p = p * r + 1.6666665459E-1f;
  p = p * r + 5.0000001201E-1f;
  return p * r * r + r + 1.0f;
}
// exp for float that vectorizes on the CPU (Cephes' polynomial, about 1 ulp; std::exp does not
// vectorize without -ffast-math, which would break NaN handling elsewhere). 2^n is applied in
// two halves so that results near FLT_MAX stay finite and tiny ones come out as denormals.
TS_INLINE float fast_expf(float x) {
  float xc = x > 88.7228f ? 88.7228f : (x < -103.9f ? -103.9f : x);
  xc = xc == xc ? xc : 0.0f;  // NaN: any finite value here, the select below returns x
  float n = std::nearbyint(xc * 1.44269504088896341f);
  float p = expf_mantissa(xc, n);
  int32_t ni = int32_t(n), n1 = ni >> 1, n2 = ni - n1;  // n in [-150, 128]
  float y = p * bit_cast<float>((n1 + 127) << 23) * bit_cast<float>((n2 + 127) << 23);
  y = x > 88.7228f ? INFINITY : y;
  y = x < -103.9f ? 0.0f : y;
  return x != x ? x : y;
}
TS_INLINE float fast_exp(float x) { return fast_expf(x); }
// tanh for float that vectorizes (Cephes' tanhf, about 2 ulp): an odd polynomial below 0.625,
// 1 - 2 / (exp(2|x|) + 1) above; both are computed and one is selected, so a loop has no branch.
TS_INLINE float fast_tanhf(float x) {
  float a = std::fabs(x), s = x * x;
  float small = ((((-5.70498872745E-3f * s + 2.06390887954E-2f) * s - 5.37397155531E-2f) * s + 1.33314422036E-1f) * s -
                 3.33332819422E-1f) * s * a + a;
  float big = 1.0f - 2.0f / (fast_expf(2.0f * a) + 1.0f);
  return std::copysign(a >= 0.625f ? big : small, x);  // NaN: small is NaN
}
TS_INLINE double fast_exp(double x) { return std::exp(x); }

// Ops defined for floating-point storage types only.
struct FloatUnary {
  template <class T>
  static constexpr bool supports = is_float_v<T>;
};
// Ops defined for every numeric type (not bool).
struct NumericUnary {
  template <class T>
  static constexpr bool supports = !std::is_same_v<T, bool>;
};

#define TS_FLOAT_UNARY(Name, expr)                                                   \
  struct Name : FloatUnary {                                                         \
    template <class T>                                                               \
    TS_INLINE T operator()(T in) const {                                             \
      using M = opmath_t<T>;                                                         \
      M x = M(in);                                                                   \
      return T(expr);                                                                \
    }                                                                                \
  };
TS_FLOAT_UNARY(ExpFn, fast_exp(x))
TS_FLOAT_UNARY(Expm1Fn, std::expm1(x))
TS_FLOAT_UNARY(LogFn, std::log(x))
TS_FLOAT_UNARY(Log1pFn, std::log1p(x))
TS_FLOAT_UNARY(SqrtFn, std::sqrt(x))
TS_FLOAT_UNARY(RsqrtFn, M(1) / std::sqrt(x))
TS_FLOAT_UNARY(SinFn, std::sin(x))
TS_FLOAT_UNARY(CosFn, std::cos(x))
TS_FLOAT_UNARY(TanhFn, std::tanh(x))
TS_FLOAT_UNARY(SigmoidFn, M(1) / (M(1) + fast_exp(-x)))
TS_FLOAT_UNARY(SiluFn, x / (M(1) + fast_exp(-x)))
// erfc keeps full relative accuracy for negative x, where 1 + erf cancels.
TS_FLOAT_UNARY(GeluErfFn, M(0.5) * x * std::erfc(-x * M(0.70710678118654752440)))
TS_FLOAT_UNARY(GeluTanhFn, M(0.5) * x * (M(1) + std::tanh(M(0.7978845608028654) * (x + M(0.044715) * x * x * x))))
TS_FLOAT_UNARY(ErfFn, std::erf(x))
TS_FLOAT_UNARY(ReciprocalFn, M(1) / x)
#undef TS_FLOAT_UNARY

struct AbsFn : NumericUnary {
  template <class T>
  TS_INLINE T operator()(T x) const {
    if constexpr (std::is_unsigned_v<T>) return x;
    else if constexpr (is_int_v<T>) return x < 0 ? T(std::make_unsigned_t<T>(0) - std::make_unsigned_t<T>(x)) : x;
    else return T(std::fabs(opmath_t<T>(x)));
  }
};
struct NegFn : NumericUnary {
  template <class T>
  TS_INLINE T operator()(T x) const {
    if constexpr (is_int_v<T>) return T(std::make_unsigned_t<T>(0) - std::make_unsigned_t<T>(x));
    else return T(-opmath_t<T>(x));
  }
};
struct SquareFn : NumericUnary {
  template <class T>
  TS_INLINE T operator()(T x) const {
    if constexpr (is_int_v<T>) return T(std::make_unsigned_t<T>(x) * std::make_unsigned_t<T>(x));
    else return T(opmath_t<T>(x) * opmath_t<T>(x));
  }
};
struct ReluFn : NumericUnary {
  template <class T>
  TS_INLINE T operator()(T x) const {
    using M = opmath_t<T>;
    if constexpr (std::is_unsigned_v<T>) return x;
    else return M(x) < M(0) ? T(M(0)) : x;
  }
};
struct SignFn : NumericUnary {
  template <class T>
  TS_INLINE T operator()(T in) const {
    using M = opmath_t<T>;
    M x = M(in);
    if constexpr (std::is_unsigned_v<T>) return T(x > 0);
    else if constexpr (is_int_v<T>) return T((x > 0) - (x < 0));
    else return T(x != x ? x : M((x > M(0)) - (x < M(0))));
  }
};
// Rounding is the identity on integers. Round is to nearest even, as in PyTorch.
#define TS_ROUNDING_UNARY(Name, fn)                                          \
  struct Name : NumericUnary {                                               \
    template <class T>                                                       \
    TS_INLINE T operator()(T x) const {                                      \
      if constexpr (is_int_v<T>) return x;                                   \
      else return T(fn(opmath_t<T>(x)));                                     \
    }                                                                        \
  };
TS_ROUNDING_UNARY(FloorFn, std::floor)
TS_ROUNDING_UNARY(CeilFn, std::ceil)
TS_ROUNDING_UNARY(RoundFn, std::nearbyint)
#undef TS_ROUNDING_UNARY
// Defined for every type, bool included; the output is bool.
struct LogicalNotFn {
  template <class T>
  static constexpr bool supports = true;
  template <class T>
  TS_INLINE bool operator()(T x) const { return !convert<bool>(x); }
};

// ~x for integers, !x for bool (PyTorch's bitwise_not).
struct BitwiseNotFn {
  template <class T>
  static constexpr bool supports = is_int_v<T> || std::is_same_v<T, bool>;
  template <class T>
  TS_INLINE T operator()(T x) const {
    if constexpr (std::is_same_v<T, bool>) return !x;
    else if constexpr (is_int_v<T>) return T(~x);
    else return x;
  }
};

// Calls f(Functor{}) for a runtime op.
template <class F>
decltype(auto) dispatch_unary(UnaryOp op, F&& f) {
  static_assert(kNumUnaryOps == 25, "dispatch_unary: a UnaryOp has no functor");
  switch (op) {
    case UnaryOp::Abs: return f(AbsFn{});
    case UnaryOp::Neg: return f(NegFn{});
    case UnaryOp::Exp: return f(ExpFn{});
    case UnaryOp::Expm1: return f(Expm1Fn{});
    case UnaryOp::Log: return f(LogFn{});
    case UnaryOp::Log1p: return f(Log1pFn{});
    case UnaryOp::Sqrt: return f(SqrtFn{});
    case UnaryOp::Rsqrt: return f(RsqrtFn{});
    case UnaryOp::Sin: return f(SinFn{});
    case UnaryOp::Cos: return f(CosFn{});
    case UnaryOp::Tanh: return f(TanhFn{});
    case UnaryOp::Sigmoid: return f(SigmoidFn{});
    case UnaryOp::Relu: return f(ReluFn{});
    case UnaryOp::GeluErf: return f(GeluErfFn{});
    case UnaryOp::GeluTanh: return f(GeluTanhFn{});
    case UnaryOp::Silu: return f(SiluFn{});
    case UnaryOp::Erf: return f(ErfFn{});
    case UnaryOp::Floor: return f(FloorFn{});
    case UnaryOp::Ceil: return f(CeilFn{});
    case UnaryOp::Round: return f(RoundFn{});
    case UnaryOp::Sign: return f(SignFn{});
    case UnaryOp::Reciprocal: return f(ReciprocalFn{});
    case UnaryOp::Square: return f(SquareFn{});
    case UnaryOp::BitwiseNot: return f(BitwiseNotFn{});
    case UnaryOp::LogicalNot:
    case UnaryOp::Count: break;
  }
  return f(LogicalNotFn{});
}

}  // namespace tessera::math
