#include <tessera/tessera.h>

#include <iostream>

int main() {
  using namespace tessera;
  Tensor x = arange(0, 4, 1, {dtype::float32}).view({2, 2});
  Tensor y = ops::matmul(x, x);
  std::cout << y << "\n";
  return y.sum().item<double>() == 2 + 3 + 6 + 11 ? 0 : 1;
}
