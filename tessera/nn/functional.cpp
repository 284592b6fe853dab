#include "tessera/nn/functional.h"

namespace tessera::nn::functional {

Size2::Size2(std::initializer_list<int64_t> v) : h(0), w(0) {
  TS_CHECK_VALUE(v.size() == 1 || v.size() == 2, "a 2-D size takes one or two numbers, got ", v.size());
  h = *v.begin();
  w = v.size() == 2 ? *(v.begin() + 1) : h;
}

namespace {
ops::PoolOptions pool(const detail::Pool2d& c) {
  ops::PoolOptions p;
  p.kernel_size = c.kernel_size.shape();
  p.stride = c.stride.shape();
  p.padding = c.padding.shape();
  p.dilation = c.dilation.shape();
  p.ceil_mode = c.ceil_mode;
  p.count_include_pad = c.count_include_pad;
  return p;
}
}  // namespace

Tensor max_pool2d(const Tensor& x, const MaxPool2dFuncOptions& o) { return ops::max_pool2d(x, pool(o.options())); }
Tensor avg_pool2d(const Tensor& x, const AvgPool2dFuncOptions& o) { return ops::avg_pool2d(x, pool(o.options())); }
Tensor leaky_relu(const Tensor& x, const LeakyReLUFuncOptions& o) {
  double s = o.negative_slope();
  return ops::where(x > 0.0, x, x * s);
}

Tensor conv2d(const Tensor& x, const Tensor& weight, const Conv2dFuncOptions& o) {
  const detail::Conv2d& c = o.options();
  Conv2dParams p{{c.stride.h, c.stride.w}, {c.padding.h, c.padding.w}, {c.dilation.h, c.dilation.w}, c.groups};
  return ops::conv2d(x, weight, c.bias, p);
}

}  // namespace tessera::nn::functional

namespace tessera {
namespace F = nn::functional;
Tensor max_pool2d(const Tensor& x, F::Size2 kernel_size, std::optional<F::Size2> stride, F::Size2 padding,
                  F::Size2 dilation, bool ceil_mode) {
  return F::max_pool2d(
      x, F::MaxPool2dFuncOptions(kernel_size).stride(stride.value_or(kernel_size)).padding(padding).dilation(dilation).ceil_mode(ceil_mode));
}
Tensor avg_pool2d(const Tensor& x, F::Size2 kernel_size, std::optional<F::Size2> stride, F::Size2 padding,
                  bool ceil_mode, bool count_include_pad) {
  return F::avg_pool2d(x, F::AvgPool2dFuncOptions(kernel_size)
                              .stride(stride.value_or(kernel_size))
                              .padding(padding)
                              .ceil_mode(ceil_mode)
                              .count_include_pad(count_include_pad));
}
namespace {
std::string name(Reduction r) { return r == Reduction::None ? "none" : r == Reduction::Sum ? "sum" : "mean"; }
}  // namespace
Tensor nll_loss(const Tensor& input, const Tensor& target, const Tensor& weight, Reduction reduction,
                int64_t ignore_index) {
  return F::nll_loss(input, target, weight, ignore_index, name(reduction));
}
Tensor cross_entropy_loss(const Tensor& input, const Tensor& target, const Tensor& weight, Reduction reduction,
                          int64_t ignore_index, double label_smoothing) {
  return F::cross_entropy(input, target, {weight, ignore_index, name(reduction), label_smoothing});
}
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  return F::mse_loss(input, target, name(reduction));
}
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  return F::l1_loss(input, target, name(reduction));
}
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction, double beta) {
  return F::smooth_l1_loss(input, target, name(reduction), beta);
}
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight, Reduction reduction) {
  return F::binary_cross_entropy(input, target, weight, name(reduction));
}
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, const Tensor& weight,
                                        const Tensor& pos_weight, Reduction reduction) {
  return F::binary_cross_entropy_with_logits(input, target, weight, pos_weight, name(reduction));
}
Tensor kl_div(const Tensor& input, const Tensor& target, Reduction reduction, bool log_target) {
  return F::kl_div(input, target, name(reduction), log_target);
}
Tensor leaky_relu(const Tensor& x, double negative_slope) {
  return F::leaky_relu(x, F::LeakyReLUFuncOptions().negative_slope(negative_slope));
}
}  // namespace tessera
