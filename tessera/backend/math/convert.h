#pragma once
// Conversion between element types, the same on every device and free of undefined
// behaviour: NaN becomes 0 and out-of-range floats saturate when the target is an integer;
// integer narrowing wraps (two's complement, as C++20 defines it); 16-bit floats round to
// nearest even through float.
#include "tessera/backend/math/types.h"

namespace tessera::math {

template <class To, class From>
TS_INLINE To convert(From v) {
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
    return To(v);
  } else {
    return To(opmath_t<To>(v));
  }
}

}  // namespace tessera::math
