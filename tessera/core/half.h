#pragma once
// float16 and bfloat16 storage types. Arithmetic happens in float; conversions round to
// nearest even, as IEEE 754 and PyTorch do. Host and device code share these conversions
// (integer operations only), so both give the same bits.
#include <cstdint>

#include "tessera/core/host_device.h"

namespace tessera {

struct Half {
  uint16_t bits = 0;
  Half() = default;
  TS_HOST_DEVICE Half(float f) : bits(from_float(f)) {}
  TS_HOST_DEVICE operator float() const { return to_float(bits); }

  static TS_INLINE uint16_t from_float(float f) {
    uint32_t x = bit_cast<uint32_t>(f);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t abs = x & 0x7fffffffu;
    if (abs >= 0x7f800000u) return uint16_t(sign | (abs > 0x7f800000u ? 0x7e00u : 0x7c00u));
    if (abs >= 0x47800000u) return uint16_t(sign | 0x7c00u);  // >= 65536: inf
    if (abs < 0x38800000u) {  // subnormal half (or zero)
      float a = bit_cast<float>(abs) + 0.5f;  // align mantissa; the add rounds to nearest even
      return uint16_t(sign | (bit_cast<uint32_t>(a) - 0x3f000000u));
    }
    uint32_t mant_odd = (abs >> 13) & 1u;
    abs += 0xc8000fffu + mant_odd;  // rebias exponent (-112 << 23) and round to nearest even
    return uint16_t(sign | (abs >> 13));
  }
  static TS_INLINE float to_float(uint16_t h) {
    uint32_t sign = uint32_t(h & 0x8000u) << 16;
    uint32_t em = h & 0x7fffu;
    if (em >= 0x7c00u) return bit_cast<float>(sign | 0x7f800000u | (uint32_t(em & 0x3ffu) << 13));
    if (em < 0x0400u) {  // subnormal: value = em * 2^-24
      float v = float(em) * 5.9604644775390625e-08f;
      return bit_cast<float>(sign | bit_cast<uint32_t>(v));
    }
    return bit_cast<float>(sign | ((em << 13) + 0x38000000u));
  }
};

struct BFloat16 {
  uint16_t bits = 0;
  BFloat16() = default;
  TS_HOST_DEVICE BFloat16(float f) : bits(from_float(f)) {}
  TS_HOST_DEVICE operator float() const { return bit_cast<float>(uint32_t(bits) << 16); }

  static TS_INLINE uint16_t from_float(float f) {
    uint32_t x = bit_cast<uint32_t>(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return uint16_t((x >> 16) | 0x40u);  // quiet NaN
    x += 0x7fffu + ((x >> 16) & 1u);
    return uint16_t(x >> 16);
  }
};

}  // namespace tessera
