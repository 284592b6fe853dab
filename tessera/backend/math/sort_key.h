#pragma once
// Order-preserving unsigned keys for radix sorting: key(a) < key(b) exactly when a sorts
// before b in the contract's order (NaN largest; -0 and +0 equal, so a stable sort keeps their
// order). Descending order is the bitwise complement, which keeps a stable sort stable.
#include "tessera/backend/math/types.h"

namespace tessera::math {

template <class T>
using sort_key_t = std::conditional_t<sizeof(T) == 1, uint8_t,
                                      std::conditional_t<sizeof(T) == 2, uint16_t,
                                                         std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>>>;

template <class T>
TS_INLINE sort_key_t<T> sort_key(T v, bool descending) {
  using K = sort_key_t<T>;
  constexpr K sign = K(K(1) << (sizeof(K) * 8 - 1));
  K k;
  if constexpr (std::is_same_v<T, bool> || std::is_unsigned_v<T>) {
    k = K(v);
  } else if constexpr (is_int_v<T>) {
    k = K(K(v) ^ sign);
  } else {
    if (is_nan(v)) {
      k = K(~K(0));
    } else {
      K bits;
      if constexpr (is_half_v<T>) bits = v.bits;
      else bits = bit_cast<K>(v);
      if ((bits & K(~sign)) == 0) bits = 0;  // -0 sorts as +0
      k = (bits & sign) ? K(~bits) : K(bits | sign);
    }
  }
  return descending ? K(~k) : k;
}

}  // namespace tessera::math
