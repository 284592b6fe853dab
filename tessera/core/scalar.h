#pragma once
// A number passed to an op (t + 1.5, fill value, clamp bound). Keeps whether it was written as
// a bool, an integer or a floating-point value, which decides type promotion.
#include <cstdint>
#include <limits>
#include <iosfwd>
#include <type_traits>

#include "tessera/core/dtype.h"

namespace tessera {

class Scalar {
 public:
  enum class Kind : uint8_t { Bool, Int, Float };
  Scalar() : Scalar(int64_t(0)) {}
  Scalar(bool v) : kind_(Kind::Bool), i_(v), d_(v) {}
  template <class T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  Scalar(T v) : kind_(Kind::Int), i_(int64_t(v)), d_(double(v)) {}
  template <class T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
  Scalar(T v) : kind_(Kind::Float), i_(saturate(double(v))), d_(double(v)) {}
  Scalar(Half v) : Scalar(float(v)) {}
  Scalar(BFloat16 v) : Scalar(float(v)) {}

  Kind kind() const { return kind_; }
  bool is_floating() const { return kind_ == Kind::Float; }
  bool is_integral() const { return kind_ == Kind::Int; }
  bool is_bool() const { return kind_ == Kind::Bool; }
  double to_double() const { return d_; }
  int64_t to_int() const { return i_; }
  bool to_bool() const { return kind_ == Kind::Float ? d_ != 0 : i_ != 0; }
  // The dtype a tensor made from this scalar alone gets (bool, int64 or float32).
  DType default_dtype() const {
    return kind_ == Kind::Bool ? DType::Bool : kind_ == Kind::Int ? DType::Int64 : DType::Float32;
  }
  template <class T>
  T to() const {
    if constexpr (std::is_same_v<T, bool>) return to_bool();
    else if constexpr (std::is_integral_v<T>) return T(to_int());
    else return T(float(d_));  // Half/BFloat16/float; double handled below
  }

 private:
  // float -> int64 without undefined behaviour: NaN gives 0, out-of-range values saturate.
  static int64_t saturate(double v) {
    if (!(v == v)) return 0;
    if (v >= 9.2233720368547758e18) return INT64_MAX;
    if (v <= -9.2233720368547758e18) return INT64_MIN;
    return int64_t(v);
  }
  Kind kind_;
  int64_t i_;
  double d_;
};
template <> inline double Scalar::to<double>() const { return d_; }

std::ostream& operator<<(std::ostream& os, const Scalar& s);

}  // namespace tessera
