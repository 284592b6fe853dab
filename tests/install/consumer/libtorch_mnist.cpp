// LibTorch's MNIST example (pytorch/examples, cpp/mnist/mnist.cpp) as it ports to tessera: the
// include and torch:: renamed, nothing else changed but the data (Fashion-MNIST, which Debian
// ships, for MNIST) and a cap on the training batches so that the test stays short.
#include <tessera/torch.h>

#include <cmath>
#include <cstddef>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

// Where to find the MNIST-format dataset (the first argument overrides it).
const char* kDataRoot = "/usr/share/datasets/fashion-mnist";
const int64_t kTrainBatchSize = 64;
const int64_t kTestBatchSize = 1000;
const size_t kNumberOfEpochs = 1;
const size_t kMaxTrainBatches = 400;  // (the example trains on all 938 batches, ten epochs)
const size_t kLogInterval = 50;

struct Net : tessera::nn::Module {
  Net()
      : conv1(tessera::nn::Conv2dOptions(1, 10, /*kernel_size=*/5)),
        conv2(tessera::nn::Conv2dOptions(10, 20, /*kernel_size=*/5)),
        fc1(320, 50),
        fc2(50, 10) {
    register_module("conv1", conv1);
    register_module("conv2", conv2);
    register_module("conv2_drop", conv2_drop);
    register_module("fc1", fc1);
    register_module("fc2", fc2);
  }

  tessera::Tensor forward(tessera::Tensor x) {
    x = tessera::relu(tessera::max_pool2d(conv1->forward(x), 2));
    x = tessera::relu(tessera::max_pool2d(conv2_drop->forward(conv2->forward(x)), 2));
    x = x.view({-1, 320});
    x = tessera::relu(fc1->forward(x));
    x = tessera::dropout(x, /*p=*/0.5, /*training=*/is_training());
    x = fc2->forward(x);
    return tessera::log_softmax(x, /*dim=*/1);
  }

  tessera::nn::Conv2d conv1;
  tessera::nn::Conv2d conv2;
  tessera::nn::Dropout2d conv2_drop;
  tessera::nn::Linear fc1;
  tessera::nn::Linear fc2;
};

template <typename DataLoader>
void train(size_t epoch, Net& model, tessera::Device device, DataLoader& data_loader,
           tessera::optim::Optimizer& optimizer, size_t dataset_size) {
  model.train();
  size_t batch_idx = 0;
  for (auto& batch : data_loader) {
    auto data = batch.data.to(device), targets = batch.target.to(device);
    optimizer.zero_grad();
    auto output = model.forward(data);
    auto loss = tessera::nll_loss(output, targets);
    if (std::isnan(loss.template item<float>())) throw std::runtime_error("the loss is NaN");
    loss.backward();
    optimizer.step();

    if (batch_idx++ % kLogInterval == 0) {
      std::printf("Train Epoch: %zu [%5ld/%5ld] Loss: %.4f\n", epoch, long(batch_idx * batch.data.size(0)),
                  long(dataset_size), loss.template item<float>());
    }
    if (batch_idx == kMaxTrainBatches) break;
  }
}

template <typename DataLoader>
double test(Net& model, tessera::Device device, DataLoader& data_loader, size_t dataset_size) {
  tessera::NoGradGuard no_grad;
  model.eval();
  double test_loss = 0;
  int32_t correct = 0;
  for (const auto& batch : data_loader) {
    auto data = batch.data.to(device), targets = batch.target.to(device);
    auto output = model.forward(data);
    test_loss += tessera::nll_loss(output, targets, /*weight=*/{}, tessera::Reduction::Sum).template item<float>();
    auto pred = output.argmax(1);
    correct += pred.eq(targets).sum().template item<int64_t>();
  }

  test_loss /= dataset_size;
  std::printf("\nTest set: Average loss: %.4f | Accuracy: %.3f\n", test_loss,
              static_cast<double>(correct) / dataset_size);
  return static_cast<double>(correct) / dataset_size;
}

int main(int argc, char** argv) {
  std::string root = argc > 1 ? argv[1] : kDataRoot;
  tessera::manual_seed(1);

  tessera::DeviceType device_type;
  if (tessera::cuda::is_available()) {
    std::cout << "CUDA available! Training on GPU." << std::endl;
    device_type = tessera::kCUDA;
  } else {
    std::cout << "Training on CPU." << std::endl;
    device_type = tessera::kCPU;
  }
  tessera::Device device(device_type);

  Net model;
  model.to(device);

  auto train_dataset = tessera::data::datasets::MNIST(root)
                           .map(tessera::data::transforms::Normalize<>(0.1307, 0.3081))
                           .map(tessera::data::transforms::Stack<>());
  const size_t train_dataset_size = train_dataset.size().value();
  auto train_loader = tessera::data::make_data_loader<tessera::data::samplers::SequentialSampler>(
      std::move(train_dataset), kTrainBatchSize);

  auto test_dataset = tessera::data::datasets::MNIST(root, tessera::data::datasets::MNIST::Mode::kTest)
                          .map(tessera::data::transforms::Normalize<>(0.1307, 0.3081))
                          .map(tessera::data::transforms::Stack<>());
  const size_t test_dataset_size = test_dataset.size().value();
  auto test_loader = tessera::data::make_data_loader(std::move(test_dataset), kTestBatchSize);

  tessera::optim::SGD optimizer(model.parameters(), tessera::optim::SGDOptions(0.01).momentum(0.5));

  double accuracy = 0;
  for (size_t epoch = 1; epoch <= kNumberOfEpochs; ++epoch) {
    train(epoch, model, device, *train_loader, optimizer, train_dataset_size);
    accuracy = test(model, device, *test_loader, test_dataset_size);
  }
  return accuracy > 0.65 ? 0 : 1;  // (the test's own check: it learnt)
}
