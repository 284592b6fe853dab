#include "tessera/core/dtype.h"

#include <atomic>
#include <iostream>

#include <ostream>

#include "tessera/core/error.h"

namespace tessera {

size_t dtype_size(DType t) {
  static constexpr size_t sizes[] = {1, 1, 1, 4, 8, 2, 2, 4, 8};
  return sizes[int(t)];
}

std::string_view dtype_name(DType t) {
  static constexpr std::string_view names[] = {"bool",    "uint8",    "int8",    "int32",  "int64",
                                               "float16", "bfloat16", "float32", "float64"};
  return names[int(t)];
}

DType dtype_from_name(std::string_view n) {
  for (int i = 0; i < kNumDTypes; ++i)
    if (dtype_name(DType(i)) == n) return DType(i);
  if (n == "float") return DType::Float32;
  if (n == "double") return DType::Float64;
  if (n == "half") return DType::Float16;
  if (n == "long") return DType::Int64;
  if (n == "int") return DType::Int32;
  throw DTypeError(detail::str("dtype_from_name: unknown dtype '", n, "'"));
}

bool is_floating(DType t) { return t >= DType::Float16; }
bool is_integral(DType t, bool include_bool) {
  return (t >= DType::UInt8 && t <= DType::Int64) || (include_bool && t == DType::Bool);
}

DType promote_types(DType a, DType b) {
  if (a == b) return a;
  if (a > b) std::swap(a, b);  // a < b in enum order
  if (a == DType::Bool) return b;
  if (a == DType::UInt8 && b == DType::Int8) return DType::Int32;  // int16 would do; we lack it
  if (a == DType::Float16 && b == DType::BFloat16) return DType::Float32;
  return b;
}

std::ostream& operator<<(std::ostream& os, DType t) { return os << dtype_name(t); }

namespace {
std::atomic<WarningHandler> warning_handler{nullptr};
}
void warn(const std::string& message) {
  if (WarningHandler h = warning_handler.load()) h(message);
  else std::cerr << "tessera warning: " << message << std::endl;
}
WarningHandler set_warning_handler(WarningHandler h) { return warning_handler.exchange(h); }

std::ostream& operator<<(std::ostream& os, const std::vector<int64_t>& shape) {
  os << '[';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  return os << ']';
}

}  // namespace tessera
