#pragma once
// The Transformer of "Attention Is All You Need" as torch.nn has it: encoder and decoder layers
// (post- or pre-norm), stacks of them, and the whole model, with PyTorch's parameter names
// (self_attn.in_proj_weight, linear1.weight, norm1.bias, layers.0...., encoder.norm.weight), so
// state dicts map key for key.
#include <memory>
#include <string>
#include <vector>

#include "tessera/nn/layers.h"

namespace tessera::nn {

// The settings of the layers, for designated initializers: {.dim_feedforward = 256, .norm_first = true}.
struct TransformerConfig {
  int64_t dim_feedforward = 2048;
  double dropout = 0.1;
  std::string activation = "relu";  // or "gelu"
  double layer_norm_eps = 1e-5;
  bool batch_first = false;
  bool norm_first = false;
};

// LibTorch's builders: TransformerEncoderLayerOptions(512, 8).dim_feedforward(1024).dropout(0.2),
// the same for the decoder layer, and TransformerOptions(d_model, nhead, encoder layers, decoder
// layers) with the same setters. activation is a name ("relu" or "gelu").
#define TESSERA_TRANSFORMER_ARGS                                    \
 public:                                                            \
  int64_t d_model() const { return d_model_; }                      \
  int64_t nhead() const { return nhead_; }                          \
  const TransformerConfig& args() const { return c_; }              \
  TESSERA_ARG(int64_t, dim_feedforward)                             \
  TESSERA_ARG(double, dropout)                                      \
  TESSERA_ARG(std::string, activation)                              \
  TESSERA_ARG(double, layer_norm_eps)                               \
  TESSERA_ARG(bool, batch_first)                                    \
  TESSERA_ARG(bool, norm_first)                                     \
                                                                    \
 private:                                                           \
  int64_t d_model_, nhead_;                                         \
  TransformerConfig c_;

class TransformerLayerOptions {
 public:
  TransformerLayerOptions(int64_t d_model, int64_t nhead) : d_model_(d_model), nhead_(nhead) {}
  TESSERA_TRANSFORMER_ARGS
};
using TransformerEncoderLayerOptions = TransformerLayerOptions;
using TransformerDecoderLayerOptions = TransformerLayerOptions;

class TransformerOptions {
 public:
  TransformerOptions(int64_t d_model = 512, int64_t nhead = 8, int64_t num_encoder_layers = 6,
                     int64_t num_decoder_layers = 6)
      : d_model_(d_model), nhead_(nhead), num_encoder_layers_(num_encoder_layers), num_decoder_layers_(num_decoder_layers) {}
  int64_t num_encoder_layers() const { return num_encoder_layers_; }
  int64_t num_decoder_layers() const { return num_decoder_layers_; }
  auto& num_encoder_layers(int64_t n) {
    num_encoder_layers_ = n;
    return *this;
  }
  auto& num_decoder_layers(int64_t n) {
    num_decoder_layers_ = n;
    return *this;
  }
  TESSERA_TRANSFORMER_ARGS
  int64_t num_encoder_layers_, num_decoder_layers_;
};
#undef TESSERA_TRANSFORMER_ARGS

class TransformerEncoderLayerImpl : public Module {
 public:
  TransformerEncoderLayerImpl(int64_t d_model, int64_t nhead, TransformerConfig o = {});
  explicit TransformerEncoderLayerImpl(const TransformerLayerOptions& o)
      : TransformerEncoderLayerImpl(o.d_model(), o.nhead(), o.args()) {}
  // src [S, N, E] ([N, S, E] batch_first); src_mask [S, S] (bool: true = masked, or float added);
  // src_key_padding_mask [N, S] (true = ignore).
  Tensor forward(const Tensor& src, const Tensor& src_mask, const Tensor& src_key_padding_mask = {},
                 bool is_causal = false);
  Tensor forward(const Tensor& src) override { return forward(src, Tensor()); }
  std::shared_ptr<TransformerEncoderLayerImpl> clone_layer() const;  // same options and weights

  int64_t d_model, nhead;
  TransformerConfig options;
  std::shared_ptr<MultiheadAttentionImpl> self_attn;
  std::shared_ptr<LinearImpl> linear1, linear2;
  std::shared_ptr<LayerNormImpl> norm1, norm2;
  std::shared_ptr<DropoutImpl> dropout, dropout1, dropout2;
};

class TransformerDecoderLayerImpl : public Module {
 public:
  TransformerDecoderLayerImpl(int64_t d_model, int64_t nhead, TransformerConfig o = {});
  explicit TransformerDecoderLayerImpl(const TransformerLayerOptions& o)
      : TransformerDecoderLayerImpl(o.d_model(), o.nhead(), o.args()) {}
  Tensor forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask = {}, const Tensor& memory_mask = {},
                 const Tensor& tgt_key_padding_mask = {}, const Tensor& memory_key_padding_mask = {},
                 bool tgt_is_causal = false);
  Tensor forward(const Tensor&) override;  // refused: a decoder layer needs the memory too
  std::shared_ptr<TransformerDecoderLayerImpl> clone_layer() const;

  int64_t d_model, nhead;
  TransformerConfig options;
  std::shared_ptr<MultiheadAttentionImpl> self_attn, multihead_attn;
  std::shared_ptr<LinearImpl> linear1, linear2;
  std::shared_ptr<LayerNormImpl> norm1, norm2, norm3;
  std::shared_ptr<DropoutImpl> dropout, dropout1, dropout2, dropout3;
};

// LibTorch's TransformerEncoderOptions(layer or layer options, num_layers).norm(layer_norm), and the
// decoder's: what TransformerEncoder / TransformerDecoder take besides (layer, num_layers, norm).
template <class Layer>
class TransformerStackOptions {
 public:
  TransformerStackOptions(std::shared_ptr<Layer> layer, int64_t num_layers)
      : layer_(std::move(layer)), num_layers_(num_layers) {}
  TransformerStackOptions(const TransformerLayerOptions& layer, int64_t num_layers)
      : layer_(std::make_shared<Layer>(layer)), num_layers_(num_layers) {}
  const std::shared_ptr<Layer>& layer() const { return layer_; }
  int64_t num_layers() const { return num_layers_; }
  const std::shared_ptr<LayerNormImpl>& norm() const { return norm_; }
  auto& norm(std::shared_ptr<LayerNormImpl> n) {
    norm_ = std::move(n);
    return *this;
  }

 private:
  std::shared_ptr<Layer> layer_;
  int64_t num_layers_;
  std::shared_ptr<LayerNormImpl> norm_;
};
using TransformerEncoderOptions = TransformerStackOptions<TransformerEncoderLayerImpl>;
using TransformerDecoderOptions = TransformerStackOptions<TransformerDecoderLayerImpl>;

// num_layers copies of layer (equal starting weights, as PyTorch's deep copies), then norm.
class TransformerEncoderImpl : public Module {
 public:
  TransformerEncoderImpl(const TransformerEncoderLayerImpl& layer, int64_t num_layers, std::shared_ptr<LayerNormImpl> norm = {});
  // (a holder or shared_ptr of the layer, as LibTorch's programs pass it)
  TransformerEncoderImpl(const std::shared_ptr<TransformerEncoderLayerImpl>& layer, int64_t num_layers,
                         std::shared_ptr<LayerNormImpl> norm = {});
  explicit TransformerEncoderImpl(const TransformerEncoderOptions& o)
      : TransformerEncoderImpl(o.layer(), o.num_layers(), o.norm()) {}
  Tensor forward(const Tensor& src, const Tensor& mask, const Tensor& src_key_padding_mask = {},
                 bool is_causal = false);
  Tensor forward(const Tensor& src) override { return forward(src, Tensor()); }
  std::vector<std::shared_ptr<TransformerEncoderLayerImpl>> layers;
  std::shared_ptr<LayerNormImpl> norm;
};

class TransformerDecoderImpl : public Module {
 public:
  TransformerDecoderImpl(const TransformerDecoderLayerImpl& layer, int64_t num_layers, std::shared_ptr<LayerNormImpl> norm = {});
  TransformerDecoderImpl(const std::shared_ptr<TransformerDecoderLayerImpl>& layer, int64_t num_layers,
                         std::shared_ptr<LayerNormImpl> norm = {});
  explicit TransformerDecoderImpl(const TransformerDecoderOptions& o)
      : TransformerDecoderImpl(o.layer(), o.num_layers(), o.norm()) {}
  Tensor forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask = {}, const Tensor& memory_mask = {},
                 const Tensor& tgt_key_padding_mask = {}, const Tensor& memory_key_padding_mask = {},
                 bool tgt_is_causal = false);
  Tensor forward(const Tensor&) override;
  std::vector<std::shared_ptr<TransformerDecoderLayerImpl>> layers;
  std::shared_ptr<LayerNormImpl> norm;
};

class TransformerImpl : public Module {
 public:
  TransformerImpl(int64_t d_model = 512, int64_t nhead = 8, int64_t num_encoder_layers = 6, int64_t num_decoder_layers = 6,
              TransformerConfig o = {});
  explicit TransformerImpl(const TransformerOptions& o)
      : TransformerImpl(o.d_model(), o.nhead(), o.num_encoder_layers(), o.num_decoder_layers(), o.args()) {}
  Tensor forward(const Tensor& src, const Tensor& tgt, const Tensor& src_mask = {}, const Tensor& tgt_mask = {},
                 const Tensor& memory_mask = {}, const Tensor& src_key_padding_mask = {},
                 const Tensor& tgt_key_padding_mask = {}, const Tensor& memory_key_padding_mask = {});
  Tensor forward(const Tensor&) override;
  // [sz, sz] float: 0 on and below the diagonal, -inf above (a causal mask).
  static Tensor generate_square_subsequent_mask(int64_t sz, TensorOptions opt = {});
  int64_t d_model, nhead;
  bool batch_first;
  std::shared_ptr<TransformerEncoderImpl> encoder;
  std::shared_ptr<TransformerDecoderImpl> decoder;
};

TESSERA_NN_NAME(TransformerEncoderLayer); TESSERA_NN_NAME(TransformerDecoderLayer); TESSERA_NN_NAME(TransformerEncoder); TESSERA_NN_NAME(TransformerDecoder); TESSERA_NN_NAME(Transformer);

}  // namespace tessera::nn
