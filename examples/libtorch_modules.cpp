// examples/libtorch_modules.cpp: a model written the LibTorch way (Impl classes, holders,
// option builders, register_module), ported by renaming torch to tessera.
#include <tessera/torch.h>

#include <cstdio>

namespace nn = tessera::nn;

// Reads a sequence and says whether its values sum to more than zero.
struct SequenceClassifierImpl : nn::Module {
  SequenceClassifierImpl(int64_t hidden) {
    lstm = register_module("lstm", nn::LSTM(nn::LSTMOptions(1, hidden).num_layers(2).batch_first(true)));
    head = register_module("head", nn::Sequential(nn::Linear(hidden, 16), nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.1)),
                                                  nn::Dropout(nn::DropoutOptions(0.1)), nn::Linear(16, 2)));
  }
  tessera::Tensor forward(tessera::Tensor x) {  // x [N, L, 1]
    tessera::Tensor out = lstm->forward(x);    // [N, L, hidden]
    return head->forward(out.select(1, -1));    // the last step
  }
  nn::LSTM lstm{nullptr};
  nn::Sequential head{nullptr};
};
TESSERA_MODULE(SequenceClassifier);

int main() {
  tessera::manual_seed(0);
  SequenceClassifier model(32);
  tessera::optim::Adam optimizer(model->parameters(), tessera::optim::AdamOptions(1e-2));
  auto batch = [] {
    tessera::Tensor x = tessera::randn({64, 12, 1});
    return std::make_pair(x, (x.sum({1, 2}) > 0.0).to(tessera::kInt64));
  };
  for (int step = 1; step <= 150; ++step) {
    auto [x, y] = batch();
    optimizer.zero_grad();
    tessera::Tensor loss = tessera::cross_entropy_loss(model(x), y);
    loss.backward();
    optimizer.step();
    if (step % 50 == 0) std::printf("step %d: loss %.4f\n", step, loss.item<double>());
  }
  model->eval();
  tessera::NoGradGuard no_grad;
  auto [x, y] = batch();
  double accuracy = model(x).argmax(1).eq(y).to(tessera::kFloat32).mean().item<double>();
  std::printf("accuracy on new sequences: %.3f\n", accuracy);
  tessera::save(model, "sequence_classifier.safetensors");  // torch::save(model, "...")
  SequenceClassifier copy(32);
  tessera::load(copy, "sequence_classifier.safetensors");
  std::remove("sequence_classifier.safetensors");
  copy->eval();
  bool same = tessera::equal(copy(x), model(x));
  std::printf("%s\n", model->str().c_str());
  return accuracy > 0.85 && same ? 0 : 1;
}
