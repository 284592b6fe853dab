#pragma once
// Host-side dtype dispatch shared by every backend's launch code: calls f(TypeTag<T>{}) with T
// the C++ storage type of a runtime DType.
#include <optional>

#include "tessera/backend/math/binary.h"
#include "tessera/core/dtype.h"
#include "tessera/core/error.h"
#include "tessera/core/scalar.h"

namespace tessera {

template <class T> struct TypeTag { using type = T; };

template <class F>
decltype(auto) dispatch_all(DType t, F&& f) {
  switch (t) {
    case DType::Bool: return f(TypeTag<bool>{});
    case DType::UInt8: return f(TypeTag<uint8_t>{});
    case DType::Int8: return f(TypeTag<int8_t>{});
    case DType::Int32: return f(TypeTag<int32_t>{});
    case DType::Int64: return f(TypeTag<int64_t>{});
    case DType::Float16: return f(TypeTag<Half>{});
    case DType::BFloat16: return f(TypeTag<BFloat16>{});
    case DType::Float32: return f(TypeTag<float>{});
    case DType::Float64: break;
  }
  return f(TypeTag<double>{});
}
template <class F>
decltype(auto) dispatch_floating(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::Float16: return f(TypeTag<Half>{});
    case DType::BFloat16: return f(TypeTag<BFloat16>{});
    case DType::Float32: return f(TypeTag<float>{});
    case DType::Float64: return f(TypeTag<double>{});
    default: throw DTypeError(detail::str(op, ": expected a floating-point tensor, got ", t));
  }
}

// A Scalar as storage type T, converted by the contract's rules.
template <class T>
T scalar_as(const Scalar& v) {
  if (v.is_floating()) return math::convert<T>(v.to_double());
  if (v.is_bool()) return math::convert<T>(v.to_bool());
  return math::convert<T>(v.to_int());
}

// clamp's bounds in opmath_t<T>: a missing bound is +-infinity (floats) or the type's limit.
template <class T>
math::ClampFn<T> clamp_fn(const std::optional<Scalar>& lo, const std::optional<Scalar>& hi) {
  using M = math::opmath_t<T>;
  M l = lo ? M(scalar_as<T>(*lo)) : math::lowest<M>(), h = hi ? M(scalar_as<T>(*hi)) : math::highest<M>();
  return {l, h};
}

}  // namespace tessera
