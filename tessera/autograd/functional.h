#pragma once
// Higher-level differentiation of functions (torch.autograd.functional): vector-Jacobian and
// Jacobian-vector products, full Jacobians and Hessians. f maps tensors to tensors; results are
// outside autograd unless create_graph (then they are differentiable again). An input an output
// does not depend on gets zeros, or an error with strict.
#include <utility>
#include <vector>

#include "tessera/autograd/gradcheck.h"

namespace tessera::autograd::functional {

struct Options {
  bool create_graph = false;
  bool strict = false;
};

// (f(inputs), v^T J): one gradient per input. v holds one tensor per output shaped like it; it
// may be empty when every output has one element.
std::pair<std::vector<Tensor>, std::vector<Tensor>> vjp(const TensorFunction& f, const std::vector<Tensor>& inputs,
                                                        const std::vector<Tensor>& v = {}, Options o = {});
// (f(inputs), J v): one tensor per output. v holds one tensor per input shaped like it; it may be
// empty when every input has one element. (Two backward passes: the double-backward trick.)
std::pair<std::vector<Tensor>, std::vector<Tensor>> jvp(const TensorFunction& f, const std::vector<Tensor>& inputs,
                                                        const std::vector<Tensor>& v = {}, Options o = {});
// J[i][j] = d outputs[i] / d inputs[j], of shape outputs[i].shape + inputs[j].shape.
std::vector<std::vector<Tensor>> jacobian(const TensorFunction& f, const std::vector<Tensor>& inputs, Options o = {});
// H[i][j] = d^2 f / d inputs[i] d inputs[j] for f with one one-element output, of shape
// inputs[i].shape + inputs[j].shape.
std::vector<std::vector<Tensor>> hessian(const TensorFunction& f, const std::vector<Tensor>& inputs, Options o = {});
// (f(inputs), v^T H) and (f(inputs), H v) for f with one one-element output; v is one tensor per input.
std::pair<Tensor, std::vector<Tensor>> vhp(const TensorFunction& f, const std::vector<Tensor>& inputs,
                                           const std::vector<Tensor>& v, Options o = {});
std::pair<Tensor, std::vector<Tensor>> hvp(const TensorFunction& f, const std::vector<Tensor>& inputs,
                                           const std::vector<Tensor>& v, Options o = {});

}  // namespace tessera::autograd::functional
