// Reductions, scans, softmax and sorting.
#include <cmath>
#include <set>

#include "tessera/autograd/autograd.h"
#include "tessera/ops/autocast.h"
#include "tessera/ops/ops.h"
#include "tessera/ops/trace.h"

namespace tessera::ops {

using autograd::needs_grad;
using autograd::record_fn;
using G = std::vector<Tensor>;

namespace {
// Normalized, deduplicated reduced dims (all dims when dims is empty).
std::vector<bool> reduced_mask(const Tensor& x, const Shape& dims, const char* op) {
  std::vector<bool> m(size_t(x.dim()), dims.empty());
  for (int64_t d : dims) {
    int64_t w = wrap_dim(d, x.dim(), op);
    if (x.dim() == 0) continue;
    TS_CHECK_VALUE(!m[size_t(w)] || dims.empty(), op, ": dim ", w, " appears multiple times in the list of dims");
    m[size_t(w)] = true;
  }
  return m;
}
Shape keep_shape(const Tensor& x, const std::vector<bool>& m) {
  Shape s = x.shape();
  for (size_t i = 0; i < s.size(); ++i)
    if (m[i]) s[i] = 1;
  return s;
}
Tensor squeeze_reduced(const Tensor& out, const std::vector<bool>& m, bool keepdim) {
  if (keepdim) return out;
  Shape s;
  for (size_t i = 0; i < m.size(); ++i)
    if (!m[i]) s.push_back(out.size(int64_t(i)));
  return out.view(s);
}
// The reduced dims as a list (all of them when none were named), for the tracer.
Shape reduced_dims(const std::vector<bool>& m) {
  Shape d;
  for (size_t i = 0; i < m.size(); ++i)
    if (m[i]) d.push_back(int64_t(i));
  return d;
}
Tensor reduce(ReduceOp op, const Tensor& x, const Shape& dims, bool keepdim, DType out_dtype, const char* name) {
  trace::Scope ts;
  auto m = reduced_mask(x, dims, name);
  Shape ks = keep_shape(x, m);
  Tensor out = empty(ks, {out_dtype, x.device()});
  backend_for(x.device()).reduce(op, out, x);
  Tensor r = squeeze_reduced(out, m, keepdim);
  if (ts.recording()) ts.record(name, {x}, {r}, {{"dims", reduced_dims(m)}, {"keepdim", int64_t(keepdim)}});
  if (!is_floating(out_dtype) || !needs_grad({&x})) return r;
  Shape xs = x.shape();
  switch (op) {
    case ReduceOp::Sum:
      record_fn(name, {&x}, {&r}, {}, [ks, xs](const G& g, const G&) { return G{g[0].reshape(ks).expand(xs)}; });
      break;
    case ReduceOp::Prod:
      // d/dx_i prod = product of the others: out / x_i where x_i != 0; where x_i is the only
      // zero of its slice, the product of the non-zeros; 0 where the slice has two zeros.
      record_fn(name, {&x}, {&r}, {x}, [ks, xs, dims](const G& g, const G& s) {
        Tensor x = s[0], zero = x == 0.0;
        Tensor nz_prod = prod(where(zero, ones_like(x), x), dims, true);
        Tensor zeros_in_slice = sum(zero, dims, true);
        Tensor others = where(zero, where(zeros_in_slice == int64_t(1), nz_prod, zeros_like(nz_prod)),
                              where(zeros_in_slice > int64_t(0), zeros_like(x), nz_prod / x));
        return G{g[0].reshape(ks) * others};
      });
      break;
    case ReduceOp::Max:
    case ReduceOp::Min:
      // Ties share the gradient equally, as PyTorch's amax/amin do.
      record_fn(name, {&x}, {&r}, {x}, [ks, dims](const G& g, const G& s) {
        Tensor hit = (s[0] == s[1].reshape(ks)).to(s[0].dtype());
        return G{g[0].reshape(ks) * hit / sum(hit, dims, true)};
      }, {r});
      break;
    default: break;
  }
  return r;
}
int64_t reduced_count(const Tensor& x, const Shape& dims, const char* op) {
  auto m = reduced_mask(x, dims, op);
  int64_t n = 1;
  for (size_t i = 0; i < m.size(); ++i)
    if (m[i]) n *= x.size(int64_t(i));
  return n;
}
}  // namespace

Tensor sum(const Tensor& x_, const Shape& dims, bool keepdim, std::optional<DType> dtype) {
  // (An explicit dtype wins over autocast, as in PyTorch.)
  autocast::Operands ac(dtype ? "" : "sum", {&x_});
  const Tensor& x = ac[0];
  DType dt = dtype.value_or(is_floating(x.dtype()) ? x.dtype() : DType::Int64);
  return reduce(ReduceOp::Sum, x, dims, keepdim, dt, "sum");
}
Tensor prod(const Tensor& x_, const Shape& dims, bool keepdim) {
  autocast::Operands ac("prod", {&x_});
  const Tensor& x = ac[0];
  return reduce(ReduceOp::Prod, x, dims, keepdim, is_floating(x.dtype()) ? x.dtype() : DType::Int64, "prod");
}
Tensor mean(const Tensor& x, const Shape& dims, bool keepdim) {
  TS_CHECK_DTYPE(x.is_floating_point(), "mean: could not infer output dtype; input dtype must be floating point, got ",
                 x.dtype());
  trace::Scope ts;
  int64_t n = reduced_count(x, dims, "mean");
  Tensor r = sum(x, dims, keepdim) / double(n);
  if (ts.recording()) ts.record("mean", {x}, {r}, {{"dims", reduced_dims(reduced_mask(x, dims, "mean"))}, {"keepdim", int64_t(keepdim)}});
  return r;
}
Tensor amax(const Tensor& x, const Shape& dims, bool keepdim) {
  TS_CHECK_SHAPE(x.numel() > 0 || !dims.empty(), "amax: cannot reduce an empty tensor (shape ", x.shape(), ")");
  return reduce(ReduceOp::Max, x, dims, keepdim, x.dtype(), "amax");
}
Tensor amin(const Tensor& x, const Shape& dims, bool keepdim) {
  TS_CHECK_SHAPE(x.numel() > 0 || !dims.empty(), "amin: cannot reduce an empty tensor (shape ", x.shape(), ")");
  return reduce(ReduceOp::Min, x, dims, keepdim, x.dtype(), "amin");
}
Tensor all(const Tensor& x, const Shape& dims, bool keepdim) {
  return reduce(ReduceOp::All, x, dims, keepdim, DType::Bool, "all");
}
Tensor any(const Tensor& x, const Shape& dims, bool keepdim) {
  return reduce(ReduceOp::Any, x, dims, keepdim, DType::Bool, "any");
}

namespace {
Tensor arg_reduce(bool is_max, const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  const char* name = is_max ? "argmax" : "argmin";
  trace::Scope ts;
  if (!dim) {
    TS_CHECK_SHAPE(x.numel() > 0, name, ": expected a non-empty tensor");
    Tensor r = arg_reduce(is_max, x.reshape({-1}), 0, false);
    r = keepdim ? r.view(Shape(size_t(x.dim()), 1)) : r;
    if (ts.recording()) ts.record(name, {x}, {r}, {{"keepdim", int64_t(keepdim)}});
    return r;
  }
  int64_t d = wrap_dim(*dim, x.dim(), name);
  Tensor xs = x.dim() == 0 ? x.view({1}) : x;
  Shape ks = xs.shape();
  ks[size_t(d)] = 1;
  Tensor out = empty(ks, {DType::Int64, x.device()});
  backend_for(x.device()).arg_reduce(is_max, out, xs, d);
  Tensor r = x.dim() == 0 ? out.view({}) : keepdim ? out : out.squeeze(d);
  if (ts.recording()) ts.record(name, {x}, {r}, {{"dim", d}, {"keepdim", int64_t(keepdim)}});
  return r;
}
}  // namespace

Tensor argmax(const Tensor& x, std::optional<int64_t> dim, bool keepdim) { return arg_reduce(true, x, dim, keepdim); }
Tensor argmin(const Tensor& x, std::optional<int64_t> dim, bool keepdim) { return arg_reduce(false, x, dim, keepdim); }

namespace {
// (values, indices) of the max or min along dim: the arg-reduction, then a gather.
std::pair<Tensor, Tensor> extremum(bool is_max, const Tensor& x, int64_t dim, bool keepdim) {
  Tensor idx = arg_reduce(is_max, x, dim, true);
  int64_t d = wrap_dim(dim, x.dim(), is_max ? "max" : "min");
  if (x.dim() == 0) return {x.clone(), idx};
  Tensor vals = gather(x, d, idx);
  return keepdim ? std::pair{vals, idx} : std::pair{vals.squeeze(d), idx.squeeze(d)};
}
}  // namespace

std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim) { return extremum(true, x, dim, keepdim); }
std::pair<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim) { return extremum(false, x, dim, keepdim); }

Tensor var(const Tensor& x, const Shape& dims, int64_t correction, bool keepdim) {
  TS_CHECK_DTYPE(x.is_floating_point(), "var: expected a floating-point tensor, got ", x.dtype());
  int64_t n = reduced_count(x, dims, "var");
  Tensor centered = x - mean(x, dims, true);
  // n - correction <= 0 gives inf/NaN, as in PyTorch.
  return sum(square(centered), dims, keepdim) / double(std::max<int64_t>(n - correction, 0));
}
Tensor std(const Tensor& x, const Shape& dims, int64_t correction, bool keepdim) {
  return sqrt(var(x, dims, correction, keepdim));
}
Tensor norm(const Tensor& x, double p, const Shape& dims, bool keepdim) {
  TS_CHECK_DTYPE(x.is_floating_point(), "norm: expected a floating-point tensor, got ", x.dtype());
  if (std::isinf(p)) return p > 0 ? amax(abs(x), dims, keepdim) : amin(abs(x), dims, keepdim);
  if (p == 2) return sqrt(sum(square(x), dims, keepdim));
  if (p == 1) return sum(abs(x), dims, keepdim);
  if (p == 0) return sum(ne(x, zeros({}, {x.dtype(), x.device()})).to(x.dtype()), dims, keepdim);
  return pow(sum(pow(abs(x), p), dims, keepdim), 1.0 / p);
}
Tensor logsumexp(const Tensor& x_, const Shape& dims, bool keepdim) {
  autocast::Operands ac("logsumexp", {&x_});
  const Tensor& x = ac[0];
  Tensor xf = x.is_floating_point() ? x : x.to(DType::Float32);
  Tensor m = amax(xf, dims, true).detach();  // a shift only: its gradient cancels exactly
  m = where(isinf(m), zeros_like(m), m);  // keeps all -inf rows at -inf and avoids inf - inf
  Tensor r = log(sum(exp(xf - m), dims, true)) + m;
  if (keepdim) return r;
  auto mask = reduced_mask(x, dims, "logsumexp");
  return squeeze_reduced(r, mask, false);
}

Tensor cumsum(const Tensor& x_, int64_t dim, std::optional<DType> dtype) {
  autocast::Operands ac(dtype ? "" : "cumsum", {&x_});
  const Tensor& x = ac[0];
  int64_t d = wrap_dim(dim, x.dim(), "cumsum");
  DType dt = dtype.value_or(is_floating(x.dtype()) ? x.dtype() : DType::Int64);
  Tensor xs = x.dim() == 0 ? x.view({1}) : x;
  Tensor out = empty(xs.shape(), {dt, x.device()});
  backend_for(x.device()).cumsum(out, xs, d);
  out = x.dim() == 0 ? out.view({}) : out;
  if (is_floating(dt) && needs_grad({&x}))
    record_fn("cumsum", {&x}, {&out}, {}, [d](const G& g, const G&) {
      if (g[0].dim() == 0) return G{g[0]};
      return G{flip(cumsum(flip(g[0], {d}), d), {d})};
    });
  return out;
}

namespace {
Tensor softmax_impl(const Tensor& x, int64_t dim, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  trace::Scope ts;
  int64_t d = wrap_dim(dim, x.dim(), name);
  Tensor xs = x.is_floating_point() ? x : x.to(DType::Float32);
  if (x.dim() == 0) xs = xs.view({1});
  Tensor out = empty(xs.shape(), {xs.dtype(), x.device()});
  backend_for(x.device()).softmax(out, xs, d, log);
  out = x.dim() == 0 ? out.view({}) : out;
  if (needs_grad({&x})) {
    int64_t dd = x.dim() == 0 ? -1 : d;
    record_fn(name, {&x}, {&out}, {}, [log, dd](const G& g, const G& s) {
      if (s[0].dim() == 0) return G{zeros_like(g[0])};
      if (log) return G{g[0] - exp(s[0]) * sum(g[0], {dd}, true)};
      return G{s[0] * (g[0] - sum(g[0] * s[0], {dd}, true))};
    }, {out});
  }
  if (ts.recording()) ts.record(name, {x}, {out}, {{"dim", d}});
  return out;
}
}  // namespace
Tensor softmax(const Tensor& x, int64_t dim) {
  autocast::Operands ac("softmax", {&x});
  return softmax_impl(ac[0], dim, false);
}
Tensor log_softmax(const Tensor& x, int64_t dim) {
  autocast::Operands ac("log_softmax", {&x});
  return softmax_impl(ac[0], dim, true);
}

std::pair<Tensor, Tensor> sort(const Tensor& x, int64_t dim, bool descending) {
  int64_t d = wrap_dim(dim, x.dim(), "sort");
  Tensor xs = x.dim() == 0 ? x.view({1}) : x;
  Tensor v = empty(xs.shape(), {x.dtype(), x.device()}), i = empty(xs.shape(), {DType::Int64, x.device()});
  backend_for(x.device()).sort(v, i, xs, d, descending);
  if (x.dim() == 0) return {v.view({}), i.view({})};
  if (needs_grad({&x}))
    record_fn("sort", {&x}, {&v}, {i}, [d](const G& g, const G& s) { return G{scatter_add(zeros_like(g[0]), d, s[0], g[0])}; });
  return {v, i};
}
std::pair<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim, bool largest) {
  int64_t d = wrap_dim(dim, x.dim(), "topk");
  Tensor xs = x.dim() == 0 ? x.view({1}) : x;
  TS_CHECK_INDEX(k >= 0 && k <= xs.size(d), "topk: k (", k, ") is out of range for dimension ", d, " of size ",
                 xs.size(d));
  Shape s = xs.shape();
  s[size_t(d)] = k;
  Tensor v = empty(s, {x.dtype(), x.device()}), i = empty(s, {DType::Int64, x.device()});
  backend_for(x.device()).topk(v, i, xs, k, d, largest);
  if (x.dim() == 0) return {v.view({}), i.view({})};
  if (needs_grad({&x})) {
    Shape in = xs.shape();
    record_fn("topk", {&x}, {&v}, {i}, [d, in](const G& g, const G& s) {
      return G{scatter_add(zeros(in, {g[0].dtype(), g[0].device()}), d, s[0], g[0])};
    });
  }
  return {v, i};
}

}  // namespace tessera::ops
