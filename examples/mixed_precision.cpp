// examples/mixed_precision.cpp: autocast by hand, GradScaler, and fit with mixed precision.
#include <cstdio>

#include "tessera/tessera.h"
#include "tessera/train/trainer.h"

using namespace tessera;

int main() {
  manual_seed(0);
  nn::Sequential net(nn::Conv2d(1, 8, 3, {.padding = 1}), nn::ReLU(), nn::MaxPool2d(2), nn::Flatten(),
                     nn::Linear(8 * 14 * 14, 10));
  optim::SGD opt(net.parameters(), {.lr = 0.05, .momentum = 0.9});
  Tensor x = randn({32, 1, 28, 28}), y = randint(0, 10, {32});

  // By hand: the forward pass and the loss under the guard, backward and step outside it.
  Tensor logits, loss;
  {
    AutocastGuard amp(DeviceType::CPU);  // bfloat16 on the CPU
    logits = net(x);                     // convolution and linear in bfloat16
    loss = nn::functional::cross_entropy(logits, y);  // the loss in float32
  }
  std::printf("logits %s, loss %s\n", std::string(dtype_name(logits.dtype())).c_str(),
              std::string(dtype_name(loss.dtype())).c_str());
  // float16 would lose small gradients: GradScaler scales the loss, unscales, skips bad steps.
  optim::GradScaler scaler;
  opt.zero_grad();
  scaler.scale(loss).backward();
  bool stepped = scaler.step(opt);
  scaler.update();
  std::printf("stepped %d, scale %g, weight grad %s\n", stepped, scaler.get_scale(),
              std::string(dtype_name(net.parameters()[0].grad().dtype())).c_str());

  // The trainer does the same with one option.
  data::DataLoader loader(std::make_shared<data::TensorDataset>(randn({256, 1, 28, 28}), randint(0, 10, {256})),
                          {.batch_size = 32});
  train::History h = train::fit(net, loader, {.epochs = 2, .optimizer = &opt, .mixed_precision = DType::BFloat16});
  std::printf("loss after 2 epochs: %.3f\n", h.epochs.back().at("loss"));
  return logits.dtype() == DType::BFloat16 && loss.dtype() == DType::Float32 && stepped ? 0 : 1;
}
