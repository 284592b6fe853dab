// examples/rosetta_cnn.cpp: the Rosetta CIFAR-10 CNN as a Module, a few SGD steps on random data.
#include <iostream>

#include "tessera/tessera.h"

using namespace tessera;
namespace F = tessera::nn::functional;

struct CifarCNN : nn::Module {
  CifarCNN() : Module("CifarCNN") {
    features = register_module("features", std::make_shared<nn::Sequential>(
        nn::Conv2d(3, 50, 3, {.padding = 1}), nn::ReLU(), nn::Conv2d(50, 50, 3, {.padding = 1}),
        nn::MaxPool2d(2), nn::ReLU(), nn::Dropout(0.25),  // ReLU after the pool: same result, 4x less work
        nn::Conv2d(50, 100, 3, {.padding = 1}), nn::ReLU(), nn::Conv2d(100, 100, 3, {.padding = 1}),
        nn::MaxPool2d(2), nn::ReLU(), nn::Dropout(0.25)));
    classifier = register_module("classifier", std::make_shared<nn::Sequential>(
        nn::Flatten(), nn::Linear(6400, 512), nn::ReLU(), nn::Dropout(0.5), nn::Linear(512, 10)));
    for (auto& [name, p] : named_parameters())  // Glorot-uniform weights, as in the comparison
      if (p.dim() > 1) nn::init::xavier_uniform_(p);
  }
  Tensor forward(const Tensor& x) override { return classifier->forward(features->forward(x)); }
  std::shared_ptr<nn::Sequential> features, classifier;
};

int main() {
  manual_seed(0);
  CifarCNN model;
  std::cout << model << "\n";  // the layer tree and "parameters: 3,441,592 (...)"
  optim::SGD opt(model.parameters(), {.lr = 0.01, .momentum = 0.9});
  Tensor images = rand({16, 3, 32, 32}), labels = randint(0, 10, {16});
  for (int step = 0; step < 3; ++step) {
    Tensor loss = F::cross_entropy(model(images), labels);
    opt.zero_grad();
    loss.backward();
    opt.step();
    std::cout << "step " << step << " loss " << loss.item<float>() << "\n";
  }
  return model.num_parameters() == 3441592 ? 0 : 1;
}
