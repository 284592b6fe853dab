// GPU benchmarks of the CUDA backend: the workloads of the CUDA issue's speed targets. Prints one
// JSON line per measurement: {"name", "ms" (median per call, synchronized), "metric", "unit"}.
// bench/run_gpu.py runs the same workloads in PyTorch on the same GPU in the same run.
// Usage: tessera_gpu_bench [--filter SUBSTRING] [--min-time SECONDS] [--list]
//        tessera_gpu_bench --resnet50-logits WEIGHTS INPUT OUT   (the correctness check run_gpu.py makes:
//        torchvision's weights and an input "x" in, ResNet-50's logits "logits" out, as safetensors)
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>

#include "harness.h"
#include "tessera/io/safetensors.h"
#include "tessera/tessera.h"
#include "tessera/zoo/zoo.h"

using namespace tessera;

namespace {
using bench::report;
using bench::Workload;
const Device kGpu = Device::cuda(0);

// Median milliseconds per call, each call synchronized with the GPU, after two warm-up calls.
double time_ms(const std::function<void()>& f) { return bench::time_ms(f, 2, 5, [] { cuda::synchronize(); }); }

// The Rosetta IMDB model: embedding 125, one GRU layer of 100 units over 150 tokens, the last
// step to 2 classes.
struct ImdbGru : nn::Module {
  ImdbGru() : Module("ImdbGru") {
    emb = register_module("emb", std::make_shared<nn::Embedding>(30000, 125));
    gru = register_module("gru", std::make_shared<nn::GRU>(125, 100, nn::RNNConfig{.batch_first = true}));
    fc = register_module("fc", std::make_shared<nn::Linear>(100, 2));
  }
  Tensor forward(const Tensor& tokens) override {
    Tensor h = gru->forward(emb->forward(tokens));
    return fc->forward(h.select(1, h.size(1) - 1));
  }
  std::shared_ptr<nn::Embedding> emb;
  std::shared_ptr<nn::GRU> gru;
  std::shared_ptr<nn::Linear> fc;
};

std::vector<Workload> workloads() {
  std::vector<Workload> w;
  const int64_t N = int64_t(256) << 20;
  w.push_back({"copy_256M", [N] {
                 Tensor a = randn({N}, {DType::Float32, kGpu}), b = empty({N}, {DType::Float32, kGpu});
                 double ms = time_ms([&] { b.copy_(a); });
                 report("copy_256M", ms, 2.0 * N * 4 / (ms * 1e6), "GB/s");
               }});
  w.push_back({"add_256M", [N] {
                 Tensor a = randn({N}, {DType::Float32, kGpu}), b = randn({N}, {DType::Float32, kGpu});
                 double ms = time_ms([&] { Tensor c = a + b; });
                 report("add_256M", ms, 3.0 * N * 4 / (ms * 1e6), "GB/s");
               }});
  w.push_back({"cifar_cnn_train_step_b64", [] {
                 auto net = zoo::cifar_cnn();
                 net->to(kGpu);
                 optim::SGD opt(net->parameters(), {.lr = 0.01, .momentum = 0.9});
                 Tensor x = rand({64, 3, 32, 32}, {DType::Float32, kGpu}), y = randint(0, 10, {64}, {DType::Int64, kGpu});
                 double ms = time_ms([&] {
                   Tensor loss = nn::functional::cross_entropy((*net)(x), y);
                   opt.zero_grad();
                   loss.backward();
                   opt.step();
                 });
                 report("cifar_cnn_train_step_b64", ms, 23.7 / (ms * 1e-3), "GFLOP/s");
               }});
  for (DType dt : {DType::Float32, DType::BFloat16}) {
    std::string name = std::string("resnet50_infer_b64_") + (dt == DType::Float32 ? "fp32" : "bf16");
    w.push_back({name, [name, dt] {
                   auto net = zoo::resnet50();
                   net->to(kGpu);
                   net->to(dt);
                   net->eval();
                   autograd::NoGradGuard ng;
                   // Host batch in, logits out: the copies are part of the time (shared/rosetta.md).
                   Tensor host = randn({64, 3, 224, 224}).pin_memory();
                   double ms = time_ms([&] { Tensor logits = (*net)(host.to(kGpu, true).to(dt)).cpu(); });
                   report(name, ms, 64 * 8.17 / (ms * 1e-3), "GFLOP/s");
                 }});
  }
  w.push_back({"gru_train_step_b64", [] {
                 ImdbGru net;
                 net.to(kGpu);
                 optim::Adam opt(net.parameters(), {.lr = 1e-3});
                 Tensor tokens = randint(0, 30000, {64, 150}, {DType::Int64, kGpu});
                 Tensor y = randint(0, 2, {64}, {DType::Int64, kGpu});
                 double ms = time_ms([&] {
                   Tensor loss = nn::functional::cross_entropy(net(tokens), y);
                   opt.zero_grad();
                   loss.backward();
                   opt.step();
                 });
                 report("gru_train_step_b64", ms, 3.9 / (ms * 1e-3), "GFLOP/s");
               }});
  return w;
}
}  // namespace

// ResNet-50 with the given (torchvision-named) weights on the GPU: its logits for the input.
int resnet50_logits(const char* weights, const char* input, const char* out) {
  auto net = zoo::resnet50();
  net->load_state_dict(io::load_safetensors(weights));
  net->to(kGpu);
  net->eval();
  autograd::NoGradGuard ng;
  Tensor x;
  for (auto& [k, t] : io::load_safetensors(input))
    if (k == "x") x = t;
  if (!x.defined()) {
    std::fprintf(stderr, "tessera_gpu_bench: %s has no tensor named x\n", input);
    return 2;
  }
  io::save_safetensors(out, {{"logits", (*net)(x.to(kGpu)).cpu()}});
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 5 && !std::strcmp(argv[1], "--resnet50-logits")) return resnet50_logits(argv[2], argv[3], argv[4]);
  manual_seed(0);
  return bench::run_main(argc, argv, "tessera_gpu_bench [--filter SUBSTRING] [--min-time SECONDS] [--list]", {},
                         workloads, [] {
                           if (cuda::is_available()) return true;
                           std::fprintf(stderr, "tessera_gpu_bench: no CUDA device: %s\n",
                                        cuda::unavailable_reason().c_str());
                           return false;
                         });
}
