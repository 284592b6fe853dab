// Normalization ops: batch norm (with the backend's fused backward pass where it has one), layer
// norm and group norm.
#include <algorithm>
#include <cmath>
#include <tuple>

#include "tessera/autograd/autograd.h"
#include "tessera/ops/autocast.h"
#include "tessera/ops/ops.h"
#include "tessera/ops/trace.h"

namespace tessera::ops {

using autograd::needs_grad;
using autograd::record_fn;
using G = std::vector<Tensor>;

namespace {
void check_float(const char* op, const Tensor& t, const char* what) {
  TS_CHECK_DTYPE(t.is_floating_point(), op, ": expected ", what, " to be floating point, got ", t.dtype());
}
}  // namespace

namespace {
// (mean, biased var) per channel of contiguous x viewed as [A, C, B].
std::pair<Tensor, Tensor> moments(const Tensor& x, int64_t A, int64_t C, int64_t B) {
  Tensor m = empty({C}, {x.dtype(), x.device()}), v = empty({C}, {x.dtype(), x.device()});
  backend_for(x.device()).moments(m, v, x, A, C, B);
  return {m, v};
}
void check_param(const char* op, const Tensor& t, const Shape& want, const Tensor& x) {
  if (!t.defined()) return;
  TS_CHECK_SHAPE(t.shape() == want, op, ": expected a parameter of shape ", want, ", got ", t.shape());
  TS_CHECK_DEVICE(t.device() == x.device(), op, ": parameter on ", t.device(), " but input on ", x.device());
}
}  // namespace

// Batch norm's backward pass through the backend's fused kernel: {gx, gw, gb}, or undefined
// tensors where it cannot run (fused kernels off, mixed dtypes or layouts, a backend without one).
static std::vector<Tensor> batch_norm_backward_fused(const Tensor& g_, const Tensor& x, const Tensor& w,
                                                     const Tensor& mean, const Tensor& rstd) {
  if (!fused_kernels_enabled() || !g_.defined() || g_.dtype() != x.dtype() || mean.dtype() != x.dtype() ||
      rstd.dtype() != x.dtype() || (w.defined() && w.dtype() != x.dtype()) || g_.device() != x.device())
    return std::vector<Tensor>(3);
  int64_t N = x.size(0), C = x.size(1), A, B;
  Tensor g;
  if (x.is_contiguous()) {  // [N, C, rest]
    g = g_.contiguous();
    A = N, B = x.numel() / std::max<int64_t>(N * C, 1);
  } else if (x.dim() == 4 && x.is_contiguous(MemoryFormat::ChannelsLast) &&
             g_.is_contiguous(MemoryFormat::ChannelsLast)) {  // [N * H * W, C]
    g = g_;
    A = x.numel() / std::max<int64_t>(C, 1), B = 1;
  } else {
    return std::vector<Tensor>(3);
  }
  Tensor gx = empty_like(x), gw = empty({C}, {x.dtype(), x.device()}), gb = empty({C}, {x.dtype(), x.device()});
  if (!backend_for(x.device()).batch_norm_backward(gx, gw, gb, g, x, mean, rstd, w.defined() ? w.contiguous() : w, A,
                                                   C, B))
    return std::vector<Tensor>(3);
  return {gx, w.defined() ? gw : Tensor(), gb};
}

static Tensor batch_norm_untraced(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  check_float("batch_norm", x, "input");
  TS_CHECK_SHAPE(x.dim() >= 2, "batch_norm: expected input of at least 2 dims [N, C, ...], got ", x.shape());
  int64_t N = x.size(0), C = x.size(1), R = x.numel() / std::max<int64_t>(N * C, 1);
  for (const Tensor* t : {&running_mean, &running_var, &weight, &bias}) check_param("batch_norm", *t, {C}, x);
  Tensor m, v;
  if (training) {
    TS_CHECK_VALUE(N * R > 1, "batch_norm: expected more than 1 value per channel when training, got input size ",
                   x.shape());
    {
      autograd::NoGradGuard ng;
      std::tie(m, v) = moments(x.contiguous(), N, C, R);
    }
    double n = double(N * R);
    autograd::NoGradGuard ng;  // running statistics are buffers: no history
    if (running_mean.defined()) {
      Tensor rm = running_mean;
      rm.copy_(running_mean * (1 - momentum) + m.to(running_mean.dtype()) * momentum);
    }
    if (running_var.defined()) {
      Tensor rv = running_var;
      rv.copy_(running_var * (1 - momentum) + (v * (n / (n - 1))).to(running_var.dtype()) * momentum);
    }
  } else {
    TS_CHECK_VALUE(running_mean.defined() && running_var.defined(),
                   "batch_norm: running_mean and running_var are required in eval mode");
    m = running_mean.to(x.dtype());
    v = running_var.to(x.dtype());
  }
  Shape bshape(static_cast<size_t>(x.dim()), 1);
  bshape[1] = C;
  if (!training) {  // a fixed affine map: autograd flows through the ops below
    Tensor scale = rsqrt(v + eps);
    if (weight.defined()) scale = scale * weight;
    Tensor shift = bias.defined() ? bias - m * scale : -m * scale;
    return fma(x, scale.to(x.dtype()).view(bshape), shift.to(x.dtype()).view(bshape));
  }
  // Training: one fused pass forward, and the batch-statistics rule backward (written with ops,
  // so it differentiates again).
  Tensor rstd = rsqrt(v + eps), out;
  {
    autograd::NoGradGuard ng;
    Tensor scale = weight.defined() ? rstd * weight : rstd;
    Tensor shift = bias.defined() ? bias - m * scale : -m * scale;
    out = fma(x, scale.to(x.dtype()).view(bshape), shift.to(x.dtype()).view(bshape));
  }
  if (needs_grad({&x, &weight, &bias})) {
    Shape dims{0};
    for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
    bool has_w = weight.defined();
    record_fn("batch_norm", {&x, &weight, &bias}, {&out}, {x, weight, m, rstd},
              [dims, bshape, has_w, eps](const G& g, const G& s) {
      const Tensor &x = s[0], &w = s[1];
      if (!autograd::is_grad_enabled()) {
        G fused = batch_norm_backward_fused(g[0], x, w, s[2], s[3]);
        if (fused[0].defined()) return fused;
      }
      Tensor mu = s[2].view(bshape), rs = s[3].view(bshape);
      if (autograd::is_grad_enabled()) {  // create_graph: the statistics depend on x too
        mu = mean(x, dims, true);
        rs = rsqrt(var(x, dims, 0, true) + eps);
      }
      Tensor xhat = (x - mu) * rs;
      Tensor gb = sum(g[0], dims), gw = sum(g[0] * xhat, dims);
      double n = double(x.numel() / x.size(1));
      Tensor k = has_w ? rs * w.view(bshape) : rs;
      Tensor gx = k * (g[0] - gb.view(bshape) / n - xhat * gw.view(bshape) / n);
      return G{gx, has_w ? gw : Tensor(), gb};
    });
  }
  return out;
}

static Tensor layer_norm_untraced(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  check_float("layer_norm", x, "input");
  int64_t k = int64_t(normalized_shape.size());
  TS_CHECK_SHAPE(k >= 1 && k <= x.dim() && Shape(x.shape().end() - k, x.shape().end()) == normalized_shape,
                 "layer_norm: given normalized_shape=", normalized_shape, ", expected input with shape [*, ",
                 normalized_shape, "], but got input of size ", x.shape());
  check_param("layer_norm", weight, normalized_shape, x);
  check_param("layer_norm", bias, normalized_shape, x);
  int64_t N = numel_of(normalized_shape), M = x.numel() / std::max<int64_t>(N, 1);
  Tensor x2 = [&] {
    autograd::NoGradGuard ng;  // kernel scratch
    return x.contiguous().view({M, N});
  }();
  Tensor out = empty({M, N}, {x.dtype(), x.device()});
  Tensor mean = empty({M}, {x.dtype(), x.device()}), rstd = empty({M}, {x.dtype(), x.device()});
  backend_for(x.device()).layer_norm(out, mean, rstd, x2, weight.defined() ? weight.to(x.dtype()).contiguous() : weight,
                                     bias.defined() ? bias.to(x.dtype()).contiguous() : bias, eps);
  {
    autograd::NoGradGuard ng;
    out = out.view(x.shape());
  }
  if (needs_grad({&x, &weight, &bias})) {
    bool has_w = weight.defined();
    Shape xs = x.shape(), ns = normalized_shape;
    record_fn("layer_norm", {&x, &weight, &bias}, {&out}, {x, weight, mean, rstd},
              [M, N, has_w, xs, ns, eps](const G& g, const G& s) {
                Tensor x2 = s[0].reshape({M, N}), g2 = g[0].reshape({M, N});
                Tensor mu = s[2].view({M, 1}), rs = s[3].view({M, 1});
                if (autograd::is_grad_enabled()) {  // create_graph: the statistics depend on x too
                  mu = ops::mean(x2, {1}, true);
                  rs = rsqrt(var(x2, {1}, 0, true) + eps);
                }
                Tensor xhat = (x2 - mu) * rs;
                Tensor gxhat = has_w ? g2 * s[1].reshape({1, N}) : g2;
                Tensor gx = rs * (gxhat - ops::mean(gxhat, {1}, true) - xhat * ops::mean(gxhat * xhat, {1}, true));
                Tensor gw = has_w ? sum(g2 * xhat, {0}).view(ns) : Tensor();
                Tensor gb = sum(g2, {0}).view(ns);
                return G{gx.view(xs), gw, gb};
              });
  }
  return out;
}

static Tensor group_norm_untraced(const Tensor& x, int64_t G, const Tensor& weight, const Tensor& bias, double eps) {
  check_float("group_norm", x, "input");
  TS_CHECK_SHAPE(x.dim() >= 2, "group_norm: expected input [N, C, ...], got ", x.shape());
  int64_t N = x.size(0), C = x.size(1);
  TS_CHECK_VALUE(G > 0 && C % G == 0, "group_norm: expected number of channels in input (", C,
                 ") to be divisible by num_groups (", G, ")");
  check_param("group_norm", weight, {C}, x);
  check_param("group_norm", bias, {C}, x);
  int64_t R = x.numel() / std::max<int64_t>(N * C, 1);
  if (needs_grad({&x, &weight, &bias})) {  // differentiable composition (the fused path below has no rule)
    Tensor g3 = x.reshape({N, G, -1});
    Tensor c = g3 - mean(g3, {2}, true);
    Tensor y = (c * rsqrt(mean(square(c), {2}, true) + eps)).reshape(x.shape());
    Shape bshape(static_cast<size_t>(x.dim()), 1);
    bshape[1] = C;
    if (weight.defined()) y = y * weight.view(bshape);
    if (bias.defined()) y = y + bias.view(bshape);
    return y;
  }
  auto [m, v] = moments(x.contiguous(), 1, N * G, (C / G) * R);
  // Per (n, c): scale = rstd[n, group(c)] * weight[c], shift = bias[c] - mean * scale.
  Tensor rs = rsqrt(v + eps).view({N, G, 1}).expand({N, G, C / G}).reshape({N, C});
  Tensor mu = m.view({N, G, 1}).expand({N, G, C / G}).reshape({N, C});
  Tensor scale = weight.defined() ? rs * weight.to(x.dtype()).view({1, C}) : rs;
  Tensor shift = bias.defined() ? bias.to(x.dtype()).view({1, C}) - mu * scale : -mu * scale;
  return fma(x.reshape({N, C, R}), scale.view({N, C, 1}), shift.view({N, C, 1})).view(x.shape());
}

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  trace::Scope ts;
  Tensor y = batch_norm_untraced(x, running_mean, running_var, weight, bias, training, momentum, eps);
  if (ts.recording()) ts.record("batch_norm", {x, weight, bias, running_mean, running_var}, {y},
            {{"training", int64_t(training)}, {"eps", eps}});
  return y;
}
Tensor layer_norm(const Tensor& x_, const Shape& normalized_shape, const Tensor& weight_, const Tensor& bias_,
                  double eps) {
  autocast::Operands ac("layer_norm", {&x_, &weight_, &bias_});
  const Tensor &x = ac[0], &weight = ac[1], &bias = ac[2];
  trace::Scope ts;
  Tensor y = layer_norm_untraced(x, normalized_shape, weight, bias, eps);
  if (ts.recording()) ts.record("layer_norm", {x, weight, bias}, {y}, {{"normalized_shape", normalized_shape}, {"eps", eps}});
  return y;
}
Tensor group_norm(const Tensor& x_, int64_t G, const Tensor& weight_, const Tensor& bias_, double eps) {
  autocast::Operands ac("group_norm", {&x_, &weight_, &bias_});
  const Tensor &x = ac[0], &weight = ac[1], &bias = ac[2];
  trace::Scope ts;
  Tensor y = group_norm_untraced(x, G, weight, bias, eps);
  if (ts.recording()) ts.record("group_norm", {x, weight, bias}, {y}, {{"num_groups", G}, {"eps", eps}});
  return y;
}

}  // namespace tessera::ops
