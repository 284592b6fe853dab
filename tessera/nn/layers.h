#pragma once
// The standard layers, with PyTorch's names, arguments and default initialization:
//   nn::Conv2d(3, 50, 3, {.padding = 1}), nn::Linear(6400, 512), nn::MaxPool2d(2), ...
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tessera/nn/holder.h"
#include "tessera/nn/options.h"
#include "tessera/ops/ops.h"

namespace tessera::nn {

class IdentityImpl : public Module {
 public:
  IdentityImpl() : Module("Identity") {}
  Tensor forward(const Tensor& x) override { return x; }
};

// y = x W^T + b; W [out, in], b [out].
class LinearImpl : public Module {
 public:
  LinearImpl(int64_t in_features, int64_t out_features, bool bias = true);
  explicit LinearImpl(const LinearOptions& o) : LinearImpl(o.in_features(), o.out_features(), o.bias()) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Tensor weight, bias;
  int64_t in_features, out_features;
};

// y = x1^T W x2 + b; W [out, in1, in2].
class BilinearImpl : public Module {
 public:
  BilinearImpl(int64_t in1, int64_t in2, int64_t out, bool bias = true);
  Tensor forward(const Tensor& x1, const Tensor& x2);
  std::string extra_repr() const override;
  Tensor weight, bias;
};

class Conv2dImpl : public Module {
 public:
  Conv2dImpl(int64_t in_channels, int64_t out_channels, Pair kernel_size, ConvConfig o = {});
  explicit Conv2dImpl(const Conv2dOptions& o) : Conv2dImpl(o.in_channels(), o.out_channels(), o.kernel_size(), o.args()) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Tensor weight, bias;
  Conv2dParams params;
  int64_t in_channels, out_channels;
};

class Conv1dImpl : public Module {
 public:
  Conv1dImpl(int64_t in_channels, int64_t out_channels, int64_t kernel_size, ConvConfig o = {});
  explicit Conv1dImpl(const Conv1dOptions& o) : Conv1dImpl(o.in_channels(), o.out_channels(), o.kernel_size().h, o.args()) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Tensor weight, bias;
  ConvConfig options;
};

class ConvTranspose2dImpl : public Module {
 public:
  ConvTranspose2dImpl(int64_t in_channels, int64_t out_channels, Pair kernel_size, ConvConfig o = {});
  explicit ConvTranspose2dImpl(const ConvTranspose2dOptions& o)
      : ConvTranspose2dImpl(o.in_channels(), o.out_channels(), o.kernel_size(), o.args()) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Tensor weight, bias;
  Conv2dParams params;
  Shape output_padding;
};

class MaxPool2dImpl : public Module {
 public:
  explicit MaxPool2dImpl(Pair kernel_size, PoolConfig o = {});
  explicit MaxPool2dImpl(const MaxPool2dOptions& o) : MaxPool2dImpl(o.kernel_size(), o.args()) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  ops::PoolOptions options;
};

class AvgPool2dImpl : public Module {
 public:
  explicit AvgPool2dImpl(Pair kernel_size, PoolConfig o = {});
  explicit AvgPool2dImpl(const AvgPool2dOptions& o) : AvgPool2dImpl(o.kernel_size(), o.args()) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  ops::PoolOptions options;
};

class AdaptiveAvgPool2dImpl : public Module {
 public:
  explicit AdaptiveAvgPool2dImpl(Pair output_size);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Shape output_size;
};

// Normalizes each channel of [N, C] or [N, C, L] (BatchNorm1d) or [N, C, H, W] (BatchNorm2d) with
// batch statistics in training and running statistics in eval mode.
class BatchNorm : public Module {
 public:
  BatchNorm(const char* type, int64_t num_features, BatchNormConfig o, int64_t min_dim, int64_t max_dim);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;
  BatchNormConfig options;
  int64_t num_features, min_dim, max_dim;
};
class BatchNorm1dImpl : public BatchNorm {
 public:
  explicit BatchNorm1dImpl(int64_t num_features, BatchNormConfig o = {}) : BatchNorm("BatchNorm1d", num_features, o, 2, 3) {}
  explicit BatchNorm1dImpl(const BatchNorm1dOptions& o) : BatchNorm1dImpl(o.num_features(), o.args()) {}
};
class BatchNorm2dImpl : public BatchNorm {
 public:
  explicit BatchNorm2dImpl(int64_t num_features, BatchNormConfig o = {}) : BatchNorm("BatchNorm2d", num_features, o, 4, 4) {}
  explicit BatchNorm2dImpl(const BatchNorm2dOptions& o) : BatchNorm2dImpl(o.num_features(), o.args()) {}
};

class LayerNormImpl : public Module {
 public:
  explicit LayerNormImpl(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true);
  explicit LayerNormImpl(const LayerNormOptions& o) : LayerNormImpl(o.normalized_shape(), o.eps(), o.elementwise_affine()) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Tensor weight, bias;
  Shape normalized_shape;
  double eps;
};

class GroupNormImpl : public Module {
 public:
  GroupNormImpl(int64_t num_groups, int64_t num_channels, double eps = 1e-5, bool affine = true);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Tensor weight, bias;
  int64_t num_groups, num_channels;
  double eps;
};

// Zeroes elements with probability p while training (scaling the rest by 1/(1-p)); identity in eval.
// inplace (Dropout and the activations that have it in PyTorch): forward writes its result into
// its input and returns it, as PyTorch's inplace=True does.
class DropoutImpl : public Module {
 public:
  explicit DropoutImpl(double p = 0.5, bool inplace = false);
  explicit DropoutImpl(const DropoutOptions& o) : DropoutImpl(o.p(), o.inplace()) {}
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
struct Dropout1dImpl : ChannelDropout {
  explicit Dropout1dImpl(double p = 0.5, bool inplace = false) : ChannelDropout(1, p, inplace) {}
  explicit Dropout1dImpl(const DropoutOptions& o) : ChannelDropout(1, o.p(), o.inplace()) {}
};
struct Dropout2dImpl : ChannelDropout {
  explicit Dropout2dImpl(double p = 0.5, bool inplace = false) : ChannelDropout(2, p, inplace) {}
  explicit Dropout2dImpl(const DropoutOptions& o) : ChannelDropout(2, o.p(), o.inplace()) {}
};
struct Dropout3dImpl : ChannelDropout {
  explicit Dropout3dImpl(double p = 0.5, bool inplace = false) : ChannelDropout(3, p, inplace) {}
  explicit Dropout3dImpl(const DropoutOptions& o) : ChannelDropout(3, o.p(), o.inplace()) {}
};

// Rows of a [num_embeddings, embedding_dim] table; the padding_idx row starts at zero and gets
// no gradient.
class EmbeddingImpl : public Module {
 public:
  EmbeddingImpl(int64_t num_embeddings, int64_t embedding_dim, std::optional<int64_t> padding_idx = std::nullopt);
  explicit EmbeddingImpl(const EmbeddingOptions& o) : EmbeddingImpl(o.num_embeddings(), o.embedding_dim(), o.padding_idx()) {}
  Tensor forward(const Tensor& indices) override;
  std::string extra_repr() const override;
  Tensor weight;
  std::optional<int64_t> padding_idx;
};

class FlattenImpl : public Module {
 public:
  explicit FlattenImpl(int64_t start_dim = 1, int64_t end_dim = -1) : Module("Flatten"), start(start_dim), end(end_dim) {}
  Tensor forward(const Tensor& x) override { return x.flatten(start, end); }
  std::string extra_repr() const override;
  int64_t start, end;
};

// Activations.
#define TS_ACTIVATION(Name, expr)                                  \
  class Name##Impl : public Module {                               \
   public:                                                         \
    Name##Impl() : Module(#Name) {}                                \
    Tensor forward(const Tensor& x) override { return expr; }      \
  };
TS_ACTIVATION(Sigmoid, ops::sigmoid(x))
TS_ACTIVATION(Tanh, ops::tanh(x))
#undef TS_ACTIVATION

class ReLUImpl : public Module {
 public:
  explicit ReLUImpl(bool inplace = false) : Module("ReLU"), inplace(inplace) {}
  explicit ReLUImpl(const ReLUOptions& o) : ReLUImpl(o.inplace()) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  bool inplace;
};
class SiLUImpl : public Module {
 public:
  explicit SiLUImpl(bool inplace = false) : Module("SiLU"), inplace(inplace) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  bool inplace;
};
class LeakyReLUImpl : public Module {
 public:
  explicit LeakyReLUImpl(double negative_slope = 0.01, bool inplace = false)
      : Module("LeakyReLU"), slope(negative_slope), inplace(inplace) {}
  explicit LeakyReLUImpl(const LeakyReLUOptions& o) : LeakyReLUImpl(o.negative_slope(), o.inplace()) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  double slope;
  bool inplace;
};
class ELUImpl : public Module {
 public:
  explicit ELUImpl(double alpha = 1.0, bool inplace = false) : Module("ELU"), alpha(alpha), inplace(inplace) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  double alpha;
  bool inplace;
};
class SoftplusImpl : public Module {
 public:
  explicit SoftplusImpl(double beta = 1.0, double threshold = 20.0) : Module("Softplus"), beta(beta), threshold(threshold) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  double beta, threshold;
};
// x clamped to [min_val, max_val].
class HardtanhImpl : public Module {
 public:
  explicit HardtanhImpl(double min_val = -1.0, double max_val = 1.0, bool inplace = false)
      : HardtanhImpl("Hardtanh", min_val, max_val, inplace) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  double min_val, max_val;
  bool inplace;

 protected:
  HardtanhImpl(const char* type, double min_val, double max_val, bool inplace);
};
class ReLU6Impl : public HardtanhImpl {  // min(max(x, 0), 6)
 public:
  explicit ReLU6Impl(bool inplace = false) : HardtanhImpl("ReLU6", 0.0, 6.0, inplace) {}
  std::string extra_repr() const override;
};
// Activations without settings besides inplace: Hardsigmoid (relu6(x + 3) / 6), Hardswish
// (x * hardsigmoid(x)), Mish (x * tanh(softplus(x))).
#define TS_INPLACE_ACTIVATION(Name)                                           \
  class Name##Impl : public Module {                                         \
   public:                                                                   \
    explicit Name##Impl(bool inplace = false) : Module(#Name), inplace(inplace) {} \
    Tensor forward(const Tensor& x) override;                                \
    bool inplace;                                                            \
  };
TS_INPLACE_ACTIVATION(Hardsigmoid)
TS_INPLACE_ACTIVATION(Hardswish)
TS_INPLACE_ACTIVATION(Mish)
#undef TS_INPLACE_ACTIVATION
// x, or a * x below 0 with a learned slope a: one, or one per channel (dim 1 of the input).
class PReLUImpl : public Module {
 public:
  explicit PReLUImpl(int64_t num_parameters = 1, double init = 0.25);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Tensor weight;
  int64_t num_parameters;
};
// Splits dim into unflattened_size (one entry may be -1).
class UnflattenImpl : public Module {
 public:
  UnflattenImpl(int64_t dim, Shape unflattened_size) : Module("Unflatten"), dim(dim), unflattened_size(std::move(unflattened_size)) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  int64_t dim;
  Shape unflattened_size;
};
// Nearest-neighbour upsampling of [N, C, H, W] by integer factors (functional::interpolate).
class UpsampleImpl : public Module {
 public:
  explicit UpsampleImpl(std::optional<Shape> size = {}, std::optional<std::vector<double>> scale_factor = {},
                        std::string mode = "nearest");
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  std::optional<Shape> size;
  std::optional<std::vector<double>> scale_factor;
  std::string mode;
};
// 1-D pooling over [N, C, L]; stride defaults to kernel_size.
class MaxPool1dImpl : public Module {
 public:
  explicit MaxPool1dImpl(int64_t kernel_size, std::optional<int64_t> stride = {}, int64_t padding = 0,
                         int64_t dilation = 1, bool ceil_mode = false);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  int64_t kernel_size, stride, padding, dilation;
  bool ceil_mode;
};
class AvgPool1dImpl : public Module {
 public:
  explicit AvgPool1dImpl(int64_t kernel_size, std::optional<int64_t> stride = {}, int64_t padding = 0,
                         bool ceil_mode = false, bool count_include_pad = true);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  int64_t kernel_size, stride, padding;
  bool ceil_mode, count_include_pad;
};
class AdaptiveAvgPool1dImpl : public Module {
 public:
  explicit AdaptiveAvgPool1dImpl(int64_t output_size) : Module("AdaptiveAvgPool1d"), output_size(output_size) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override { return "output_size=" + std::to_string(output_size); }
  int64_t output_size;
};
class GELUImpl : public Module {
 public:
  explicit GELUImpl(std::string approximate = "none") : Module("GELU"), approximate(std::move(approximate)) {}
  Tensor forward(const Tensor& x) override { return ops::gelu(x, approximate); }
  std::string approximate;
};
class SoftmaxImpl : public Module {
 public:
  explicit SoftmaxImpl(int64_t dim) : Module("Softmax"), dim(dim) {}
  Tensor forward(const Tensor& x) override { return ops::softmax(x, dim); }
  std::string extra_repr() const override { return "dim=" + std::to_string(dim); }
  int64_t dim;
};
class LogSoftmaxImpl : public Module {
 public:
  explicit LogSoftmaxImpl(int64_t dim) : Module("LogSoftmax"), dim(dim) {}
  Tensor forward(const Tensor& x) override { return ops::log_softmax(x, dim); }
  std::string extra_repr() const override { return "dim=" + std::to_string(dim); }
  int64_t dim;
};

// A function of one tensor as a module (LibTorch's nn::Functional): nn::Functional(tessera::relu),
// or with more arguments after the tensor: nn::Functional(tessera::leaky_relu, 0.2).
class FunctionalImpl : public Module {
 public:
  using Function = std::function<Tensor(Tensor)>;
  explicit FunctionalImpl(Function f) : Module("Functional"), function(std::move(f)) {}
  template <class F, class A, class... As>
  FunctionalImpl(F f, A a, As... as)
      : FunctionalImpl(Function([f, a, as...](const Tensor& x) { return f(x, a, as...); })) {}
  Tensor forward(const Tensor& x) override;
  Function function;
};

// Multi-head scaled dot-product attention (torch.nn.MultiheadAttention). Inputs are
// [L, N, E] (or [N, L, E] with batch_first); returns (output, attention weights averaged over
// heads, or undefined when need_weights is false).
class MultiheadAttentionImpl : public Module {
 public:
  MultiheadAttentionImpl(int64_t embed_dim, int64_t num_heads, double dropout = 0.0, bool bias = true,
                     bool batch_first = false);
  explicit MultiheadAttentionImpl(const MultiheadAttentionOptions& o)
      : MultiheadAttentionImpl(o.embed_dim(), o.num_heads(), o.dropout(), o.bias(), o.batch_first()) {}
  // key_padding_mask [N, S] bool (true = ignore); attn_mask [L, S] bool (true = masked) or
  // float (added to the scores).
  std::pair<Tensor, Tensor> forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                    const Tensor& key_padding_mask = {}, bool need_weights = true,
                                    const Tensor& attn_mask = {});
  std::string extra_repr() const override;
  Tensor in_proj_weight, in_proj_bias;
  std::shared_ptr<LinearImpl> out_proj;
  int64_t embed_dim, num_heads;
  double dropout;
  bool batch_first;
};

// nn::Linear etc.: these classes (tessera/tessera.h) or LibTorch's holders of them (tessera/torch.h).
TESSERA_NN_NAME(Identity); TESSERA_NN_NAME(Linear); TESSERA_NN_NAME(Bilinear); TESSERA_NN_NAME(Conv1d);
TESSERA_NN_NAME(Conv2d); TESSERA_NN_NAME(ConvTranspose2d); TESSERA_NN_NAME(MaxPool2d); TESSERA_NN_NAME(AvgPool2d);
TESSERA_NN_NAME(AdaptiveAvgPool2d); TESSERA_NN_NAME(BatchNorm1d); TESSERA_NN_NAME(BatchNorm2d);
TESSERA_NN_NAME(LayerNorm); TESSERA_NN_NAME(GroupNorm); TESSERA_NN_NAME(Dropout); TESSERA_NN_NAME(Dropout1d);
TESSERA_NN_NAME(Dropout2d); TESSERA_NN_NAME(Dropout3d); TESSERA_NN_NAME(Embedding); TESSERA_NN_NAME(Flatten);
TESSERA_NN_NAME(Sigmoid); TESSERA_NN_NAME(Tanh); TESSERA_NN_NAME(ReLU); TESSERA_NN_NAME(SiLU);
TESSERA_NN_NAME(LeakyReLU); TESSERA_NN_NAME(ELU); TESSERA_NN_NAME(GELU); TESSERA_NN_NAME(Softmax);
TESSERA_NN_NAME(LogSoftmax); TESSERA_NN_NAME(Functional); TESSERA_NN_NAME(MultiheadAttention);
TESSERA_NN_NAME(Softplus); TESSERA_NN_NAME(Hardtanh); TESSERA_NN_NAME(ReLU6); TESSERA_NN_NAME(Hardsigmoid);
TESSERA_NN_NAME(Hardswish); TESSERA_NN_NAME(Mish); TESSERA_NN_NAME(PReLU); TESSERA_NN_NAME(Unflatten);
TESSERA_NN_NAME(Upsample); TESSERA_NN_NAME(MaxPool1d); TESSERA_NN_NAME(AvgPool1d); TESSERA_NN_NAME(AdaptiveAvgPool1d);

}  // namespace tessera::nn
