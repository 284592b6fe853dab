// LibTorch's module holders and option builders (tessera/torch.h): programs written the way
// LibTorch's examples are, with torch:: spelled tessera::.
#include "tessera/torch.h"  // first: nn::Linear etc. are holders in this file

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <tuple>
#include <string>

#include "../temp_dir.h"

namespace nn = tessera::nn;
using tessera::Tensor;

namespace {

// The generator of LibTorch's DCGAN example (pytorch/examples, cpp/dcgan), member for member.
struct DCGANGeneratorImpl : nn::Module {
  DCGANGeneratorImpl(int kNoiseSize)
      : conv1(nn::ConvTranspose2dOptions(kNoiseSize, 256, 4).bias(false)),  // (in declaration order)
        conv2(nn::ConvTranspose2dOptions(256, 128, 3).stride(2).padding(1).bias(false)),
        conv3(nn::ConvTranspose2dOptions(128, 64, 4).stride(2).padding(1).bias(false)),
        conv4(nn::ConvTranspose2dOptions(64, 1, 4).stride(2).padding(1).bias(false)),
        batch_norm1(256),
        batch_norm2(128),
        batch_norm3(64) {
    register_module("conv1", conv1);
    register_module("conv2", conv2);
    register_module("conv3", conv3);
    register_module("conv4", conv4);
    register_module("batch_norm1", batch_norm1);
    register_module("batch_norm2", batch_norm2);
    register_module("batch_norm3", batch_norm3);
  }
  Tensor forward(Tensor x) {  // by value, as LibTorch's examples write it
    x = tessera::relu(batch_norm1(conv1(x)));
    x = tessera::relu(batch_norm2(conv2(x)));
    x = tessera::relu(batch_norm3(conv3(x)));
    x = tessera::tanh(conv4(x));
    return x;
  }
  nn::ConvTranspose2d conv1, conv2, conv3, conv4;
  nn::BatchNorm2d batch_norm1, batch_norm2, batch_norm3;
};
TESSERA_MODULE(DCGANGenerator);

// The discriminator of the same example.
nn::Sequential dcgan_discriminator() {
  return nn::Sequential(
      nn::Conv2d(nn::Conv2dOptions(1, 64, 4).stride(2).padding(1).bias(false)),
      nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2)),
      nn::Conv2d(nn::Conv2dOptions(64, 128, 4).stride(2).padding(1).bias(false)), nn::BatchNorm2d(128),
      nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2)),
      nn::Conv2d(nn::Conv2dOptions(128, 256, 4).stride(2).padding(1).bias(false)), nn::BatchNorm2d(256),
      nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2)),
      nn::Conv2d(nn::Conv2dOptions(256, 1, 3).stride(1).padding(0).bias(false)), nn::Sigmoid());
}

// Members declared empty and assigned from register_module, the other LibTorch idiom.
struct TwoLayerImpl : nn::Module {
  TwoLayerImpl(int64_t in, int64_t hidden, int64_t out) {
    fc1 = register_module("fc1", nn::Linear(in, hidden));
    fc2 = register_module("fc2", nn::Linear(nn::LinearOptions(hidden, out).bias(false)));
  }
  Tensor forward(const Tensor& x) override { return fc2(tessera::relu(fc1(x))); }
  nn::Linear fc1{nullptr}, fc2{nullptr};
};
TESSERA_MODULE(TwoLayer);

double max_diff(const Tensor& a, const Tensor& b) { return (a - b).abs().max().item<double>(); }

}  // namespace

TEST(Holder, DcganOfLibTorchsExampleBuildsTrainsAndNamesItsParameters) {
  tessera::manual_seed(0);
  const int kNoiseSize = 100, kBatch = 8;
  DCGANGenerator generator(kNoiseSize);
  nn::Sequential discriminator = dcgan_discriminator();
  EXPECT_EQ(generator->type_name(), "DCGANGeneratorImpl");  // as LibTorch prints it
  EXPECT_EQ(generator->str().rfind("DCGANGeneratorImpl(\n  (conv1): ConvTranspose2d(100, 256", 0), 0u) << generator->str();
  std::vector<std::string> names;
  for (auto& [name, p] : generator->named_parameters()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"conv1.weight", "conv2.weight", "conv3.weight", "conv4.weight",
                                             "batch_norm1.weight", "batch_norm1.bias", "batch_norm2.weight",
                                             "batch_norm2.bias", "batch_norm3.weight", "batch_norm3.bias"}));
  EXPECT_EQ(discriminator->named_parameters().size(), 8u);
  tessera::optim::Adam generator_optimizer(generator->parameters(),
                                           tessera::optim::AdamOptions(2e-4).betas(std::make_tuple(0.5, 0.5)));
  tessera::optim::Adam discriminator_optimizer(discriminator->parameters(),
                                               tessera::optim::AdamOptions(5e-4).betas(std::make_tuple(0.5, 0.5)));
  Tensor real_images = tessera::rand({kBatch, 1, 28, 28}) * 2.0 - 1.0;
  for (int step = 0; step < 3; ++step) {  // the example's training step
    discriminator->zero_grad();
    Tensor real_labels = tessera::empty({kBatch}).uniform_(0.8, 1.0);
    Tensor real_output = discriminator->forward(real_images).reshape({kBatch});
    Tensor d_loss_real = tessera::binary_cross_entropy(real_output, real_labels);
    d_loss_real.backward();
    Tensor noise = tessera::randn({kBatch, kNoiseSize, 1, 1});
    Tensor fake_images = generator->forward(noise);
    EXPECT_EQ(fake_images.sizes(), (tessera::Shape{kBatch, 1, 28, 28}));
    Tensor fake_labels = tessera::zeros({kBatch});
    Tensor fake_output = discriminator->forward(fake_images.detach()).reshape({kBatch});
    Tensor d_loss_fake = tessera::binary_cross_entropy(fake_output, fake_labels);
    d_loss_fake.backward();
    discriminator_optimizer.step();
    generator->zero_grad();
    fake_labels.fill_(1);
    fake_output = discriminator->forward(fake_images).reshape({kBatch});
    Tensor g_loss = tessera::binary_cross_entropy(fake_output, fake_labels);
    g_loss.backward();
    generator_optimizer.step();
    EXPECT_TRUE(std::isfinite((d_loss_real + d_loss_fake).item<double>()) && std::isfinite(g_loss.item<double>()));
    for (auto& p : generator->parameters()) EXPECT_TRUE(p.grad().defined());
  }
  // Called through the holder, the module (with its hooks) and a container alike.
  generator->eval();
  Tensor noise = tessera::randn({2, kNoiseSize, 1, 1});
  Tensor direct = generator->forward(noise);
  EXPECT_LE(direct.abs().max().item<double>(), 1.0);
  EXPECT_EQ(max_diff(generator(noise), direct), 0.0);
  EXPECT_EQ(max_diff((*generator)(noise), direct), 0.0);  // Module::operator() reaches the by-value forward
  nn::Sequential seq(generator, nn::Functional(tessera::exp));
  EXPECT_LT(max_diff(seq->forward(noise), direct.exp()), 1e-6);
  int calls = 0;
  auto handle = generator->register_forward_hook([&](nn::Module&, const Tensor&, const Tensor&) -> std::optional<Tensor> {
    ++calls;
    return std::nullopt;
  });
  generator(noise);
  seq(noise);
  EXPECT_EQ(calls, 2);
  handle.remove();
}

TEST(Holder, EmptyHolderIsAClearErrorAndAssignmentShares) {
  nn::Linear fc{nullptr};
  EXPECT_TRUE(fc.is_empty());
  EXPECT_FALSE(static_cast<bool>(fc));
  try {
    fc->forward(tessera::ones({1, 2}));
    FAIL() << "an empty holder was used";
  } catch (const tessera::Error& e) {
    EXPECT_NE(std::string(e.what()).find("module holder tessera::nn::Linear is empty"), std::string::npos) << e.what();
  }
  EXPECT_THROW(fc(tessera::ones({1, 2})), tessera::Error);
  TwoLayer net(3, 8, 2);
  EXPECT_EQ(net->fc2->bias.defined(), false);
  fc = net->fc1;  // holders share their module, as shared pointers do
  tessera::NoGradGuard no_grad;
  fc->weight.fill_(0.25);
  EXPECT_EQ(net->fc1->weight.max().item<double>(), 0.25);
  EXPECT_EQ(net(tessera::ones({4, 3})).sizes(), (tessera::Shape{4, 2}));
  std::shared_ptr<nn::Module> as_pointer = net;  // where tessera's API takes a module pointer
  EXPECT_EQ(as_pointer->named_children().size(), 2u);
  nn::Sequential seq;
  seq->push_back(nn::Linear(3, 4));
  seq->push_back(nn::ReLU(nn::ReLUOptions().inplace(true)));
  seq->push_back(std::make_shared<nn::LinearImpl>(4, 1));
  EXPECT_EQ(seq->size(), 3u);
  EXPECT_EQ(seq(tessera::ones({2, 3})).sizes(), (tessera::Shape{2, 1}));
}

TEST(Holder, OptionBuildersBuildWhatTheAggregatesBuild) {
  tessera::manual_seed(1);
  nn::Conv2d built(nn::Conv2dOptions(3, 8, 3).stride(2).padding(1).bias(false));
  nn::Conv2dImpl same(3, 8, 3, {.stride = 2, .padding = 1, .bias = false});
  same.weight = built->weight;
  Tensor img = tessera::randn({2, 3, 9, 9});
  EXPECT_EQ(max_diff(built(img), same.forward(img)), 0.0);
  EXPECT_FALSE(built->bias.defined());
  nn::ConvTranspose2d up(nn::ConvTranspose2dOptions(8, 4, 4).stride(2).padding(1).output_padding(0));
  EXPECT_EQ(up(built(img)).sizes(), (tessera::Shape{2, 4, 10, 10}));
  nn::BatchNorm2d bn(nn::BatchNorm2dOptions(8).momentum(0.5).eps(1e-3));
  EXPECT_EQ(bn->options.momentum, 0.5);
  EXPECT_EQ(bn->options.eps, 1e-3);
  nn::MaxPool2d pool(nn::MaxPool2dOptions(3).stride(2).padding(1));
  EXPECT_EQ(pool(img).sizes(), (tessera::Shape{2, 3, 5, 5}));
  nn::AvgPool2d avg(nn::AvgPool2dOptions({2, 3}));
  EXPECT_EQ(avg(img).sizes(), (tessera::Shape{2, 3, 4, 3}));
  nn::LSTM lstm(nn::LSTMOptions(4, 6).num_layers(2).batch_first(true).bidirectional(true));
  EXPECT_EQ(lstm->named_parameters().size(), 16u);
  EXPECT_EQ(lstm(tessera::randn({5, 7, 4})).sizes(), (tessera::Shape{5, 7, 12}));
  nn::RNN relu_rnn(nn::RNNOptions(4, 6).nonlinearity("relu"));
  EXPECT_EQ(relu_rnn->extra_repr().find("relu") != std::string::npos, true) << relu_rnn->extra_repr();
  nn::Embedding emb(nn::EmbeddingOptions(10, 3).padding_idx(0));
  EXPECT_EQ(emb->weight.select(0, 0).abs().sum().item<double>(), 0.0);
  nn::LayerNorm norm(nn::LayerNormOptions({3}).eps(1e-6).elementwise_affine(false));
  EXPECT_FALSE(norm->weight.defined());
  nn::Dropout drop(nn::DropoutOptions(0.3));
  EXPECT_EQ(drop->p, 0.3);
  nn::LeakyReLU leaky(nn::LeakyReLUOptions().negative_slope(0.2));
  Tensor v = tessera::tensor({-1.0, 2.0});
  EXPECT_LT(max_diff(leaky(v), tessera::tensor({-0.2, 2.0})), 1e-7);
  nn::Functional f(tessera::leaky_relu, 0.2);
  EXPECT_LT(max_diff(f(v), leaky(v)), 1e-7);
  EXPECT_LT(max_diff(tessera::max_pool2d(img, 3, 2, 1), pool(img)), 1e-7);
  EXPECT_LT(max_diff(tessera::avg_pool2d(img, {2, 3}), avg(img)), 1e-7);
}

TEST(Holder, SaveLoadAndToTakeHolders) {
  std::string path = (tessera::testing::fresh_dir("holder_save") / "net.pt").string();
  tessera::manual_seed(2);
  TwoLayer a(3, 5, 2), b(3, 5, 2);
  tessera::save(a, path);
  tessera::load(b, path);
  Tensor x = tessera::randn({4, 3});
  EXPECT_EQ(max_diff(a(x), b(x)), 0.0);
  b->to(tessera::kFloat64);
  EXPECT_EQ(b->fc1->weight.dtype(), tessera::kFloat64);
  EXPECT_LT(max_diff(b(x.to(tessera::kFloat64)).to(tessera::kFloat32), a(x)), 1e-6);
}

TEST(Holder, LibTorchsNamespaceFunctionsAndTensorMethods) {
  tessera::manual_seed(3);
  Tensor x = tessera::randn({4, 5});
  EXPECT_LT(max_diff(x.sum(1), x.sum(tessera::Shape{1})), 1e-6);
  EXPECT_EQ(x.mean(0, /*keepdim=*/true).sizes(), (tessera::Shape{1, 5}));
  Tensor y = x.clone();
  y.select(0, 0).fill_(100);
  EXPECT_EQ(x.eq(y).sum().item<int64_t>(), 15);
  EXPECT_EQ(x.ne(y).sum().item<int64_t>(), 5);
  EXPECT_EQ(x.lt(y).sum().item<int64_t>(), 5);
  EXPECT_EQ(x.le(y).sum().item<int64_t>(), 20);
  EXPECT_EQ(y.gt(50.0).sum().item<int64_t>(), 5);
  EXPECT_EQ(y.ge(100.0).sum().item<int64_t>(), 5);
  Tensor u = tessera::empty({10000}).uniform_(0.8, 1.0);
  EXPECT_GE(u.min().item<double>(), 0.8);
  EXPECT_LE(u.max().item<double>(), 1.0);
  EXPECT_NEAR(u.mean().item<double>(), 0.9, 0.005);
  Tensor g = tessera::empty({10000}, tessera::kFloat64).normal_(2.0, 0.5);
  EXPECT_NEAR(g.mean().item<double>(), 2.0, 0.03);
  EXPECT_NEAR(g.std().item<double>(), 0.5, 0.03);
  EXPECT_THROW(tessera::zeros({2}, tessera::kInt64).uniform_(), tessera::DTypeError);
  // The losses with LibTorch's signatures give what nn::functional's do.
  namespace F = tessera::nn::functional;
  Tensor logp = tessera::log_softmax(x, 1), target = tessera::tensor({0, 4, 2, 2}, tessera::kInt64);
  EXPECT_LT(max_diff(tessera::nll_loss(logp, target, {}, tessera::Reduction::Sum), F::nll_loss(logp, target, {}, -100, "sum")), 1e-6);
  EXPECT_LT(max_diff(tessera::nll_loss(logp, target, {}, tessera::Reduction::Mean, /*ignore_index=*/2),
                     F::nll_loss(logp, target, {}, 2, "mean")), 1e-6);
  EXPECT_LT(max_diff(tessera::cross_entropy_loss(x, target), F::cross_entropy(x, target)), 1e-6);
  EXPECT_EQ(tessera::mse_loss(x, y, tessera::Reduction::None).sizes(), (tessera::Shape{4, 5}));
  EXPECT_LT(max_diff(tessera::l1_loss(x, y), F::l1_loss(x, y)), 1e-5);
  Tensor p = tessera::sigmoid(x), t = tessera::rand({4, 5});
  EXPECT_LT(max_diff(tessera::binary_cross_entropy(p, t), tessera::binary_cross_entropy_with_logits(x, t)), 1e-5);
}

TEST(Holder, LibTorchsIndexingSpellings) {
  using namespace tessera::indexing;
  Tensor x = tessera::arange(0, 24, 1, tessera::kInt64).reshape({2, 3, 4});
  EXPECT_EQ(x.index({Slice(), 0}).tolist<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3, 12, 13, 14, 15}));
  EXPECT_EQ(x.index({1, Slice(1, None), 3}).tolist<int64_t>(), (std::vector<int64_t>{19, 23}));
  EXPECT_EQ(x.index({0, 0, Slice(None, None, 2)}).tolist<int64_t>(), (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(x.index({"...", 1}).sizes(), (tessera::Shape{2, 3}));
  EXPECT_EQ(x.index({Ellipsis, None}).sizes(), (tessera::Shape{2, 3, 4, 1}));
  EXPECT_THROW(x.index({"..", 1}), tessera::ValueError);
}

// The loss modules and the activations that were Python-only are LibTorch holders too.
TEST(Holder, LossModulesAndMoreLayers) {
  tessera::manual_seed(3);
  nn::Sequential net(nn::Linear(4, 8), nn::Hardswish(), nn::PReLU(), nn::Linear(8, 3));
  nn::CrossEntropyLoss criterion;
  nn::MSELoss mse(/*reduction=*/"sum");
  tessera::Tensor x = tessera::randn({5, 4}), y = tessera::tensor({0, 1, 2, 1, 0});
  tessera::Tensor loss = criterion(net->forward(x), y);
  EXPECT_NEAR(loss.item<double>(), nn::functional::cross_entropy(net->forward(x), y).item<double>(), 1e-6);
  loss.backward();
  EXPECT_TRUE(net->parameters()[2].grad().defined());  // the PReLU slope
  EXPECT_EQ(mse(x, x * 0.0).item<double>(), (x * x).sum().item<double>());
  EXPECT_EQ(criterion->reduction, "mean");
}

// LibTorch's transformer and attention builders.
TEST(Holder, TransformerAndAttentionBuilders) {
  tessera::manual_seed(4);
  nn::TransformerEncoderLayer layer(nn::TransformerEncoderLayerOptions(16, 4).dim_feedforward(32).dropout(0.0));
  nn::TransformerEncoder encoder(nn::TransformerEncoderOptions(layer, 2).norm(nn::LayerNorm(nn::LayerNormOptions({16}))));
  Tensor x = tessera::randn({5, 3, 16});
  EXPECT_EQ(encoder->forward(x).sizes(), (tessera::Shape{5, 3, 16}));
  EXPECT_EQ(encoder->layers.size(), 2u);
  EXPECT_TRUE(encoder->norm != nullptr);
  EXPECT_EQ(layer->options.dim_feedforward, 32);
  nn::TransformerEncoder plain(layer, 3);  // (layer, num_layers), as LibTorch's constructor
  EXPECT_EQ(plain->layers.size(), 3u);
  nn::TransformerEncoderLayerImpl same(16, 4, {.dim_feedforward = 32, .dropout = 0.0});
  EXPECT_EQ(same.named_parameters().size(), layer->named_parameters().size());
  EXPECT_THROW(nn::TransformerEncoder(nn::TransformerEncoderLayer{nullptr}, 2), tessera::Error);
  nn::TransformerDecoder decoder(nn::TransformerDecoderOptions(nn::TransformerDecoderLayerOptions(16, 4), 1));
  EXPECT_EQ(decoder->forward(x, x).sizes(), (tessera::Shape{5, 3, 16}));
  nn::Transformer model(nn::TransformerOptions(16, 4, 1, 1).dim_feedforward(32).batch_first(true));
  Tensor src = tessera::randn({2, 7, 16}), tgt = tessera::randn({2, 5, 16});
  EXPECT_EQ(model->forward(src, tgt).sizes(), (tessera::Shape{2, 5, 16}));
  nn::MultiheadAttention mha(nn::MultiheadAttentionOptions(16, 4).batch_first(true).bias(false));
  auto [out, weights] = mha->forward(src, src, src);
  EXPECT_EQ(out.sizes(), (tessera::Shape{2, 7, 16}));
  EXPECT_EQ(weights.sizes(), (tessera::Shape{2, 7, 7}));
  EXPECT_FALSE(mha->in_proj_bias.defined());
}
