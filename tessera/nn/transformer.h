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

struct TransformerOptions {
  int64_t dim_feedforward = 2048;
  double dropout = 0.1;
  std::string activation = "relu";  // or "gelu"
  double layer_norm_eps = 1e-5;
  bool batch_first = false;
  bool norm_first = false;
};

class TransformerEncoderLayerImpl : public Module {
 public:
  TransformerEncoderLayerImpl(int64_t d_model, int64_t nhead, TransformerOptions o = {});
  // src [S, N, E] ([N, S, E] batch_first); src_mask [S, S] (bool: true = masked, or float added);
  // src_key_padding_mask [N, S] (true = ignore).
  Tensor forward(const Tensor& src, const Tensor& src_mask, const Tensor& src_key_padding_mask = {},
                 bool is_causal = false);
  Tensor forward(const Tensor& src) override { return forward(src, Tensor()); }
  std::shared_ptr<TransformerEncoderLayerImpl> clone_layer() const;  // same options and weights

  int64_t d_model, nhead;
  TransformerOptions options;
  std::shared_ptr<MultiheadAttentionImpl> self_attn;
  std::shared_ptr<LinearImpl> linear1, linear2;
  std::shared_ptr<LayerNormImpl> norm1, norm2;
  std::shared_ptr<DropoutImpl> dropout, dropout1, dropout2;
};

class TransformerDecoderLayerImpl : public Module {
 public:
  TransformerDecoderLayerImpl(int64_t d_model, int64_t nhead, TransformerOptions o = {});
  Tensor forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask = {}, const Tensor& memory_mask = {},
                 const Tensor& tgt_key_padding_mask = {}, const Tensor& memory_key_padding_mask = {},
                 bool tgt_is_causal = false);
  Tensor forward(const Tensor&) override;  // refused: a decoder layer needs the memory too
  std::shared_ptr<TransformerDecoderLayerImpl> clone_layer() const;

  int64_t d_model, nhead;
  TransformerOptions options;
  std::shared_ptr<MultiheadAttentionImpl> self_attn, multihead_attn;
  std::shared_ptr<LinearImpl> linear1, linear2;
  std::shared_ptr<LayerNormImpl> norm1, norm2, norm3;
  std::shared_ptr<DropoutImpl> dropout, dropout1, dropout2, dropout3;
};

// num_layers copies of layer (equal starting weights, as PyTorch's deep copies), then norm.
class TransformerEncoderImpl : public Module {
 public:
  TransformerEncoderImpl(const TransformerEncoderLayerImpl& layer, int64_t num_layers, std::shared_ptr<LayerNormImpl> norm = {});
  Tensor forward(const Tensor& src, const Tensor& mask, const Tensor& src_key_padding_mask = {},
                 bool is_causal = false);
  Tensor forward(const Tensor& src) override { return forward(src, Tensor()); }
  std::vector<std::shared_ptr<TransformerEncoderLayerImpl>> layers;
  std::shared_ptr<LayerNormImpl> norm;
};

class TransformerDecoderImpl : public Module {
 public:
  TransformerDecoderImpl(const TransformerDecoderLayerImpl& layer, int64_t num_layers, std::shared_ptr<LayerNormImpl> norm = {});
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
              TransformerOptions o = {});
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
