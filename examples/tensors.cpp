// examples/tensors.cpp: a first look at tessera tensors.
#include <iostream>

#include "tessera/tessera.h"

using namespace tessera;

int main() {
  manual_seed(0);
  Tensor x = arange(0, 6, 1, {dtype::float32}).view({2, 3});
  Tensor b = tensor({10., 20., 30.});
  std::cout << "x + b =\n" << x + b << "\n";                      // broadcasting
  std::cout << "x.t() =\n" << x.t() << "\n";                      // a view, no copy
  std::cout << "row sums: " << x.sum({1}) << "\n";
  std::cout << "x @ x.t() =\n" << ops::matmul(x, x.t()) << "\n";
  Tensor r = randn({2, 2});
  std::cout << "softmax of randn:\n" << ops::softmax(r, -1) << "\n";
  try {
    ops::matmul(ones({3, 4}), ones({5, 6}));
  } catch (const ShapeError& e) {
    std::cout << "error, as expected: " << e.what() << "\n";
  }
  return 0;
}
