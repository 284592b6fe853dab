// Inference sessions: the rewritten graph (batch norm folded, ReLU and residual adds fused,
// blocked layouts, batch and channel pieces) gives the model's own outputs, for zoo models,
// modules of every layer the rewrite touches, ONNX files, and batch sizes that take each path.
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "tessera/io/inference.h"
#include "tessera/io/onnx.h"
#include "tessera/tessera.h"
#include "tessera/zoo/zoo.h"
#include "tests/temp_dir.h"

using namespace tessera;

namespace {
// Random running statistics, so that folding the batch norms changes the weights.
void randomize_batch_norms(nn::Module& m) {
  for (auto& [name, b] : m.named_buffers()) {
    if (name.find("running_mean") != std::string::npos) b.copy_(randn(b.shape()) * 0.1);
    if (name.find("running_var") != std::string::npos) b.copy_(rand(b.shape()) + 0.5);
  }
  for (auto& [name, p] : m.named_parameters()) {
    autograd::NoGradGuard ng;
    if (p.dim() == 1) p.copy_(randn(p.shape()) * 0.1 + (name.find("weight") != std::string::npos ? 1.0 : 0.0));
  }
}

size_t count(const std::vector<std::string>& steps, const std::string& label) {
  return size_t(std::count(steps.begin(), steps.end(), label));
}

void expect_same(nn::Module& m, const Tensor& x, double tol = 1e-4) {
  Tensor want;
  {
    nn::EvalModeGuard eval(m);
    autograd::NoGradGuard ng;
    want = m(x);
  }
  io::InferenceSession fused(m, {x}), plain(m, {x}, {.fuse = false});
  Tensor got = fused(x), unfused = plain(x);
  EXPECT_EQ(got.shape(), want.shape());
  EXPECT_TRUE(ops::allclose(got, want, tol, tol)) << "max diff " << (got - want).abs().max().item<double>();
  EXPECT_TRUE(ops::allclose(unfused, want, 1e-6, 1e-6));
}
}  // namespace

TEST(InferenceSession, ResNetFoldsBatchNormsAndFusesResiduals) {
  manual_seed(1);
  auto net = zoo::resnet18(10);
  randomize_batch_norms(*net);
  for (int64_t n : {1, 4}) expect_same(*net, randn({n, 3, 32, 32}));
  io::InferenceSession s(*net, {randn({2, 3, 32, 32})});
  auto steps = s.steps();
  EXPECT_EQ(count(steps, "BatchNormalization"), 0u);  // every one folded
  EXPECT_EQ(count(steps, "Conv+BatchNormalization+Relu"), 9u);  // stem and the first conv of each block
  EXPECT_EQ(count(steps, "Conv+BatchNormalization+Add+Relu"), 8u);  // each block's second conv and its residual
}

TEST(InferenceSession, EveryLayerTheRewriteTouches) {
  manual_seed(2);
  // Bias and no bias, ReLU, max pools with padding, average pools (with and without counting
  // padding), a 1x1 conv to a channel count that is no multiple of 16, depthwise and grouped
  // convolutions, a global average pool and a classifier.
  nn::Sequential net(nn::Conv2d(3, 32, 3, {.padding = 1}), nn::ReLU(),
                     nn::MaxPool2d(3, {.stride = 2, .padding = 1}),
                     nn::Conv2d(32, 32, 3, {.padding = 1, .groups = 32}), nn::BatchNorm2d(32), nn::ReLU(),
                     nn::Conv2d(32, 48, 3, {.padding = 1, .groups = 4, .bias = false}),
                     nn::AvgPool2d(3, {.stride = 2, .padding = 1, .count_include_pad = false}), nn::AvgPool2d(2), nn::Conv2d(48, 10, 1), nn::ReLU(),
                     nn::AdaptiveAvgPool2d(1), nn::Flatten(), nn::Linear(10, 5));
  randomize_batch_norms(net);
  for (int64_t n : {1, 3}) expect_same(net, randn({n, 3, 40, 40}));
  // Large enough at batch 1 for the output channels to be cut into pieces.
  // (Each of the first three steps: two pieces with two threads or more.)
  nn::Sequential wide(nn::Conv2d(16, 128, 3, {.padding = 1}), nn::BatchNorm2d(128), nn::ReLU(),
                      nn::Conv2d(128, 128, 3, {.padding = 1, .groups = 128}), nn::ReLU(),
                      nn::MaxPool2d(3, {.stride = 2, .padding = 1}), nn::Conv2d(128, 32, 1));
  randomize_batch_norms(wide);
  expect_same(wide, randn({1, 16, 80, 80}));
  for (auto* m : {&net, &wide}) {
    io::InferenceSession s(*m, {randn({1, m == &net ? 3 : 16, 40, 40})});
    EXPECT_EQ(count(s.steps(), "BatchNormalization"), 0u);
  }
  // The convnet and LeNet-5 of the zoo.
  expect_same(*zoo::convnet(), randn({5, 1, 28, 28}));
  expect_same(*zoo::lenet5(), randn({1, 1, 28, 28}));
}

namespace {
// Recurrent layers (their weights go to PyTorch's gate order once, when the session is made),
// both directions and two layers, then a GRU over the LSTM's output.
struct Recurrent : nn::Module {
  Recurrent() : Module("Recurrent") {
    lstm = register_module("lstm", std::make_shared<nn::LSTM>(8, 16, nn::RNNConfig{.num_layers = 2, .bidirectional = true}));
    gru = register_module("gru", std::make_shared<nn::GRU>(32, 12));
  }
  Tensor forward(const Tensor& x) override { return gru->forward(lstm->forward(x)); }
  std::shared_ptr<nn::LSTM> lstm;
  std::shared_ptr<nn::GRU> gru;
};
}  // namespace

TEST(InferenceSession, RecurrentLayersAtEveryBatchSize) {
  manual_seed(5);
  Recurrent net;
  // Batch 1 and 3: the CPU's hand-written cell; 6: oneDNN's primitive.
  for (int64_t n : {1, 3, 6}) expect_same(net, randn({7, n, 8}), 1e-5);
  io::InferenceSession s(net, {randn({7, 2, 8})});
  EXPECT_EQ(count(s.steps(), "LSTM"), 4u);  // one node per layer and direction
  EXPECT_EQ(count(s.steps(), "GRU"), 1u);
}

namespace {
// Residuals that are the convolution's own input, and one read again after the add.
struct Residuals : nn::Module {
  Residuals() : Module("Residuals") {
    a = register_module("a", std::make_shared<nn::Conv2d>(16, 16, 3, nn::ConvConfig{.padding = 1}));
    b = register_module("b", std::make_shared<nn::Conv2d>(16, 16, 3, nn::ConvConfig{.padding = 1}));
    c = register_module("c", std::make_shared<nn::Conv2d>(16, 16, 1));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = ops::relu(a->forward(x));
    Tensor y = ops::relu(b->forward(h) + h);  // h: the conv's input and its residual
    Tensor z = c->forward(y) + y;             // y's buffer may be reused...
    return z + h * 0.5;                       // ...h is read again later
  }
  std::shared_ptr<nn::Conv2d> a, b, c;
};
}  // namespace

TEST(InferenceSession, ResidualBuffersAreReusedOnlyWhenFree) {
  manual_seed(4);
  Residuals net;
  for (int64_t n : {1, 2}) expect_same(net, randn({n, 16, 12, 12}));
}

TEST(InferenceSession, OnnxFilesAndErrors) {
  manual_seed(3);
  auto net = zoo::resnet18(10);
  randomize_batch_norms(*net);
  std::string path = (tessera::testing::fresh_dir("inference") / "r18.onnx").string();
  io::export_onnx(*net, {randn({2, 3, 32, 32})}, path, {.dynamic_batch = true});
  io::InferenceSession s(path);
  auto file = io::load_onnx(path);
  for (int64_t n : {1, 3}) {
    Tensor x = randn({n, 3, 32, 32});
    Tensor got = s(x), want = file->forward(x);
    EXPECT_TRUE(ops::allclose(got, want, 1e-4, 1e-4)) << (got - want).abs().max().item<double>();
  }
  EXPECT_THROW(s.run({}), ValueError);
  try {
    s(randn({1, 4, 32, 32}));  // a channel count the first convolution does not take
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("InferenceSession: " + path), std::string::npos) << what;
    EXPECT_NE(what.find("Conv"), std::string::npos) << what;
  }
  EXPECT_THROW(io::InferenceSession("/nonexistent/model.onnx"), io::OnnxError);  // (a ValueError)
}

namespace {
// A keyword spotter's shape: a 1-D convolution, an LSTM (batch first) and a classifier on its
// last step. Tracing leaves the LSTM's final states (stacked, then unread) in the graph. (16 and
// 32 channels: whole blocks with AVX2's 8 and AVX-512's 16, so the plain input goes into the
// blocked layout and the convolution's output comes back out of it.)
struct Spotter : nn::Module {
  Spotter() : Module("Spotter") {
    conv = register_module("conv", std::make_shared<nn::Conv1d>(16, 32, 3, nn::ConvConfig{.padding = 1}));
    lstm = register_module("lstm", std::make_shared<nn::LSTM>(32, 12, nn::RNNConfig{.batch_first = true}));
    fc = register_module("fc", std::make_shared<nn::Linear>(12, 5));
  }
  Tensor forward(const Tensor& x) override {  // x [N, frames, features]
    Tensor h = ops::relu(conv->forward(x.transpose(1, 2))).transpose(1, 2);
    return fc->forward(lstm->forward(h).select(1, -1));
  }
  std::shared_ptr<nn::Conv1d> conv;
  std::shared_ptr<nn::LSTM> lstm;
  std::shared_ptr<nn::Linear> fc;
};
}  // namespace

TEST(InferenceSession, DeadStepsAreDroppedAndStepsProfiled) {
  manual_seed(6);
  Spotter net;
  for (int64_t n : {1, 3}) expect_same(net, randn({n, 10, 16}), 1e-5);
  Tensor x = randn({1, 10, 16});
  io::InferenceSession kept(net, {x}, {.fuse = false}), s(net, {x}, {.profile = true});
  // Unfused, the graph runs whole; rewritten, the final states' Squeeze/Reshape/Concat are gone.
  EXPECT_GT(count(kept.steps(), "Concat"), 0u);
  EXPECT_EQ(count(s.steps(), "Concat"), 0u);
  EXPECT_LT(s.steps().size(), kept.steps().size());
  EXPECT_EQ(count(s.steps(), "LSTM"), 1u);
  // Profiling: one entry per step, in steps()' order, counting the runs since the last reset.
  for (int i = 0; i < 3; ++i) s(x);
  auto p = s.profile(/*reset=*/true);
  ASSERT_EQ(p.size(), s.steps().size());
  double total = 0;
  for (size_t k = 0; k < p.size(); ++k) {
    EXPECT_EQ(p[k].step, s.steps()[k]);
    EXPECT_EQ(p[k].calls, 3);
    EXPECT_GE(p[k].seconds, 0.0);
    total += p[k].seconds;
  }
  EXPECT_GT(total, 0.0);
  for (auto& e : s.profile()) EXPECT_EQ(e.calls, 0);  // reset
  s(x);
  for (auto& e : s.profile()) EXPECT_EQ(e.calls, 1);
  try {
    kept.profile();
    ADD_FAILURE() << "no error";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("profile"), std::string::npos) << e.what();
  }
}

// A session run on several threads at once: each run's convolutions use their own arguments when
// another run holds a piece's kept ones, and every result is the one a lone run gives.
TEST(InferenceSession, ConcurrentRunsGiveTheLoneRunsResults) {
  manual_seed(7);
  auto net = zoo::resnet18(10);
  randomize_batch_norms(*net);
  io::InferenceSession s(*net, {randn({1, 3, 32, 32})});
  std::vector<Tensor> xs, want;
  for (int i = 0; i < 4; ++i) {
    xs.push_back(randn({1, 3, 32, 32}));
    want.push_back(s(xs.back()));
  }
  std::vector<std::vector<Tensor>> got(xs.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < xs.size(); ++i)
    threads.emplace_back([&, i] {
      for (int rep = 0; rep < 5; ++rep) got[i].push_back(s(xs[i]));
    });
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < xs.size(); ++i)
    for (auto& g : got[i]) EXPECT_TRUE(ops::equal(g, want[i])) << "input " << i;
}
