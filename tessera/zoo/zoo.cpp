#include "tessera/zoo/zoo.h"

#include "tessera/nn/init.h"

namespace tessera::zoo {

std::shared_ptr<nn::Sequential> mlp(int64_t in, const std::vector<int64_t>& hidden, int64_t classes) {
  auto net = std::make_shared<nn::Sequential>(nn::Flatten());
  int64_t prev = in;
  for (int64_t h : hidden) {
    net->push_back(nn::Linear(prev, h));
    net->push_back(nn::ReLU());
    prev = h;
  }
  net->push_back(nn::Linear(prev, classes));
  return net;
}

std::shared_ptr<nn::Sequential> lenet5(int64_t in_channels, int64_t classes) {
  return std::make_shared<nn::Sequential>(
      nn::Conv2d(in_channels, 6, 5, {.padding = 2}), nn::ReLU(), nn::MaxPool2d(2), nn::Conv2d(6, 16, 5), nn::ReLU(),
      nn::MaxPool2d(2), nn::Flatten(), nn::Linear(16 * 5 * 5, 120), nn::ReLU(), nn::Linear(120, 84), nn::ReLU(),
      nn::Linear(84, classes));
}

std::shared_ptr<nn::Sequential> convnet(int64_t in_channels, int64_t classes, int64_t side) {
  TS_CHECK_VALUE(side % 4 == 0 && side > 0, "zoo convnet: the image side must be a multiple of 4, got ", side);
  int64_t s = side / 4;
  return std::make_shared<nn::Sequential>(
      nn::Conv2d(in_channels, 32, 3, {.padding = 1, .bias = false}), nn::BatchNorm2d(32), nn::ReLU(), nn::MaxPool2d(2),
      nn::Conv2d(32, 64, 3, {.padding = 1, .bias = false}), nn::BatchNorm2d(64), nn::ReLU(), nn::MaxPool2d(2),
      nn::Flatten(), nn::Linear(64 * s * s, 128), nn::ReLU(),
      nn::Linear(128, classes));
}

std::shared_ptr<nn::Sequential> cifar_cnn(int64_t classes) {
  auto net = std::make_shared<nn::Sequential>(
      nn::Conv2d(3, 50, 3, {.padding = 1}), nn::ReLU(), nn::Conv2d(50, 50, 3, {.padding = 1}), nn::MaxPool2d(2),
      nn::ReLU(), nn::Dropout(0.25), nn::Conv2d(50, 100, 3, {.padding = 1}), nn::ReLU(),
      nn::Conv2d(100, 100, 3, {.padding = 1}), nn::MaxPool2d(2), nn::ReLU(), nn::Dropout(0.25), nn::Flatten(),
      nn::Linear(6400, 512), nn::ReLU(), nn::Dropout(0.5), nn::Linear(512, classes));
  for (auto& [name, p] : net->named_parameters())
    if (p.dim() > 1) nn::init::xavier_uniform_(p);
  return net;
}

std::shared_ptr<nn::Sequential> vgg11(int64_t classes) {
  auto net = std::make_shared<nn::Sequential>();
  int64_t in = 3;
  for (int64_t c : {64, -1, 128, -1, 256, 256, -1, 512, 512, -1, 512, 512, -1}) {
    if (c < 0) {
      net->push_back(nn::MaxPool2d(2));
      continue;
    }
    net->push_back(nn::Conv2d(in, c, 3, {.padding = 1}));
    net->push_back(nn::BatchNorm2d(c));
    net->push_back(nn::ReLU());
    in = c;
  }
  net->push_back(nn::Flatten());
  net->push_back(nn::Linear(512, classes));
  return net;
}

namespace {
std::shared_ptr<nn::Sequential> conv_bn(int64_t in, int64_t out, int64_t stride) {
  return std::make_shared<nn::Sequential>(nn::Conv2d(in, out, 1, {.stride = stride, .bias = false}), nn::BatchNorm2d(out));
}

struct BasicBlock : nn::Module {
  BasicBlock(int64_t in, int64_t out, int64_t stride) : Module("BasicBlock") {
    conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(in, out, 3, nn::ConvConfig{.stride = stride, .padding = 1, .bias = false}));
    bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(out));
    conv2 = register_module("conv2", std::make_shared<nn::Conv2d>(out, out, 3, nn::ConvConfig{.padding = 1, .bias = false}));
    bn2 = register_module("bn2", std::make_shared<nn::BatchNorm2d>(out));
    if (stride != 1 || in != out) downsample = register_module("downsample", conv_bn(in, out, stride));
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = ops::relu((*bn1)((*conv1)(x)));
    y = (*bn2)((*conv2)(y));
    return ops::relu(y + (downsample ? (*downsample)(x) : x));
  }
  std::shared_ptr<nn::Conv2d> conv1, conv2;
  std::shared_ptr<nn::BatchNorm2d> bn1, bn2;
  std::shared_ptr<nn::Sequential> downsample;
};

// torchvision's Bottleneck (v1.5: the stride sits in the 3x3 convolution).
struct Bottleneck : nn::Module {
  Bottleneck(int64_t in, int64_t width, int64_t stride) : Module("Bottleneck") {
    int64_t out = width * 4;
    conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(in, width, 1, nn::ConvConfig{.bias = false}));
    bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(width));
    conv2 = register_module("conv2", std::make_shared<nn::Conv2d>(width, width, 3, nn::ConvConfig{.stride = stride, .padding = 1, .bias = false}));
    bn2 = register_module("bn2", std::make_shared<nn::BatchNorm2d>(width));
    conv3 = register_module("conv3", std::make_shared<nn::Conv2d>(width, out, 1, nn::ConvConfig{.bias = false}));
    bn3 = register_module("bn3", std::make_shared<nn::BatchNorm2d>(out));
    if (stride != 1 || in != out) downsample = register_module("downsample", conv_bn(in, out, stride));
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = ops::relu((*bn1)((*conv1)(x)));
    y = ops::relu((*bn2)((*conv2)(y)));
    y = (*bn3)((*conv3)(y));
    return ops::relu(y + (downsample ? (*downsample)(x) : x));
  }
  std::shared_ptr<nn::Conv2d> conv1, conv2, conv3;
  std::shared_ptr<nn::BatchNorm2d> bn1, bn2, bn3;
  std::shared_ptr<nn::Sequential> downsample;
};

struct ResNet : nn::Module {
  ResNet(bool imagenet, bool bottleneck, const std::vector<int>& blocks, int64_t classes) : Module("ResNet") {
    conv1 = register_module("conv1", imagenet ? std::make_shared<nn::Conv2d>(3, 64, 7, nn::ConvConfig{.stride = 2, .padding = 3, .bias = false})
                                              : std::make_shared<nn::Conv2d>(3, 64, 3, nn::ConvConfig{.padding = 1, .bias = false}));
    bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(64));
    imagenet_ = imagenet;
    int64_t in = 64;
    for (size_t l = 0; l < 4; ++l) {
      auto layer = std::make_shared<nn::Sequential>();
      int64_t width = 64 << l;
      for (int b = 0; b < blocks[l]; ++b) {
        int64_t stride = (b == 0 && l > 0) ? 2 : 1;
        if (bottleneck) {
          layer->push_back(std::make_shared<Bottleneck>(in, width, stride));
          in = width * 4;
        } else {
          layer->push_back(std::make_shared<BasicBlock>(in, width, stride));
          in = width;
        }
      }
      layers.push_back(register_module("layer" + std::to_string(l + 1), layer));
    }
    fc = register_module("fc", std::make_shared<nn::Linear>(in, classes));
    for (auto& [name, m] : named_modules())  // torchvision's init: kaiming normal (fan_out) for convolutions
      if (auto* c = dynamic_cast<nn::Conv2d*>(m)) nn::init::kaiming_normal_(c->weight, 0, "fan_out", "relu");
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = ops::relu((*bn1)((*conv1)(x)));
    if (imagenet_) y = ops::max_pool2d(y, {.kernel_size = {3}, .stride = {2}, .padding = {1}});
    for (auto& l : layers) y = (*l)(y);
    return (*fc)(y.mean({2, 3}));
  }
  std::shared_ptr<nn::Conv2d> conv1;
  std::shared_ptr<nn::BatchNorm2d> bn1;
  std::vector<std::shared_ptr<nn::Sequential>> layers;
  std::shared_ptr<nn::Linear> fc;
  bool imagenet_;
};
}  // namespace

std::shared_ptr<nn::Module> resnet18(int64_t classes) { return std::make_shared<ResNet>(false, false, std::vector<int>{2, 2, 2, 2}, classes); }
std::shared_ptr<nn::Module> resnet50(int64_t classes) { return std::make_shared<ResNet>(true, true, std::vector<int>{3, 4, 6, 3}, classes); }

std::vector<std::string> names() { return {"mlp", "lenet5", "convnet", "cifar_cnn", "vgg11", "resnet18", "resnet50"}; }

std::shared_ptr<nn::Module> create(const std::string& name, int64_t in_channels, int64_t classes) {
  if (name == "mlp") return mlp(in_channels * 28 * 28, {256, 128}, classes);
  if (name == "lenet5") return lenet5(in_channels, classes);
  // 28x28 grayscale (MNIST, Fashion-MNIST) or 32x32 color (CIFAR-10) images.
  if (name == "convnet") return convnet(in_channels, classes, in_channels == 3 ? 32 : 28);
  if (name == "cifar_cnn") return cifar_cnn(classes);
  if (name == "vgg11") return vgg11(classes);
  if (name == "resnet18") return resnet18(classes);
  if (name == "resnet50") return resnet50(classes);
  std::string known;
  for (auto& n : names()) known += (known.empty() ? "" : ", ") + n;
  throw ValueError(detail::str("zoo: unknown model '", name, "' (known: ", known, ")"));
}

}  // namespace tessera::zoo
