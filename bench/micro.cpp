// Micro-benchmarks of the CPU backend. Prints one JSON line per measurement:
//   {"name": ..., "ms": median milliseconds per call, "metric": value, "unit": ...}
// bench/run_micro.py runs the same workloads in PyTorch in the same run and prints the ratios.
// Usage: tessera_micro [--threads N] [--filter SUBSTRING] [--min-time SECONDS] [--list]
#include <cstring>
#include <string>

#include "harness.h"
#include "tessera/tessera.h"
#include "tessera/zoo/zoo.h"

using namespace tessera;

namespace {
using bench::report;
using bench::time_ms;
using bench::Workload;

std::vector<Workload> workloads() {
  std::vector<Workload> w;
  for (int64_t n : {1024, 4096})
    w.push_back({"matmul_" + std::to_string(n), [n] {
                   Tensor a = randn({n, n}), b = randn({n, n});
                   double ms = time_ms([&] { ops::matmul(a, b); });
                   report(("matmul_" + std::to_string(n)).c_str(), ms, 2.0 * n * n * n / (ms * 1e6), "GFLOP/s");
                 }});
  const int64_t N = 16 << 20;
  w.push_back({"add_16M", [] {
                 Tensor a = randn({N}), b = randn({N});
                 double ms = time_ms([&] { Tensor c = a + b; });
                 report("add_16M", ms, 3.0 * N * 4 / (ms * 1e6), "GB/s");
               }});
  w.push_back({"mul_16M", [] {
                 Tensor a = randn({N}), b = randn({N});
                 double ms = time_ms([&] { Tensor c = a * b; });
                 report("mul_16M", ms, 3.0 * N * 4 / (ms * 1e6), "GB/s");
               }});
  w.push_back({"sum_16M", [] {
                 Tensor a = randn({N});
                 double ms = time_ms([&] { Tensor s = a.sum(); });
                 report("sum_16M", ms, double(N) * 4 / (ms * 1e6), "GB/s");
               }});
  w.push_back({"softmax_4096x4096", [] {
                 Tensor x = randn({4096, 4096});
                 double ms = time_ms([&] { ops::softmax(x, -1); });
                 report("softmax_4096x4096", ms, 2.0 * 4096 * 4096 * 4 / (ms * 1e6), "GB/s");
               }});
  // The four convolutions of the Rosetta CIFAR-10 CNN, batch 64: forward + both backward passes
  // (conv1 needs no input gradient: its input is the images).
  struct Conv { const char* name; int64_t c, o, hw; bool grad_input; };
  for (Conv c : {Conv{"conv1_3x50x32", 3, 50, 32, false}, Conv{"conv2_50x50x32", 50, 50, 32, true},
                 Conv{"conv3_50x100x16", 50, 100, 16, true}, Conv{"conv4_100x100x16", 100, 100, 16, true}}) {
    std::string name = std::string(c.name) + "_fwd_bwd";
    w.push_back({name, [c, name] {
                   Conv2dParams p{{1, 1}, {1, 1}, {1, 1}, 1};
                   Tensor x = randn({64, c.c, c.hw, c.hw}), w = randn({c.o, c.c, 3, 3}) * 0.1, b = zeros({c.o});
                   Tensor gy = randn({64, c.o, c.hw, c.hw});
                   double ms = time_ms([&] {
                     Tensor y = ops::conv2d(x, w, b, p);
                     if (c.grad_input) ops::conv2d_backward_input(gy, w, x.shape(), p);
                     ops::conv2d_backward_weight(gy, x, w.shape(), p, true);
                   });
                   double flop = 2.0 * 64 * c.o * c.hw * c.hw * c.c * 9 * (c.grad_input ? 3 : 2);
                   report(name.c_str(), ms, flop / (ms * 1e6), "GFLOP/s");
                 }});
  }
  // One Rosetta CIFAR CNN training step: forward, cross-entropy, backward, SGD momentum.
  w.push_back({"cifar_cnn_train_step_b64", [] {
                 auto net = zoo::cifar_cnn();
                 optim::SGD opt(net->parameters(), {.lr = 0.01, .momentum = 0.9});
                 Tensor x = rand({64, 3, 32, 32}), y = randint(0, 10, {64});
                 double ms = time_ms([&] {
                   Tensor loss = nn::functional::cross_entropy((*net)(x), y);
                   opt.zero_grad();
                   loss.backward();
                   opt.step();
                 });
                 report("cifar_cnn_train_step_b64", ms, 23.7 / (ms * 1e-3), "GFLOP/s");
               }});
  w.push_back({"maxpool2x2_64x50x32_fwd_bwd", [] {
                 Tensor x = randn({64, 50, 32, 32});
                 double ms = time_ms([&] {
                   auto [y, idx] = ops::max_pool2d_with_indices(x, {.kernel_size = {2}});
                   ops::max_pool2d_backward(y, x, idx);
                 });
                 report("maxpool2x2_64x50x32_fwd_bwd", ms, 64.0 * 50 * 32 * 32 * 4 * 2.5 / (ms * 1e6), "GB/s");
               }});
  w.push_back({"batchnorm_train_64x50x32", [] {
                 Tensor x = randn({64, 50, 32, 32}), rm = zeros({50}), rv = ones({50}), g = ones({50}), b = zeros({50});
                 double ms = time_ms([&] { ops::batch_norm(x, rm, rv, g, b, true); });
                 report("batchnorm_train_64x50x32", ms, 64.0 * 50 * 32 * 32 * 4 * 2 / (ms * 1e6), "GB/s");
               }});
  w.push_back({"layernorm_4096x1024", [] {
                 Tensor x = randn({4096, 1024}), g = ones({1024}), b = zeros({1024});
                 double ms = time_ms([&] { ops::layer_norm(x, {1024}, g, b); });
                 report("layernorm_4096x1024", ms, 4096.0 * 1024 * 4 * 2 / (ms * 1e6), "GB/s");
               }});
  return w;
}
}  // namespace

int main(int argc, char** argv) {
  manual_seed(0);
  return bench::run_main(argc, argv, "tessera_micro [--threads N] [--filter SUBSTRING] [--min-time SECONDS] [--list]",
                         [&](int& i) {
                           if (std::strcmp(argv[i], "--threads") || i + 1 >= argc) return false;
                           set_num_threads(std::atoi(argv[++i]));
                           return true;
                         },
                         workloads);
}
