#include "tessera/nn/transformer.h"

#include <cmath>

#include "tessera/autograd/autograd.h"
#include "tessera/nn/container.h"
#include "tessera/nn/init.h"
#include "tessera/ops/ops.h"

namespace tessera::nn {

namespace {
void check_options(const char* name, int64_t d_model, int64_t nhead, const TransformerConfig& o) {
  TS_CHECK_VALUE(d_model > 0 && nhead > 0 && d_model % nhead == 0, name, ": d_model (", d_model,
                 ") must be a positive multiple of nhead (", nhead, ")");
  TS_CHECK_VALUE(o.dim_feedforward > 0, name, ": dim_feedforward must be positive, got ", o.dim_feedforward);
  TS_CHECK_VALUE(o.activation == "relu" || o.activation == "gelu", name, ": activation must be 'relu' or 'gelu', got '",
                 o.activation, "'");
}

Tensor activate(const std::string& a, const Tensor& x) { return a == "gelu" ? ops::gelu(x) : ops::relu(x); }

// The causal mask a sequence of n steps needs when is_causal is given without a mask.
Tensor causal_or(const Tensor& mask, bool is_causal, int64_t n, const Tensor& like) {
  if (mask.defined() || !is_causal) return mask;
  return TransformerImpl::generate_square_subsequent_mask(n, {like.dtype(), like.device()});
}

// num_layers copies of layer registered in owner as "layers" (a ModuleList), then "norm" if given.
template <class L>
std::vector<std::shared_ptr<L>> stack_copies(Module& owner, const L& layer, int64_t num_layers,
                                             const std::shared_ptr<LayerNormImpl>& norm) {
  TS_CHECK_VALUE(num_layers > 0, owner.type_name(), ": num_layers must be positive, got ", num_layers);
  std::vector<std::shared_ptr<L>> out;
  auto list = owner.register_module("layers", std::make_shared<ModuleListImpl>());
  for (int64_t i = 0; i < num_layers; ++i) {
    out.push_back(layer.clone_layer());
    list->push_back(out.back());
  }
  if (norm) owner.register_module("norm", norm);
  return out;
}

// Copies every parameter and buffer of src into dst (modules of the same structure).
void copy_state(const Module& src, Module& dst) {
  autograd::NoGradGuard ng;
  auto a = src.state_dict();
  dst.load_state_dict(a, true);
}
}  // namespace

TransformerEncoderLayerImpl::TransformerEncoderLayerImpl(int64_t d, int64_t h, TransformerConfig o)
    : Module("TransformerEncoderLayer"), d_model(d), nhead(h), options(o) {
  check_options("TransformerEncoderLayer", d, h, o);
  self_attn = register_module("self_attn", std::make_shared<MultiheadAttentionImpl>(d, h, o.dropout, true, o.batch_first));
  linear1 = register_module("linear1", std::make_shared<LinearImpl>(d, o.dim_feedforward));
  dropout = register_module("dropout", std::make_shared<DropoutImpl>(o.dropout));
  linear2 = register_module("linear2", std::make_shared<LinearImpl>(o.dim_feedforward, d));
  norm1 = register_module("norm1", std::make_shared<LayerNormImpl>(Shape{d}, o.layer_norm_eps));
  norm2 = register_module("norm2", std::make_shared<LayerNormImpl>(Shape{d}, o.layer_norm_eps));
  dropout1 = register_module("dropout1", std::make_shared<DropoutImpl>(o.dropout));
  dropout2 = register_module("dropout2", std::make_shared<DropoutImpl>(o.dropout));
}

Tensor TransformerEncoderLayerImpl::forward(const Tensor& src, const Tensor& src_mask, const Tensor& src_key_padding_mask,
                                        bool is_causal) {
  TS_CHECK_SHAPE((src.dim() == 3 || src.dim() == 2) && src.size(-1) == d_model, "TransformerEncoderLayer: expected src [",
                 options.batch_first ? "N, S, " : "S, N, ", d_model, "], got ", src.shape());
  const bool unbatched = src.dim() == 2;
  Tensor x = unbatched ? src.unsqueeze(options.batch_first ? 0 : 1) : src;
  Tensor kpm = unbatched && src_key_padding_mask.defined() ? src_key_padding_mask.unsqueeze(0) : src_key_padding_mask;
  Tensor mask = causal_or(src_mask, is_causal, x.size(options.batch_first ? 1 : 0), x);
  auto sa = [&](const Tensor& t) { return (*dropout1)(self_attn->forward(t, t, t, kpm, false, mask).first); };
  auto ff = [&](const Tensor& t) {
    return (*dropout2)((*linear2)((*dropout)(activate(options.activation, (*linear1)(t)))));
  };
  if (options.norm_first) {
    x = x + sa((*norm1)(x));
    x = x + ff((*norm2)(x));
  } else {
    x = (*norm1)(x + sa(x));
    x = (*norm2)(x + ff(x));
  }
  return unbatched ? x.squeeze(options.batch_first ? 0 : 1) : x;
}

std::shared_ptr<TransformerEncoderLayerImpl> TransformerEncoderLayerImpl::clone_layer() const {
  auto c = std::make_shared<TransformerEncoderLayerImpl>(d_model, nhead, options);
  copy_state(*this, *c);
  c->train(is_training());
  return c;
}

TransformerDecoderLayerImpl::TransformerDecoderLayerImpl(int64_t d, int64_t h, TransformerConfig o)
    : Module("TransformerDecoderLayer"), d_model(d), nhead(h), options(o) {
  check_options("TransformerDecoderLayer", d, h, o);
  self_attn = register_module("self_attn", std::make_shared<MultiheadAttentionImpl>(d, h, o.dropout, true, o.batch_first));
  multihead_attn =
      register_module("multihead_attn", std::make_shared<MultiheadAttentionImpl>(d, h, o.dropout, true, o.batch_first));
  linear1 = register_module("linear1", std::make_shared<LinearImpl>(d, o.dim_feedforward));
  dropout = register_module("dropout", std::make_shared<DropoutImpl>(o.dropout));
  linear2 = register_module("linear2", std::make_shared<LinearImpl>(o.dim_feedforward, d));
  norm1 = register_module("norm1", std::make_shared<LayerNormImpl>(Shape{d}, o.layer_norm_eps));
  norm2 = register_module("norm2", std::make_shared<LayerNormImpl>(Shape{d}, o.layer_norm_eps));
  norm3 = register_module("norm3", std::make_shared<LayerNormImpl>(Shape{d}, o.layer_norm_eps));
  dropout1 = register_module("dropout1", std::make_shared<DropoutImpl>(o.dropout));
  dropout2 = register_module("dropout2", std::make_shared<DropoutImpl>(o.dropout));
  dropout3 = register_module("dropout3", std::make_shared<DropoutImpl>(o.dropout));
}

Tensor TransformerDecoderLayerImpl::forward(const Tensor&) {
  throw ValueError("TransformerDecoderLayer: forward needs the target and the encoder's memory: forward(tgt, memory)");
}

Tensor TransformerDecoderLayerImpl::forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask,
                                        const Tensor& memory_mask, const Tensor& tgt_key_padding_mask,
                                        const Tensor& memory_key_padding_mask, bool tgt_is_causal) {
  TS_CHECK_SHAPE((tgt.dim() == 3 || tgt.dim() == 2) && tgt.size(-1) == d_model && memory.dim() == tgt.dim() &&
                     memory.size(-1) == d_model,
                 "TransformerDecoderLayer: expected tgt and memory [", options.batch_first ? "N, T, " : "T, N, ",
                 d_model, "], got ", tgt.shape(), " and ", memory.shape());
  const bool unbatched = tgt.dim() == 2;
  const int64_t bd = options.batch_first ? 0 : 1;
  Tensor x = unbatched ? tgt.unsqueeze(bd) : tgt, mem = unbatched ? memory.unsqueeze(bd) : memory;
  auto batch = [&](const Tensor& m) { return unbatched && m.defined() ? m.unsqueeze(0) : m; };
  Tensor tkpm = batch(tgt_key_padding_mask), mkpm = batch(memory_key_padding_mask);
  Tensor tmask = causal_or(tgt_mask, tgt_is_causal, x.size(options.batch_first ? 1 : 0), x);
  auto sa = [&](const Tensor& t) { return (*dropout1)(self_attn->forward(t, t, t, tkpm, false, tmask).first); };
  auto mha = [&](const Tensor& t) {
    return (*dropout2)(multihead_attn->forward(t, mem, mem, mkpm, false, memory_mask).first);
  };
  auto ff = [&](const Tensor& t) {
    return (*dropout3)((*linear2)((*dropout)(activate(options.activation, (*linear1)(t)))));
  };
  if (options.norm_first) {
    x = x + sa((*norm1)(x));
    x = x + mha((*norm2)(x));
    x = x + ff((*norm3)(x));
  } else {
    x = (*norm1)(x + sa(x));
    x = (*norm2)(x + mha(x));
    x = (*norm3)(x + ff(x));
  }
  return unbatched ? x.squeeze(bd) : x;
}

std::shared_ptr<TransformerDecoderLayerImpl> TransformerDecoderLayerImpl::clone_layer() const {
  auto c = std::make_shared<TransformerDecoderLayerImpl>(d_model, nhead, options);
  copy_state(*this, *c);
  c->train(is_training());
  return c;
}

TransformerEncoderImpl::TransformerEncoderImpl(const TransformerEncoderLayerImpl& layer, int64_t num_layers,
                                       std::shared_ptr<LayerNormImpl> n)
    : Module("TransformerEncoder"), norm(std::move(n)) {
  layers = stack_copies(*this, layer, num_layers, norm);
}

namespace {
template <class L>
const L& layer_of(const char* who, const std::shared_ptr<L>& layer) {
  TS_CHECK_VALUE(layer != nullptr, who, ": the layer is null (an empty holder?)");
  return *layer;
}
}  // namespace

TransformerEncoderImpl::TransformerEncoderImpl(const std::shared_ptr<TransformerEncoderLayerImpl>& layer,
                                               int64_t num_layers, std::shared_ptr<LayerNormImpl> n)
    : TransformerEncoderImpl(layer_of("TransformerEncoder", layer), num_layers, std::move(n)) {}

TransformerDecoderImpl::TransformerDecoderImpl(const std::shared_ptr<TransformerDecoderLayerImpl>& layer,
                                               int64_t num_layers, std::shared_ptr<LayerNormImpl> n)
    : TransformerDecoderImpl(layer_of("TransformerDecoder", layer), num_layers, std::move(n)) {}

Tensor TransformerEncoderImpl::forward(const Tensor& src, const Tensor& mask, const Tensor& src_key_padding_mask,
                                   bool is_causal) {
  Tensor x = src;
  for (auto& l : layers) x = l->forward(x, mask, src_key_padding_mask, is_causal);
  return norm ? (*norm)(x) : x;
}

TransformerDecoderImpl::TransformerDecoderImpl(const TransformerDecoderLayerImpl& layer, int64_t num_layers,
                                       std::shared_ptr<LayerNormImpl> n)
    : Module("TransformerDecoder"), norm(std::move(n)) {
  layers = stack_copies(*this, layer, num_layers, norm);
}

Tensor TransformerDecoderImpl::forward(const Tensor&) {
  throw ValueError("TransformerDecoder: forward needs the target and the encoder's memory: forward(tgt, memory)");
}

Tensor TransformerDecoderImpl::forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask,
                                   const Tensor& memory_mask, const Tensor& tgt_key_padding_mask,
                                   const Tensor& memory_key_padding_mask, bool tgt_is_causal) {
  Tensor x = tgt;
  for (auto& l : layers)
    x = l->forward(x, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask, tgt_is_causal);
  return norm ? (*norm)(x) : x;
}

TransformerImpl::TransformerImpl(int64_t d, int64_t h, int64_t ne, int64_t nd, TransformerConfig o)
    : Module("Transformer"), d_model(d), nhead(h), batch_first(o.batch_first) {
  encoder = register_module(
      "encoder", std::make_shared<TransformerEncoderImpl>(TransformerEncoderLayerImpl(d, h, o), ne,
                                                      std::make_shared<LayerNormImpl>(Shape{d}, o.layer_norm_eps)));
  decoder = register_module(
      "decoder", std::make_shared<TransformerDecoderImpl>(TransformerDecoderLayerImpl(d, h, o), nd,
                                                      std::make_shared<LayerNormImpl>(Shape{d}, o.layer_norm_eps)));
  for (Tensor& p : parameters())  // PyTorch's _reset_parameters
    if (p.dim() > 1) init::xavier_uniform_(p);
}

Tensor TransformerImpl::forward(const Tensor&) {
  throw ValueError("Transformer: forward needs the source and the target: forward(src, tgt)");
}

Tensor TransformerImpl::forward(const Tensor& src, const Tensor& tgt, const Tensor& src_mask, const Tensor& tgt_mask,
                            const Tensor& memory_mask, const Tensor& src_key_padding_mask,
                            const Tensor& tgt_key_padding_mask, const Tensor& memory_key_padding_mask) {
  const int64_t bd = batch_first ? 0 : 1;
  TS_CHECK_SHAPE(src.dim() == tgt.dim() && (src.dim() == 2 || src.size(bd) == tgt.size(bd)),
                 "Transformer: the batch sizes of src ", src.shape(), " and tgt ", tgt.shape(), " differ");
  TS_CHECK_SHAPE(src.size(-1) == d_model && tgt.size(-1) == d_model, "Transformer: the feature size of src ",
                 src.shape(), " and tgt ", tgt.shape(), " must be d_model = ", d_model);
  Tensor memory = encoder->forward(src, src_mask, src_key_padding_mask);
  return decoder->forward(tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask);
}

Tensor TransformerImpl::generate_square_subsequent_mask(int64_t sz, TensorOptions opt) {
  TS_CHECK_VALUE(sz >= 0, "generate_square_subsequent_mask: size must be non-negative, got ", sz);
  Tensor m = zeros({sz, sz}, opt);
  return m.masked_fill(ops::logical_not(ops::tril(ones({sz, sz}, {DType::Bool, opt.device()}))), -INFINITY);
}

}  // namespace tessera::nn
