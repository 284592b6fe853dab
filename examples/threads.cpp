// examples/threads.cpp: the thread count changes the speed, never the result.
#include <cstdio>

#include "tessera/tessera.h"

int main() {
  using namespace tessera;
  Tensor x = randn({1 << 20}), w = randn({256, 256}), a = randn({64, 256});
  set_num_threads(2);
  double s2 = x.sum().item<double>();
  Tensor y2 = ops::matmul(a, w);
  set_num_threads(1);
  double s1 = x.sum().item<double>();
  Tensor y1 = ops::matmul(a, w);
  std::printf("threads now: %d, sums equal: %d\n", get_num_threads(), s1 == s2);
  return s1 == s2 && ops::equal(y1, y2) ? 0 : 1;
}
