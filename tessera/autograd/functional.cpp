#include "tessera/autograd/functional.h"

#include "tessera/autograd/autograd.h"
#include "tessera/ops/ops.h"

namespace tessera::autograd::functional {

namespace {
// The inputs as fresh leaves that require grad (or, with create_graph, differentiable aliases of
// the caller's tensors, so that results connect back to them).
std::vector<Tensor> prepare(const std::vector<Tensor>& inputs, const char* op, bool create_graph) {
  std::vector<Tensor> out;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    TS_CHECK(x.defined(), op, ": input ", i, " is undefined");
    TS_CHECK_DTYPE(x.is_floating_point(), op, ": input ", i, " must be floating point, got ", x.dtype());
    if (create_graph && x.requires_grad()) out.push_back(x.view(x.shape()));
    else out.push_back(x.detach().requires_grad_(true));
  }
  return out;
}

std::vector<Tensor> call(const TensorFunction& f, const std::vector<Tensor>& inputs, const char* op) {
  std::vector<Tensor> outs = f(inputs);
  TS_CHECK_VALUE(!outs.empty(), op, ": the function returned no tensors");
  for (size_t i = 0; i < outs.size(); ++i) {
    TS_CHECK(outs[i].defined(), op, ": output ", i, " of the function is undefined");
    TS_CHECK_DTYPE(outs[i].is_floating_point(), op, ": output ", i, " must be floating point, got ", outs[i].dtype());
  }
  return outs;
}

// Gradients of outs (weighted by v) w.r.t. xs; an input with none gets zeros or, with strict, an error.
std::vector<Tensor> grads_of(const std::vector<Tensor>& outs, const std::vector<Tensor>& xs,
                             const std::vector<Tensor>& v, bool create_graph, bool strict, const char* op) {
  std::vector<Tensor> diff_outs, diff_v;
  for (size_t i = 0; i < outs.size(); ++i)
    if (outs[i].requires_grad()) {
      diff_outs.push_back(outs[i]);
      diff_v.push_back(v[i]);
    } else {
      TS_CHECK_VALUE(!strict, op, ": output ", i, " does not depend on any input (strict=True)");
    }
  std::vector<Tensor> g(xs.size());
  if (!diff_outs.empty()) g = grad(diff_outs, xs, diff_v, /*retain_graph=*/true, create_graph, /*allow_unused=*/true);
  for (size_t j = 0; j < xs.size(); ++j) {
    if (g[j].defined()) continue;
    TS_CHECK_VALUE(!strict, op, ": the output does not depend on input ", j, " (strict=True)");
    g[j] = zeros_like(xs[j]);
  }
  return g;
}

std::vector<Tensor> detached(std::vector<Tensor> v, bool create_graph) {
  if (!create_graph)
    for (Tensor& t : v) t = t.detach();
  return v;
}

void check_like(const std::vector<Tensor>& v, const std::vector<Tensor>& like, const char* op, const char* what) {
  TS_CHECK_VALUE(v.size() == like.size(), op, ": v has ", v.size(), " tensors but there are ", like.size(), " ", what);
  for (size_t i = 0; i < v.size(); ++i)
    TS_CHECK_SHAPE(v[i].defined() && v[i].shape() == like[i].shape(), op, ": v[", i, "] has shape ",
                   v[i].defined() ? v[i].shape() : Shape{}, " but ", what, " ", i, " has shape ", like[i].shape());
}

std::vector<Tensor> ones_for(const std::vector<Tensor>& ts, const char* op, const char* what) {
  std::vector<Tensor> v;
  for (size_t i = 0; i < ts.size(); ++i) {
    TS_CHECK_VALUE(ts[i].numel() == 1, op, ": v can be omitted only when every one of the ", what,
                   " has one element; ", what, " ", i, " has shape ", ts[i].shape());
    v.push_back(ones_like(ts[i]));
  }
  return v;
}
}  // namespace

std::pair<std::vector<Tensor>, std::vector<Tensor>> vjp(const TensorFunction& f, const std::vector<Tensor>& inputs,
                                                        const std::vector<Tensor>& v_in, Options o) {
  EnableGradGuard eg;
  std::vector<Tensor> xs = prepare(inputs, "vjp", o.create_graph);
  std::vector<Tensor> outs = call(f, xs, "vjp");
  std::vector<Tensor> v = v_in.empty() ? ones_for(outs, "vjp", "outputs") : v_in;
  check_like(v, outs, "vjp", "outputs");
  std::vector<Tensor> g = grads_of(outs, xs, v, o.create_graph, o.strict, "vjp");
  return {detached(outs, o.create_graph), detached(g, o.create_graph)};
}

std::pair<std::vector<Tensor>, std::vector<Tensor>> jvp(const TensorFunction& f, const std::vector<Tensor>& inputs,
                                                        const std::vector<Tensor>& v_in, Options o) {
  EnableGradGuard eg;
  std::vector<Tensor> xs = prepare(inputs, "jvp", o.create_graph);
  std::vector<Tensor> v = v_in.empty() ? ones_for(xs, "jvp", "inputs") : v_in;
  check_like(v, xs, "jvp", "inputs");
  std::vector<Tensor> outs = call(f, xs, "jvp");
  // g(u) = J^T u is linear in u; the gradient of <g(u), v> with respect to u is J v.
  std::vector<Tensor> us;
  for (const Tensor& y : outs) us.push_back(zeros_like(y).requires_grad_(true));
  std::vector<Tensor> g = grads_of(outs, xs, us, /*create_graph=*/true, o.strict, "jvp");
  std::vector<Tensor> dg, dv;
  for (size_t j = 0; j < g.size(); ++j)
    if (g[j].requires_grad()) {
      dg.push_back(g[j]);
      dv.push_back(v[j]);
    }
  std::vector<Tensor> jv(outs.size());
  if (!dg.empty()) jv = grad(dg, us, dv, /*retain_graph=*/true, o.create_graph, /*allow_unused=*/true);
  for (size_t i = 0; i < outs.size(); ++i) {
    if (jv[i].defined()) continue;
    TS_CHECK_VALUE(!o.strict, "jvp: output ", i, " does not depend on the inputs (strict=True)");
    jv[i] = zeros_like(outs[i]);
  }
  return {detached(outs, o.create_graph), detached(jv, o.create_graph)};
}

std::vector<std::vector<Tensor>> jacobian(const TensorFunction& f, const std::vector<Tensor>& inputs, Options o) {
  EnableGradGuard eg;
  std::vector<Tensor> xs = prepare(inputs, "jacobian", o.create_graph);
  std::vector<Tensor> outs = call(f, xs, "jacobian");
  std::vector<std::vector<Tensor>> J(outs.size());
  for (size_t i = 0; i < outs.size(); ++i) {
    const Tensor flat = outs[i].reshape({-1});
    std::vector<std::vector<Tensor>> rows(xs.size());  // rows[j][k] = d flat[k] / d xs[j]
    for (int64_t k = 0; k < flat.numel(); ++k) {
      Tensor e = zeros_like(flat);
      {
        NoGradGuard ng;
        e.select(0, k).fill_(1.0);
      }
      std::vector<Tensor> g = grads_of({flat}, xs, {e}, o.create_graph, o.strict, "jacobian");
      for (size_t j = 0; j < xs.size(); ++j) rows[j].push_back(g[j]);
    }
    for (size_t j = 0; j < xs.size(); ++j) {
      Shape s = outs[i].shape();
      s.insert(s.end(), xs[j].shape().begin(), xs[j].shape().end());
      Tensor jm = rows[j].empty() ? zeros(s, {xs[j].dtype(), xs[j].device()}) : ops::stack(rows[j]).reshape(s);
      J[i].push_back(o.create_graph ? jm : jm.detach());
    }
  }
  return J;
}

namespace {
Tensor scalar_output(const TensorFunction& f, const std::vector<Tensor>& xs, const char* op) {
  std::vector<Tensor> outs = call(f, xs, op);
  TS_CHECK_VALUE(outs.size() == 1 && outs[0].numel() == 1, op, ": the function must return one tensor with one "
                 "element, got ", outs.size(), " tensors, the first of shape ", outs[0].shape());
  return outs[0];
}
}  // namespace

std::vector<std::vector<Tensor>> hessian(const TensorFunction& f, const std::vector<Tensor>& inputs, Options o) {
  TensorFunction gradient = [&](const std::vector<Tensor>& xs) {
    Tensor y = scalar_output(f, xs, "hessian");
    return grads_of({y}, xs, {ones_like(y)}, /*create_graph=*/true, o.strict, "hessian");
  };
  return jacobian(gradient, inputs, o);
}

std::pair<Tensor, std::vector<Tensor>> vhp(const TensorFunction& f, const std::vector<Tensor>& inputs,
                                           const std::vector<Tensor>& v, Options o) {
  EnableGradGuard eg;
  std::vector<Tensor> xs = prepare(inputs, "vhp", o.create_graph);
  check_like(v, xs, "vhp", "inputs");
  Tensor y = scalar_output(f, xs, "vhp");
  std::vector<Tensor> g = grads_of({y}, xs, {ones_like(y)}, /*create_graph=*/true, o.strict, "vhp");
  std::vector<Tensor> gd, vd;
  for (size_t j = 0; j < g.size(); ++j)
    if (g[j].requires_grad()) {
      gd.push_back(g[j]);
      vd.push_back(v[j]);
    }
  std::vector<Tensor> h = gd.empty() ? std::vector<Tensor>(xs.size())
                                     : grads_of(gd, xs, vd, o.create_graph, o.strict, "vhp");
  for (size_t j = 0; j < xs.size(); ++j)
    if (!h[j].defined()) h[j] = zeros_like(xs[j]);
  return {o.create_graph ? y : y.detach(), detached(h, o.create_graph)};
}

std::pair<Tensor, std::vector<Tensor>> hvp(const TensorFunction& f, const std::vector<Tensor>& inputs,
                                           const std::vector<Tensor>& v, Options o) {
  // The Hessian of a twice-differentiable function is symmetric: H v = (v^T H)^T.
  return vhp(f, inputs, v, o);
}

}  // namespace tessera::autograd::functional
