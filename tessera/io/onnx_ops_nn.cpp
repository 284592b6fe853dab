// ONNX operators, part 3: normalizations, losses, attention and the recurrent layers (the table is
// in onnx_ops.cpp), and at the end what tessera's traced normalizations and recurrent layers
// export as.
#include <cmath>
#include <limits>

#include "tessera/io/onnx_export_graph.h"
#include "tessera/io/onnx_node.h"
#include "tessera/io/onnx_proto.h"

namespace tessera::io::internal {

namespace {

Shape dims_from(int64_t first, int64_t rank) {
  Shape d;
  for (int64_t k = first; k < rank; ++k) d.push_back(k);
  return d;
}

// LayerNormalization: Y, and when asked Mean and InvStdDev (computed in float32 or wider,
// stash_type), over the dims from axis on.
Values layer_norm(const Node& n) {
  const Tensor& x = n.at(0);
  int64_t axis = wrap(n.i("axis", -1), x.dim());
  TS_CHECK_VALUE(axis >= 0 && axis < x.dim(), "axis ", n.i("axis", -1), " is out of range for a ", x.dim(), "-D input");
  double eps = n.f("epsilon", 1e-5);
  Shape ns(x.shape().begin() + axis, x.shape().end());
  const Tensor& scale = n.at(1);
  Tensor bias = n.has(2) ? n.in[2] : Tensor();
  if (n.proto.output_size() == 1 && scale.shape() == ns && (!bias.defined() || bias.shape() == ns))
    return {ops::layer_norm(x, ns, scale, bias, eps)};
  Tensor xf = x.to(x.dtype() == DType::Float64 ? DType::Float64 : DType::Float32);
  Shape dims = dims_from(axis, x.dim());
  Tensor mean = ops::mean(xf, dims, true);
  Tensor centered = xf - mean;
  Tensor inv_std = ops::rsqrt(ops::mean(centered * centered, dims, true) + eps);
  Tensor y = (centered * inv_std).to(x.dtype()) * scale;
  if (bias.defined()) y = y + bias;
  return {y, mean, inv_std};
}

// NegativeLogLikelihoodLoss on log-probabilities x [N, C, d...] and targets [N, d...]: -x[n, t]
// weighted by weight[t] (1 without weights), 0 where t is ignore_index; mean divides by the
// weights' sum over the counted elements.
Tensor nll_loss(const Tensor& x, const Tensor& target, const Tensor& weight, const std::string& reduction,
                std::optional<int64_t> ignore) {
  TS_CHECK_SHAPE(x.dim() >= 2 && target.dim() == x.dim() - 1, "input ", x.shape(), " and target ", target.shape(),
                 " do not fit ([N, C, d...] and [N, d...])");
  TS_CHECK_VALUE(reduction == "mean" || reduction == "sum" || reduction == "none", "reduction '", reduction,
                 "' is not mean, sum or none");
  Tensor t = target.to(DType::Int64);
  Tensor keep = ignore ? (t != *ignore) : ones_like(t).to(DType::Bool);
  Tensor safe = ops::where(keep, t, zeros_like(t));
  Tensor picked = ops::gather(x, 1, safe.unsqueeze(1)).squeeze(1);
  Tensor w = weight.defined() ? ops::index_select(weight, 0, safe.reshape({-1})).reshape(t.shape())
                              : ones_like(picked);
  w = ops::where(keep, w, zeros_like(w));
  Tensor loss = -picked * w;
  if (reduction == "none") return loss;
  if (reduction == "sum") return ops::sum(loss);
  return ops::sum(loss) / ops::sum(w);
}

std::optional<int64_t> ignore_index(const Node& n) {
  if (!n.find("ignore_index")) return std::nullopt;
  return n.i("ignore_index", 0);
}

// Attention (opset 23), as ONNX's reference computes it: Q, K, V as [B, heads, seq, head] or
// [B, seq, hidden] (split by q_num_heads / kv_num_heads), an optional cache (past_key and
// past_value, prepended along seq), a bool (true: attend) or additive mask padded to the keys,
// is_causal aligned to the cache's end, softcap before the mask, grouped-query heads repeated,
// rows with no key attendable giving 0. Outputs: Y, present_key, present_value and the scores
// qk_matmul_output_mode picks (0 and 1: after softcap, 2: with the mask, 3: after softmax).
Values attention(const Node& n) {
  Tensor q = n.at(0), k = n.at(1), v = n.at(2);
  TS_CHECK_SHAPE((q.dim() == 3 || q.dim() == 4) && k.dim() == q.dim() && v.dim() == q.dim(), "Q ", q.shape(), ", K ",
                 k.shape(), " and V ", v.shape(), " must all be 3-D or all 4-D");
  const bool packed = q.dim() == 3;
  const int64_t batch = q.size(0);
  if (packed) {
    int64_t qh = n.i("q_num_heads", 0), kvh = n.i("kv_num_heads", 0);
    TS_CHECK_VALUE(qh > 0 && kvh > 0, "3-D inputs need q_num_heads and kv_num_heads");
    auto split_heads = [&](const Tensor& t, int64_t h, const char* what) {
      TS_CHECK_SHAPE(t.size(2) % h == 0, what, " hidden size ", t.size(2), " is not a multiple of ", h, " heads");
      return t.reshape({batch, t.size(1), h, t.size(2) / h}).transpose(1, 2);
    };
    q = split_heads(q, qh, "Q");
    k = split_heads(k, kvh, "K");
    v = split_heads(v, kvh, "V");
  }
  TS_CHECK_VALUE(n.has(4) == n.has(5), "past_key and past_value must be given together");
  if (n.has(4)) {
    k = ops::cat({n.in[4], k}, 2);
    v = ops::cat({n.in[5], v}, 2);
  }
  const Tensor present_k = k, present_v = v;
  const DType dt = q.dtype();
  const int64_t L = q.size(2), S = k.size(2);
  const TensorOptions opt{dt, q.device()};
  const double inf = std::numeric_limits<double>::infinity();
  Tensor bias = zeros({L, S}, opt);
  if (n.has(3)) {
    Tensor mask = n.in[3];
    mask = mask.dtype() == DType::Bool ? ops::where(mask, zeros_like(mask).to(dt), full_like(mask.to(dt), -inf))
                                       : mask.to(dt);
    if (mask.size(-1) < S) {
      Shape pad(size_t(2 * mask.dim()), 0);
      pad[1] = S - mask.size(-1);
      mask = ops::pad(mask, pad, "constant", -inf);
    }
    bias = bias + mask;
  }
  if (n.i("is_causal", 0)) {
    int64_t offset = n.has(4) ? n.in[4].size(2) : 0;
    Tensor i = arange(0, double(L), 1, {DType::Int64, q.device()}).reshape({L, 1});
    Tensor j = arange(0, double(S), 1, {DType::Int64, q.device()}).reshape({1, S});
    bias = bias + ops::where(j <= i + offset, zeros({L, S}, opt), full({L, S}, -inf, opt));
  }
  if (q.size(1) != k.size(1)) {  // grouped-query attention: each key/value head serves several query heads
    int64_t qh = q.size(1), kh = k.size(1);
    TS_CHECK_SHAPE(kh > 0 && qh % kh == 0, q.size(1), " query heads are not a multiple of ", kh, " key/value heads");
    auto repeat = [&](const Tensor& t) {
      return t.unsqueeze(2).expand({batch, kh, qh / kh, t.size(2), t.size(3)}).reshape({batch, qh, t.size(2), t.size(3)});
    };
    k = repeat(k);
    v = repeat(v);
  }
  double scale = n.find("scale") ? n.f("scale", 1.0) : 1.0 / std::sqrt(double(q.size(3)));
  Tensor root = scalar_tensor(std::sqrt(scale), dt, q.device());  // on both sides, as the reference does
  Tensor scores = ops::matmul(q * root, k.transpose(2, 3) * root);
  double softcap = n.f("softcap", 0.0);
  if (softcap > 0) scores = ops::tanh(scores / softcap) * softcap;
  int64_t mode = n.i("qk_matmul_output_mode", 0);
  TS_CHECK_VALUE(mode >= 0 && mode <= 3, "qk_matmul_output_mode ", mode, " is not 0, 1, 2 or 3");
  Tensor qk_out = scores;
  Tensor with_bias = scores + bias;
  if (mode == 2) qk_out = with_bias;
  if (n.find("softmax_precision"))
    with_bias = with_bias.to(onnx_proto::dtype_of(int32_t(n.i("softmax_precision", 1)), "softmax_precision"));
  Tensor probs = ops::softmax(with_bias, -1);
  Tensor best = ops::amax(bias, {-1}, true);
  Tensor none_attendable = ops::isinf(best) && (best < 0.0);
  probs = ops::where(none_attendable, zeros_like(probs), probs);
  if (mode == 3) qk_out = probs;
  Tensor y = ops::matmul(probs.to(dt), v);
  if (packed) y = y.transpose(1, 2).reshape({batch, L, -1});
  return {y, present_k, present_v, qk_out.to(dt)};
}

// RotaryEmbedding (opset 23): x [B, heads, S, D] or [B, S, heads * D] (num_heads), the first
// rotary_embedding_dim features of each head rotated by the cos/sin caches ([S, R/2] or, with
// position_ids [B, S], rows picked per position), halves or interleaved pairs.
Tensor rotary_embedding(const Node& n) {
  Tensor x = n.at(0);
  const bool four = x.dim() == 4;
  TS_CHECK_SHAPE(x.dim() == 3 || four, "RotaryEmbedding input must be 3-D or 4-D, got ", x.shape());
  if (four) {
    x = x.transpose(1, 2);  // [B, S, heads, D]
  } else {
    int64_t heads = n.i("num_heads", 0);
    TS_CHECK_VALUE(heads > 0 && x.size(2) % heads == 0, "a 3-D input ", x.shape(), " needs num_heads dividing its ",
                   "hidden size, got ", heads);
    x = x.reshape({x.size(0), x.size(1), heads, x.size(2) / heads});
  }
  int64_t D = x.size(3), R = n.i("rotary_embedding_dim", 0);
  if (R == 0) R = D;
  TS_CHECK_VALUE(R > 0 && R <= D && R % 2 == 0, "rotary_embedding_dim ", R, " must be even and at most ", D);
  Tensor cos = n.at(1), sin = n.at(2);
  if (n.has(3)) {
    Tensor pos = n.in[3].to(DType::Int64);
    cos = ops::index_select(cos, 0, pos.reshape({-1})).reshape({pos.size(0), pos.size(1), -1});
    sin = ops::index_select(sin, 0, pos.reshape({-1})).reshape({pos.size(0), pos.size(1), -1});
  }
  TS_CHECK_SHAPE(cos.size(-1) == R / 2 && sin.size(-1) == R / 2, "the cos and sin caches' last dim must be ", R / 2,
                 ", got ", cos.shape(), " and ", sin.shape());
  cos = cos.unsqueeze(-2);
  sin = sin.unsqueeze(-2);
  Tensor rot = x.narrow(3, 0, R), rest = x.narrow(3, R, D - R);
  const bool interleaved = n.i("interleaved", 0) != 0;
  Tensor x1 = interleaved ? rot.slice(3, 0, R, 2) : rot.narrow(3, 0, R / 2);
  Tensor x2 = interleaved ? rot.slice(3, 1, R, 2) : rot.narrow(3, R / 2, R / 2);
  Tensor real = cos * x1 - sin * x2, imag = sin * x1 + cos * x2;
  Tensor rotated = interleaved ? ops::stack({real, imag}, -1).reshape(rot.shape()) : ops::cat({real, imag}, -1);
  Tensor y = ops::cat({rotated, rest}, -1);
  return four ? y.transpose(1, 2) : y.reshape(n.at(0).shape());
}

int64_t gates_of(const std::string& type) { return type == "LSTM" ? 4 : type == "GRU" ? 3 : 1; }

// Rows of t along dim 0 (W, R: [G*H, in]; B: [2*G*H], two sets) from ONNX's gate order into
// PyTorch's (LSTM i o f c -> i f c o, GRU z r h -> r z h).
Tensor reorder_gates(const std::string& type, const Tensor& t, int64_t H) {
  if (!t.defined() || type == "RNN") return t;
  std::vector<int64_t> order = type == "LSTM" ? std::vector<int64_t>{0, 2, 3, 1} : std::vector<int64_t>{1, 0, 2};
  int64_t G = gates_of(type);
  std::vector<Tensor> parts;
  for (int64_t set = 0; set < t.size(0) / (G * H); ++set)
    for (int64_t k : order) parts.push_back(t.narrow(0, (set * G + k) * H, H));
  return ops::cat(parts, 0);
}

// ONNX's RNN, LSTM and GRU (gate orders i o f c and z r h; layout 0 is [L, N, features], 1 is
// [N, L, features]), run step by step on the ops so autograd flows through them.
Values recurrent(const Node& n, const std::string& type) {
  bool lstm = type == "LSTM", gru = type == "GRU";
  int64_t G = gates_of(type);
  TS_CHECK_VALUE(!n.has(7) || lstm, "peepholes belong to LSTM");
  TS_CHECK_VALUE(!n.find("clip"), "clip is not supported");
  TS_CHECK_VALUE(!n.i("input_forget", 0), "input_forget is not supported");
  std::string act = "Tanh";
  if (auto* a = n.find("activations")) {
    std::vector<std::string> want = lstm ? std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"}
                                         : gru ? std::vector<std::string>{"Sigmoid", "Tanh"} : std::vector<std::string>{"Tanh"};
    std::vector<std::string> got(a->strings().begin(), a->strings().end());
    bool relu_rnn = !lstm && !gru && got.size() == 1 && got[0] == "Relu";
    bool same = got.size() % want.size() == 0;
    for (size_t i = 0; same && i < got.size(); ++i) same = got[i] == want[i % want.size()];
    TS_CHECK_VALUE(same || relu_rnn, "activations other than the defaults (and Relu for RNN) are not supported");
    if (relu_rnn) act = "Relu";
  }
  bool batch_major = n.i("layout", 0) == 1;
  Tensor X = batch_major ? n.at(0).transpose(0, 1) : n.at(0);
  const Tensor &W = n.at(1), &R = n.at(2);
  TS_CHECK_SHAPE(X.dim() == 3 && W.dim() == 3 && R.dim() == 3 && W.size(1) % G == 0, "X ", n.at(0).shape(),
                 ", W ", W.shape(), " and R ", R.shape(), " do not fit together");
  int64_t H = n.i("hidden_size", W.size(1) / G), N = X.size(1), L = X.size(0);
  std::string dir = n.s("direction", "forward");
  int64_t D = dir == "bidirectional" ? 2 : 1;
  TS_CHECK_VALUE(dir == "forward" || dir == "reverse" || dir == "bidirectional", "unknown direction '", dir, "'");
  TS_CHECK_SHAPE(W.size(0) == D && W.size(1) == G * H && R.size(0) == D && R.size(2) == H, "W ", W.shape(), " and R ",
                 R.shape(), " do not fit hidden_size ", H, " and direction ", dir);
  auto initial = [&](size_t k) {
    if (!n.has(k)) return zeros({D, N, H}, {X.dtype(), X.device()});
    Tensor s = batch_major ? n.in[k].transpose(0, 1) : n.in[k];
    TS_CHECK_SHAPE(s.shape() == (Shape{D, N, H}), "initial state ", n.in[k].shape(), " must be ", Shape{D, N, H});
    return s;
  };
  Tensor h0 = initial(5), c0 = lstm ? initial(6) : Tensor();
  std::vector<Tensor> ys, hs, cs;
  for (int64_t d = 0; d < D; ++d) {
    bool reverse = dir == "reverse" || d == 1;
    Tensor w = W.select(0, d), r = R.select(0, d), wb, rb;
    if (n.has(3)) {
      wb = n.in[3].select(0, d).narrow(0, 0, G * H);
      rb = n.in[3].select(0, d).narrow(0, G * H, G * H);
    }
    // PyTorch's cells (all but GRU without linear_before_reset): ops::rnn_layer, the fused
    // kernel where the backend has one, with ONNX's gates reordered into PyTorch's.
    if (takes_torch_gate_order(n.proto)) {
      bool done = n.i(kTorchGateOrder, 0);  // reordered once, by an inference session
      auto torch_gates = [&](const Tensor& t) { return done ? t : reorder_gates(type, t, H); };
      RnnCell cell = lstm ? RnnCell::LSTM : gru ? RnnCell::GRU : act == "Relu" ? RnnCell::Relu : RnnCell::Tanh;
      auto [y, hn, cn] = ops::rnn_layer(cell, X, h0.select(0, d), lstm ? c0.select(0, d) : Tensor(), torch_gates(w),
                                        torch_gates(r), torch_gates(wb), torch_gates(rb), reverse);
      ys.push_back(y);
      hs.push_back(hn);
      if (lstm) cs.push_back(cn);
      continue;
    }
    // sequence_lens: entry b has lens[b] steps; its later outputs are 0 and its final state is
    // its last real step's. Reverse runs each entry from its own last step: the steps are
    // gathered in that order, run forwards, and the outputs put back.
    Tensor Xd = X, order;
    std::vector<Tensor> live;  // [N, 1] per step: whether the step is inside the entry's length
    if (n.has(4)) {
      Tensor lens = n.in[4].to(DType::Int64).reshape({1, N});
      Tensor t = arange(0, double(L), 1, {DType::Int64, X.device()}).reshape({L, 1});
      Tensor inside = t < lens;
      if (reverse) {
        order = ops::where(inside, lens - 1 - t, t);  // [L, N]
        Xd = ops::gather(X, 0, order.unsqueeze(2).expand(X.shape()).contiguous());
      }
      live = ops::unbind(inside.unsqueeze(2), 0);
    }
    const bool step_back = reverse && !n.has(4);
    Tensor P = n.has(7) ? n.in[7].select(0, d) : Tensor();  // LSTM peepholes: i, o, f
    std::vector<Tensor> xi = ops::unbind(ops::linear(Xd, w, wb), 0);
    std::vector<Tensor> out(static_cast<size_t>(L));
    Tensor h = h0.select(0, d), c = lstm ? c0.select(0, d) : Tensor();
    for (int64_t s = 0; s < L; ++s) {
      int64_t t = step_back ? L - 1 - s : s;
      const Tensor& gx = xi[size_t(t)];
      Tensor h_prev = h, c_prev = c;
      if (gru) {
        Tensor zr = ops::sigmoid(gx.narrow(1, 0, 2 * H) + ops::linear(h, r.narrow(0, 0, 2 * H),
                                                                      rb.defined() ? rb.narrow(0, 0, 2 * H) : Tensor()));
        Tensor z = zr.narrow(1, 0, H), rr = zr.narrow(1, H, H);
        Tensor rh = r.narrow(0, 2 * H, H), rbh = rb.defined() ? rb.narrow(0, 2 * H, H) : Tensor();
        Tensor hn = n.i("linear_before_reset", 0) ? rr * ops::linear(h, rh, rbh) : ops::linear(rr * h, rh, rbh);
        Tensor cand = ops::tanh(gx.narrow(1, 2 * H, H) + hn);
        h = cand + z * (h - cand);  // (1 - z) * cand + z * h
      } else {
        Tensor g = gx + ops::linear(h, r, rb);
        if (lstm) {
          Tensor gi = g.narrow(1, 0, H), go = g.narrow(1, H, H), gf = g.narrow(1, 2 * H, H);
          if (P.defined()) {
            gi = gi + P.narrow(0, 0, H) * c;
            gf = gf + P.narrow(0, 2 * H, H) * c;
          }
          c = ops::sigmoid(gf) * c + ops::sigmoid(gi) * ops::tanh(g.narrow(1, 3 * H, H));
          if (P.defined()) go = go + P.narrow(0, H, H) * c;
          h = ops::sigmoid(go) * ops::tanh(c);
        } else {
          h = act == "Relu" ? ops::relu(g) : ops::tanh(g);
        }
      }
      if (!live.empty()) {  // past an entry's length: its state stays, its output is 0
        const Tensor& in_len = live[size_t(t)];
        h = ops::where(in_len, h, h_prev);
        if (lstm) c = ops::where(in_len, c, c_prev);
        out[size_t(t)] = ops::where(in_len, h, zeros_like(h));
      } else {
        out[size_t(t)] = h;
      }
    }
    Tensor y = ops::stack(out, 0);
    if (order.defined()) y = ops::gather(y, 0, order.unsqueeze(2).expand(y.shape()).contiguous());
    ys.push_back(y);
    hs.push_back(h);
    if (lstm) cs.push_back(c);
  }
  Tensor Y = ops::stack(ys, 1), Yh = ops::stack(hs, 0);  // [L, D, N, H], [D, N, H]
  Tensor Yc = lstm ? ops::stack(cs, 0) : Tensor();
  if (batch_major) {
    Y = Y.permute({2, 0, 1, 3});
    Yh = Yh.transpose(0, 1);
    if (lstm) Yc = Yc.transpose(0, 1);
  }
  return lstm ? Values{Y, Yh, Yc} : Values{Y, Yh};
}

}  // namespace

bool takes_torch_gate_order(const onnx::NodeProto& p) {
  const std::string& t = p.op_type();
  if (t != "RNN" && t != "LSTM" && t != "GRU") return false;
  auto has = [&](int k) { return p.input_size() > k && !p.input(k).empty(); };
  bool lbr = false;
  for (const auto& a : p.attribute())
    if (a.name() == "linear_before_reset") lbr = a.i() != 0;
  return (t != "GRU" || lbr) && !has(4) && !has(7);
}

Tensor torch_gate_order(const onnx::NodeProto& p, const Tensor& t, int64_t H) {
  // W [D, G*H, I], R [D, G*H, H] or B [D, 2*G*H]: each direction's rows reordered.
  TS_CHECK_SHAPE(t.dim() >= 2 && H > 0 && t.size(1) % (gates_of(p.op_type()) * H) == 0, p.op_type(), ": weight ",
                 t.shape(), " does not fit hidden size ", H);
  std::vector<Tensor> dirs;
  for (int64_t d = 0; d < t.size(0); ++d) dirs.push_back(reorder_gates(p.op_type(), t.select(0, d), H));
  return ops::stack(dirs, 0);
}

void add_nn_ops(OpTable& m) {
  for (const char* type : {"RNN", "LSTM", "GRU"})
    m[type] = [type = std::string(type)](const Node& n) { return recurrent(n, type); };
  m["BatchNormalization"] = [](const Node& n) {
    TS_CHECK_VALUE(n.i("spatial", 1) == 1, "BatchNormalization with spatial=0 (opsets 7-8: statistics per ",
                   "activation) is not supported");
    TS_CHECK_VALUE(n.i("is_test", 1) == 1, "BatchNormalization with is_test=0 (opsets 6 and older: training) is not ",
                   "supported");
    const Tensor& x = n.at(0);
    TS_CHECK_SHAPE(x.dim() >= 2, "BatchNormalization: the input ", x.shape(), " needs a batch and a channel dim");
    double eps = n.f("epsilon", 1e-5), momentum = n.f("momentum", 0.9);
    if (!n.i("training_mode", 0) && n.proto.output_size() == 1)
      return one(ops::batch_norm(x, n.at(3), n.at(4), n.at(1), n.at(2), false, 0.1, eps));
    // Training mode (opset 14): batch statistics (the population variance), and the running
    // statistics moved towards them: running * momentum + batch * (1 - momentum).
    TS_CHECK_VALUE(n.proto.output_size() == 3 || n.proto.output_size() == 1, "BatchNormalization in training mode ",
                   "with ", n.proto.output_size(), " outputs is not supported (1 or 3 are)");
    Shape dims{0};
    for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
    Tensor mean = ops::mean(x, dims), var = ops::var(x, dims, 0);
    Shape per_channel(size_t(x.dim()), 1);
    per_channel[1] = -1;
    Tensor y = (x - mean.reshape(per_channel)) * ops::rsqrt(var.reshape(per_channel) + eps) *
                   n.at(1).reshape(per_channel) + n.at(2).reshape(per_channel);
    return Values{y, n.at(3) * momentum + mean * (1 - momentum), n.at(4) * momentum + var * (1 - momentum)};
  };
  m["RMSNormalization"] = [](const Node& n) {  // opset 23: x / sqrt(mean(x^2 over axis..) + eps) * scale
    const Tensor& x = n.at(0);
    int64_t axis = wrap(n.i("axis", -1), x.dim());
    Shape dims;
    for (int64_t d = axis; d < x.dim(); ++d) dims.push_back(d);
    Tensor xf = x.to(x.dtype() == DType::Float64 ? DType::Float64 : DType::Float32);  // stash_type: float32
    Tensor r = ops::rsqrt(ops::mean(xf * xf, dims, true) + n.f("epsilon", 1e-5));
    return one((xf * r).to(x.dtype()) * n.at(1));
  };
  m["LayerNormalization"] = [](const Node& n) { return layer_norm(n); };
  m["InstanceNormalization"] = [](const Node& n) {
    const Tensor& x = n.at(0);
    return one(ops::group_norm(x, x.size(1), n.at(1), n.at(2), n.f("epsilon", 1e-5)));
  };
  m["GroupNormalization"] = [](const Node& n) {
    const Tensor& x = n.at(0);
    int64_t groups = n.i("num_groups", 0), channels = x.size(1);
    TS_CHECK_VALUE(groups > 0 && channels % groups == 0, "num_groups ", groups, " does not divide the ", channels,
                   " channels");
    Tensor scale = n.at(1), bias = n.at(2);
    if (scale.numel() == groups && groups != channels) {  // opset 18: one scale and bias per group
      scale = ops::repeat(scale.reshape({groups, 1}), {1, channels / groups}).reshape({channels});
      bias = ops::repeat(bias.reshape({groups, 1}), {1, channels / groups}).reshape({channels});
    }
    return one(ops::group_norm(x, groups, scale, bias, n.f("epsilon", 1e-5)));
  };
  m["MeanVarianceNormalization"] = [](const Node& n) {
    const Tensor& x = n.at(0);
    Shape axes = n.ints("axes").value_or(Shape{0, 2, 3});
    for (auto& d : axes) d = wrap(d, x.dim());
    Tensor centered = x - ops::mean(x, axes, true);
    return one(centered / ops::sqrt(ops::mean(centered * centered, axes, true) + 1e-9));
  };
  m["LRN"] = [](const Node& n) {  // x / (bias + alpha / size * sum of squares over a window of channels)^beta
    const Tensor& x = n.at(0);
    int64_t size = n.i("size", 0);
    TS_CHECK_VALUE(size > 0, "LRN needs a positive size, got ", size);
    int64_t before = (size - 1) / 2, after = size - 1 - before;
    Shape pad(size_t(2 * (x.dim() - 2)), 0);  // (before, after) from the last dim: channels come last
    pad.push_back(before);
    pad.push_back(after);
    Tensor sq = ops::pad(x * x, pad, "constant", 0.0), sum = zeros_like(x);
    for (int64_t k = 0; k < size; ++k) sum = sum + sq.narrow(1, k, x.size(1));
    return one(x / ops::pow(sum * (n.f("alpha", 1e-4) / double(size)) + n.f("bias", 1.0), Scalar(n.f("beta", 0.75))));
  };
  m["NegativeLogLikelihoodLoss"] = [](const Node& n) {
    return one(nll_loss(n.at(0), n.at(1), n.has(2) ? n.in[2] : Tensor(), n.s("reduction", "mean"), ignore_index(n)));
  };
  m["SoftmaxCrossEntropyLoss"] = [](const Node& n) {
    const Tensor& x = n.at(0);
    TS_CHECK_SHAPE(x.dim() >= 2, "scores must be [N, C, d...], got ", x.shape());
    Tensor log_prob = ops::log_softmax(x, 1);
    Tensor loss = nll_loss(log_prob, n.at(1), n.has(2) ? n.in[2] : Tensor(), n.s("reduction", "mean"), ignore_index(n));
    return n.proto.output_size() > 1 ? Values{loss, log_prob} : Values{loss};
  };
  m["Attention"] = [](const Node& n) { return attention(n); };
  m["RotaryEmbedding"] = [](const Node& n) { return one(rotary_embedding(n)); };
}

}  // namespace tessera::io::internal

// Export: what the traced normalizations and recurrent layers become.
namespace tessera::io::internal {

namespace {
using ops::trace::Call;
using Names = std::vector<std::string>;

// A tessera recurrent layer's direction as ONNX's RNN, LSTM or GRU: PyTorch's gate order
// (i f g o; r z n) becomes ONNX's (i o f c; z r h), and GRU applies its reset gate after the
// recurrent matmul (linear_before_reset), as PyTorch does.
Names export_recurrent(ExportGraph& x, const Call& c, const Names& in) {
  int64_t cell = c.i("cell"), H = c.i("hidden_size");
  bool lstm = cell == 2, gru = cell == 3;
  std::vector<int64_t> order = lstm ? std::vector<int64_t>{0, 3, 1, 2} : gru ? std::vector<int64_t>{1, 0, 2}
                                                                        : std::vector<int64_t>{0};
  auto reorder = [&](const std::string& w) {  // gate blocks along dim 0, reordered
    if (order.size() == 1) return w;
    onnx::NodeProto& split = x.multi_node("Split", {w, x.ints(Shape(order.size(), H))}, int(order.size()));
    ExportGraph::attr(split, "axis", int64_t(0));
    Names parts;
    for (int64_t k : order) parts.push_back(split.output(int(k)));
    auto& cat = x.node("Concat", parts);
    ExportGraph::attr(cat, "axis", int64_t(0));
    return cat.output(0);
  };
  auto unsqueeze0 = [&](const std::string& v) { return x.emit("Unsqueeze", {v, x.ints({0})}); };
  std::string B;
  if (!in[5].empty()) {
    auto& cat = x.node("Concat", {reorder(in[5]), reorder(in[6])});
    ExportGraph::attr(cat, "axis", int64_t(0));
    B = unsqueeze0(cat.output(0));
  }
  // Zero initial states computed from constants are left out: ONNX starts from zeros at any batch size.
  auto state = [&](size_t k) {
    if (in[k].empty()) return std::string();
    if (x.is_constant(in[k]) && !ops::any(c.inputs[k] != 0.0).item<bool>()) return std::string();
    return unsqueeze0(in[k]);
  };
  Names args{in[0], unsqueeze0(reorder(in[3])), unsqueeze0(reorder(in[4])), B, "", state(1)};
  if (lstm) args.push_back(state(2));
  while (!args.empty() && args.back().empty()) args.pop_back();
  onnx::NodeProto& n = x.multi_node(lstm ? "LSTM" : gru ? "GRU" : "RNN", args, lstm ? 3 : 2);
  ExportGraph::attr(n, "hidden_size", H);
  ExportGraph::attr(n, "direction", std::string(c.i("reverse") ? "reverse" : "forward"));
  if (gru) ExportGraph::attr(n, "linear_before_reset", int64_t(1));
  if (cell == 1) ExportGraph::attr(n, "activations", std::vector<std::string>{"Relu"});  // RNN with relu
  std::string y = x.emit("Squeeze", {n.output(0), x.ints({1})}), h = x.emit("Squeeze", {n.output(1), x.ints({0})});
  return {y, h, lstm ? x.emit("Squeeze", {n.output(2), x.ints({0})}) : std::string()};
}
}  // namespace

void add_nn_exports(ExportTable& t) {
  using G = ExportGraph;
  t["batch_norm"] = [](G& x, const Call& c, const Names& in) -> Names {
    if (c.i("training")) x.fail("batch statistics (training mode, or no running stats) have no ONNX form");
    const Tensor& v = c.inputs[0];
    int64_t C = v.size(1);
    std::string scale = in[1].empty() ? x.constant(ones({C}, {v.dtype()})) : in[1];
    std::string bias = in[2].empty() ? x.constant(zeros({C}, {v.dtype()})) : in[2];
    auto& n = x.node("BatchNormalization", {in[0], scale, bias, in[3], in[4]});
    G::attr(n, "epsilon", c.f("eps"));
    return {n.output(0)};
  };
  t["layer_norm"] = [](G& x, const Call& c, const Names& in) -> Names {
    const Shape& ns = c.ints("normalized_shape");
    std::string scale = in[1].empty() ? x.constant(ones(ns, {c.inputs[0].dtype()})) : in[1];
    Names args{in[0], scale};
    if (!in[2].empty()) args.push_back(in[2]);
    auto& n = x.node("LayerNormalization", args);
    G::attr(n, "axis", -int64_t(ns.size()));
    G::attr(n, "epsilon", c.f("eps"));
    return {n.output(0)};
  };
  // Opset 17 has no GroupNormalization: normalize [N, G, rest], then scale and shift per channel.
  t["group_norm"] = [](G& x, const Call& c, const Names& in) -> Names {
    const Tensor& v = c.inputs[0];
    DType dt = v.dtype();
    std::string xr = x.emit("Reshape", {in[0], x.ints({x.dynamic() ? 0 : v.size(0), c.i("num_groups"), -1})});
    auto mean = [&](const std::string& u) {
      auto& n = x.reduction("ReduceMean", u, Shape{2});
      G::attr(n, "keepdims", int64_t(1));
      return n.output(0);
    };
    std::string d = x.emit("Sub", {xr, mean(xr)});
    std::string var = mean(x.emit("Mul", {d, d}));
    std::string y = x.emit("Div", {d, x.emit("Sqrt", {x.emit("Add", {var, x.scalar(c.f("eps"), dt)})})});
    y = x.emit("Reshape", {y, x.emit("Shape", {in[0]})});
    Shape per_channel(size_t(v.dim()), 1);
    per_channel[1] = v.size(1);
    if (!in[1].empty()) y = x.emit("Mul", {y, x.emit("Reshape", {in[1], x.ints(per_channel)})});
    if (!in[2].empty()) y = x.emit("Add", {y, x.emit("Reshape", {in[2], x.ints(per_channel)})});
    return {y};
  };
  t["rnn"] = export_recurrent;
}

}  // namespace tessera::io::internal
