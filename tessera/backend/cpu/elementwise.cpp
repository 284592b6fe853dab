// Elementwise CPU kernels: copy/convert, fill, arange, unary, binary, where, clamp.
#include <cmath>
#include <limits>

#include "tessera/backend/cpu/cpu_backend.h"
#include "tessera/backend/cpu/loops.h"

namespace tessera::cpu {

namespace {

// Converts between element types without undefined behaviour: NaN becomes 0 and out-of-range
// floats saturate when the target is an integer.
template <class To, class From>
inline To convert(From v) {
  if constexpr (std::is_same_v<To, From>) {
    return v;
  } else if constexpr (std::is_same_v<To, bool>) {
    return opmath_t<From>(v) != opmath_t<From>(0);
  } else if constexpr (std::is_integral_v<To> && !std::is_integral_v<From>) {
    double d = double(opmath_t<From>(v));
    if (!(d == d)) return To(0);
    if (d <= double(std::numeric_limits<To>::min())) return std::numeric_limits<To>::min();
    if (d >= double(std::numeric_limits<To>::max())) return std::numeric_limits<To>::max();
    return To(d);
  } else if constexpr (std::is_integral_v<To>) {
    return To(v);  // integer narrowing wraps (C++20)
  } else {
    return To(opmath_t<To>(v));
  }
}

template <class T>
inline bool is_nan(T v) {
  if constexpr (std::is_integral_v<T>) return false;
  else return opmath_t<T>(v) != opmath_t<T>(v);
}

template <class T, class F>
void unary_loop(const Tensor& out, const Tensor& in, const F& f) {
  for_each<2>({&out, &in}, [&](char** p, const int64_t* s, int64_t n) {
    if (s[0] == sizeof(T) && s[1] == sizeof(T)) {
      T* o = reinterpret_cast<T*>(p[0]);
      const T* a = reinterpret_cast<const T*>(p[1]);
      for (int64_t i = 0; i < n; ++i) o[i] = f(a[i]);
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<T*>(p[0] + i * s[0]) = f(*reinterpret_cast<const T*>(p[1] + i * s[1]));
    }
  });
}

template <class T, class O, class F>
void binary_loop(const Tensor& out, const Tensor& a, const Tensor& b, const F& f) {
  for_each<3>({&out, &a, &b}, [&](char** p, const int64_t* s, int64_t n) {
    O* o = reinterpret_cast<O*>(p[0]);
    const T* x = reinterpret_cast<const T*>(p[1]);
    const T* y = reinterpret_cast<const T*>(p[2]);
    if (s[0] == sizeof(O) && s[1] == sizeof(T) && s[2] == sizeof(T)) {
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
    } else if (s[0] == sizeof(O) && s[1] == sizeof(T) && s[2] == 0) {
      const T yv = *y;
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], yv);
    } else if (s[0] == sizeof(O) && s[1] == 0 && s[2] == sizeof(T)) {
      const T xv = *x;
      for (int64_t i = 0; i < n; ++i) o[i] = f(xv, y[i]);
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<O*>(p[0] + i * s[0]) =
            f(*reinterpret_cast<const T*>(p[1] + i * s[1]), *reinterpret_cast<const T*>(p[2] + i * s[2]));
    }
  });
}

// Wraps a math function on opmath_t<T> into one on T.
template <class T, class G>
auto lift(G g) {
  return [g](T x) -> T { return T(g(opmath_t<T>(x))); };
}

template <class T>
void unary_float(UnaryOp op, const Tensor& out, const Tensor& in) {
  using M = opmath_t<T>;
  constexpr M half = M(0.5), one = M(1);
  switch (op) {
    case UnaryOp::Exp: return unary_loop<T>(out, in, lift<T>([](M x) { return fast_exp(x); }));
    case UnaryOp::Expm1: return unary_loop<T>(out, in, lift<T>([](M x) { return std::expm1(x); }));
    case UnaryOp::Log: return unary_loop<T>(out, in, lift<T>([](M x) { return std::log(x); }));
    case UnaryOp::Log1p: return unary_loop<T>(out, in, lift<T>([](M x) { return std::log1p(x); }));
    case UnaryOp::Sqrt: return unary_loop<T>(out, in, lift<T>([](M x) { return std::sqrt(x); }));
    case UnaryOp::Rsqrt: return unary_loop<T>(out, in, lift<T>([=](M x) { return one / std::sqrt(x); }));
    case UnaryOp::Sin: return unary_loop<T>(out, in, lift<T>([](M x) { return std::sin(x); }));
    case UnaryOp::Cos: return unary_loop<T>(out, in, lift<T>([](M x) { return std::cos(x); }));
    case UnaryOp::Tanh: return unary_loop<T>(out, in, lift<T>([](M x) { return std::tanh(x); }));
    case UnaryOp::Sigmoid: return unary_loop<T>(out, in, lift<T>([=](M x) { return one / (one + fast_exp(-x)); }));
    case UnaryOp::Silu: return unary_loop<T>(out, in, lift<T>([=](M x) { return x / (one + fast_exp(-x)); }));
    case UnaryOp::GeluErf:
      // erfc keeps full relative accuracy for negative x, where 1 + erf cancels.
      return unary_loop<T>(out, in, lift<T>([=](M x) { return half * x * std::erfc(-x * M(M_SQRT1_2)); }));
    case UnaryOp::GeluTanh:
      return unary_loop<T>(out, in, lift<T>([=](M x) {
        constexpr M k = M(0.7978845608028654);  // sqrt(2/pi)
        return half * x * (one + std::tanh(k * (x + M(0.044715) * x * x * x)));
      }));
    case UnaryOp::Erf: return unary_loop<T>(out, in, lift<T>([](M x) { return std::erf(x); }));
    case UnaryOp::Floor: return unary_loop<T>(out, in, lift<T>([](M x) { return std::floor(x); }));
    case UnaryOp::Ceil: return unary_loop<T>(out, in, lift<T>([](M x) { return std::ceil(x); }));
    case UnaryOp::Round: return unary_loop<T>(out, in, lift<T>([](M x) { return std::nearbyint(x); }));
    case UnaryOp::Reciprocal: return unary_loop<T>(out, in, lift<T>([=](M x) { return one / x; }));
    default: break;
  }
  throw DTypeError(detail::str("cpu unary: no kernel for ", op_name(op), " on ", out.dtype()));
}

// Ops defined for every numeric dtype. Integer arithmetic wraps, as in PyTorch.
template <class T>
void unary_any(UnaryOp op, const Tensor& out, const Tensor& in) {
  using M = opmath_t<T>;
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    using U = std::make_unsigned_t<T>;
    switch (op) {
      case UnaryOp::Abs: return unary_loop<T>(out, in, [](T x) { return x < 0 ? T(U(0) - U(x)) : x; });
      case UnaryOp::Neg: return unary_loop<T>(out, in, [](T x) { return T(U(0) - U(x)); });
      case UnaryOp::Square: return unary_loop<T>(out, in, [](T x) { return T(U(x) * U(x)); });
      case UnaryOp::Relu: return unary_loop<T>(out, in, [](T x) { return x < 0 ? T(0) : x; });
      case UnaryOp::Sign: return unary_loop<T>(out, in, [](T x) { return T((x > 0) - (x < 0)); });
      case UnaryOp::Floor:
      case UnaryOp::Ceil:
      case UnaryOp::Round: return unary_loop<T>(out, in, [](T x) { return x; });
      default: break;
    }
  } else if constexpr (!std::is_same_v<T, bool>) {
    switch (op) {
      case UnaryOp::Abs: return unary_loop<T>(out, in, lift<T>([](M x) { return std::abs(x); }));
      case UnaryOp::Neg: return unary_loop<T>(out, in, lift<T>([](M x) { return -x; }));
      case UnaryOp::Square: return unary_loop<T>(out, in, lift<T>([](M x) { return x * x; }));
      case UnaryOp::Relu: return unary_loop<T>(out, in, lift<T>([](M x) { return x < M(0) ? M(0) : x; }));
      case UnaryOp::Sign:
        return unary_loop<T>(out, in, lift<T>([](M x) { return x != x ? x : M((x > M(0)) - (x < M(0))); }));
      default: return unary_float<T>(op, out, in);
    }
  }
  throw DTypeError(detail::str("cpu unary: ", op_name(op), " is not defined for ", in.dtype()));
}

template <class T>
inline T int_pow(T base, T exp) {
  if constexpr (std::is_same_v<T, bool>) {
    return base || !exp;
  } else {
    if (exp < 0) return base == 1 ? T(1) : base == T(-1) ? (exp % 2 ? T(-1) : T(1)) : T(0);
    using U = std::make_unsigned_t<T>;
    U r = 1, b = U(base);
    for (auto e = exp; e; e >>= 1) {
      if (e & 1) r *= b;
      b *= b;
    }
    return T(r);
  }
}

template <class T>
void binary_typed(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  using M = opmath_t<T>;
  constexpr bool is_int = std::is_integral_v<T> && !std::is_same_v<T, bool>;
  using U = std::conditional_t<is_int, std::make_unsigned_t<std::conditional_t<is_int, T, int>>, M>;
  auto arith = [&](auto f) { binary_loop<T, T>(out, a, b, [f](T x, T y) { return T(f(M(x), M(y))); }); };
  auto cmp = [&](auto f) { binary_loop<T, bool>(out, a, b, [f](T x, T y) { return bool(f(M(x), M(y))); }); };
  switch (op) {
    case BinaryOp::Eq: return cmp([](M x, M y) { return x == y; });
    case BinaryOp::Ne: return cmp([](M x, M y) { return x != y; });
    case BinaryOp::Lt: return cmp([](M x, M y) { return x < y; });
    case BinaryOp::Le: return cmp([](M x, M y) { return x <= y; });
    case BinaryOp::Gt: return cmp([](M x, M y) { return x > y; });
    case BinaryOp::Ge: return cmp([](M x, M y) { return x >= y; });
    case BinaryOp::LogicalAnd: return cmp([](M x, M y) { return x != M(0) && y != M(0); });
    case BinaryOp::LogicalOr: return cmp([](M x, M y) { return x != M(0) || y != M(0); });
    case BinaryOp::LogicalXor: return cmp([](M x, M y) { return (x != M(0)) != (y != M(0)); });
    default: break;
  }
  if constexpr (std::is_same_v<T, bool>) {
    switch (op) {
      case BinaryOp::Add:
      case BinaryOp::Maximum: return cmp([](M x, M y) { return x || y; });
      case BinaryOp::Mul:
      case BinaryOp::Minimum: return cmp([](M x, M y) { return x && y; });
      default: break;
    }
  } else if constexpr (is_int) {
    switch (op) {
      case BinaryOp::Add: return arith([](M x, M y) { return T(U(x) + U(y)); });
      case BinaryOp::Sub: return arith([](M x, M y) { return T(U(x) - U(y)); });
      case BinaryOp::Mul: return arith([](M x, M y) { return T(U(x) * U(y)); });
      // Division by zero is rejected by the ops layer; the guards keep the kernel defined anyway.
      case BinaryOp::Div: return arith([](M x, M y) { return y == 0 ? T(0) : y == M(-1) ? T(U(0) - U(x)) : T(x / y); });
      case BinaryOp::Fmod: return arith([](M x, M y) { return y == 0 || y == M(-1) ? T(0) : T(x % y); });
      case BinaryOp::Pow: return arith([](M x, M y) { return int_pow<T>(T(x), T(y)); });
      case BinaryOp::Maximum: return arith([](M x, M y) { return x > y ? x : y; });
      case BinaryOp::Minimum: return arith([](M x, M y) { return x < y ? x : y; });
      default: break;
    }
  } else {
    switch (op) {
      case BinaryOp::Add: return arith([](M x, M y) { return x + y; });
      case BinaryOp::Sub: return arith([](M x, M y) { return x - y; });
      case BinaryOp::Mul: return arith([](M x, M y) { return x * y; });
      case BinaryOp::Div: return arith([](M x, M y) { return x / y; });
      case BinaryOp::Pow: return arith([](M x, M y) { return y == M(2) ? x * x : std::pow(x, y); });
      case BinaryOp::Maximum: return arith([](M x, M y) { return x != x ? x : (y != y ? y : (x > y ? x : y)); });
      case BinaryOp::Minimum: return arith([](M x, M y) { return x != x ? x : (y != y ? y : (x < y ? x : y)); });
      case BinaryOp::Atan2: return arith([](M x, M y) { return std::atan2(x, y); });
      case BinaryOp::Fmod: return arith([](M x, M y) { return std::fmod(x, y); });
      default: break;
    }
  }
  throw DTypeError(detail::str("cpu binary: ", op_name(op), " is not defined for ", a.dtype()));
}

}  // namespace

void CpuBackend::copy(const Tensor& dst, const Tensor& src) {
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous()) {
    char* d = static_cast<char*>(dst.data_ptr());
    const char* s = static_cast<const char*>(src.data_ptr());
    int64_t nbytes = dst.numel() * int64_t(dst.element_size());
    if (d == s) return;
    parallel_for(nbytes, 1 << 20, [&](int64_t b, int64_t e) { std::memcpy(d + b, s + b, size_t(e - b)); });
    return;
  }
  dispatch_all(dst.dtype(), [&](auto dt) {
    using D = typename decltype(dt)::type;
    dispatch_all(src.dtype(), [&](auto st) {
      using S = typename decltype(st)::type;
      for_each<2>({&dst, &src}, [](char** p, const int64_t* s, int64_t n) {
        for (int64_t i = 0; i < n; ++i)
          *reinterpret_cast<D*>(p[0] + i * s[0]) = convert<D>(*reinterpret_cast<const S*>(p[1] + i * s[1]));
      });
    });
  });
}

void CpuBackend::fill(const Tensor& dst, const Scalar& v) {
  dispatch_all(dst.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T val = v.is_floating() ? convert<T>(v.to_double()) : v.is_bool() ? T(v.to_bool()) : convert<T>(v.to_int());
    for_each<1>({&dst}, [val](char** p, const int64_t* s, int64_t n) {
      if (s[0] == sizeof(T)) {
        T* o = reinterpret_cast<T*>(p[0]);
        for (int64_t i = 0; i < n; ++i) o[i] = val;
      } else {
        for (int64_t i = 0; i < n; ++i) *reinterpret_cast<T*>(p[0] + i * s[0]) = val;
      }
    });
  });
}

void CpuBackend::arange(const Tensor& out, double start, double step) {
  dispatch_all(out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    int64_t n = out.numel(), st = out.dim() ? out.stride(0) : 1;
    T* o = static_cast<T*>(out.data_ptr());
    if (is_integral(out.dtype())) {
      int64_t s0 = int64_t(start), d = int64_t(step);
      for (int64_t i = 0; i < n; ++i) o[i * st] = T(s0 + i * d);
    } else {
      for (int64_t i = 0; i < n; ++i) o[i * st] = convert<T>(start + double(i) * step);
    }
  });
}

void CpuBackend::unary(UnaryOp op, const Tensor& out, const Tensor& in) {
  if (op == UnaryOp::LogicalNot) {
    dispatch_all(in.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      for_each<2>({&out, &in}, [](char** p, const int64_t* s, int64_t n) {
        for (int64_t i = 0; i < n; ++i)
          *reinterpret_cast<bool*>(p[0] + i * s[0]) = !convert<bool>(*reinterpret_cast<const T*>(p[1] + i * s[1]));
      });
    });
    return;
  }
  dispatch_all(in.dtype(), [&](auto tag) { unary_any<typename decltype(tag)::type>(op, out, in); });
}

void CpuBackend::binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  dispatch_all(a.dtype(), [&](auto tag) { binary_typed<typename decltype(tag)::type>(op, out, a, b); });
}

void CpuBackend::where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  dispatch_all(out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    for_each<4>({&out, &cond, &a, &b}, [](char** p, const int64_t* s, int64_t n) {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<T*>(p[0] + i * s[0]) = *reinterpret_cast<const bool*>(p[1] + i * s[1])
                                                     ? *reinterpret_cast<const T*>(p[2] + i * s[2])
                                                     : *reinterpret_cast<const T*>(p[3] + i * s[3]);
    });
  });
}

void CpuBackend::fma(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& c) {
  dispatch_floating(out.dtype(), "fma", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using M = opmath_t<T>;
    for_each<4>({&out, &a, &b, &c}, [](char** p, const int64_t* s, int64_t n) {
      constexpr int64_t e = sizeof(T);
      if (s[0] == e && s[1] == e && s[2] == 0 && s[3] == 0) {  // per-channel scale and shift
        T* o = reinterpret_cast<T*>(p[0]);
        const T* x = reinterpret_cast<const T*>(p[1]);
        const M k = M(*reinterpret_cast<const T*>(p[2])), d = M(*reinterpret_cast<const T*>(p[3]));
        for (int64_t i = 0; i < n; ++i) o[i] = T(M(x[i]) * k + d);
      } else {
        for (int64_t i = 0; i < n; ++i)
          *reinterpret_cast<T*>(p[0] + i * s[0]) = T(M(*reinterpret_cast<const T*>(p[1] + i * s[1])) *
                                                         M(*reinterpret_cast<const T*>(p[2] + i * s[2])) +
                                                     M(*reinterpret_cast<const T*>(p[3] + i * s[3])));
      }
    });
  });
}

void CpuBackend::clamp(const Tensor& out, const Tensor& in, std::optional<Scalar> lo, std::optional<Scalar> hi) {
  dispatch_all(in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using M = opmath_t<T>;
    auto bound = [](const std::optional<Scalar>& s, M dflt) {
      if (!s) return dflt;
      return s->is_floating() ? M(convert<T>(s->to_double())) : M(convert<T>(s->to_int()));
    };
    M l = bound(lo, std::numeric_limits<M>::lowest()), h = bound(hi, std::numeric_limits<M>::max());
    if constexpr (std::is_floating_point_v<M>) {
      if (!lo) l = -std::numeric_limits<M>::infinity();
      if (!hi) h = std::numeric_limits<M>::infinity();
    }
    unary_loop<T>(out, in, [l, h](T x) {
      M v = M(x);
      v = v < l ? l : v;
      v = v > h ? h : v;
      return T(v);
    });
  });
}

}  // namespace tessera::cpu
