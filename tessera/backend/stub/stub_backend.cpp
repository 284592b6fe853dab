#include "tessera/backend/stub/stub_backend.h"

namespace tessera {

void StubBackend::missing(const char* op) const {
  throw DeviceError(detail::str(op, " is not implemented on ", device_));
}

Storage StubBackend::allocate(size_t, Device) { missing("allocate"); }
void StubBackend::transfer(const Tensor&, const Tensor&, bool) { missing("transfer"); }
void StubBackend::copy(const Tensor&, const Tensor&) { missing("copy"); }
void StubBackend::fill(const Tensor&, const Scalar&) { missing("fill"); }
void StubBackend::arange(const Tensor&, double, double) { missing("arange"); }
void StubBackend::unary(UnaryOp op, const Tensor&, const Tensor&) { missing(op_name(op)); }
void StubBackend::binary(BinaryOp op, const Tensor&, const Tensor&, const Tensor&) { missing(op_name(op)); }
void StubBackend::where(const Tensor&, const Tensor&, const Tensor&, const Tensor&) { missing("where"); }
void StubBackend::clamp(const Tensor&, const Tensor&, std::optional<Scalar>, std::optional<Scalar>) { missing("clamp"); }
void StubBackend::fma(const Tensor&, const Tensor&, const Tensor&, const Tensor&) { missing("fma"); }
void StubBackend::reduce(ReduceOp, const Tensor&, const Tensor&) { missing("reduce"); }
void StubBackend::arg_reduce(bool is_max, const Tensor&, const Tensor&, int64_t) { missing(is_max ? "argmax" : "argmin"); }
void StubBackend::cumsum(const Tensor&, const Tensor&, int64_t) { missing("cumsum"); }
void StubBackend::softmax(const Tensor&, const Tensor&, int64_t, bool log) { missing(log ? "log_softmax" : "softmax"); }
void StubBackend::moments(const Tensor&, const Tensor&, const Tensor&, int64_t, int64_t, int64_t) { missing("moments"); }
void StubBackend::layer_norm(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                             double) {
  missing("layer_norm");
}
void StubBackend::sort(const Tensor&, const Tensor&, const Tensor&, int64_t, bool) { missing("sort"); }
void StubBackend::topk(const Tensor&, const Tensor&, const Tensor&, int64_t, int64_t, bool) { missing("topk"); }
void StubBackend::gather(const Tensor&, const Tensor&, int64_t, const Tensor&) { missing("gather"); }
void StubBackend::scatter(const Tensor&, int64_t, const Tensor&, const Tensor&, bool) { missing("scatter"); }
Tensor StubBackend::nonzero(const Tensor&) { missing("nonzero"); }
void StubBackend::matmul(const Tensor&, const Tensor&, const Tensor&) { missing("matmul"); }
void StubBackend::conv2d(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Conv2dParams&) {
  missing("conv2d");
}
void StubBackend::conv2d_backward_input(const Tensor&, const Tensor&, const Tensor&, const Conv2dParams&) {
  missing("conv2d_backward_input");
}
void StubBackend::conv2d_backward_weight(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                         const Conv2dParams&) {
  missing("conv2d_backward_weight");
}
void StubBackend::max_pool2d(const Tensor&, const Tensor&, const Tensor&, const Pool2dParams&) { missing("max_pool2d"); }
void StubBackend::max_pool2d_backward(const Tensor&, const Tensor&, const Tensor&) { missing("max_pool2d_backward"); }
void StubBackend::avg_pool2d(const Tensor&, const Tensor&, const Pool2dParams&) { missing("avg_pool2d"); }
void StubBackend::avg_pool2d_backward(const Tensor&, const Tensor&, const Pool2dParams&) {
  missing("avg_pool2d_backward");
}
void StubBackend::uniform(const Tensor&, double, double, Generator&) { missing("uniform"); }
void StubBackend::normal(const Tensor&, double, double, Generator&) { missing("normal"); }
void StubBackend::bernoulli(const Tensor&, const Tensor&, Generator&) { missing("bernoulli"); }
void StubBackend::randint(const Tensor&, int64_t, int64_t, Generator&) { missing("randint"); }

}  // namespace tessera
