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

Tensor elu(const Tensor& x, double alpha) { return ops::where(x > 0.0, x, ops::expm1(x) * alpha); }

Tensor hardtanh(const Tensor& x, double min_val, double max_val) {
  TS_CHECK_VALUE(min_val <= max_val, "hardtanh: min_val (", min_val, ") cannot be greater than max_val (", max_val, ")");
  return ops::clamp(x, min_val, max_val);
}

Tensor relu6(const Tensor& x) { return hardtanh(x, 0.0, 6.0); }

Tensor hardsigmoid(const Tensor& x) { return ops::clamp(x + 3.0, 0.0, 6.0) / 6.0; }

Tensor hardswish(const Tensor& x) { return x * hardsigmoid(x); }

Tensor mish(const Tensor& x) { return x * ops::tanh(ops::softplus(x)); }

Tensor prelu(const Tensor& x, const Tensor& weight) {
  TS_CHECK_VALUE(weight.defined(), "prelu: the weight is undefined");
  int64_t n = weight.numel();
  if (n == 1) return ops::where(x > 0.0, x, x * weight.reshape({}));
  TS_CHECK_SHAPE(weight.dim() == 1 && x.dim() >= 2 && x.size(1) == n, "prelu: a weight of shape ", weight.shape(),
                 " needs one slope per channel (dim 1) of the input, got input of shape ", x.shape());
  Shape per_channel(size_t(x.dim()), 1);
  per_channel[1] = n;
  return ops::where(x > 0.0, x, x * weight.reshape(per_channel));
}

Tensor normalize(const Tensor& x, double p, int64_t dim, double eps) {
  return x / ops::clamp(ops::norm(x, p, {dim}, /*keepdim=*/true), eps, std::nullopt);
}

Tensor interpolate(const Tensor& x, std::optional<Shape> size, std::optional<std::vector<double>> scale_factor,
                   const std::string& mode) {
  TS_CHECK_VALUE(mode == "nearest", "interpolate: mode '", mode, "' is not supported (only 'nearest')");
  TS_CHECK_SHAPE(x.dim() == 4, "interpolate: expected [N, C, H, W], got shape ", x.shape());
  int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3), fh = 0, fw = 0;
  if (size) {
    TS_CHECK_VALUE(size->size() == 1 || size->size() == 2, "interpolate: size takes one or two numbers, got ", *size);
    int64_t sh = (*size)[0], sw = size->back();
    TS_CHECK_VALUE(h > 0 && w > 0 && sh > 0 && sw > 0 && sh % h == 0 && sw % w == 0, "interpolate: size ", Shape{sh, sw},
                   " is not a positive integer multiple of the input's ", Shape{h, w});
    fh = sh / h;
    fw = sw / w;
  } else {
    TS_CHECK_VALUE(scale_factor.has_value(), "interpolate: give size or scale_factor");
    TS_CHECK_VALUE(scale_factor->size() == 1 || scale_factor->size() == 2,
                   "interpolate: scale_factor takes one or two numbers, got ", scale_factor->size());
    double a = (*scale_factor)[0], b = scale_factor->back();
    TS_CHECK_VALUE(a >= 1 && b >= 1 && a == double(int64_t(a)) && b == double(int64_t(b)),
                   "interpolate: scale_factor must be positive integers, got ", a, " and ", b);
    fh = int64_t(a);
    fw = int64_t(b);
  }
  return x.reshape({n, c, h, 1, w, 1}).expand({n, c, h, fh, w, fw}).reshape({n, c, h * fh, w * fw});
}

namespace {
// A 1-D pooling's options as the 2-D op's over [N, C, 1, L].
ops::PoolOptions pool1d(const char* op, const Tensor& x, int64_t k, std::optional<int64_t> stride, int64_t padding,
                        int64_t dilation, bool ceil_mode) {
  TS_CHECK_SHAPE(x.dim() == 3, op, ": expected [N, C, L], got shape ", x.shape());
  ops::PoolOptions p;
  p.kernel_size = {1, k};
  p.stride = {1, stride.value_or(k)};
  p.padding = {0, padding};
  p.dilation = {1, dilation};
  p.ceil_mode = ceil_mode;
  return p;
}
}  // namespace

Tensor max_pool1d(const Tensor& x, int64_t k, std::optional<int64_t> stride, int64_t padding, int64_t dilation,
                  bool ceil_mode) {
  return ops::max_pool2d(x.unsqueeze(2), pool1d("max_pool1d", x, k, stride, padding, dilation, ceil_mode)).squeeze(2);
}

std::pair<Tensor, Tensor> max_pool1d_with_indices(const Tensor& x, int64_t k, std::optional<int64_t> stride,
                                                  int64_t padding, int64_t dilation, bool ceil_mode) {
  auto [y, i] = ops::max_pool2d_with_indices(x.unsqueeze(2), pool1d("max_pool1d", x, k, stride, padding, dilation,
                                                                    ceil_mode));
  return {y.squeeze(2), i.squeeze(2)};
}

Tensor avg_pool1d(const Tensor& x, int64_t k, std::optional<int64_t> stride, int64_t padding, bool ceil_mode,
                  bool count_include_pad) {
  ops::PoolOptions p = pool1d("avg_pool1d", x, k, stride, padding, 1, ceil_mode);
  p.count_include_pad = count_include_pad;
  return ops::avg_pool2d(x.unsqueeze(2), p).squeeze(2);
}

Tensor adaptive_avg_pool1d(const Tensor& x, int64_t output_size) {
  TS_CHECK_SHAPE(x.dim() == 3, "adaptive_avg_pool1d: expected [N, C, L], got shape ", x.shape());
  return ops::adaptive_avg_pool2d(x.unsqueeze(2), {1, output_size}).squeeze(2);
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
