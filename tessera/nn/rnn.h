#pragma once
// Recurrent layers with PyTorch's semantics, parameter names and layouts (weight_ih_l0,
// weight_hh_l0_reverse, ...; gates i,f,g,o for LSTM and r,z,n for GRU), so weights map key for
// key. Each layer and direction is one ops::rnn_layer: a fused kernel on the CPU (oneDNN's RNN
// primitives), the steps as ops elsewhere.
#include <string>
#include <tuple>
#include <vector>

#include "tessera/backend/backend.h"
#include "tessera/nn/holder.h"
#include "tessera/nn/options.h"

namespace tessera::nn {

class RNNBase : public Module {
 public:
  using Cell = RnnCell;
  RNNBase(const char* type_name, Cell cell, int64_t input_size, int64_t hidden_size, RNNConfig o);
  // (output, h_n, c_n): output [L, N, D*H] (batch_first: [N, L, D*H]); h_n and c_n
  // [num_layers*D, N, H] (c_n only for LSTM). h0/c0 default to zeros; unbatched [L, features]
  // input gives unbatched results, as in PyTorch.
  std::tuple<Tensor, Tensor, Tensor> forward_with_state(const Tensor& input, const Tensor& h0 = {},
                                                         const Tensor& c0 = {});
  // The output sequence only.
  Tensor forward(const Tensor& input) override { return std::get<0>(forward_with_state(input)); }
  std::string extra_repr() const override;

  Cell cell;
  int64_t input_size, hidden_size;
  RNNConfig options;

 private:
  int64_t gates() const;
  std::vector<std::vector<Tensor>> params_by_direction_;  // layer*D + d: w_ih, w_hh[, b_ih, b_hh]
};

// h' = tanh (or relu) of x W_ih^T + b_ih + h W_hh^T + b_hh.
class RNNImpl : public RNNBase {
 public:
  RNNImpl(int64_t input_size, int64_t hidden_size, RNNConfig o = {}, const std::string& nonlinearity = "tanh");
  explicit RNNImpl(const RNNOptions& o) : RNNImpl(o.input_size(), o.hidden_size(), o.args(), o.nonlinearity()) {}
};
class LSTMImpl : public RNNBase {
 public:
  LSTMImpl(int64_t input_size, int64_t hidden_size, RNNConfig o = {}) : RNNBase("LSTM", Cell::LSTM, input_size, hidden_size, o) {}
  explicit LSTMImpl(const LSTMOptions& o) : LSTMImpl(o.input_size(), o.hidden_size(), o.args()) {}
};
class GRUImpl : public RNNBase {
 public:
  GRUImpl(int64_t input_size, int64_t hidden_size, RNNConfig o = {}) : RNNBase("GRU", Cell::GRU, input_size, hidden_size, o) {}
  explicit GRUImpl(const GRUOptions& o) : GRUImpl(o.input_size(), o.hidden_size(), o.args()) {}
};

// One step of a recurrent cell (torch.nn.RNNCell/LSTMCell/GRUCell): input [N, I] (or unbatched
// [I]) and state [N, H] (zeros by default) to the next state; parameters weight_ih [G*H, I],
// weight_hh [G*H, H], bias_ih, bias_hh as in PyTorch.
class RNNCellBase : public Module {
 public:
  using Cell = RnnCell;
  RNNCellBase(const char* type_name, Cell cell, int64_t input_size, int64_t hidden_size, bool bias);
  // (h', c'): c' only for LSTMCell.
  std::pair<Tensor, Tensor> forward_with_state(const Tensor& input, const Tensor& h = {}, const Tensor& c = {});
  Tensor forward(const Tensor& input) override { return forward_with_state(input).first; }
  std::string extra_repr() const override;

  Cell cell;
  int64_t input_size, hidden_size;
  bool bias;
  Tensor weight_ih, weight_hh, bias_ih, bias_hh;
};

class RNNCellImpl : public RNNCellBase {
 public:
  RNNCellImpl(int64_t input_size, int64_t hidden_size, bool bias = true, const std::string& nonlinearity = "tanh");
};
class LSTMCellImpl : public RNNCellBase {
 public:
  LSTMCellImpl(int64_t input_size, int64_t hidden_size, bool bias = true)
      : RNNCellBase("LSTMCell", Cell::LSTM, input_size, hidden_size, bias) {}
};
class GRUCellImpl : public RNNCellBase {
 public:
  GRUCellImpl(int64_t input_size, int64_t hidden_size, bool bias = true)
      : RNNCellBase("GRUCell", Cell::GRU, input_size, hidden_size, bias) {}
};

TESSERA_NN_NAME(RNN); TESSERA_NN_NAME(LSTM); TESSERA_NN_NAME(GRU);
TESSERA_NN_NAME(RNNCell); TESSERA_NN_NAME(LSTMCell); TESSERA_NN_NAME(GRUCell);

}  // namespace tessera::nn
