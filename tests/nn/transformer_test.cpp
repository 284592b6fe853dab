// Transformer layers and scaled_dot_product_attention: gradients against finite differences in
// float64, PyTorch's parameter names, masks, and errors. (Values against PyTorch: the Python suite.)
#include <gtest/gtest.h>

#include <cmath>

#include "tessera/tessera.h"

using namespace tessera;
using V = std::vector<Tensor>;

namespace {
Tensor f64(const Shape& s, uint64_t seed) {
  Generator g(seed);
  return randn(s, {DType::Float64}, &g);
}
}  // namespace

TEST(Attention, SdpaMatchesItsFormulaAndGradchecks) {
  Tensor q = f64({2, 3, 4}, 1), k = f64({2, 5, 4}, 2), v = f64({2, 5, 3}, 3);
  Tensor ref = ops::matmul(ops::softmax(ops::matmul(q, k.transpose(-1, -2)) * 0.5, -1), v);
  EXPECT_TRUE(ops::allclose(ops::scaled_dot_product_attention(q, k, v), ref));
  Tensor allowed = ops::tril(ones({3, 5}, {DType::Bool}));
  Tensor masked = ops::scaled_dot_product_attention(q, k, v, allowed);
  // the first query position sees only the first key: its output is v[:, 0]
  EXPECT_TRUE(ops::allclose(masked.select(1, 0), v.select(1, 0)));
  EXPECT_TRUE(autograd::gradcheck(
      [](const V& in) { return V{ops::scaled_dot_product_attention(in[0], in[1], in[2], {}, 0, true)}; },
      {f64({2, 3, 4}, 4).requires_grad_(), f64({2, 3, 4}, 5).requires_grad_(), f64({2, 3, 2}, 6).requires_grad_()}));
  EXPECT_THROW(ops::scaled_dot_product_attention(q, f64({2, 5, 3}, 7), v), ShapeError);
  EXPECT_THROW(ops::scaled_dot_product_attention(q, k, v, allowed, 0, true), ValueError);
}

TEST(Transformer, LayersGradcheckAndNameTheirParametersAsPyTorch) {
  for (bool norm_first : {false, true}) {
    nn::TransformerEncoderLayer enc(4, 2, {.dim_feedforward = 6, .dropout = 0, .norm_first = norm_first});
    enc.to(DType::Float64);
    Tensor src = f64({3, 2, 4}, 8).requires_grad_();
    EXPECT_TRUE(autograd::gradcheck([&](const V& in) { return V{enc.forward(in[0], Tensor())}; }, {src}));
    nn::TransformerDecoderLayer dec(4, 2, {.dim_feedforward = 6, .dropout = 0, .activation = "gelu",
                                           .norm_first = norm_first});
    dec.to(DType::Float64);
    Tensor tgt = f64({2, 2, 4}, 9).requires_grad_(), mem = f64({3, 2, 4}, 10).requires_grad_();
    Tensor causal = nn::Transformer::generate_square_subsequent_mask(2, {DType::Float64});
    EXPECT_TRUE(autograd::gradcheck([&](const V& in) { return V{dec.forward(in[0], in[1], causal)}; }, {tgt, mem}));
  }
  nn::Transformer t(8, 2, 2, 1, {.dim_feedforward = 16});
  auto names = t.named_parameters();
  ASSERT_FALSE(names.empty());
  EXPECT_EQ(names.front().first, "encoder.layers.0.self_attn.in_proj_weight");
  EXPECT_EQ(names.back().first, "decoder.norm.bias");
  Tensor out = t.forward(f64({5, 3, 8}, 11).to(DType::Float32), f64({4, 3, 8}, 12).to(DType::Float32));
  EXPECT_EQ(out.shape(), (Shape{4, 3, 8}));
  Tensor m = nn::Transformer::generate_square_subsequent_mask(3);
  EXPECT_EQ(m.select(0, 0).select(0, 1).item<float>(), -INFINITY);
  EXPECT_EQ(m.select(0, 2).select(0, 1).item<float>(), 0.0f);
  EXPECT_THROW(nn::TransformerEncoderLayer(6, 4), ValueError);
  EXPECT_THROW(t.forward(ones({5, 3, 8})), ValueError);
  nn::TransformerEncoderLayer layer(4, 2);
  nn::TransformerEncoder stack(layer, 3);
  auto p = stack.named_parameters();
  EXPECT_EQ(p[0].first, "layers.0.self_attn.in_proj_weight");
  EXPECT_TRUE(ops::equal(stack.layers[0]->linear1->weight, stack.layers[2]->linear1->weight));  // copies of one layer
  EXPECT_FALSE(stack.layers[0]->linear1->weight.is_same(stack.layers[2]->linear1->weight));
}
