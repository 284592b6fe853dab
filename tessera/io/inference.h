#pragma once
// Inference sessions: a model prepared for inference as an engine does it. The model (an ONNX
// file, or a module or function traced on example inputs into the same graph) is rewritten once:
// batch norms folded into the convolutions before them, a ReLU and a residual Add (and the ReLU
// after it) fused into the convolution as oneDNN post-ops, weights reordered once into the
// layout the kernels want; at run time activations stay in oneDNN's blocked layout from one
// convolution or pooling to the next, and each convolution is cut into pieces (batch entries,
// or blocks of output channels at batch 1) that run on the thread pool. Every other node runs
// as in OnnxModel. float32 on the CPU.
//
//   io::InferenceSession s(*model, {example});     // or io::InferenceSession s("model.onnx");
//   Tensor logits = s(x);
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tessera/nn/module.h"

namespace tessera::io {

struct InferenceOptions {
  // false: the graph node by node without rewriting (as OnnxModel runs it), for comparison.
  bool fuse = true;
  // true: each step's run time is added up (profile() reads it); costs two clock reads a step.
  bool profile = false;
};

// One step's time: what it runs (as steps() names it), how many runs were timed, their seconds.
struct StepProfile {
  std::string step;
  int64_t calls = 0;
  double seconds = 0;
};

class InferenceSession {
 public:
  // An ONNX file (checked as load_onnx checks it).
  explicit InferenceSession(const std::string& onnx_path, InferenceOptions options = {});
  // A module traced in eval mode on example inputs (one tensor); its weights as they are now.
  InferenceSession(nn::Module& model, const std::vector<Tensor>& example_inputs, InferenceOptions options = {});
  // Any function of tensors traced on example inputs; params are the tensors it reads.
  InferenceSession(const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& fn,
                   const std::vector<Tensor>& example_inputs, const nn::StateDict& params,
                   InferenceOptions options = {});
  ~InferenceSession();

  // The outputs for inputs (CPU tensors; float32 where the model takes floats), no autograd.
  std::vector<Tensor> run(const std::vector<Tensor>& inputs);
  // One input, the first output.
  Tensor operator()(const Tensor& x);
  // What runs, one entry per step: the ONNX op types it does, e.g. "Conv+BatchNormalization+Relu".
  std::vector<std::string> steps() const;
  // Per step, in steps()' order, the time of the runs since the session was made or last reset
  // (needs InferenceOptions::profile); reset: start again from zero.
  std::vector<StepProfile> profile(bool reset = false);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace tessera::io
