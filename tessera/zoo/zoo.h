#pragma once
// Standard architectures. Parameter names follow PyTorch's (resnet50 key for key with
// torchvision's), so their weights load with load_state_dict.
#include <memory>
#include <string>
#include <vector>

#include "tessera/nn/container.h"
#include "tessera/nn/layers.h"

namespace tessera::zoo {

// Linear layers with ReLU between: in -> hidden... -> classes (input flattened).
std::shared_ptr<nn::Sequential> mlp(int64_t in_features, const std::vector<int64_t>& hidden, int64_t classes);
// LeNet-5 for 28x28 images: conv5(pad 2)-pool-conv5-pool-120-84-classes, ReLU.
std::shared_ptr<nn::Sequential> lenet5(int64_t in_channels = 1, int64_t classes = 10);
// Two conv-BN-ReLU-pool blocks (32, 64 channels) and a 128-unit classifier with dropout, for
// side x side images: the tessera command's default model (91-92% on Fashion-MNIST in 3 epochs).
std::shared_ptr<nn::Sequential> convnet(int64_t in_channels = 1, int64_t classes = 10, int64_t side = 28);
// The Rosetta CIFAR-10 CNN (3,441,592 parameters), Glorot-uniform weights.
std::shared_ptr<nn::Sequential> cifar_cnn(int64_t classes = 10);
// VGG-11 with batch norm for 32x32 inputs (512-d features, one linear classifier).
std::shared_ptr<nn::Sequential> vgg11(int64_t classes = 10);
// ResNet-18 for 32x32 inputs: 3x3 stem, no max-pool, BasicBlocks [2, 2, 2, 2].
std::shared_ptr<nn::Module> resnet18(int64_t classes = 10);
// ResNet-50 v1.5 for 224x224 inputs with torchvision's layout and names.
std::shared_ptr<nn::Module> resnet50(int64_t classes = 1000);
// By name: "mlp" (784-256-128-classes), "lenet5", "convnet" (28x28, or 32x32 for 3 channels), "cifar_cnn", "vgg11", "resnet18", "resnet50".
std::shared_ptr<nn::Module> create(const std::string& name, int64_t in_channels, int64_t classes);
std::vector<std::string> names();

}  // namespace tessera::zoo
