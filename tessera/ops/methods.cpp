// Tensor's compute methods and operators, delegating to tessera::ops.
#include "tessera/autograd/autograd.h"
#include "tessera/ops/factory.h"
#include "tessera/ops/ops.h"
#include "tessera/ops/trace.h"
#include "tessera/backend/backend.h"

namespace tessera {

#define TS_UNARY_METHOD(name, OP)                                                \
  Tensor Tensor::name() const { return ops::unary(UnaryOp::OP, *this); }         \
  Tensor& Tensor::name##_() { return ops::unary_(UnaryOp::OP, *this); }
TS_UNARY_METHOD(abs, Abs) TS_UNARY_METHOD(neg, Neg) TS_UNARY_METHOD(exp, Exp) TS_UNARY_METHOD(expm1, Expm1)
TS_UNARY_METHOD(log, Log) TS_UNARY_METHOD(log1p, Log1p) TS_UNARY_METHOD(sqrt, Sqrt) TS_UNARY_METHOD(rsqrt, Rsqrt)
TS_UNARY_METHOD(sin, Sin) TS_UNARY_METHOD(cos, Cos) TS_UNARY_METHOD(tanh, Tanh) TS_UNARY_METHOD(sigmoid, Sigmoid)
TS_UNARY_METHOD(relu, Relu) TS_UNARY_METHOD(silu, Silu) TS_UNARY_METHOD(erf, Erf) TS_UNARY_METHOD(floor, Floor)
TS_UNARY_METHOD(ceil, Ceil) TS_UNARY_METHOD(round, Round) TS_UNARY_METHOD(sign, Sign)
TS_UNARY_METHOD(reciprocal, Reciprocal) TS_UNARY_METHOD(square, Square)
#undef TS_UNARY_METHOD

Tensor Tensor::clamp(std::optional<Scalar> min, std::optional<Scalar> max) const { return ops::clamp(*this, min, max); }
Tensor& Tensor::clamp_(std::optional<Scalar> min, std::optional<Scalar> max) {
  Tensor r = ops::clamp(*this, min, max);
  TS_CHECK_DTYPE(r.dtype() == dtype(), "clamp_: result type ", r.dtype(), " can't be cast to ", dtype(), " in place");
  return copy_(r);
}
Tensor Tensor::pow(const Tensor& e) const { return ops::pow(*this, e); }
Tensor Tensor::pow(Scalar e) const { return ops::pow(*this, e); }

namespace {
// a += alpha * b in one pass, a multiply-add per element (as PyTorch's kernels compute add_ with
// alpha), where nothing else is at stake: one floating dtype, the same shape and device, no
// autograd, no tracing, b not another view of a's memory. Else false, and the caller takes the
// two ops.
bool scaled_add_(Tensor& a, const Tensor& b, double alpha) {
  if (ops::trace::internal::state.tracer != nullptr || !is_floating(a.dtype()) || b.dtype() != a.dtype() ||
      b.device() != a.device() || b.shape() != a.shape() || autograd::needs_grad({&a, &b}) ||
      (a.storage() == b.storage() && !(a.data_ptr() == b.data_ptr() && a.strides() == b.strides())))
    return false;
  backend_for(a.device()).fma(a, b, scalar_tensor(alpha, a.dtype(), a.device()).expand(a.shape()), a);
  a.bump_version();
  return true;
}
}  // namespace

Tensor& Tensor::add_(const Tensor& o, Scalar alpha) {
  if (alpha.to_double() != 1 && scaled_add_(*this, o, alpha.to_double())) return *this;
  return ops::binary_(BinaryOp::Add, *this, alpha.to_double() == 1 ? o : o * alpha);
}
Tensor& Tensor::sub_(const Tensor& o, Scalar alpha) {
  if (alpha.to_double() != 1 && scaled_add_(*this, o, -alpha.to_double())) return *this;
  return ops::binary_(BinaryOp::Sub, *this, alpha.to_double() == 1 ? o : o * alpha);
}
Tensor& Tensor::mul_(const Tensor& o) { return ops::binary_(BinaryOp::Mul, *this, o); }
Tensor& Tensor::div_(const Tensor& o) { return ops::binary_(BinaryOp::Div, *this, o); }
Tensor& Tensor::add_(Scalar o) { return ops::binary_(BinaryOp::Add, *this, scalar_tensor(o, ops::result_type(*this, o), device())); }
Tensor& Tensor::sub_(Scalar o) { return ops::binary_(BinaryOp::Sub, *this, scalar_tensor(o, ops::result_type(*this, o), device())); }
Tensor& Tensor::mul_(Scalar o) { return ops::binary_(BinaryOp::Mul, *this, scalar_tensor(o, ops::result_type(*this, o), device())); }
Tensor& Tensor::div_(Scalar o) { return ops::binary_(BinaryOp::Div, *this, scalar_tensor(o, ops::result_type(*this, o), device())); }
Tensor Tensor::masked_fill(const Tensor& mask, Scalar v) const { return ops::masked_fill(*this, mask, v); }
Tensor& Tensor::masked_fill_(const Tensor& mask, Scalar v) {
  if (autograd::needs_grad({this}))
    return ops::rebind_inplace(*this, "masked_fill_", [&](const Tensor& old) { return ops::masked_fill(old, mask, v); });
  TS_CHECK_SHAPE(broadcast_shapes(shape(), mask.shape(), "masked_fill_") == shape(), "masked_fill_: mask ",
                 mask.shape(), " does not broadcast to ", shape());
  TS_CHECK_DTYPE(mask.dtype() == DType::Bool, "masked_fill_: expected a bool mask, got ", mask.dtype());
  backend_for(device()).where(*this, mask.expand(shape()), scalar_tensor(v, dtype(), device()).expand(shape()), *this);
  bump_version();
  return *this;
}
Tensor Tensor::matmul(const Tensor& o) const { return ops::matmul(*this, o); }

Tensor Tensor::sum() const { return ops::sum(*this); }
Tensor Tensor::sum(const Shape& dims, bool keepdim) const { return ops::sum(*this, dims, keepdim); }
Tensor Tensor::mean() const { return ops::mean(*this); }
Tensor Tensor::mean(const Shape& dims, bool keepdim) const { return ops::mean(*this, dims, keepdim); }
namespace {
void check_random_fill(const Tensor& t, const char* op) {
  TS_CHECK(t.defined(), op, ": undefined tensor");
  TS_CHECK_DTYPE(t.is_floating_point(), op, ": expected a floating-point tensor, got ", t.dtype());
}
}  // namespace
Tensor& Tensor::uniform_(double from, double to, Generator* gen) {
  check_random_fill(*this, "uniform_");
  autograd::NoGradGuard no_grad;
  return copy_(tessera::rand(shape(), {dtype(), device()}, gen) * (to - from) + from);
}
Tensor& Tensor::normal_(double mean, double std, Generator* gen) {
  check_random_fill(*this, "normal_");
  autograd::NoGradGuard no_grad;
  return copy_(tessera::randn(shape(), {dtype(), device()}, gen) * std + mean);
}
Tensor Tensor::sum(int64_t dim, bool keepdim) const { return ops::sum(*this, Shape{dim}, keepdim); }
Tensor Tensor::mean(int64_t dim, bool keepdim) const { return ops::mean(*this, Shape{dim}, keepdim); }
Tensor Tensor::eq(const Tensor& o) const { return *this == o; }
Tensor Tensor::ne(const Tensor& o) const { return *this != o; }
Tensor Tensor::lt(const Tensor& o) const { return *this < o; }
Tensor Tensor::le(const Tensor& o) const { return *this <= o; }
Tensor Tensor::gt(const Tensor& o) const { return *this > o; }
Tensor Tensor::ge(const Tensor& o) const { return *this >= o; }
Tensor Tensor::eq(Scalar o) const { return *this == o; }
Tensor Tensor::ne(Scalar o) const { return *this != o; }
Tensor Tensor::lt(Scalar o) const { return *this < o; }
Tensor Tensor::le(Scalar o) const { return *this <= o; }
Tensor Tensor::gt(Scalar o) const { return *this > o; }
Tensor Tensor::ge(Scalar o) const { return *this >= o; }
Tensor Tensor::prod() const { return ops::prod(*this); }
Tensor Tensor::prod(int64_t dim, bool keepdim) const { return ops::prod(*this, {dim}, keepdim); }
Tensor Tensor::max() const { return ops::amax(*this); }
Tensor Tensor::min() const { return ops::amin(*this); }
Tensor Tensor::amax(const Shape& dims, bool keepdim) const { return ops::amax(*this, dims, keepdim); }
Tensor Tensor::amin(const Shape& dims, bool keepdim) const { return ops::amin(*this, dims, keepdim); }
Tensor Tensor::argmax(std::optional<int64_t> dim, bool keepdim) const { return ops::argmax(*this, dim, keepdim); }
Tensor Tensor::argmin(std::optional<int64_t> dim, bool keepdim) const { return ops::argmin(*this, dim, keepdim); }
Tensor Tensor::var(std::optional<Shape> dims, int64_t correction, bool keepdim) const {
  return ops::var(*this, dims.value_or(Shape{}), correction, keepdim);
}
Tensor Tensor::std(std::optional<Shape> dims, int64_t correction, bool keepdim) const {
  return ops::std(*this, dims.value_or(Shape{}), correction, keepdim);
}
Tensor Tensor::norm(double p, std::optional<Shape> dims, bool keepdim) const {
  return ops::norm(*this, p, dims.value_or(Shape{}), keepdim);
}
Tensor Tensor::logsumexp(const Shape& dims, bool keepdim) const { return ops::logsumexp(*this, dims, keepdim); }
Tensor Tensor::all() const { return ops::all(*this); }
Tensor Tensor::any() const { return ops::any(*this); }
Tensor Tensor::cumsum(int64_t dim) const { return ops::cumsum(*this, dim); }
Tensor Tensor::softmax(int64_t dim) const { return ops::softmax(*this, dim); }
Tensor Tensor::log_softmax(int64_t dim) const { return ops::log_softmax(*this, dim); }

Tensor operator+(const Tensor& a, const Tensor& b) { return ops::binary(BinaryOp::Add, a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return ops::binary(BinaryOp::Sub, a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return ops::binary(BinaryOp::Mul, a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return ops::binary(BinaryOp::Div, a, b); }
Tensor operator+(const Tensor& a, Scalar b) { return ops::binary(BinaryOp::Add, a, b); }
Tensor operator-(const Tensor& a, Scalar b) { return ops::binary(BinaryOp::Sub, a, b); }
Tensor operator*(const Tensor& a, Scalar b) { return ops::binary(BinaryOp::Mul, a, b); }
Tensor operator/(const Tensor& a, Scalar b) { return ops::binary(BinaryOp::Div, a, b); }
Tensor operator+(Scalar a, const Tensor& b) { return ops::binary(BinaryOp::Add, b, a); }
Tensor operator-(Scalar a, const Tensor& b) {
  return ops::binary(BinaryOp::Sub, scalar_tensor(a, ops::result_type(b, a), b.device()), b);
}
Tensor operator*(Scalar a, const Tensor& b) { return ops::binary(BinaryOp::Mul, b, a); }
Tensor operator/(Scalar a, const Tensor& b) {
  return ops::binary(BinaryOp::Div, scalar_tensor(a, ops::result_type(b, a), b.device()), b);
}
Tensor operator-(const Tensor& a) { return ops::neg(a); }
Tensor operator==(const Tensor& a, const Tensor& b) { return ops::eq(a, b); }
Tensor operator!=(const Tensor& a, const Tensor& b) { return ops::ne(a, b); }
Tensor operator<(const Tensor& a, const Tensor& b) { return ops::lt(a, b); }
Tensor operator<=(const Tensor& a, const Tensor& b) { return ops::le(a, b); }
Tensor operator>(const Tensor& a, const Tensor& b) { return ops::gt(a, b); }
Tensor operator>=(const Tensor& a, const Tensor& b) { return ops::ge(a, b); }
Tensor operator==(const Tensor& a, Scalar b) { return ops::binary(BinaryOp::Eq, a, b); }
Tensor operator!=(const Tensor& a, Scalar b) { return ops::binary(BinaryOp::Ne, a, b); }
Tensor operator<(const Tensor& a, Scalar b) { return ops::binary(BinaryOp::Lt, a, b); }
Tensor operator<=(const Tensor& a, Scalar b) { return ops::binary(BinaryOp::Le, a, b); }
Tensor operator>(const Tensor& a, Scalar b) { return ops::binary(BinaryOp::Gt, a, b); }
Tensor operator>=(const Tensor& a, Scalar b) { return ops::binary(BinaryOp::Ge, a, b); }
Tensor operator&&(const Tensor& a, const Tensor& b) { return ops::logical_and(a, b); }
Tensor operator||(const Tensor& a, const Tensor& b) { return ops::logical_or(a, b); }
Tensor operator!(const Tensor& a) { return ops::logical_not(a); }

}  // namespace tessera
