#pragma once
// Checks analytical gradients against central finite differences, as torch.autograd.gradcheck.
#include <functional>
#include <vector>

#include "tessera/core/tensor.h"

namespace tessera::autograd {

using TensorFunction = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

struct GradcheckOptions {
  double eps = 1e-6;   // finite-difference step
  double atol = 1e-5;  // |analytical - numerical| <= atol + rtol * |numerical|
  double rtol = 1e-3;
  bool raise = true;   // throw an Error describing the first mismatch, instead of returning false
};

// f maps the inputs to one or more outputs. Every input that requires grad must be float64 (a
// finite difference in float32 is too coarse to check anything). Compares the full Jacobian of
// every floating output w.r.t. every such input.
bool gradcheck(const TensorFunction& f, const std::vector<Tensor>& inputs, GradcheckOptions opt = {});
// The same for second derivatives: checks the gradient of (v · df/dx) for a random v.
bool gradgradcheck(const TensorFunction& f, const std::vector<Tensor>& inputs, GradcheckOptions opt = {});

}  // namespace tessera::autograd
