#include <gtest/gtest.h>

#include <cmath>

#include "tessera/tessera.h"

using namespace tessera;
namespace F = tessera::nn::functional;
using V = std::vector<Tensor>;

TEST(Loss, CrossEntropyMatchesTheDefinition) {
  Tensor logits = tensor({{1., 2., 0.5}, {0.1, 0.2, 3.0}}, {DType::Float64});
  Tensor target = tensor({1, 2});
  auto lse = [](std::vector<double> v) {
    double m = *std::max_element(v.begin(), v.end()), s = 0;
    for (double x : v) s += std::exp(x - m);
    return m + std::log(s);
  };
  double l0 = lse({1, 2, 0.5}) - 2, l1 = lse({0.1, 0.2, 3.0}) - 3.0;
  EXPECT_NEAR(F::cross_entropy(logits, target).item<double>(), (l0 + l1) / 2, 1e-12);
  EXPECT_NEAR(F::cross_entropy(logits, target, {.reduction = "sum"}).item<double>(), l0 + l1, 1e-12);
  Tensor w = tensor({1., 2., 3.}, {DType::Float64});
  EXPECT_NEAR(F::cross_entropy(logits, target, {.weight = w}).item<double>(), (2 * l0 + 3 * l1) / 5, 1e-12);
  EXPECT_NEAR(F::cross_entropy(logits, tensor({1, -100})).item<double>(), l0, 1e-12);  // ignore_index
  // Label smoothing: (1 - e) * nll + e * mean over classes of -logp.
  double e = 0.1, smooth0 = 0, smooth1 = 0;
  for (double x : {1., 2., 0.5}) smooth0 += (lse({1, 2, 0.5}) - x) / 3;
  for (double x : {0.1, 0.2, 3.0}) smooth1 += (lse({0.1, 0.2, 3.0}) - x) / 3;
  EXPECT_NEAR(F::cross_entropy(logits, target, {.label_smoothing = e}).item<double>(),
              ((1 - e) * l0 + e * smooth0 + (1 - e) * l1 + e * smooth1) / 2, 1e-12);
  // Probability targets equal to one-hot give the same loss.
  Tensor onehot = ops::one_hot(target, 3).to(DType::Float64);
  EXPECT_NEAR(F::cross_entropy(logits, onehot).item<double>(), (l0 + l1) / 2, 1e-12);
  // Spatial: [N, C, d].
  Tensor sp = logits.unsqueeze(-1).expand({2, 3, 4});
  EXPECT_NEAR(F::cross_entropy(sp, target.unsqueeze(-1).expand({2, 4})).item<double>(), (l0 + l1) / 2, 1e-12);
  EXPECT_THROW(F::cross_entropy(logits, tensor({1, 3})), IndexError);
  EXPECT_THROW(F::cross_entropy(logits, tensor({1, 2, 0})), ShapeError);
  EXPECT_THROW(F::cross_entropy(logits, target, {.reduction = "avg"}), ValueError);
}

TEST(Loss, RegressionAndBinaryLosses) {
  Tensor a = tensor({0.5, -1., 2.}, {DType::Float64}), b = tensor({0., 0., 0.}, {DType::Float64});
  EXPECT_NEAR(F::mse_loss(a, b).item<double>(), (0.25 + 1 + 4) / 3, 1e-12);
  EXPECT_NEAR(F::l1_loss(a, b, "sum").item<double>(), 3.5, 1e-12);
  EXPECT_NEAR(F::smooth_l1_loss(a, b).item<double>(), (0.125 + 0.5 + 1.5) / 3, 1e-12);
  Tensor p = tensor({0.9, 0.2}, {DType::Float64}), y = tensor({1., 0.}, {DType::Float64});
  EXPECT_NEAR(F::binary_cross_entropy(p, y).item<double>(), -(std::log(0.9) + std::log(0.8)) / 2, 1e-12);
  Tensor z = tensor({2.0, -1.0}, {DType::Float64});
  double s0 = 1 / (1 + std::exp(-2.0)), s1 = 1 / (1 + std::exp(1.0));
  EXPECT_NEAR(F::binary_cross_entropy_with_logits(z, y).item<double>(), -(std::log(s0) + std::log(1 - s1)) / 2, 1e-12);
  EXPECT_NEAR(F::binary_cross_entropy_with_logits(tensor({1000.}), tensor({0.})).item<double>(), 1000, 1e-3);  // stable
  Tensor q = tensor({0.25, 0.75}, {DType::Float64}), logq = ops::log(tensor({0.5, 0.5}, {DType::Float64}));
  double kl = 0.25 * std::log(0.25 / 0.5) + 0.75 * std::log(0.75 / 0.5);
  EXPECT_NEAR(F::kl_div(logq.unsqueeze(0), q.unsqueeze(0), "batchmean").item<double>(), kl, 1e-12);
  EXPECT_THROW(F::binary_cross_entropy(tensor({1.5}), tensor({1.})), ValueError);
  EXPECT_THROW(F::mse_loss(a, tensor({1.})), ShapeError);
}

TEST(Loss, GradientsPassGradcheck) {
  Tensor x = (randn({3, 4}, {DType::Float64})).requires_grad_();
  Tensor t = tensor({0, 3, 1});
  Tensor w = tensor({1., 2., 0.5, 1.}, {DType::Float64});
  EXPECT_TRUE(autograd::gradcheck([&](const V& in) {
    return V{F::cross_entropy(in[0], t, {.weight = w, .label_smoothing = 0.2}), F::nll_loss(ops::log_softmax(in[0], 1), t)};
  }, {x}));
  Tensor y = rand({3, 4}, {DType::Float64});
  EXPECT_TRUE(autograd::gradcheck([&](const V& in) {
    return V{F::mse_loss(in[0], y), F::smooth_l1_loss(in[0], y, "sum", 0.5), F::binary_cross_entropy_with_logits(in[0], y),
             F::cross_entropy(in[0], ops::softmax(y, 1))};
  }, {x}));
}
