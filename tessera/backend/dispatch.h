#pragma once
// Host-side dtype dispatch shared by every backend's launch code: calls f(TypeTag<T>{}) with T
// the C++ storage type of a runtime DType.
#include <optional>

#include "tessera/backend/backend.h"
#include "tessera/backend/math/binary.h"
#include "tessera/backend/math/unary.h"
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

namespace detail {
template <class T, class F>
void unary_kernel_for(UnaryOp op, DType t, const char* backend, F& f) {
  math::dispatch_unary(op, [&](auto fn) {
    using Fn = decltype(fn);
    if constexpr (std::is_same_v<Fn, math::LogicalNotFn>)
      f(TypeTag<T>{}, fn, TypeTag<bool>{});
    else if constexpr (Fn::template supports<T>)
      f(TypeTag<T>{}, fn, TypeTag<T>{});
    else
      throw DTypeError(tessera::detail::str(backend, " unary: ", op_name(op), " is not defined for ", t));
  });
}
template <class T, class F>
void binary_kernel_for(BinaryOp op, DType t, const char* backend, F& f) {
  math::dispatch_binary(op, [&](auto fn) {
    using Fn = decltype(fn);
    if constexpr (!math::binary_supports<Fn, T>)
      throw DTypeError(tessera::detail::str(backend, " binary: ", op_name(op), " is not defined for ", t));
    else
      f(TypeTag<T>{}, fn, TypeTag<decltype(fn(T(), T()))>{});
  });
}
}  // namespace detail

// The kernel of a unary op on dtype t: calls f(TypeTag<T>{}, Fn{}, TypeTag<O>{}) with T the input's
// storage type, Fn the op's functor (math/unary.h) and O the output's type; throws DTypeError,
// naming the backend, for a dtype the op is not defined on.
template <class F>
void dispatch_unary_kernel(UnaryOp op, DType t, const char* backend, F&& f) {
  dispatch_all(t, [&](auto tag) { detail::unary_kernel_for<typename decltype(tag)::type>(op, t, backend, f); });
}
// The same for a binary op on two operands of dtype t (O is bool for comparisons and logical ops).
template <class F>
void dispatch_binary_kernel(BinaryOp op, DType t, const char* backend, F&& f) {
  dispatch_all(t, [&](auto tag) { detail::binary_kernel_for<typename decltype(tag)::type>(op, t, backend, f); });
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
