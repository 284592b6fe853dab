// examples/readme.cpp: the README's first example.
#include <iostream>

#include "tessera/tessera.h"

int main() {
  using namespace tessera;
  manual_seed(0);
  Tensor x = randn({64, 3, 32, 32});                    // a batch of images, NCHW
  Tensor w = randn({50, 3, 3, 3}) * 0.1;                // 50 filters of 3x3
  Tensor y = ops::relu(ops::conv2d(x, w, {}, {.padding = {1, 1}}));
  Tensor pooled = ops::max_pool2d(y, {.kernel_size = {2}});
  std::cout << pooled.shape() << " mean " << pooled.mean().item<float>() << "\n";
  std::cout << ops::softmax(tensor({1., 2., 3.}), 0) << "\n";
}
