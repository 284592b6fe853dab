#include "tessera/autograd/gradcheck.h"

#include <cmath>

#include "tessera/autograd/autograd.h"
#include "tessera/ops/ops.h"

namespace tessera::autograd {

namespace {
std::vector<size_t> differentiable(const std::vector<Tensor>& inputs) {
  std::vector<size_t> r;
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].defined() && inputs[i].requires_grad()) {
      TS_CHECK_DTYPE(inputs[i].dtype() == DType::Float64, "gradcheck: input ", i, " is ", inputs[i].dtype(),
                     "; inputs that require grad must be float64");
      r.push_back(i);
    }
  TS_CHECK_VALUE(!r.empty(), "gradcheck: no input requires grad");
  return r;
}

std::vector<Tensor> float_outputs(const std::vector<Tensor>& outs) {
  std::vector<Tensor> r;
  for (const Tensor& o : outs)
    if (o.defined() && o.is_floating_point()) r.push_back(o);
  return r;
}
}  // namespace

bool gradcheck(const TensorFunction& f, const std::vector<Tensor>& inputs, GradcheckOptions opt) {
  std::vector<size_t> diff = differentiable(inputs);
  std::vector<Tensor> diff_inputs;
  for (size_t i : diff) diff_inputs.push_back(inputs[i]);
  std::vector<Tensor> outs = float_outputs(f(inputs));
  for (size_t oi = 0; oi < outs.size(); ++oi) {
    const Tensor& out = outs[oi];
    int64_t n_out = out.numel();
    // Analytical Jacobian rows: one backward per output element.
    std::vector<std::vector<std::vector<double>>> analytical(diff.size());
    for (int64_t k = 0; k < n_out; ++k) {
      Tensor onehot = zeros(out.shape(), {out.dtype(), out.device()});
      onehot.view({-1}).narrow(0, k, 1).fill_(1);
      std::vector<Tensor> g;
      if (out.requires_grad()) g = grad({out}, diff_inputs, {onehot}, true, false, true);
      else g.resize(diff.size());
      for (size_t i = 0; i < diff.size(); ++i)
        analytical[i].push_back(g[i].defined() ? g[i].to_vector()
                                               : std::vector<double>(size_t(diff_inputs[i].numel()), 0.0));
    }
    // Numerical Jacobian columns: central differences on one input element at a time.
    for (size_t i = 0; i < diff.size(); ++i) {
      int64_t n_in = diff_inputs[i].numel();
      for (int64_t j = 0; j < n_in; ++j) {
        std::vector<double> plus, minus;
        for (double sgn : {1.0, -1.0}) {
          std::vector<Tensor> pert = inputs;
          Tensor x = inputs[diff[i]].detach().clone();
          Tensor cell = x.view({-1}).narrow(0, j, 1);
          cell.fill_(cell.item<double>() + sgn * opt.eps);
          pert[diff[i]] = x.requires_grad_();  // f may itself differentiate (gradgradcheck)
          std::vector<Tensor> o = float_outputs(f(pert));
          TS_CHECK(o.size() == outs.size(), "gradcheck: the function returned ", o.size(), " floating outputs for "
                   "perturbed inputs but ", outs.size(), " for the originals");
          (sgn > 0 ? plus : minus) = o[oi].to_vector();
        }
        for (int64_t k = 0; k < n_out; ++k) {
          double num = (plus[size_t(k)] - minus[size_t(k)]) / (2 * opt.eps);
          double ana = analytical[i][size_t(k)][size_t(j)];
          if (!(std::fabs(ana - num) <= opt.atol + opt.rtol * std::fabs(num))) {
            if (!opt.raise) return false;
            throw Error(detail::str("gradcheck: Jacobian mismatch for output ", oi, " with respect to input ", diff[i],
                                    ": d out[", k, "] / d in[", j, "]: analytical ", ana, " vs numerical ", num,
                                    " (atol ", opt.atol, ", rtol ", opt.rtol, ")"));
          }
        }
      }
    }
  }
  return true;
}

bool gradgradcheck(const TensorFunction& f, const std::vector<Tensor>& inputs, GradcheckOptions opt) {
  std::vector<size_t> diff = differentiable(inputs);
  std::vector<Tensor> outs = float_outputs(f(inputs));
  // Fixed random cotangents v, one per output.
  Generator gen(1234);
  std::vector<Tensor> vs;
  for (const Tensor& o : outs) vs.push_back(randn(o.shape(), {o.dtype(), o.device()}, &gen));
  TensorFunction first = [&](const std::vector<Tensor>& xs) {
    std::vector<Tensor> os = float_outputs(f(xs)), ins, used_v, used_o;
    for (size_t i : diff) ins.push_back(xs[i]);
    for (size_t k = 0; k < os.size(); ++k)
      if (os[k].requires_grad()) {
        used_o.push_back(os[k]);
        used_v.push_back(vs[k]);
      }
    if (used_o.empty()) return std::vector<Tensor>{};
    std::vector<Tensor> g = grad(used_o, ins, used_v, true, true, true);
    std::vector<Tensor> r;
    for (size_t k = 0; k < g.size(); ++k)
      r.push_back(g[k].defined() ? g[k] : zeros(ins[k].shape(), {ins[k].dtype(), ins[k].device()}));
    return r;
  };
  return gradcheck(first, inputs, opt);
}

}  // namespace tessera::autograd
