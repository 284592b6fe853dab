// One recurrent layer and direction: a fused backend kernel where there is one (oneDNN's RNN
// primitives on the CPU), the steps as ops otherwise. Traced as one "rnn" op (ONNX's RNN, LSTM
// or GRU), not as the steps it is made of.
#include "tessera/autograd/autograd.h"
#include "tessera/backend/backend.h"
#include "tessera/ops/autocast.h"
#include "tessera/ops/ops.h"
#include "tessera/ops/trace.h"

namespace tessera::ops {

using autograd::record_fn;
using G = std::vector<Tensor>;

namespace {

// The layer as ops, step by step: autograd (and higher-order gradients) come with them.
std::tuple<Tensor, Tensor, Tensor> rnn_steps(RnnCell cell, const Tensor& x, Tensor h, Tensor c, const Tensor& w_ih,
                                             const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh, bool reverse) {
  // The input projections of every step in one matmul, then unbound into steps (one autograd
  // node: the backward assembles one gradient for the whole projection, not one per step).
  std::vector<Tensor> xi = unbind(linear(x, w_ih, b_ih), 0);
  int64_t L = x.size(0), H = h.size(-1);
  std::vector<Tensor> out(static_cast<size_t>(L));
  for (int64_t s = 0; s < L; ++s) {
    int64_t t = reverse ? L - 1 - s : s;
    Tensor gi = xi[size_t(t)], gh = linear(h, w_hh, b_hh);
    switch (cell) {
      case RnnCell::Tanh: h = tanh(gi + gh); break;
      case RnnCell::Relu: h = relu(gi + gh); break;
      // (Few, fused ops per step: each small op costs more in overhead and autograd nodes than
      // in arithmetic at these sizes.)
      case RnnCell::LSTM: {
        Tensor g = gi + gh;
        Tensor if_ = sigmoid(g.narrow(1, 0, 2 * H));  // gates i, f
        Tensor o = sigmoid(g.narrow(1, 3 * H, H));
        Tensor i = if_.narrow(1, 0, H), f = if_.narrow(1, H, H);
        c = fma(f, c, i * tanh(g.narrow(1, 2 * H, H)));
        h = o * tanh(c);
        break;
      }
      case RnnCell::GRU: {
        Tensor rz = sigmoid(gi.narrow(1, 0, 2 * H) + gh.narrow(1, 0, 2 * H));
        Tensor r = rz.narrow(1, 0, H), z = rz.narrow(1, H, H);
        Tensor n = tanh(fma(r, gh.narrow(1, 2 * H, H), gi.narrow(1, 2 * H, H)));
        h = fma(z, h - n, n);  // (1 - z) * n + z * h
        break;
      }
    }
    out[size_t(t)] = h;
  }
  return {stack(out, 0), h, c};
}

// The backward of the fused layer when a differentiable gradient is asked for (create_graph):
// the gradients of the step-by-step form, which records its own graph.
G differentiable_backward(RnnCell cell, bool reverse, const G& g, const G& s) {
  auto [y, hn, cn] = rnn_steps(cell, s[0], s[1], s[2], s[3], s[4], s[5], s[6], reverse);
  std::vector<Tensor> outs{y, hn}, grads{g[0], g[1]};
  if (cell == RnnCell::LSTM) {
    outs.push_back(cn);
    grads.push_back(g.size() > 2 ? g[2] : Tensor());
  }
  for (size_t k = 0; k < outs.size(); ++k)
    if (!grads[k].defined()) grads[k] = zeros_like(outs[k]);
  std::vector<Tensor> want;
  std::vector<size_t> where;
  for (size_t i = 0; i < 7; ++i)
    if (s[i].defined() && s[i].requires_grad()) {
      want.push_back(s[i]);
      where.push_back(i);
    }
  G result(7);
  if (want.empty()) return result;
  std::vector<Tensor> got = autograd::grad(outs, want, grads, /*retain_graph=*/true, /*create_graph=*/true,
                                           /*allow_unused=*/true);
  for (size_t k = 0; k < where.size(); ++k) result[where[k]] = got[k];
  return result;
}

}  // namespace

std::tuple<Tensor, Tensor, Tensor> rnn_layer(RnnCell cell, const Tensor& x_, const Tensor& h0_, const Tensor& c0_,
                                             const Tensor& w_ih_, const Tensor& w_hh_, const Tensor& b_ih_,
                                             const Tensor& b_hh_, bool reverse) {
  autocast::Operands ac("rnn", {&x_, &h0_, &c0_, &w_ih_, &w_hh_, &b_ih_, &b_hh_});
  const Tensor &x = ac[0], &h0 = ac[1], &c0 = ac[2], &w_ih = ac[3], &w_hh = ac[4], &b_ih = ac[5], &b_hh = ac[6];
  trace::Scope ts;
  bool lstm = cell == RnnCell::LSTM;
  // The kernels read the weights by these sizes: a mismatch (a file's weights of another shape)
  // is refused here, naming every operand.
  const int64_t gates = lstm ? 4 : cell == RnnCell::GRU ? 3 : 1;
  TS_CHECK_SHAPE(x.dim() == 3 && h0.dim() == 2 && h0.size(0) == x.size(1), "rnn: input ", x.shape(),
                 " must be [T, N, I] and h0 ", h0.shape(), " [N, H]");
  int64_t T = x.size(0), N = x.size(1), H = h0.size(-1);
  auto bias_ok = [&](const Tensor& b) { return !b.defined() || b.shape() == Shape{gates * H}; };
  TS_CHECK_SHAPE(w_ih.shape() == (Shape{gates * H, x.size(2)}) && w_hh.shape() == (Shape{gates * H, H}) && bias_ok(b_ih) &&
                     bias_ok(b_hh) && (!lstm || (c0.defined() && c0.shape() == h0.shape())),
                 "rnn: for input ", x.shape(), " and h0 ", h0.shape(), " (", gates, " gates), w_ih must be ",
                 Shape{gates * H, x.size(2)}, ", w_hh ", Shape{gates * H, H}, ", the biases ", Shape{gates * H},
                 lstm ? " and c0 the shape of h0" : "", "; got w_ih ", w_ih.shape(), ", w_hh ", w_hh.shape(),
                 b_ih.defined() ? ", b_ih " + detail::str(b_ih.shape()) : std::string(),
                 b_hh.defined() ? ", b_hh " + detail::str(b_hh.shape()) : std::string(),
                 lstm && c0.defined() ? ", c0 " + detail::str(c0.shape()) : std::string());
  std::tuple<Tensor, Tensor, Tensor> r;
  Backend& be = backend_for(x.device());
  bool training = autograd::needs_grad({&x, &h0, &c0, &w_ih, &w_hh, &b_ih, &b_hh});
  RnnArgs a;
  bool fused = false;
  Tensor workspace;
  if (fused_kernels_enabled()) {
    a = RnnArgs{cell, reverse, x.contiguous(), h0.contiguous(), lstm ? c0.contiguous() : Tensor(), w_ih.contiguous(),
                w_hh.contiguous(), b_ih.defined() ? b_ih.contiguous() : Tensor(),
                b_hh.defined() ? b_hh.contiguous() : Tensor()};
    Tensor y = empty({T, N, H}, {x.dtype(), x.device()}), hn = empty({N, H}, {x.dtype(), x.device()});
    Tensor cn = lstm ? empty({N, H}, {x.dtype(), x.device()}) : Tensor();
    autograd::NoGradGuard ng;
    fused = be.rnn_forward(a, y, hn, cn, training ? &workspace : nullptr);
    if (fused) r = {y, hn, cn};
  }
  if (!fused) {
    r = rnn_steps(cell, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse);
  } else if (training) {
    Tensor& y = std::get<0>(r);
    Tensor& hn = std::get<1>(r);
    Tensor& cn = std::get<2>(r);
    auto backward = [cell, reverse](const G& g, const G& s) -> G {
      if (autograd::is_grad_enabled()) return differentiable_backward(cell, reverse, g, s);
      // s: x, h0, c0, w_ih, w_hh, b_ih, b_hh, workspace, then the outputs y, hn[, cn]
      RnnArgs a{cell, reverse, s[0], s[1], s[2], s[3], s[4], s[5], s[6]};
      RnnGrads out;
      Tensor* slots[7] = {&out.x, &out.h0, &out.c0, &out.w_ih, &out.w_hh, &out.b_ih, &out.b_hh};
      for (size_t i = 0; i < 7; ++i)
        if (s[i].defined() && autograd::needs_input_grad(i)) *slots[i] = empty_like(s[i]);
      Tensor gy = g[0].defined() ? g[0].contiguous() : Tensor(), ghn = g[1].defined() ? g[1].contiguous() : Tensor();
      Tensor gcn = g.size() > 2 && g[2].defined() ? g[2].contiguous() : Tensor();
      bool ok = backend_for(s[0].device())
                    .rnn_backward(a, s[8], s[9], s.size() > 10 ? s[10] : Tensor(), s[7], gy, ghn, gcn, out);
      TS_CHECK(ok, "rnn: the backend ran the fused forward but has no fused backward");
      return G{out.x, out.h0, out.c0, out.w_ih, out.w_hh, out.b_ih, out.b_hh};
    };
    G saved{a.x, a.h0, a.c0, a.w_ih, a.w_hh, a.b_ih, a.b_hh, workspace};
    if (lstm)
      record_fn("rnn", {&x, &h0, &c0, &w_ih, &w_hh, &b_ih, &b_hh}, {&y, &hn, &cn}, saved, backward, {y, hn, cn});
    else
      record_fn("rnn", {&x, &h0, &c0, &w_ih, &w_hh, &b_ih, &b_hh}, {&y, &hn}, saved, backward, {y, hn});
  }
  if (ts.recording())
    ts.record("rnn", {x, h0, c0, w_ih, w_hh, b_ih, b_hh}, {std::get<0>(r), std::get<1>(r), std::get<2>(r)},
              {{"cell", int64_t(cell)}, {"hidden_size", H}, {"reverse", int64_t(reverse)}});
  return r;
}

}  // namespace tessera::ops
