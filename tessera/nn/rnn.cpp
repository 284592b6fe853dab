#include "tessera/nn/rnn.h"

#include <cmath>

#include "tessera/nn/init.h"
#include "tessera/ops/ops.h"

namespace tessera::nn {

RNNBase::RNNBase(const char* type_name, Cell c, int64_t in, int64_t hidden, RNNConfig o)
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
      const std::vector<Tensor>& p = params_by_direction_[size_t(k)];
      Tensor b_ih = options.bias ? p[2] : Tensor(), b_hh = options.bias ? p[3] : Tensor();
      auto [o, h, c] = ops::rnn_layer(cell, x, h_init.select(0, k), c_init.defined() ? c_init.select(0, k) : Tensor(),
                                      p[0], p[1], b_ih, b_hh, d == 1);
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
  if (cell == Cell::Relu) s += ", nonlinearity=relu";  // (PyTorch prints it unquoted)
  if (!options.bias) s += ", bias=False";
  if (options.batch_first) s += ", batch_first=True";
  if (options.dropout > 0) s += ", dropout=" + detail::str(options.dropout);
  if (options.bidirectional) s += ", bidirectional=True";
  return s;
}

RNNImpl::RNNImpl(int64_t in, int64_t hidden, RNNConfig o, const std::string& nonlinearity)
    : RNNBase("RNN", nonlinearity == "relu" ? Cell::Relu : Cell::Tanh, in, hidden, o) {
  TS_CHECK_VALUE(nonlinearity == "tanh" || nonlinearity == "relu", "RNN: nonlinearity must be 'tanh' or 'relu', got '",
                 nonlinearity, "'");
}

RNNCellBase::RNNCellBase(const char* type_name, Cell c, int64_t in, int64_t hidden, bool b)
    : Module(type_name), cell(c), input_size(in), hidden_size(hidden), bias(b) {
  TS_CHECK_VALUE(in > 0 && hidden > 0, type_name, ": input_size and hidden_size must be positive, got ", in, " and ",
                 hidden);
  const int64_t G = c == Cell::LSTM ? 4 : c == Cell::GRU ? 3 : 1;
  const double bound = 1.0 / std::sqrt(double(hidden));
  weight_ih = register_parameter("weight_ih", empty({G * hidden, in}));
  weight_hh = register_parameter("weight_hh", empty({G * hidden, hidden}));
  if (b) {
    bias_ih = register_parameter("bias_ih", empty({G * hidden}));
    bias_hh = register_parameter("bias_hh", empty({G * hidden}));
  }
  for (Tensor* t : {&weight_ih, &weight_hh, &bias_ih, &bias_hh})
    if (t->defined()) init::uniform_(*t, -bound, bound);
}

std::pair<Tensor, Tensor> RNNCellBase::forward_with_state(const Tensor& input, const Tensor& h, const Tensor& c) {
  const char* name = type_name().c_str();
  TS_CHECK_DTYPE(input.is_floating_point(), name, ": expected a floating-point input, got ", input.dtype());
  TS_CHECK_SHAPE((input.dim() == 1 || input.dim() == 2) && input.size(-1) == input_size, name, ": expected input [N, ",
                 input_size, "] (or [", input_size, "] unbatched), got ", input.shape());
  TS_CHECK_VALUE(cell == Cell::LSTM || !c.defined(), name, ": only LSTMCell takes a cell state");
  const bool unbatched = input.dim() == 1;
  Tensor x = unbatched ? input.unsqueeze(0) : input;
  const Shape want{x.size(0), hidden_size};
  auto state = [&](const Tensor& s, const char* what) {
    if (!s.defined()) return zeros(want, {x.dtype(), x.device()});
    Tensor b = unbatched && s.dim() == 1 ? s.unsqueeze(0) : s;
    TS_CHECK_SHAPE(b.shape() == want, name, ": expected ", what, " of shape ",
                   unbatched ? Shape{hidden_size} : want, ", got ", s.shape());
    return b.to(x.dtype());
  };
  Tensor h0 = state(h, "hx"), c0 = cell == Cell::LSTM ? state(c, "cx") : Tensor();
  auto [y, hn, cn] = ops::rnn_layer(cell, x.unsqueeze(0), h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, false);
  if (unbatched) {
    hn = hn.squeeze(0);
    if (cn.defined()) cn = cn.squeeze(0);
  }
  return {hn, cn};
}

std::string RNNCellBase::extra_repr() const {
  std::string s = std::to_string(input_size) + ", " + std::to_string(hidden_size);
  if (!bias) s += ", bias=False";
  if (cell == Cell::Relu) s += ", nonlinearity=relu";  // (PyTorch prints it unquoted)
  return s;
}

RNNCellImpl::RNNCellImpl(int64_t in, int64_t hidden, bool bias, const std::string& nonlinearity)
    : RNNCellBase("RNNCell", nonlinearity == "relu" ? Cell::Relu : Cell::Tanh, in, hidden, bias) {
  TS_CHECK_VALUE(nonlinearity == "tanh" || nonlinearity == "relu",
                 "RNNCell: nonlinearity must be 'tanh' or 'relu', got '", nonlinearity, "'");
}

}  // namespace tessera::nn
