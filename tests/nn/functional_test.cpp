// torch::nn::functional's spellings: each F:: call equals the op it stands for, with LibTorch's
// option builders.
#include <gtest/gtest.h>

#include "tessera/tessera.h"

using namespace tessera;
namespace F = tessera::nn::functional;

TEST(Functional, LibTorchSpellingsEqualTheOps) {
  manual_seed(3);
  Tensor x = randn({2, 3, 8, 8}), w = randn({4, 3, 3, 3}), b = randn({4});
  auto same = [](const Tensor& a, const Tensor& c) { EXPECT_TRUE(ops::equal(a, c)); };
  same(F::relu(x), ops::relu(x));
  same(F::gelu(x, F::GELUFuncOptions().approximate("tanh")), ops::gelu(x, "tanh"));
  same(F::softmax(x, F::SoftmaxFuncOptions(1)), ops::softmax(x, 1));
  same(F::log_softmax(x, 1), ops::log_softmax(x, 1));
  same(F::max_pool2d(x, F::MaxPool2dFuncOptions(2)), ops::max_pool2d(x, {.kernel_size = {2, 2}}));
  same(F::max_pool2d(x, F::MaxPool2dFuncOptions({3, 2}).stride(1).padding({1, 0})),
       ops::max_pool2d(x, {.kernel_size = {3, 2}, .stride = {1, 1}, .padding = {1, 0}}));
  same(F::avg_pool2d(x, F::AvgPool2dFuncOptions(2).count_include_pad(false).padding(1)),
       ops::avg_pool2d(x, {.kernel_size = {2, 2}, .stride = {2, 2}, .padding = {1, 1}, .count_include_pad = false}));
  same(F::conv2d(x, w, F::Conv2dFuncOptions().bias(b).stride(2).padding(1)),
       ops::conv2d(x, w, b, {{2, 2}, {1, 1}, {1, 1}, 1}));
  same(F::conv2d(x, w), ops::conv2d(x, w));
  same(F::dropout(x, F::DropoutFuncOptions().p(0.3).training(false)), x);
  Tensor d = F::dropout(x, F::DropoutFuncOptions().p(0.5));
  double kept = (d != 0.0).to(DType::Float64).mean().item<double>();
  EXPECT_GT(kept, 0.3);
  EXPECT_LT(kept, 0.7);
  Tensor logits = randn({6, 4}), y = from_vector(std::vector<int64_t>{0, 1, 2, 3, 1, 0});
  same(F::nll_loss(F::log_softmax(logits, 1), y, F::NLLLossFuncOptions().ignore_index(1).reduction("sum")),
       F::nll_loss(ops::log_softmax(logits, 1), y, Tensor(), 1, "sum"));
  same(F::cross_entropy(logits, y, F::CrossEntropyFuncOptions().label_smoothing(0.1)),
       F::cross_entropy(logits, y, {.label_smoothing = 0.1}));
  EXPECT_EQ(F::MaxPool2dFuncOptions(3).stride().h, 3);  // stride defaults to the kernel
  EXPECT_EQ(F::Conv2dFuncOptions().groups(2).groups(), 2);
  EXPECT_THROW(F::Size2({1, 2, 3}), ValueError);
}
