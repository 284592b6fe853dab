// examples/onnx_export.cpp: a model to ONNX and back. The file runs in onnxruntime, Netron and
// other frameworks; load_onnx runs ONNX files (docs/onnx.md lists the operators) with tessera
// ops and can train them further.
#include <cstdio>

#include "tessera/io/onnx.h"
#include "tessera/tessera.h"
#include "tessera/zoo/zoo.h"

using namespace tessera;

int main() {
  manual_seed(0);
  auto net = zoo::lenet5(1, 10);  // or your own nn::Module
  Tensor example = randn({8, 1, 28, 28});

  // Export: traced on the example (eval mode), any batch size at run time.
  io::export_onnx(*net, {example}, "lenet5.onnx",
                  {.input_names = {"images"}, .output_names = {"logits"}, .dynamic_batch = true});

  // Import: a module whose parameters carry the state_dict names ("0.weight", ...).
  auto back = io::load_onnx("lenet5.onnx");
  std::printf("ops:");
  for (auto& op : back->op_types()) std::printf(" %s", op.c_str());
  std::printf("\n");

  Tensor x = randn({3, 1, 28, 28});
  net->eval();
  Tensor want = (*net)(x), got = back->forward(x);
  double diff = ops::amax(ops::abs(want - got)).item<float>();
  std::printf("max |tessera - imported| at batch 3: %.2g\n", diff);
  return diff < 1e-5 ? 0 : 1;
}
