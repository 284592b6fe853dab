#pragma once
// The types op math computes in, shared by every device.
#include <cstdint>
#include <limits>
#include <type_traits>

#include "tessera/core/half.h"

namespace tessera::math {

template <class T>
inline constexpr bool is_half_v = std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;
template <class T>
inline constexpr bool is_int_v = std::is_integral_v<T> && !std::is_same_v<T, bool>;

// The unsigned type integer arithmetic wraps through: never narrower than unsigned int, since
// narrower unsigned types promote to (signed) int, where 65535 * 65535 overflows.
template <class T>
using uint_of = std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned,
                                   std::make_unsigned_t<std::conditional_t<is_int_v<T>, T, int>>>;
// a + b and a * b, wrapping for integers (as PyTorch's integer sums and products do).
template <class A>
TS_INLINE A wrapping_add(A a, A b) {
  if constexpr (is_int_v<A>)
    return A(uint_of<A>(a) + uint_of<A>(b));
  else
    return a + b;
}
template <class A>
TS_INLINE A wrapping_mul(A a, A b) {
  if constexpr (is_int_v<A>)
    return A(uint_of<A>(a) * uint_of<A>(b));
  else
    return a * b;
}

// The floating-point storage types (float16, bfloat16, float, double).
template <class T>
inline constexpr bool is_float_v = std::is_floating_point_v<std::conditional_t<is_half_v<T>, float, T>>;

// The type arithmetic happens in: float for the 16-bit floats, the type itself otherwise.
template <class T>
using opmath_t = std::conditional_t<is_half_v<T>, float, T>;
// The accumulation type of sums, products and scans: double for every float type (reductions
// are memory-bound, so wide adds cost nothing and long sums stay exact to float precision),
// int64 for integers and bool.
template <class T>
using acc_t = std::conditional_t<std::is_floating_point_v<opmath_t<T>>, double, int64_t>;

template <class T>
TS_INLINE bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return v != v;
  else if constexpr (is_half_v<T>) return float(v) != float(v);
  else return false;
}

template <class T>
TS_INLINE constexpr T lowest() {
  if constexpr (std::is_floating_point_v<T>) return -std::numeric_limits<T>::infinity();
  else return std::numeric_limits<T>::lowest();
}
template <class T>
TS_INLINE constexpr T highest() {
  if constexpr (std::is_floating_point_v<T>) return std::numeric_limits<T>::infinity();
  else return std::numeric_limits<T>::max();
}

}  // namespace tessera::math
