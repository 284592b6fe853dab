#pragma once
// Element types and PyTorch's type-promotion rules.
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string_view>

#include "tessera/core/half.h"

namespace tessera {

enum class DType : uint8_t { Bool, UInt8, Int8, Int32, Int64, Float16, BFloat16, Float32, Float64 };
inline constexpr int kNumDTypes = 9;

namespace dtype {
inline constexpr DType bool_ = DType::Bool, uint8 = DType::UInt8, int8 = DType::Int8,
                       int32 = DType::Int32, int64 = DType::Int64, float16 = DType::Float16,
                       bfloat16 = DType::BFloat16, float32 = DType::Float32, float64 = DType::Float64;
}
// LibTorch's spellings: kFloat32 (kFloat), kFloat64 (kDouble), kInt64 (kLong), ...
inline constexpr DType kBool = DType::Bool, kUInt8 = DType::UInt8, kByte = DType::UInt8, kInt8 = DType::Int8,
                       kChar = DType::Int8, kInt32 = DType::Int32, kInt = DType::Int32, kInt64 = DType::Int64,
                       kLong = DType::Int64, kFloat16 = DType::Float16, kHalf = DType::Float16,
                       kBFloat16 = DType::BFloat16, kFloat32 = DType::Float32, kFloat = DType::Float32,
                       kFloat64 = DType::Float64, kDouble = DType::Float64;

size_t dtype_size(DType t);
// "float32", "int64", ... as PyTorch names them (without the torch. prefix).
std::string_view dtype_name(DType t);
// Parses a name made by dtype_name ("float", "double", "long", "half" and "int" also accepted).
DType dtype_from_name(std::string_view name);
bool is_floating(DType t);
bool is_integral(DType t, bool include_bool = false);
// The smallest type both a and b convert to without losing category (bool < int < float).
DType promote_types(DType a, DType b);
std::ostream& operator<<(std::ostream& os, DType t);

// The C++ type of each dtype, for typed access (data_ptr<T>, item<T>).
template <class T> struct dtype_of;
template <> struct dtype_of<bool> { static constexpr DType value = DType::Bool; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::UInt8; };
template <> struct dtype_of<int8_t> { static constexpr DType value = DType::Int8; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::Int32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::Int64; };
template <> struct dtype_of<Half> { static constexpr DType value = DType::Float16; };
template <> struct dtype_of<BFloat16> { static constexpr DType value = DType::BFloat16; };
template <> struct dtype_of<float> { static constexpr DType value = DType::Float32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::Float64; };
template <class T> inline constexpr DType dtype_v = dtype_of<T>::value;

}  // namespace tessera
