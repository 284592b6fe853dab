#include "tessera/nn/rnn.h"

#include <cmath>

#include "tessera/nn/init.h"
#include "tessera/ops/ops.h"
#include "tessera/ops/trace.h"

namespace tessera::nn {

RNNBase::RNNBase(const char* type_name, Cell c, int64_t in, int64_t hidden, RNNOptions o)
    : Module(type_name), cell(c), input_size(in), hidden_size(hidden), options(o) {
  TS_CHECK_VALUE(in > 0 && hidden > 0, type_name, ": input_size and hidden_size must be positive, got ", in, " and ",
                 hidden);
  TS_CHECK_VALUE(o.num_layers >= 1, type_name, ": num_layers must be at least 1, got ", o.num_layers);
  TS_CHECK_VALUE(o.dropout >= 0 && o.dropout < 1, type_name, ": dropout must be in [0, 1), got ", o.dropout);
  int64_t D = o.bidirectional ? 2 : 1, G = gates();
  double bound = 1.0 / std::sqrt(double(hidden));  // PyTorch's initialization, every weight and bias
  for (int64_t layer = 0; layer < o.num_layers; ++layer) {
    for (int64_t d = 0; d < D; ++d) {
      std::string sfx = "_l" + std::to_string(layer) + (d ? "_reverse" : "");
      int64_t layer_in = layer == 0 ? in : D * hidden;
      std::vector<Tensor> p{register_parameter("weight_ih" + sfx, empty({G * hidden, layer_in})),
                            register_parameter("weight_hh" + sfx, empty({G * hidden, hidden}))};
      if (o.bias) {
        p.push_back(register_parameter("bias_ih" + sfx, empty({G * hidden})));
        p.push_back(register_parameter("bias_hh" + sfx, empty({G * hidden})));
      }
      for (Tensor& t : p) init::uniform_(t, -bound, bound);
      params_by_direction_.push_back(std::move(p));
    }
  }
}

int64_t RNNBase::gates() const { return cell == Cell::LSTM ? 4 : cell == Cell::GRU ? 3 : 1; }

std::tuple<Tensor, Tensor, Tensor> RNNBase::run_direction(const Tensor& x, size_t index, bool reverse, Tensor h,
                                                           Tensor c) {
  const std::vector<Tensor>& p = params_by_direction_[index];
  Tensor b_ih = options.bias ? p[2] : Tensor(), b_hh = options.bias ? p[3] : Tensor();
  // Traced as one recurrent op (ONNX's RNN, LSTM or GRU), not as the steps it is made of.
  ops::trace::Scope ts;
  auto r = run_steps(x, p, b_ih, b_hh, reverse, h, c);
  if (ts.recording()) ts.record("rnn", {x, h, c, p[0], p[1], b_ih, b_hh}, {std::get<0>(r), std::get<1>(r), std::get<2>(r)},
            {{"cell", int64_t(cell)}, {"hidden_size", hidden_size}, {"reverse", int64_t(reverse)}});
  return r;
}

std::tuple<Tensor, Tensor, Tensor> RNNBase::run_steps(const Tensor& x, const std::vector<Tensor>& p,
                                                       const Tensor& b_ih, const Tensor& b_hh, bool reverse, Tensor h,
                                                       Tensor c) {
  // The input projections of every step in one matmul, then unbound into steps (one autograd node:
  // the backward assembles one gradient for the whole projection, not one per step).
  std::vector<Tensor> xi = ops::unbind(ops::linear(x, p[0], b_ih), 0);
  int64_t L = x.size(0);
  std::vector<Tensor> out(static_cast<size_t>(L));
  for (int64_t s = 0; s < L; ++s) {
    int64_t t = reverse ? L - 1 - s : s;
    Tensor gi = xi[size_t(t)], gh = ops::linear(h, p[1], b_hh);
    switch (cell) {
      case Cell::Tanh: h = ops::tanh(gi + gh); break;
      case Cell::Relu: h = ops::relu(gi + gh); break;
      // (Few, fused ops per step: each small op costs more in overhead and autograd nodes than
      // in arithmetic at these sizes.)
      case Cell::LSTM: {
        Tensor g = gi + gh;
        Tensor ifo_i = ops::sigmoid(g.narrow(1, 0, 2 * hidden_size));  // gates i, f
        Tensor o = ops::sigmoid(g.narrow(1, 3 * hidden_size, hidden_size));
        Tensor i = ifo_i.narrow(1, 0, hidden_size), f = ifo_i.narrow(1, hidden_size, hidden_size);
        c = ops::fma(f, c, i * ops::tanh(g.narrow(1, 2 * hidden_size, hidden_size)));
        h = o * ops::tanh(c);
        break;
      }
      case Cell::GRU: {
        int64_t H = hidden_size;
        Tensor rz = ops::sigmoid(gi.narrow(1, 0, 2 * H) + gh.narrow(1, 0, 2 * H));
        Tensor r = rz.narrow(1, 0, H), z = rz.narrow(1, H, H);
        Tensor n = ops::tanh(ops::fma(r, gh.narrow(1, 2 * H, H), gi.narrow(1, 2 * H, H)));
        h = ops::fma(z, h - n, n);  // (1 - z) * n + z * h
        break;
      }
    }
    out[size_t(t)] = h;
  }
  return {ops::stack(out, 0), h, c};
}

std::tuple<Tensor, Tensor, Tensor> RNNBase::forward_with_state(const Tensor& input, const Tensor& h0,
                                                                const Tensor& c0) {
  const char* name = type_name().c_str();
  TS_CHECK_DTYPE(input.is_floating_point(), name, ": expected a floating-point input, got ", input.dtype());
  TS_CHECK_SHAPE((input.dim() == 3 || input.dim() == 2) && input.size(-1) == input_size, name,
                 ": expected input [L, N, ", input_size, "] (or [N, L, ", input_size, "] with batch_first, or [L, ",
                 input_size, "] unbatched), got ", input.shape());
  bool unbatched = input.dim() == 2;
  Tensor x = unbatched ? input.unsqueeze(1) : options.batch_first ? input.transpose(0, 1) : input;
  int64_t D = options.bidirectional ? 2 : 1, N = x.size(1), H = hidden_size, layers = options.num_layers;
  auto initial = [&](const Tensor& s, const char* what) {
    Shape want{layers * D, N, H};
    if (!s.defined()) return zeros(want, {x.dtype(), x.device()});
    Tensor b = unbatched && s.dim() == 2 ? s.unsqueeze(1) : s;
    TS_CHECK_SHAPE(b.shape() == want, name, ": expected ", what, " of shape ",
                   unbatched ? Shape{layers * D, H} : want, ", got ", s.shape());
    return b.to(x.dtype());
  };
  Tensor h_init = initial(h0, "h0");
  Tensor c_init = cell == Cell::LSTM ? initial(c0, "c0") : Tensor();
  TS_CHECK_VALUE(cell == Cell::LSTM || !c0.defined(), name, ": only LSTM takes a cell state c0");
  std::vector<Tensor> h_n, c_n;
  for (int64_t layer = 0; layer < layers; ++layer) {
    std::vector<Tensor> outs;
    for (int64_t d = 0; d < D; ++d) {
      int64_t k = layer * D + d;
      auto [o, h, c] = run_direction(x, size_t(k), d == 1, h_init.select(0, k),
                                     c_init.defined() ? c_init.select(0, k) : Tensor());
      outs.push_back(o);
      h_n.push_back(h);
      if (c.defined()) c_n.push_back(c);
    }
    x = D == 1 ? outs[0] : ops::cat(outs, 2);
    if (layer + 1 < layers && options.dropout > 0) x = ops::dropout(x, options.dropout, is_training());
  }
  Tensor out = unbatched ? x.squeeze(1) : options.batch_first ? x.transpose(0, 1) : x;
  Tensor hn = ops::stack(h_n, 0), cn = c_n.empty() ? Tensor() : ops::stack(c_n, 0);
  if (unbatched) {
    hn = hn.squeeze(1);
    if (cn.defined()) cn = cn.squeeze(1);
  }
  return {out, hn, cn};
}

std::string RNNBase::extra_repr() const {
  std::string s = std::to_string(input_size) + ", " + std::to_string(hidden_size);
  if (options.num_layers != 1) s += ", num_layers=" + std::to_string(options.num_layers);
  if (cell == Cell::Relu) s += ", nonlinearity='relu'";
  if (!options.bias) s += ", bias=False";
  if (options.batch_first) s += ", batch_first=True";
  if (options.dropout > 0) s += ", dropout=" + detail::str(options.dropout);
  if (options.bidirectional) s += ", bidirectional=True";
  return s;
}

RNN::RNN(int64_t in, int64_t hidden, RNNOptions o, const std::string& nonlinearity)
    : RNNBase("RNN", nonlinearity == "relu" ? Cell::Relu : Cell::Tanh, in, hidden, o) {
  TS_CHECK_VALUE(nonlinearity == "tanh" || nonlinearity == "relu", "RNN: nonlinearity must be 'tanh' or 'relu', got '",
                 nonlinearity, "'");
}

}  // namespace tessera::nn
