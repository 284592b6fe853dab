// examples/inference.cpp: a model prepared for inference, from a module and from an ONNX file.
#include <cstdio>
#include <filesystem>

#include "tessera/io/inference.h"
#include "tessera/io/onnx.h"
#include "tessera/tessera.h"
#include "tessera/zoo/zoo.h"

using namespace tessera;

int main() {
  manual_seed(0);
  auto model = zoo::resnet18(10);  // conv-BN-ReLU blocks with residual adds
  Tensor x = randn({1, 3, 32, 32});

  // Traced once (eval mode): batch norms folded, ReLUs and residual adds fused into the convolutions.
  io::InferenceSession session(*model, {x});
  Tensor logits = session(x);
  int fused = 0;
  for (const std::string& step : session.steps()) fused += step.find('+') != std::string::npos;
  std::printf("%zu steps, %d of them fused, e.g. %s\n", session.steps().size(), fused, session.steps()[0].c_str());

  // The same results as the model itself, up to float32 rounding.
  Tensor want;
  {
    nn::EvalModeGuard eval(*model);
    autograd::NoGradGuard no_grad;
    want = (*model)(x);
  }
  std::printf("max difference from the model: %.2e\n", (logits - want).abs().max().item<double>());

  // An ONNX file (from tessera or any other framework) runs the same way.
  std::string path = (std::filesystem::temp_directory_path() / "tessera_example_resnet18.onnx").string();
  io::export_onnx(*model, {randn({2, 3, 32, 32})}, path, {.dynamic_batch = true});
  io::InferenceSession from_file(path);
  std::printf("from the file: max difference %.2e\n", (from_file(x) - want).abs().max().item<double>());
  std::filesystem::remove(path);
  return ops::allclose(logits, want, 1e-4, 1e-4) ? 0 : 1;
}
