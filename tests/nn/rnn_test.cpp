// Recurrent layers: gradients against finite differences in float64 (input, initial states and
// weights), shapes of every layout, and errors.
#include <gtest/gtest.h>

#include "tessera/tessera.h"

using namespace tessera;
using V = std::vector<Tensor>;

namespace {
Tensor leaf(const Shape& s) { return (rand(s, {DType::Float64}) * 2.0 - 1.0).requires_grad_(); }

void check_layer(nn::RNNBase& m, bool lstm) {
  m.to(DType::Float64);
  int64_t S = m.options.num_layers * (m.options.bidirectional ? 2 : 1);
  Tensor x = leaf({4, 2, 3}), h0 = leaf({S, 2, 5}), c0 = lstm ? leaf({S, 2, 5}) : Tensor();
  // Input and initial states: the full Jacobians.
  V inputs{x, h0};
  if (lstm) inputs.push_back(c0);
  EXPECT_TRUE(autograd::gradcheck([&m, lstm](const V& t) {
    auto [out, hn, cn] = m.forward_with_state(t[0], t[1], lstm ? t[2] : Tensor());
    V r{out, hn};
    if (lstm) r.push_back(cn);
    return r;
  }, inputs)) << m.type_name();
  // Every weight: d sum(out * r) / dw against central differences at a few elements.
  Tensor r = rand({4, 2, m.options.bidirectional ? 10 : 5}, {DType::Float64});
  auto loss = [&]() -> Tensor {
    return (std::get<0>(m.forward_with_state(x.detach(), h0.detach(), lstm ? c0.detach() : Tensor())) * r).sum();
  };
  m.zero_grad();
  loss().backward();
  for (auto& [name, w] : m.named_parameters()) {
    Tensor flat = w.detach().view({-1});
    for (int64_t k : {int64_t(0), w.numel() / 2, w.numel() - 1}) {
      double orig = flat[k].item<double>(), eps = 1e-6, plus, minus;
      {
        autograd::NoGradGuard ng;
        flat[k].fill_(orig + eps);
        plus = loss().item<double>();
        flat[k].fill_(orig - eps);
        minus = loss().item<double>();
        flat[k].fill_(orig);
      }
      EXPECT_NEAR(w.grad().reshape({-1})[k].item<double>(), (plus - minus) / (2 * eps), 1e-6) << m.type_name() << " " << name;
    }
  }
}
}  // namespace

TEST(Recurrent, GradientsMatchFiniteDifferences) {
  nn::LSTM lstm(3, 5, {.num_layers = 2, .bidirectional = true});
  check_layer(lstm, true);
  nn::GRU gru(3, 5, {.num_layers = 2});
  check_layer(gru, false);
  nn::RNN rnn(3, 5, {.bidirectional = true}, "tanh");
  check_layer(rnn, false);
}

TEST(Recurrent, ShapesNamesAndErrors) {
  nn::LSTM lstm(3, 5, {.num_layers = 2, .batch_first = true, .bidirectional = true});
  auto [out, hn, cn] = lstm.forward_with_state(randn({2, 7, 3}));
  EXPECT_EQ(out.shape(), (Shape{2, 7, 10}));
  EXPECT_EQ(hn.shape(), (Shape{4, 2, 5}));
  EXPECT_EQ(cn.shape(), (Shape{4, 2, 5}));
  EXPECT_EQ(lstm.forward(randn({2, 7, 3})).shape(), (Shape{2, 7, 10}));
  auto [u, uh, uc] = nn::GRU(3, 4).forward_with_state(randn({6, 3}));  // unbatched
  EXPECT_EQ(u.shape(), (Shape{6, 4}));
  EXPECT_EQ(uh.shape(), (Shape{1, 4}));
  EXPECT_FALSE(uc.defined());
  std::vector<std::string> names;
  for (auto& [n, p] : nn::GRU(3, 4, {.bidirectional = true}).named_parameters()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                                             "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse",
                                             "bias_hh_l0_reverse"}));
  EXPECT_THROW(lstm.forward_with_state(randn({2, 7, 4})), ShapeError);
  EXPECT_THROW(nn::LSTM(3, 5).forward_with_state(randn({7, 2, 3}), zeros({2, 2, 5})), ShapeError);
  EXPECT_THROW(nn::GRU(3, 5).forward_with_state(randn({7, 2, 3}), {}, zeros({1, 2, 5})), ValueError);
  EXPECT_THROW(nn::RNN(3, 5, {}, "sigmoid"), ValueError);
  EXPECT_THROW(nn::LSTM(0, 5), ValueError);
}

TEST(Recurrent, LearnsToRememberTheFirstInput) {
  // A GRU reads a sequence and must output its first element's sign at the end: the gradient
  // has to flow back through every step.
  manual_seed(4);
  nn::GRU gru(1, 8);
  nn::Linear head(8, 2);
  std::vector<Tensor> params = gru.parameters();
  for (auto& p : head.parameters()) params.push_back(p);
  optim::Adam opt(params, {.lr = 0.02});
  double acc = 0;
  for (int step = 0; step < 300; ++step) {
    Tensor x = randn({10, 32, 1});
    Tensor y = (x.select(0, 0).squeeze(1) > 0.0).to(DType::Int64);
    auto [out, hn, cn] = gru.forward_with_state(x);
    Tensor logits = head(hn.select(0, 0));
    Tensor loss = nn::functional::cross_entropy(logits, y);
    opt.zero_grad();
    loss.backward();
    opt.step();
    acc = (logits.argmax(1) == y).to(DType::Float32).mean().item<double>();
  }
  EXPECT_GT(acc, 0.9);
}
