#pragma once
// The standard layers, with PyTorch's names, arguments and default initialization:
//   nn::Conv2d(3, 50, 3, {.padding = 1}), nn::Linear(6400, 512), nn::MaxPool2d(2), ...
#include <memory>
#include <string>
#include <utility>

#include "tessera/nn/module.h"
#include "tessera/ops/ops.h"

namespace tessera::nn {

// A size given as one number or a pair: 3 or {3, 5}.
struct Pair {
  int64_t h, w;
  Pair(int64_t v) : h(v), w(v) {}  // NOLINT: implicit on purpose, like PyTorch's int-or-tuple
  Pair(int64_t a, int64_t b) : h(a), w(b) {}
};

class Identity : public Module {
 public:
  Identity() : Module("Identity") {}
  Tensor forward(const Tensor& x) override { return x; }
};

// y = x W^T + b; W [out, in], b [out].
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Tensor weight, bias;
  int64_t in_features, out_features;
};

// y = x1^T W x2 + b; W [out, in1, in2].
class Bilinear : public Module {
 public:
  Bilinear(int64_t in1, int64_t in2, int64_t out, bool bias = true);
  Tensor forward(const Tensor& x1, const Tensor& x2);
  std::string extra_repr() const override;
  Tensor weight, bias;
};

struct ConvOptions {
  Pair stride = 1, padding = 0, dilation = 1;
  int64_t groups = 1;
  bool bias = true;
  Pair output_padding = 0;  // ConvTranspose2d only
};

class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, Pair kernel_size, ConvOptions o = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Tensor weight, bias;
  Conv2dParams params;
  int64_t in_channels, out_channels;
};

class Conv1d : public Module {
 public:
  Conv1d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, ConvOptions o = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Tensor weight, bias;
  ConvOptions options;
};

class ConvTranspose2d : public Module {
 public:
  ConvTranspose2d(int64_t in_channels, int64_t out_channels, Pair kernel_size, ConvOptions o = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Tensor weight, bias;
  Conv2dParams params;
  Shape output_padding;
};

struct PoolModuleOptions {
  std::optional<Pair> stride{};  // defaults to the kernel size
  Pair padding = 0, dilation = 1;
  bool ceil_mode = false, count_include_pad = true;
};

class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(Pair kernel_size, PoolModuleOptions o = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  ops::PoolOptions options;
};

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(Pair kernel_size, PoolModuleOptions o = {});
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  ops::PoolOptions options;
};

class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(Pair output_size);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Shape output_size;
};

struct BatchNormOptions {
  double eps = 1e-5, momentum = 0.1;
  bool affine = true, track_running_stats = true;
};

// Normalizes each channel of [N, C] or [N, C, L] (BatchNorm1d) or [N, C, H, W] (BatchNorm2d) with
// batch statistics in training and running statistics in eval mode.
class BatchNorm : public Module {
 public:
  BatchNorm(const char* type, int64_t num_features, BatchNormOptions o, int64_t min_dim, int64_t max_dim);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;
  BatchNormOptions options;
  int64_t num_features, min_dim, max_dim;
};
class BatchNorm1d : public BatchNorm {
 public:
  explicit BatchNorm1d(int64_t num_features, BatchNormOptions o = {}) : BatchNorm("BatchNorm1d", num_features, o, 2, 3) {}
};
class BatchNorm2d : public BatchNorm {
 public:
  explicit BatchNorm2d(int64_t num_features, BatchNormOptions o = {}) : BatchNorm("BatchNorm2d", num_features, o, 4, 4) {}
};

class LayerNorm : public Module {
 public:
  explicit LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Tensor weight, bias;
  Shape normalized_shape;
  double eps;
};

class GroupNorm : public Module {
 public:
  GroupNorm(int64_t num_groups, int64_t num_channels, double eps = 1e-5, bool affine = true);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Tensor weight, bias;
  int64_t num_groups, num_channels;
  double eps;
};

// Zeroes elements with probability p while training (scaling the rest by 1/(1-p)); identity in eval.
// inplace (Dropout and the activations that have it in PyTorch): forward writes its result into
// its input and returns it, as PyTorch's inplace=True does.
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, bool inplace = false);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  double p;
  bool inplace;
};

// Dropout1d/2d/3d: channel dropout (ops::dropout1d/2d/3d) while training: whole channels of
// [N, C, spatial...] (or unbatched [C, spatial...]) zeroed with probability p, the rest scaled.
class ChannelDropout : public Module {
 public:
  ChannelDropout(int spatial_dims, double p = 0.5, bool inplace = false);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  double p;
  bool inplace;
  int spatial_dims;
};
struct Dropout1d : ChannelDropout {
  explicit Dropout1d(double p = 0.5, bool inplace = false) : ChannelDropout(1, p, inplace) {}
};
struct Dropout2d : ChannelDropout {
  explicit Dropout2d(double p = 0.5, bool inplace = false) : ChannelDropout(2, p, inplace) {}
};
struct Dropout3d : ChannelDropout {
  explicit Dropout3d(double p = 0.5, bool inplace = false) : ChannelDropout(3, p, inplace) {}
};

// Rows of a [num_embeddings, embedding_dim] table; the padding_idx row starts at zero and gets
// no gradient.
class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim, std::optional<int64_t> padding_idx = std::nullopt);
  Tensor forward(const Tensor& indices) override;
  std::string extra_repr() const override;
  Tensor weight;
  std::optional<int64_t> padding_idx;
};

class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1) : Module("Flatten"), start(start_dim), end(end_dim) {}
  Tensor forward(const Tensor& x) override { return x.flatten(start, end); }
  std::string extra_repr() const override;
  int64_t start, end;
};

// Activations.
#define TS_ACTIVATION(Name, expr)                                  \
  class Name : public Module {                                     \
   public:                                                         \
    Name() : Module(#Name) {}                                      \
    Tensor forward(const Tensor& x) override { return expr; }      \
  };
TS_ACTIVATION(Sigmoid, ops::sigmoid(x))
TS_ACTIVATION(Tanh, ops::tanh(x))
#undef TS_ACTIVATION

class ReLU : public Module {
 public:
  explicit ReLU(bool inplace = false) : Module("ReLU"), inplace(inplace) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  bool inplace;
};
class SiLU : public Module {
 public:
  explicit SiLU(bool inplace = false) : Module("SiLU"), inplace(inplace) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  bool inplace;
};
class LeakyReLU : public Module {
 public:
  explicit LeakyReLU(double negative_slope = 0.01, bool inplace = false)
      : Module("LeakyReLU"), slope(negative_slope), inplace(inplace) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  double slope;
  bool inplace;
};
class ELU : public Module {
 public:
  explicit ELU(double alpha = 1.0, bool inplace = false) : Module("ELU"), alpha(alpha), inplace(inplace) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  double alpha;
  bool inplace;
};
class GELU : public Module {
 public:
  explicit GELU(std::string approximate = "none") : Module("GELU"), approximate(std::move(approximate)) {}
  Tensor forward(const Tensor& x) override { return ops::gelu(x, approximate); }
  std::string approximate;
};
class Softmax : public Module {
 public:
  explicit Softmax(int64_t dim) : Module("Softmax"), dim(dim) {}
  Tensor forward(const Tensor& x) override { return ops::softmax(x, dim); }
  std::string extra_repr() const override { return "dim=" + std::to_string(dim); }
  int64_t dim;
};
class LogSoftmax : public Module {
 public:
  explicit LogSoftmax(int64_t dim) : Module("LogSoftmax"), dim(dim) {}
  Tensor forward(const Tensor& x) override { return ops::log_softmax(x, dim); }
  std::string extra_repr() const override { return "dim=" + std::to_string(dim); }
  int64_t dim;
};

// Multi-head scaled dot-product attention (torch.nn.MultiheadAttention). Inputs are
// [L, N, E] (or [N, L, E] with batch_first); returns (output, attention weights averaged over
// heads, or undefined when need_weights is false).
class MultiheadAttention : public Module {
 public:
  MultiheadAttention(int64_t embed_dim, int64_t num_heads, double dropout = 0.0, bool bias = true,
                     bool batch_first = false);
  // key_padding_mask [N, S] bool (true = ignore); attn_mask [L, S] bool (true = masked) or
  // float (added to the scores).
  std::pair<Tensor, Tensor> forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                    const Tensor& key_padding_mask = {}, bool need_weights = true,
                                    const Tensor& attn_mask = {});
  std::string extra_repr() const override;
  Tensor in_proj_weight, in_proj_bias;
  std::shared_ptr<Linear> out_proj;
  int64_t embed_dim, num_heads;
  double dropout;
  bool batch_first;
};

}  // namespace tessera::nn
