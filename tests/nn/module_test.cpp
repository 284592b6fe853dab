#include <gtest/gtest.h>

#include <cmath>

#include "../devices.h"
#include "tessera/tessera.h"
#include "tessera/zoo/zoo.h"

using namespace tessera;
namespace F = tessera::nn::functional;

// Every case runs on each device: modules are built, moved with Module::to, fed and checked there.
class Module : public tessera::testing::DeviceTest {};
class Layers : public tessera::testing::DeviceTest {};
class Init : public tessera::testing::DeviceTest {};

// The Rosetta CIFAR-10 CNN (shared/rosetta.md), as a user would write it.
static std::shared_ptr<nn::Sequential> rosetta_cnn() {
  auto net = std::make_shared<nn::Sequential>(
      nn::Conv2d(3, 50, 3, {.padding = 1}), nn::ReLU(), nn::Conv2d(50, 50, 3, {.padding = 1}), nn::MaxPool2d(2),
      nn::ReLU(), nn::Dropout(0.25), nn::Conv2d(50, 100, 3, {.padding = 1}), nn::ReLU(),
      nn::Conv2d(100, 100, 3, {.padding = 1}), nn::MaxPool2d(2), nn::ReLU(), nn::Dropout(0.25), nn::Flatten(),
      nn::Linear(6400, 512), nn::ReLU(), nn::Dropout(0.5), nn::Linear(512, 10));
  for (auto& [name, p] : net->named_parameters())
    if (p.dim() > 1) nn::init::xavier_uniform_(p);
  return net;
}

TEST_P(Module, RosettaCnnHasTheRightShapesAndParameterCount) {
  manual_seed(0);
  auto net = rosetta_cnn();
  net->to(dev());
  EXPECT_EQ(net->num_parameters(), 3441592);
  Tensor x = randn({4, 3, 32, 32}, f32());
  Tensor logits = (*net)(x);
  EXPECT_EQ(logits.shape(), (Shape{4, 10}));
  EXPECT_EQ(logits.device(), dev());
  Tensor loss = F::cross_entropy(logits, on(tensor({1, 0, 9, 3})));
  loss.backward();
  for (auto& [name, p] : net->named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    EXPECT_EQ(p.grad().shape(), p.shape()) << name;
    EXPECT_EQ(p.grad().device(), dev()) << name;
  }
  EXPECT_GT(net->at(0)->named_parameters()[0].second.grad().abs().sum().item<double>(), 0);
  std::string s = net->str();
  EXPECT_NE(s.find("(0): Conv2d(3, 50, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"), std::string::npos) << s;
  EXPECT_NE(s.find("parameters: 3,441,592"), std::string::npos) << s;
}

TEST_P(Module, RegistrationNamesAndStateDict) {
  struct Block : nn::Module {
    Block() : Module("Block") {
      fc = register_module("fc", std::make_shared<nn::Linear>(3, 2));
      bn = register_module("bn", std::make_shared<nn::BatchNorm1d>(2));
      scale = register_parameter("scale", ones({1}));
    }
    Tensor forward(const Tensor& x) override { return bn->forward(fc->forward(x)) * scale; }
    std::shared_ptr<nn::Linear> fc;
    std::shared_ptr<nn::BatchNorm1d> bn;
    Tensor scale;
  };
  Block b;
  b.to(dev());
  std::vector<std::string> names;
  for (auto& [n, t] : b.state_dict()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"scale", "fc.weight", "fc.bias", "bn.weight", "bn.bias",
                                             "bn.running_mean", "bn.running_var", "bn.num_batches_tracked"}));
  EXPECT_EQ(b.named_modules().size(), 3u);
  Block c;  // on the CPU: loading copies across devices
  c.load_state_dict(b.state_dict());
  EXPECT_TRUE(ops::equal(c.fc->weight, b.fc->weight.cpu()));
  EXPECT_TRUE(c.fc->weight.device().is_cpu());
  c.to(dev());
  EXPECT_EQ(c.fc->weight.device(), dev());
  nn::StateDict bad = b.state_dict();
  bad.erase(bad.begin());                          // missing "scale"
  bad.push_back({"extra", ones({1})});             // unexpected
  bad[0].second = ones({5, 5});                    // fc.weight mismatched
  try {
    c.load_state_dict(bad);
    FAIL();
  } catch (const ValueError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("missing key: scale"), std::string::npos) << m;
    EXPECT_NE(m.find("unexpected key: extra"), std::string::npos) << m;
    EXPECT_NE(m.find("size mismatch: fc.weight: expected [2, 3], got [5, 5]"), std::string::npos) << m;
  }
  nn::LoadReport r = c.load_state_dict(bad, false);
  EXPECT_EQ(r.missing.size(), 1u);
  EXPECT_EQ(r.unexpected.size(), 1u);
  EXPECT_EQ(r.mismatched.size(), 1u);
  EXPECT_THROW(b.register_parameter("scale", ones({1})), ValueError);
  EXPECT_THROW(b.register_parameter("a.b", ones({1})), ValueError);
}

// PyTorch's assignment and deletion of registered attributes, and non-persistent buffers; the
// state dict in PyTorch's order (each module's parameters, its buffers, then its children).
TEST_P(Module, ReplaceUnregisterAndNonPersistentBuffers) {
  nn::Module m("Block");
  m.register_parameter("w", ones({2}));
  m.register_buffer("count", zeros({1}));
  m.register_buffer("cache", zeros({3}), /*persistent=*/false);
  m.register_module("fc", std::make_shared<nn::Linear>(2, 2));
  m.register_buffer("late", zeros({1}));
  m.to(dev());
  auto keys = [&] {
    std::vector<std::string> k;
    for (auto& [n, t] : m.state_dict()) k.push_back(n);
    return k;
  };
  EXPECT_EQ(keys(), (std::vector<std::string>{"w", "count", "late", "fc.weight", "fc.bias"}));
  EXPECT_EQ(m.named_buffers().size(), 3u);  // the non-persistent one is still a buffer (and moved)
  EXPECT_EQ(m["cache"].device(), dev());
  // Replacing keeps the place; the new tensor is what parameters() and the state dict hold.
  Tensor w2 = on(full({2}, 3.0)).requires_grad_(true);
  m.replace_parameter("w", w2);
  EXPECT_TRUE(m.parameters()[0].is_same(w2));
  EXPECT_EQ(keys().front(), "w");
  m.replace_buffer("cache", on(ones({4})));
  EXPECT_EQ(keys().size(), 5u);  // still not persistent
  auto fc2 = std::make_shared<nn::Linear>(2, 5);
  m.replace_module("fc", fc2);
  EXPECT_EQ(m.named_children()[0].second.get(), fc2.get());
  EXPECT_THROW(m.replace_parameter("nope", w2), ValueError);
  EXPECT_THROW(m.replace_buffer("w", w2), ValueError);
  EXPECT_THROW(m.replace_module("w", fc2), ValueError);
  // One name, one kind.
  EXPECT_THROW(m.register_buffer("w", ones({1})), ValueError);
  EXPECT_THROW(m.register_module("count", fc2), ValueError);
  try {
    m.register_parameter("fc", ones({1}));
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("'fc' is already registered as a submodule"), std::string::npos) << e.what();
  }
  // Removal, then the name is free again.
  EXPECT_TRUE(m.unregister("cache"));
  EXPECT_FALSE(m.unregister("cache"));
  m.register_buffer("cache", zeros({1}));  // persistent this time
  EXPECT_EQ(keys(), (std::vector<std::string>{"w", "count", "late", "cache", "fc.weight", "fc.bias"}));
  m.unregister_module("fc");
  EXPECT_TRUE(m.named_children().empty());
  EXPECT_THROW(m.unregister_module("fc"), ValueError);
  EXPECT_TRUE(m.unregister("w"));
  EXPECT_TRUE(m.parameters().empty());
}

TEST_P(Module, TrainEvalToDtypeZeroGrad) {
  nn::Sequential net(nn::Linear(4, 4), nn::Dropout(0.5), nn::BatchNorm1d(4));
  auto lin = std::dynamic_pointer_cast<nn::Linear>(net.at(0));
  Tensor handle = lin->weight;
  net.to(dev());
  EXPECT_EQ(handle.device(), dev());  // handles follow the move
  for (auto& [n, t] : net.state_dict()) EXPECT_EQ(t.device(), dev()) << n;  // buffers too
  Tensor x = randn({8, 4}, f32());
  net.eval();
  EXPECT_FALSE(net.at(1)->is_training());
  EXPECT_TRUE(ops::equal(net(x), net(x)));  // no dropout, running stats: deterministic
  net.train();
  Tensor y = net(x);
  y.sum().backward();
  EXPECT_TRUE(net.parameters()[0].grad().defined());
  net.zero_grad();
  EXPECT_FALSE(net.parameters()[0].grad().defined());
  net.to(DType::Float64);
  EXPECT_EQ(handle.dtype(), DType::Float64);  // handles follow
  EXPECT_EQ(handle.device(), dev());
  EXPECT_TRUE(handle.requires_grad());
  EXPECT_EQ(net(randn({2, 4}, f64())).dtype(), DType::Float64);
  auto bn = std::dynamic_pointer_cast<nn::BatchNorm1d>(net.at(2));
  EXPECT_EQ(bn->num_batches_tracked.dtype(), DType::Int64);  // integer buffers keep their dtype
}

TEST_P(Layers, MatchTheirFunctionalDefinitions) {
  manual_seed(1);
  nn::Linear lin(5, 3);
  lin.to(dev());
  Tensor x = randn({2, 5}, f32());
  EXPECT_TRUE(ops::allclose(lin(x), ops::matmul(x, lin.weight.t()) + lin.bias, 1e-5, 1e-6));
  double bound = 1 / std::sqrt(5.0);  // PyTorch's default init bound
  EXPECT_LE(lin.weight.abs().max().item<double>(), bound);
  nn::Conv2d conv(2, 4, {3, 1}, {.stride = {2, 1}, .padding = {1, 0}, .bias = false});
  conv.to(dev());
  EXPECT_FALSE(conv.bias.defined());
  EXPECT_EQ(conv(randn({1, 2, 7, 5}, f32())).shape(), (Shape{1, 4, 4, 5}));
  nn::Embedding emb(10, 3, 0);
  emb.to(dev());
  EXPECT_EQ(emb.weight.select(0, 0).abs().sum().item<double>(), 0);
  Tensor e = emb(on(tensor({0, 2, 0})));
  e.sum().backward();
  EXPECT_EQ(emb.weight.grad().select(0, 0).abs().sum().item<double>(), 0);  // padding row: no gradient
  EXPECT_EQ(emb.weight.grad().select(0, 2).sum().item<double>(), 3);
  nn::LeakyReLU lr(0.1);
  EXPECT_EQ(lr(on(tensor({-2., 3.}))).to_vector(), (std::vector<double>{-0.2f, 3}));
  nn::ELU elu;
  EXPECT_NEAR(elu(on(tensor({-1.}))).item<double>(), std::exp(-1.0) - 1, 1e-6);
  nn::Bilinear bil(3, 2, 4);
  bil.to(dev());
  Tensor a = randn({5, 3}, f32()), b = randn({5, 2}, f32());
  Tensor want = ops::matmul(ops::matmul(a.unsqueeze(1).unsqueeze(1), bil.weight), b.unsqueeze(1).unsqueeze(-1)).view({5, 4}) + bil.bias;
  EXPECT_TRUE(ops::allclose(bil.forward(a, b), want, 1e-5, 1e-5));
  nn::ConvTranspose2d ct(3, 2, 3, {.stride = 2, .padding = 1, .output_padding = 1});
  ct.to(dev());
  EXPECT_EQ(ct(randn({1, 3, 4, 4}, f32())).shape(), (Shape{1, 2, 8, 8}));
  nn::GroupNorm gn(2, 4);
  nn::LayerNorm ln({4});
  gn.to(dev());
  ln.to(dev());
  nn::AdaptiveAvgPool2d ap(1);
  EXPECT_EQ(ap(randn({2, 4, 5, 5}, f32())).shape(), (Shape{2, 4, 1, 1}));
  EXPECT_EQ(gn(randn({2, 4, 3}, f32())).shape(), (Shape{2, 4, 3}));
  EXPECT_EQ(ln(randn({2, 4}, f32())).shape(), (Shape{2, 4}));
  EXPECT_THROW(nn::Conv2d(3, 4, 3, {.groups = 2}), ValueError);
  nn::BatchNorm2d bn3(3);
  bn3.to(dev());
  EXPECT_THROW(bn3(randn({2, 4, 5, 5}, f32())), ShapeError);
  EXPECT_THROW(lin(randn({2, 5}, {DType::Float32, dev().is_cpu() ? Device::cuda(0) : Device::cpu()})), DeviceError);
}

// The activations, 1-D pools, Unflatten, Upsample and PReLU against values worked out by hand, and
// the loss modules against the functions they wrap (their class weights are buffers).
TEST_P(Layers, ActivationsPoolsAndLossModules) {
  Tensor x = on(tensor({-4.0, -1.0, 0.0, 1.0, 4.0}));
  auto values = [](const Tensor& t) { return t.to_vector(); };
  auto near = [](const std::vector<double>& a, const std::vector<double>& b) {
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-6) << i;
  };
  near(values(nn::Hardtanh()(x)), {-1, -1, 0, 1, 1});
  near(values(nn::ReLU6()(x * 2.0)), {0, 0, 0, 2, 6});
  near(values(nn::Hardsigmoid()(x)), {0, 2.0 / 6, 0.5, 4.0 / 6, 1});
  near(values(nn::Hardswish()(x)), {0, -2.0 / 6, 0, 4.0 / 6, 4});
  std::vector<double> mish;
  for (double v : {-4.0, -1.0, 0.0, 1.0, 4.0}) mish.push_back(v * std::tanh(std::log1p(std::exp(v))));
  near(values(nn::Mish()(x)), mish);
  near(values(nn::Softplus(2.0, 3.0)(x)), {std::log1p(std::exp(-8.0)) / 2, std::log1p(std::exp(-2.0)) / 2,
                                          std::log(2.0) / 2, std::log1p(std::exp(2.0)) / 2, 4});  // linear above 3
  Tensor y = x.clone();
  nn::Hardtanh(-0.5, 0.5, /*inplace=*/true)(y);
  near(values(y), {-0.5, -0.5, 0, 0.5, 0.5});
  EXPECT_THROW(nn::Hardtanh(1, -1), ValueError);
  EXPECT_EQ(nn::ReLU6().str().substr(0, 7), "ReLU6()");
  // PReLU: one slope per channel, learned.
  nn::PReLU prelu(2, 0.5);
  prelu.to(dev());
  Tensor img = on(tensor({-2.0, 2.0, -2.0, 2.0})).view({1, 2, 2, 1});
  prelu.weight.detach().select(0, 1).fill_(0.25);
  Tensor out = prelu(img);
  near(values(out), {-1, 2, -0.5, 2});
  out.sum().backward();
  near(values(prelu.weight.grad()), {-2, -2});
  EXPECT_THROW(nn::PReLU(3)(img), ShapeError);
  // 1-D pools over [N, C, L].
  Tensor seq = on(arange(0, 8, 1, f32())).view({1, 1, 8});
  near(values(nn::MaxPool1d(3, 2, 1)(seq)), {1, 3, 5, 7});
  near(values(nn::AvgPool1d(2)(seq)), {0.5, 2.5, 4.5, 6.5});
  near(values(nn::AdaptiveAvgPool1d(2)(seq)), {1.5, 5.5});
  EXPECT_EQ(nn::AvgPool1d(2).extra_repr(), "kernel_size=(2,), stride=(2,), padding=(0,)");
  EXPECT_THROW(nn::MaxPool1d(2)(seq.view({8})), ShapeError);
  EXPECT_EQ(nn::Unflatten(1, {2, 4})(seq.view({1, 8})).shape(), (Shape{1, 2, 4}));
  Tensor up = nn::Upsample(std::nullopt, std::vector<double>{2})(on(tensor({1.0, 2.0})).view({1, 1, 1, 2}));
  near(values(up), {1, 1, 2, 2, 1, 1, 2, 2});
  EXPECT_THROW(nn::Upsample(Shape{3, 3})(on(zeros({1, 1, 2, 2}))), ValueError);  // not a multiple
  // Loss modules: the functions, with their settings; class weights are buffers.
  Tensor logits = randn({4, 3}, f32()), target = on(tensor({0, 2, 1, 2}));
  Tensor w = on(tensor({1.0f, 2.0f, 0.5f}));
  nn::CrossEntropyLoss ce({.weight = w, .label_smoothing = 0.1});
  EXPECT_TRUE(ops::allclose(ce.forward(logits, target),
                            F::cross_entropy(logits, target, {.weight = w, .label_smoothing = 0.1}), 1e-6, 1e-6));
  EXPECT_EQ(ce.state_dict().size(), 1u);
  EXPECT_EQ(ce.state_dict()[0].first, "weight");
  EXPECT_TRUE(nn::MSELoss().state_dict().empty());
  Tensor a = randn({4, 3}, f32()), b = randn({4, 3}, f32());
  EXPECT_TRUE(ops::allclose(nn::SmoothL1Loss("sum", 0.5).forward(a, b), F::smooth_l1_loss(a, b, "sum", 0.5), 1e-6, 1e-6));
  EXPECT_TRUE(ops::allclose(nn::BCEWithLogitsLoss({}, "mean", w).forward(a, ops::sigmoid(b)),
                            F::binary_cross_entropy_with_logits(a, ops::sigmoid(b), {}, w), 1e-6, 1e-6));
  EXPECT_THROW(nn::L1Loss("average"), ValueError);
}

TEST_P(Layers, MultiheadAttentionMatchesTheFormula) {
  manual_seed(2);
  nn::MultiheadAttention mha(8, 2, 0.0, true, /*batch_first=*/true);
  mha.to(dev());
  Tensor q = randn({2, 3, 8}, f32()), kv = randn({2, 4, 8}, f32());
  auto [out, w] = mha.forward(q, kv, kv);
  EXPECT_EQ(out.shape(), (Shape{2, 3, 8}));
  EXPECT_EQ(w.shape(), (Shape{2, 3, 4}));
  EXPECT_TRUE(ops::allclose(w.sum({-1}), ones({2, 3}, f32()), 1e-5, 1e-6));
  // One head by hand: softmax(q Wq (k Wk)^T / sqrt(d)) v Wv, then the output projection.
  nn::MultiheadAttention one(4, 1, 0.0, false, true);
  one.to(dev());
  Tensor x = randn({1, 2, 4}, f32());
  auto Ws = ops::chunk(one.in_proj_weight, 3, 0);
  Tensor qq = ops::matmul(x, Ws[0].t()), kk = ops::matmul(x, Ws[1].t()), vv = ops::matmul(x, Ws[2].t());
  Tensor att = ops::softmax(ops::matmul(qq, kk.transpose(1, 2)) / 2.0, -1);
  Tensor want = ops::matmul(ops::matmul(att, vv), one.out_proj->weight.t());
  EXPECT_TRUE(ops::allclose(one.forward(x, x, x).first, want, 1e-5, 1e-6));
  Tensor pad = on(tensor({0., 1.})).view({1, 2}) > 0.5;  // ignore the second key
  auto [o2, w2] = one.forward(x, x, x, pad);
  EXPECT_NEAR(w2.index({0, 0, 1}).item<double>(), 0, 1e-7);
}

TEST_P(Init, DistributionsAndOrthogonal) {
  Tensor w = empty({256, 128}, f32());
  nn::init::xavier_uniform_(w);
  double a = std::sqrt(6.0 / (256 + 128));
  EXPECT_LE(w.abs().max().item<double>(), a);
  EXPECT_NEAR(w.var().item<double>(), a * a / 3, a * a / 3 * 0.05);
  nn::init::kaiming_normal_(w, 0, "fan_in", "relu");
  EXPECT_NEAR(w.std().item<double>(), std::sqrt(2.0 / 128), 0.002);
  Tensor q = empty({5, 3}, f64());
  nn::init::orthogonal_(q);
  EXPECT_EQ(q.device(), dev());
  EXPECT_TRUE(ops::allclose(ops::matmul(q.t(), q), eye(3, std::nullopt, f64()), 1e-10, 1e-10));
  Tensor r = empty({3, 6}, f64());
  nn::init::orthogonal_(r, 2.0);
  EXPECT_TRUE(ops::allclose(ops::matmul(r, r.t()), eye(3, std::nullopt, f64()) * 4.0, 1e-10, 1e-10));
  EXPECT_NEAR(nn::init::calculate_gain("tanh"), 5.0 / 3, 1e-12);
  EXPECT_THROW(nn::init::xavier_uniform_(w.select(0, 0)), ShapeError);
}

INSTANTIATE_TEST_SUITE_P(Devices, Module, ::testing::ValuesIn(tessera::testing::test_devices()),
                         tessera::testing::device_param_name);
INSTANTIATE_TEST_SUITE_P(Devices, Layers, ::testing::ValuesIn(tessera::testing::test_devices()),
                         tessera::testing::device_param_name);
INSTANTIATE_TEST_SUITE_P(Devices, Init, ::testing::ValuesIn(tessera::testing::test_devices()),
                         tessera::testing::device_param_name);

// Channels-last tensors through a small CNN (convolutions with and without groups, stride and
// padding, max pools with padding, dropout, ReLU): the same outputs and gradients as the NCHW
// run, and the layout kept from layer to layer.
TEST(ChannelsLast, SameResultsAndGradientsAsContiguous) {
  for (DType dt : {DType::Float32, DType::Float64}) {
    manual_seed(11);
    nn::Sequential net(nn::Conv2d(3, 20, 3, {.padding = 1}), nn::ReLU(), nn::MaxPool2d(2),
                       nn::Conv2d(20, 20, 3, {.stride = 2, .padding = 1, .groups = 4}), nn::ReLU(),
                       nn::MaxPool2d(3, {.stride = 1, .padding = 1}), nn::Conv2d(20, 32, 1));
    net.to(dt);
    Tensor x = randn({3, 3, 12, 10}, {dt});
    auto run = [&](const Tensor& in) {
      net.zero_grad();
      Tensor xi = in.detach().requires_grad_();
      Tensor y = net(xi);
      (y * y).sum().backward();
      std::vector<Tensor> r{y.detach().contiguous(), xi.grad().contiguous()};
      for (auto& p : net.parameters()) r.push_back(p.grad().clone());
      return std::make_pair(r, y.suggest_memory_format());
    };
    auto [a, fa] = run(x);
    auto [b, fb] = run(x.contiguous(MemoryFormat::ChannelsLast));
    EXPECT_EQ(fa, MemoryFormat::Contiguous);
    // float32 keeps the layout through every layer (the CPU's kernels take it); float64 runs the
    // same math on NCHW copies.
    if (dt == DType::Float32) {
      EXPECT_EQ(fb, MemoryFormat::ChannelsLast);
    }
    double tol = dt == DType::Float32 ? 1e-4 : 1e-10;
    for (size_t k = 0; k < a.size(); ++k)
      EXPECT_TRUE(ops::allclose(a[k], b[k], tol, tol)) << dtype_name(dt) << " tensor " << k << " max diff "
                                                      << (a[k] - b[k]).abs().max().item<double>();
  }
  // Layout queries and conversions.
  Tensor x = randn({2, 3, 4, 5});
  Tensor c = x.contiguous(MemoryFormat::ChannelsLast);
  EXPECT_EQ(c.strides(), (Shape{60, 1, 15, 3}));
  EXPECT_TRUE(c.is_contiguous(MemoryFormat::ChannelsLast));
  EXPECT_FALSE(c.is_contiguous());
  EXPECT_TRUE(ops::equal(c, x));
  EXPECT_EQ(ops::relu(c).suggest_memory_format(), MemoryFormat::ChannelsLast);
  EXPECT_EQ((c + randn({1, 3, 1, 1})).suggest_memory_format(), MemoryFormat::ChannelsLast);
  EXPECT_EQ(randn({2, 1, 4, 5}).contiguous(MemoryFormat::ChannelsLast).suggest_memory_format(),
            MemoryFormat::Contiguous);  // one channel: both layouts at once
  EXPECT_THROW(randn({2, 3}).contiguous(MemoryFormat::ChannelsLast), ShapeError);
}

// Forward hooks (torch.nn.Module's): a pre-hook may replace the input, a hook the output; they
// run when a module is called, the containers' and the zoo's calls of their children included,
// and their handles remove them (also from inside a hook, and after the module is gone).
TEST(ForwardHooks, ReplaceInputsAndOutputsInsideContainers) {
  auto net = std::make_shared<nn::Sequential>(nn::Linear(3, 4), nn::ReLU(), nn::Linear(4, 2));
  auto first = net->named_children()[0].second, last = net->named_children()[2].second;
  std::vector<std::string> order;
  Tensor x = randn({5, 3});
  Tensor plain = net->forward(x);
  nn::HookHandle seen = first->register_forward_hook([&](nn::Module& m, const Tensor& in, const Tensor& out) {
    order.push_back(m.type_name() + " " + detail::str(in.shape()) + " -> " + detail::str(out.shape()));
    return std::optional<Tensor>{};
  });
  nn::HookHandle zero_in = last->register_forward_pre_hook([&](nn::Module&, const Tensor& in) {
    order.push_back("pre");
    return std::optional<Tensor>(in * 0.0);
  });
  Tensor y = (*net)(x);
  EXPECT_EQ(order, (std::vector<std::string>{"Linear [5, 3] -> [5, 4]", "pre"}));
  EXPECT_TRUE(ops::allclose(y, (*last)[std::string("bias")].unsqueeze(0).expand({5, 2}), 1e-6, 1e-6));  // the bias alone
  zero_in.remove();
  zero_in.remove();  // (twice is harmless)
  EXPECT_TRUE(ops::allclose((*net)(x), plain, 1e-6, 1e-6));
  // A hook that replaces the output, and one that removes itself while running.
  nn::HookHandle doubler = net->register_forward_hook([](nn::Module&, const Tensor&, const Tensor& out) {
    return std::optional<Tensor>(out * 2.0);
  });
  nn::HookHandle once;
  int calls = 0;
  once = first->register_forward_hook([&](nn::Module&, const Tensor&, const Tensor&) {
    ++calls;
    once.remove();
    return std::optional<Tensor>{};
  });
  EXPECT_TRUE(ops::allclose((*net)(x), plain * 2.0, 1e-6, 1e-6));
  (*net)(x);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(net->forward(x).shape(), plain.shape());  // forward itself runs no hooks
  doubler.remove();
  seen.remove();
  // Inside a zoo model: every convolution of a ResNet block is called through its hooks.
  auto resnet = zoo::resnet18(10);
  int convs = 0;
  std::function<void(nn::Module&)> walk = [&](nn::Module& m) {
    for (auto& [name, c] : m.named_children()) {
      if (c->type_name() == "Conv2d")
        c->register_forward_hook([&convs](nn::Module&, const Tensor&, const Tensor&) {
          ++convs;
          return std::optional<Tensor>{};
        });
      walk(*c);
    }
  };
  walk(*resnet);
  resnet->eval();
  (*resnet)(randn({1, 3, 32, 32}));
  EXPECT_EQ(convs, 20);
  nn::HookHandle orphan;
  {
    nn::Linear gone(2, 2);
    orphan = gone.register_forward_hook([](nn::Module&, const Tensor&, const Tensor&) { return std::optional<Tensor>{}; });
  }
  orphan.remove();  // the module is gone: nothing to do
  EXPECT_THROW(first->register_forward_hook(nullptr), ValueError);
}
