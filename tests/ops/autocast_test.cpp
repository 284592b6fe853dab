// Autocast: torch.autocast's op lists, the types ops produce under it, gradients reaching float32
// parameters, nesting, the parameter cast cache and errors.
#include <gtest/gtest.h>

#include "tessera/tessera.h"

using namespace tessera;
using S = std::vector<std::string>;

TEST(Autocast, OpListsFollowPyTorch) {
  // aten/src/ATen/autocast_mode.cpp's lists, for the ops tessera has.
  EXPECT_EQ(autocast_ops(DeviceType::CPU, CastPolicy::LowerPrecision),
            (S{"conv1d", "conv2d", "conv_transpose2d", "linear", "matmul"}));
  EXPECT_EQ(autocast_ops(DeviceType::CPU, CastPolicy::Float32),
            (S{"binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "kl_div", "l1_loss",
               "mse_loss", "nll_loss", "prod", "rnn", "smooth_l1_loss"}));
  EXPECT_EQ(autocast_ops(DeviceType::CPU, CastPolicy::Promote), (S{"cat", "stack"}));
  EXPECT_EQ(autocast_ops(DeviceType::CUDA, CastPolicy::LowerPrecision),
            (S{"conv1d", "conv2d", "conv_transpose2d", "linear", "matmul", "rnn"}));
  S cuda32 = autocast_ops(DeviceType::CUDA, CastPolicy::Float32);
  for (const char* op : {"softmax", "log_softmax", "layer_norm", "group_norm", "exp", "log", "sum", "cumsum",
                         "logsumexp", "pow", "rsqrt", "cross_entropy", "mse_loss"})
    EXPECT_NE(std::find(cuda32.begin(), cuda32.end(), op), cuda32.end()) << op;
  EXPECT_EQ(autocast_policy(DeviceType::CPU, "softmax"), CastPolicy::None);  // bfloat16 on the CPU, as PyTorch
  EXPECT_EQ(autocast_policy(DeviceType::CPU, "relu"), CastPolicy::None);
  EXPECT_EQ(autocast_policy(DeviceType::CUDA, "softmax"), CastPolicy::Float32);
}

TEST(Autocast, CpuTypesValuesAndGradients) {
  manual_seed(1);
  nn::Conv2d conv(3, 8, 3, {.padding = 1});
  nn::Linear fc(8 * 4 * 4, 5);
  Tensor x = randn({2, 3, 4, 4});
  Tensor y = randint(0, 5, {2});
  auto run = [&](bool amp) {
    conv.zero_grad();
    fc.zero_grad();
    Tensor h, logits, loss;
    {
      AutocastGuard g(DeviceType::CPU, std::nullopt, amp);
      EXPECT_EQ(is_autocast_enabled(DeviceType::CPU), amp);
      h = ops::relu(conv(x));
      logits = fc(h.flatten(1));
      Tensor sm = ops::softmax(logits, 1);
      EXPECT_EQ(sm.dtype(), amp ? DType::BFloat16 : DType::Float32);  // None policy: its input's type
      loss = nn::functional::cross_entropy(logits, y);
      Tensor both = ops::cat({logits, logits.to(DType::Float32)}, 0);  // promote: the widest
      EXPECT_EQ(both.dtype(), DType::Float32);
      Tensor d = ops::matmul(x.to(DType::Float64).flatten(1), x.to(DType::Float64).flatten(1).t());
      EXPECT_EQ(d.dtype(), DType::Float64);  // float64 is never cast
    }
    EXPECT_FALSE(is_autocast_enabled(DeviceType::CPU));
    EXPECT_EQ(h.dtype(), amp ? DType::BFloat16 : DType::Float32);
    EXPECT_EQ(logits.dtype(), amp ? DType::BFloat16 : DType::Float32);
    EXPECT_EQ(loss.dtype(), DType::Float32);  // losses in float32
    loss.backward();
    EXPECT_EQ(conv.weight.grad().dtype(), DType::Float32);  // through the casts to the float32 parameters
    EXPECT_EQ(fc.weight.grad().dtype(), DType::Float32);
    return std::make_tuple(logits.to(DType::Float32), conv.weight.grad().clone(), fc.weight.grad().clone());
  };
  auto [l32, gc32, gf32] = run(false);
  auto [l16, gc16, gf16] = run(true);
  // bfloat16 keeps 8 bits of mantissa: relative errors of about 2^-8 per rounding.
  EXPECT_TRUE(ops::allclose(l16, l32, 3e-2, 3e-2)) << (l16 - l32).abs().max().item<double>();
  EXPECT_TRUE(ops::allclose(gc16, gc32, 5e-2, 2e-2)) << (gc16 - gc32).abs().max().item<double>();
  EXPECT_TRUE(ops::allclose(gf16, gf32, 5e-2, 2e-2)) << (gf16 - gf32).abs().max().item<double>();
}

TEST(Autocast, NestingDisablingCacheAndErrors) {
  nn::Linear fc(4, 4);
  Tensor x = randn({2, 4});
  {
    AutocastGuard outer(DeviceType::CPU);
    EXPECT_EQ(autocast_dtype(DeviceType::CPU), DType::BFloat16);
    EXPECT_EQ(fc(x).dtype(), DType::BFloat16);
    EXPECT_EQ(autocast_cache_size(), 2u);  // the weight's and bias's casts (leaves requiring grad); not x's
    EXPECT_EQ(fc(x).dtype(), DType::BFloat16);
    EXPECT_EQ(autocast_cache_size(), 2u);  // reused
    {
      AutocastGuard off(DeviceType::CPU, std::nullopt, /*enabled=*/false);
      EXPECT_EQ(fc(x).dtype(), DType::Float32);
    }
    {
      AutocastGuard half(DeviceType::CPU, DType::Float16);
      EXPECT_EQ(ops::matmul(x, x.t()).dtype(), DType::Float16);
    }
    EXPECT_EQ(autocast_dtype(DeviceType::CPU), DType::BFloat16);
    EXPECT_FALSE(is_autocast_enabled(DeviceType::CUDA));  // per device
  }
  EXPECT_EQ(autocast_cache_size(), 0u);  // dropped with the outermost guard
  {
    AutocastGuard nocache(DeviceType::CPU, std::nullopt, true, /*cache_enabled=*/false);
    fc(x);
    EXPECT_EQ(autocast_cache_size(), 0u);
  }
  // Autocast on CUDA leaves CPU ops alone.
  {
    AutocastGuard g(DeviceType::CUDA);
    EXPECT_EQ(fc(x).dtype(), DType::Float32);
  }
  EXPECT_THROW(AutocastGuard(DeviceType::CPU, DType::Float32), DTypeError);
  EXPECT_THROW(set_autocast_dtype(DeviceType::CPU, DType::Int8), DTypeError);
  // An op's inner ops are not cast again: linear's matmul and bias add see linear's operands.
  {
    AutocastGuard g(DeviceType::CPU);
    Tensor y = ops::linear(x, fc.weight, fc.bias);
    EXPECT_EQ(y.dtype(), DType::BFloat16);
  }
}

TEST(Autocast, RecurrentLayersStayFloat32OnTheCpu) {
  nn::LSTM lstm(4, 8);
  Tensor x = randn({5, 2, 4});
  AutocastGuard g(DeviceType::CPU);
  auto [out, hn, cn] = lstm.forward_with_state(x.to(DType::BFloat16));
  EXPECT_EQ(out.dtype(), DType::Float32);  // the fused float32 kernel
  EXPECT_EQ(out.grad_fn()->name(), "rnn");
}
