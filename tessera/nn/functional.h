#pragma once
// torch::nn::functional's spellings (namespace F = tessera::nn::functional;): the activations,
// softmax, dropout, pooling, convolution, linear and the losses, with LibTorch's option
// builders (F::MaxPool2dFuncOptions(2).stride(2), F::DropoutFuncOptions().p(0.5).training(t)).
// Each is the op in tessera::ops; the losses are in tessera/nn/loss.h.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tessera/core/arg.h"
#include "tessera/nn/loss.h"
#include "tessera/ops/ops.h"

namespace tessera::nn::functional {

// A size of a 2-D window: one number for both dims, or {h, w}.
struct Size2 {
  Size2(int64_t v) : h(v), w(v) {}  // NOLINT: a number is both
  Size2(int64_t a, int64_t b) : h(a), w(b) {}
  Size2(std::initializer_list<int64_t> v);
  Shape shape() const { return {h, w}; }
  int64_t h, w;
};

namespace detail {
struct Pool2d {
  Size2 kernel_size{1}, stride{0}, padding{0}, dilation{1};
  bool ceil_mode = false, count_include_pad = true;
};
struct Conv2d {
  Tensor bias{};
  Size2 stride{1}, padding{0}, dilation{1};
  int64_t groups = 1;
};
struct Dropout {
  double p = 0.5;
  bool training = true;
};
struct Dim {
  int64_t dim = -1;
};
struct Gelu {
  std::string approximate = "none";
};
struct LeakyRelu {
  double negative_slope = 0.01;
};
struct NllLoss {
  Tensor weight{};
  int64_t ignore_index = -100;
  std::string reduction = "mean";
};
}  // namespace detail

#define TESSERA_FUNC_OPTIONS(Name, Impl) \
 private:                                 \
  Impl c_;                                \
                                          \
 public:                                  \
  const Impl& options() const { return c_; }

// stride defaults to kernel_size, as in PyTorch.
class MaxPool2dFuncOptions {
 public:
  MaxPool2dFuncOptions(Size2 kernel_size) { c_.kernel_size = c_.stride = kernel_size; }  // NOLINT
  TESSERA_FUNC_OPTIONS(MaxPool2dFuncOptions, detail::Pool2d)
  TESSERA_ARG(Size2, kernel_size)
  TESSERA_ARG(Size2, stride)
  TESSERA_ARG(Size2, padding)
  TESSERA_ARG(Size2, dilation)
  TESSERA_ARG(bool, ceil_mode)
};
class AvgPool2dFuncOptions {
 public:
  AvgPool2dFuncOptions(Size2 kernel_size) { c_.kernel_size = c_.stride = kernel_size; }  // NOLINT
  TESSERA_FUNC_OPTIONS(AvgPool2dFuncOptions, detail::Pool2d)
  TESSERA_ARG(Size2, kernel_size)
  TESSERA_ARG(Size2, stride)
  TESSERA_ARG(Size2, padding)
  TESSERA_ARG(bool, ceil_mode)
  TESSERA_ARG(bool, count_include_pad)
};
class Conv2dFuncOptions {
 public:
  TESSERA_FUNC_OPTIONS(Conv2dFuncOptions, detail::Conv2d)
  TESSERA_ARG(Tensor, bias)
  TESSERA_ARG(Size2, stride)
  TESSERA_ARG(Size2, padding)
  TESSERA_ARG(Size2, dilation)
  TESSERA_ARG(int64_t, groups)
};
class DropoutFuncOptions {
 public:
  TESSERA_FUNC_OPTIONS(DropoutFuncOptions, detail::Dropout)
  TESSERA_ARG(double, p)
  TESSERA_ARG(bool, training)
};
class SoftmaxFuncOptions {
 public:
  SoftmaxFuncOptions(int64_t dim) { c_.dim = dim; }  // NOLINT
  TESSERA_FUNC_OPTIONS(SoftmaxFuncOptions, detail::Dim)
  TESSERA_ARG(int64_t, dim)
};
using LogSoftmaxFuncOptions = SoftmaxFuncOptions;
class GELUFuncOptions {
 public:
  TESSERA_FUNC_OPTIONS(GELUFuncOptions, detail::Gelu)
  TESSERA_ARG(std::string, approximate)
};
class LeakyReLUFuncOptions {
 public:
  TESSERA_FUNC_OPTIONS(LeakyReLUFuncOptions, detail::LeakyRelu)
  TESSERA_ARG(double, negative_slope)
};
class NLLLossFuncOptions {
 public:
  TESSERA_FUNC_OPTIONS(NLLLossFuncOptions, detail::NllLoss)
  TESSERA_ARG(Tensor, weight)
  TESSERA_ARG(int64_t, ignore_index)
  TESSERA_ARG(std::string, reduction)
};
// Converts to cross_entropy's CrossEntropyOptions (loss.h).
class CrossEntropyFuncOptions {
 public:
  TESSERA_FUNC_OPTIONS(CrossEntropyFuncOptions, CrossEntropyOptions)
  TESSERA_ARG(Tensor, weight)
  TESSERA_ARG(int64_t, ignore_index)
  TESSERA_ARG(std::string, reduction)
  TESSERA_ARG(double, label_smoothing)
  operator const CrossEntropyOptions&() const { return c_; }  // NOLINT
};
#undef TESSERA_FUNC_OPTIONS

// Activations composed of the ops, with PyTorch's formulas (the layers of the same names use them).
Tensor elu(const Tensor& x, double alpha = 1.0);
Tensor hardtanh(const Tensor& x, double min_val = -1.0, double max_val = 1.0);  // x clamped
Tensor relu6(const Tensor& x);                                                   // hardtanh(x, 0, 6)
Tensor hardsigmoid(const Tensor& x);                                             // relu6(x + 3) / 6
Tensor hardswish(const Tensor& x);                                               // x * hardsigmoid(x)
Tensor mish(const Tensor& x);                                                    // x * tanh(softplus(x))
inline Tensor softplus(const Tensor& x, double beta = 1.0, double threshold = 20.0) {
  return ops::softplus(x, beta, threshold);
}
// x, or weight * x below 0; weight holds one slope, or one per channel (dim 1 of x).
Tensor prelu(const Tensor& x, const Tensor& weight);
// x divided by its p-norm along dim (at least eps).
Tensor normalize(const Tensor& x, double p = 2.0, int64_t dim = 1, double eps = 1e-12);
// Nearest-neighbour resizing of [N, C, H, W] by positive integer factors, given as size (an integer
// multiple of the input's [H, W]) or scale_factor (one factor, or one per spatial dim).
Tensor interpolate(const Tensor& x, std::optional<Shape> size, std::optional<std::vector<double>> scale_factor = {},
                   const std::string& mode = "nearest");
// 1-D pooling over [N, C, L] (stride defaults to kernel_size).
Tensor max_pool1d(const Tensor& x, int64_t kernel_size, std::optional<int64_t> stride = {}, int64_t padding = 0,
                  int64_t dilation = 1, bool ceil_mode = false);
std::pair<Tensor, Tensor> max_pool1d_with_indices(const Tensor& x, int64_t kernel_size, std::optional<int64_t> stride = {},
                                                  int64_t padding = 0, int64_t dilation = 1, bool ceil_mode = false);
Tensor avg_pool1d(const Tensor& x, int64_t kernel_size, std::optional<int64_t> stride = {}, int64_t padding = 0,
                  bool ceil_mode = false, bool count_include_pad = true);
Tensor adaptive_avg_pool1d(const Tensor& x, int64_t output_size);

inline Tensor relu(const Tensor& x) { return ops::relu(x); }
inline Tensor silu(const Tensor& x) { return ops::silu(x); }
inline Tensor sigmoid(const Tensor& x) { return ops::sigmoid(x); }
inline Tensor tanh(const Tensor& x) { return ops::tanh(x); }
Tensor leaky_relu(const Tensor& x, const LeakyReLUFuncOptions& o = {});
inline Tensor gelu(const Tensor& x, const GELUFuncOptions& o = {}) { return ops::gelu(x, o.approximate()); }
inline Tensor softmax(const Tensor& x, const SoftmaxFuncOptions& o) { return ops::softmax(x, o.dim()); }
inline Tensor log_softmax(const Tensor& x, const LogSoftmaxFuncOptions& o) { return ops::log_softmax(x, o.dim()); }
inline Tensor dropout(const Tensor& x, const DropoutFuncOptions& o = {}) { return ops::dropout(x, o.p(), o.training()); }
inline Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = {}) {
  return ops::linear(x, weight, bias);
}
Tensor max_pool2d(const Tensor& x, const MaxPool2dFuncOptions& o);
Tensor avg_pool2d(const Tensor& x, const AvgPool2dFuncOptions& o);
Tensor conv2d(const Tensor& x, const Tensor& weight, const Conv2dFuncOptions& o = {});
inline Tensor nll_loss(const Tensor& input, const Tensor& target, const NLLLossFuncOptions& o) {
  return nll_loss(input, target, o.weight(), o.ignore_index(), o.reduction());
}

}  // namespace tessera::nn::functional

// LibTorch's namespace-scope forms of these (torch::max_pool2d(x, 2), torch::nll_loss(y, t),
// torch::leaky_relu(x, 0.2)); the ops themselves are at namespace scope too (ops/aliases.h).
namespace tessera {
// stride: the kernel size when not given.
Tensor max_pool2d(const Tensor& x, nn::functional::Size2 kernel_size, std::optional<nn::functional::Size2> stride = {},
                  nn::functional::Size2 padding = 0, nn::functional::Size2 dilation = 1, bool ceil_mode = false);
Tensor avg_pool2d(const Tensor& x, nn::functional::Size2 kernel_size, std::optional<nn::functional::Size2> stride = {},
                  nn::functional::Size2 padding = 0, bool ceil_mode = false, bool count_include_pad = true);
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
// The losses with LibTorch's signatures: tessera::nll_loss(y, t, /*weight=*/{}, tessera::Reduction::Sum).
enum class Reduction { None, Mean, Sum };
Tensor nll_loss(const Tensor& input, const Tensor& target, const Tensor& weight = {}, Reduction reduction = Reduction::Mean,
                int64_t ignore_index = -100);
Tensor cross_entropy_loss(const Tensor& input, const Tensor& target, const Tensor& weight = {},
                          Reduction reduction = Reduction::Mean, int64_t ignore_index = -100, double label_smoothing = 0);
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean, double beta = 1);
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight = {},
                            Reduction reduction = Reduction::Mean);
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, const Tensor& weight = {},
                                        const Tensor& pos_weight = {}, Reduction reduction = Reduction::Mean);
Tensor kl_div(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean, bool log_target = false);
}  // namespace tessera
