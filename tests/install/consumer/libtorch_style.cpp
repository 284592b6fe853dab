// A program in LibTorch's idioms, built against the installed package: torch:: spelled tessera::.
// (What tessera has of them so far: dtype/device constants, TensorOptions from a dtype or a
// device and its chain, ops at namespace scope, NoGradGuard, custom autograd functions,
// optimizer option builders, save/load, nn::functional with FuncOptions, torch::data.)
#include <tessera/tessera.h>

#include <cstdio>

struct Square : tessera::autograd::Function<Square> {
  static tessera::Tensor forward(tessera::autograd::AutogradContext* ctx, const tessera::Tensor& x) {
    ctx->save_for_backward({x});
    return x * x;
  }
  static std::vector<tessera::Tensor> backward(tessera::autograd::AutogradContext* ctx,
                                               std::vector<tessera::Tensor> grad) {
    return {2.0 * ctx->get_saved_variables()[0] * grad[0]};
  }
};

int main() {
  tessera::manual_seed(0);
  tessera::Tensor x = tessera::randn({64, 3}, tessera::kFloat64);
  tessera::Tensor true_w = tessera::tensor({{1.0, -2.0, 0.5}}, tessera::kFloat64).t();
  tessera::Tensor y = tessera::matmul(x, true_w);
  auto opts = tessera::TensorOptions().dtype(tessera::kFloat64).device(tessera::kCPU).requires_grad(true);
  tessera::Tensor w = tessera::zeros({3, 1}, opts);
  double first = 0, last = 0;
  for (int step = 0; step < 100; ++step) {
    tessera::Tensor loss = tessera::mean(Square::apply(tessera::matmul(x, w) - y));
    if (step == 0) first = loss.item<double>();
    last = loss.item<double>();
    loss.backward();
    {
      tessera::NoGradGuard no_grad;
      w.sub_(w.grad() * 0.1);
      w.grad().zero_();
    }
  }
  // The same fit with an optimizer built LibTorch's way.
  tessera::Tensor w2 = tessera::zeros({3, 1}, opts);
  tessera::optim::SGD sgd({w2}, tessera::optim::SGDOptions(0.05).momentum(0.5));
  for (int step = 0; step < 100; ++step) {
    sgd.zero_grad();
    tessera::Tensor loss = tessera::mean(Square::apply(tessera::matmul(x, w2) - y));
    loss.backward();
    sgd.step();
  }
  double w2_error = (w2 - true_w).abs().max().item<double>();
  tessera::save(w2, "libtorch_style_w2.safetensors");  // torch::save / torch::load
  tessera::Tensor w2_back;
  tessera::load(w2_back, "libtorch_style_w2.safetensors");
  std::remove("libtorch_style_w2.safetensors");
  w2_error += (w2_back - w2).abs().max().item<double>();
  namespace F = tessera::nn::functional;  // torch::nn::functional's spellings
  tessera::Tensor img = tessera::ones({1, 1, 4, 4});
  tessera::Tensor pooled = F::max_pool2d(F::relu(img), F::MaxPool2dFuncOptions(2).stride(2));
  if (pooled.size(2) != 2 || F::log_softmax(pooled.flatten(1), 1).size(1) != 4) return 1;
  // torch::data's spellings over an in-memory dataset.
  auto ds = tessera::data::MappedDataset(std::make_shared<tessera::data::TensorDataset>(
                                             tessera::ones({10, 1, 2, 2}), tessera::arange(0, 10, 1, tessera::kInt64)))
                .map(tessera::data::transforms::Normalize<>(0.5, 0.5))
                .map(tessera::data::transforms::Stack<>());
  auto loader = tessera::data::make_data_loader<tessera::data::samplers::SequentialSampler>(
      ds, tessera::data::DataLoaderOptions().batch_size(4).workers(0));
  int64_t seen = 0;
  for (auto& batch : *loader) {
    if (batch.data.max().item<double>() != 1.0) return 1;  // (1 - 0.5) / 0.5
    seen += batch.target.size(0);
  }
  if (seen != 10) return 1;
  tessera::Tensor idx = tessera::arange(0, 4, 1, tessera::kInt64);
  tessera::Tensor joined = tessera::cat({tessera::relu(tessera::ones({2}, tessera::kFloat32)), tessera::zeros({2})}, 0);
  std::printf("loss %.6f -> %.6f, w = [%.3f, %.3f, %.3f], %s, %lld\n", first, last, w.select(0, 0).item<double>(),
              w.select(0, 1).item<double>(), w.select(0, 2).item<double>(), joined.str().c_str(),
              static_cast<long long>(idx.sum().item<int64_t>()));
  std::printf("SGDOptions(0.05).momentum(0.5): max |w - true w| = %.2e\n", w2_error);
  return last < 1e-4 && first > 1 && w.requires_grad() && w2_error < 1e-3 ? 0 : 1;
}
