#pragma once
// One functor per BinaryOp, and the ternary where/clamp/fma, shared by every device. Operands
// have one storage type T (the ops layer promoted them); comparisons and logical ops return
// bool, the others T. Integer Add/Sub/Mul wrap and Maximum/Minimum propagate NaN, as in PyTorch.
#include <cmath>

#include "tessera/backend/math/convert.h"
#include "tessera/backend/math/ops.h"

namespace tessera::math {

template <class T>
TS_INLINE T int_pow(T base, T exp) {
  if constexpr (std::is_same_v<T, bool>) {
    return base || !exp;
  } else {
    if constexpr (std::is_signed_v<T>)
      if (exp < 0) return base == 1 ? T(1) : base == T(-1) ? (exp % 2 ? T(-1) : T(1)) : T(0);
    using U = std::make_unsigned_t<T>;
    U r = 1, b = U(base);
    for (T e = exp; e; e >>= 1) {
      if (e & 1) r *= b;
      b *= b;
    }
    return T(r);
  }
}

// Comparisons and logical ops: every type, bool out.
#define TS_COMPARE(Name, expr)                                  \
  struct Name {                                                 \
    template <class T>                                          \
    static constexpr bool supports = true;                      \
    template <class T>                                          \
    TS_INLINE bool operator()(T a, T b) const {                 \
      using M = opmath_t<T>;                                    \
      M x = M(a), y = M(b);                                     \
      return bool(expr);                                        \
    }                                                           \
  };
TS_COMPARE(EqFn, x == y)
TS_COMPARE(NeFn, x != y)
TS_COMPARE(LtFn, x < y)
TS_COMPARE(LeFn, x <= y)
TS_COMPARE(GtFn, x > y)
TS_COMPARE(GeFn, x >= y)
TS_COMPARE(LogicalAndFn, x != M(0) && y != M(0))
TS_COMPARE(LogicalOrFn, x != M(0) || y != M(0))
TS_COMPARE(LogicalXorFn, (x != M(0)) != (y != M(0)))
#undef TS_COMPARE

// Arithmetic: `floating` computes in opmath_t<T>, `integer` on the integer itself (wrapping
// through the unsigned type), `boolean` on bool (only where PyTorch defines the op for bool).
#define TS_ARITH(Name, for_bool, floating, integer, boolean)                                  \
  struct Name {                                                                               \
    template <class T>                                                                        \
    static constexpr bool supports = !std::is_same_v<T, bool> || for_bool;                   \
    template <class T>                                                                        \
    TS_INLINE T operator()(T a, T b) const {                                                  \
      if constexpr (std::is_same_v<T, bool>) {                                                \
        bool x = a, y = b;                                                                    \
        (void)x, (void)y;                                                                     \
        return boolean;                                                                       \
      } else if constexpr (is_int_v<T>) {                                                     \
        using U = uint_of<T>;                                                                 \
        T x = a, y = b;                                                                       \
        (void)sizeof(U);                                                                      \
        return T(integer);                                                                    \
      } else {                                                                                \
        using M = opmath_t<T>;                                                                \
        M x = M(a), y = M(b);                                                                 \
        return T(floating);                                                                   \
      }                                                                                       \
    }                                                                                         \
  };
TS_ARITH(AddFn, true, x + y, U(x) + U(y), x || y)
TS_ARITH(SubFn, false, x - y, U(x) - U(y), false)
TS_ARITH(MulFn, true, x * y, U(x) * U(y), x && y)
// Integer division by zero is refused by the ops layer; the guards keep the kernel defined.
TS_ARITH(DivFn, false, x / y, (y == 0 ? T(0) : y == T(-1) ? T(U(0) - U(x)) : T(x / y)), false)
TS_ARITH(PowFn, false, (y == M(2) ? x * x : std::pow(x, y)), int_pow<T>(x, y), false)
TS_ARITH(MaximumFn, true, (x != x ? x : (y != y ? y : (x > y ? x : y))), (x > y ? x : y), x || y)
TS_ARITH(MinimumFn, true, (x != x ? x : (y != y ? y : (x < y ? x : y))), (x < y ? x : y), x && y)
TS_ARITH(Atan2Fn, false, std::atan2(x, y), 0, false)
TS_ARITH(FmodFn, false, std::fmod(x, y), (y == 0 || y == T(-1) ? T(0) : T(x % y)), false)
#undef TS_ARITH

// Bitwise ops: integers and bool only (PyTorch's bitwise_and, |, ^).
#define TS_BITWISE(Name, op)                                                 \
  struct Name {                                                              \
    template <class T>                                                       \
    static constexpr bool supports = is_int_v<T> || std::is_same_v<T, bool>; \
    template <class T>                                                       \
    TS_INLINE T operator()(T a, T b) const {                                 \
      if constexpr (std::is_same_v<T, bool>) return bool(int(a) op int(b)); \
      else if constexpr (is_int_v<T>) return T(a op b);                     \
      else return a;                                                         \
    }                                                                        \
  };
TS_BITWISE(BitwiseAndFn, &)
TS_BITWISE(BitwiseOrFn, |)
TS_BITWISE(BitwiseXorFn, ^)
#undef TS_BITWISE

// Atan2 is defined for floating types only (the ops layer promotes integers to float).
template <class Fn, class T>
inline constexpr bool binary_supports = Fn::template supports<T> && (!std::is_same_v<Fn, Atan2Fn> || !is_int_v<T>);

template <class F>
decltype(auto) dispatch_binary(BinaryOp op, F&& f) {
  static_assert(kNumBinaryOps == 21, "dispatch_binary: a BinaryOp has no functor");
  switch (op) {
    case BinaryOp::Add: return f(AddFn{});
    case BinaryOp::Sub: return f(SubFn{});
    case BinaryOp::Mul: return f(MulFn{});
    case BinaryOp::Div: return f(DivFn{});
    case BinaryOp::Pow: return f(PowFn{});
    case BinaryOp::Maximum: return f(MaximumFn{});
    case BinaryOp::Minimum: return f(MinimumFn{});
    case BinaryOp::Atan2: return f(Atan2Fn{});
    case BinaryOp::Fmod: return f(FmodFn{});
    case BinaryOp::BitwiseAnd: return f(BitwiseAndFn{});
    case BinaryOp::BitwiseOr: return f(BitwiseOrFn{});
    case BinaryOp::BitwiseXor: return f(BitwiseXorFn{});
    case BinaryOp::Eq: return f(EqFn{});
    case BinaryOp::Ne: return f(NeFn{});
    case BinaryOp::Lt: return f(LtFn{});
    case BinaryOp::Le: return f(LeFn{});
    case BinaryOp::Gt: return f(GtFn{});
    case BinaryOp::Ge: return f(GeFn{});
    case BinaryOp::LogicalAnd: return f(LogicalAndFn{});
    case BinaryOp::LogicalOr: return f(LogicalOrFn{});
    case BinaryOp::LogicalXor:
    case BinaryOp::Count: break;
  }
  return f(LogicalXorFn{});
}

struct WhereFn {
  template <class T>
  TS_INLINE T operator()(bool c, T a, T b) const { return c ? a : b; }
};
// Keeps NaN (neither comparison is true for it). Bounds are in opmath_t<T>.
template <class T>
struct ClampFn {
  opmath_t<T> lo, hi;
  TS_INLINE T operator()(T x) const {
    opmath_t<T> v = opmath_t<T>(x);
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    return T(v);
  }
};
struct FmaFn {
  template <class T>
  TS_INLINE T operator()(T a, T b, T c) const {
    using M = opmath_t<T>;
    return T(M(a) * M(b) + M(c));
  }
};

}  // namespace tessera::math
