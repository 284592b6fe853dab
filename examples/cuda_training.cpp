// examples/cuda_training.cpp: the same training code on a GPU when one answers, else the CPU.
#include <iostream>

#include "tessera/data/loader.h"
#include "tessera/tessera.h"
#include "tessera/train/trainer.h"

int main() {
  using namespace tessera;
  Device device = cuda::is_available() ? Device::cuda(0) : Device::cpu();
  manual_seed(0);
  // Two Gaussian blobs; the loader builds batches on worker threads, in pinned memory for a GPU.
  Tensor y = randint(0, 2, {1024}, {DType::Int64});
  Tensor x = randn({1024, 2}) + y.unsqueeze(1).to(DType::Float32) * 3.0;
  data::DataLoader loader(std::make_shared<data::TensorDataset>(x, y),
                          {.batch_size = 64, .shuffle = true, .pin_memory = true});
  nn::Sequential net(nn::Linear(2, 32), nn::ReLU(), nn::Linear(32, 2));
  net.to(device);  // parameters and buffers move; fit moves each batch to the model's device
  optim::Adam opt(net.parameters(), {.lr = 0.01});
  train::History h = train::fit(net, loader, {.epochs = 3, .optimizer = &opt});
  std::cout << "trained on " << device << ": accuracy " << h.epochs.back().at("accuracy") << "\n";
  Tensor probe = tensor({{0., 0.}, {3., 3.}}).to(device);
  std::cout << ops::softmax(net(probe), 1).argmax(1).cpu() << "\n";  // cpu() waits for the GPU
  return h.epochs.back().at("accuracy") > 0.9 ? 0 : 1;
}
