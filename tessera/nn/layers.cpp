#include "tessera/nn/layers.h"

#include <charconv>
#include <cmath>

#include "tessera/autograd/autograd.h"
#include "tessera/nn/functional.h"
#include "tessera/nn/init.h"

namespace tessera::nn {

namespace {
// Sizes as Python prints a tuple: (2, 3), (4,).
std::string py_tuple(const Shape& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}
std::string pair_str(int64_t a, int64_t b) { return py_tuple({a, b}); }
void check_positive(const char* layer, const char* what, int64_t v) {
  TS_CHECK_VALUE(v > 0, layer, ": ", what, " must be positive, got ", v);
}
// PyTorch's default for weights: kaiming_uniform(a = sqrt(5)), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
// and the same bound for the bias.
void default_init(Tensor& w, Tensor& b, int64_t fan_in) {
  init::kaiming_uniform_(w, std::sqrt(5.0));
  if (b.defined()) {
    double bound = fan_in > 0 ? 1.0 / std::sqrt(double(fan_in)) : 0;
    init::uniform_(b, -bound, bound);
  }
}
}  // namespace

LinearImpl::LinearImpl(int64_t in, int64_t out, bool with_bias) : Module("Linear"), in_features(in), out_features(out) {
  TS_CHECK_VALUE(in >= 0 && out >= 0, "Linear: sizes must be non-negative, got in=", in, " out=", out);
  weight = register_parameter("weight", empty({out, in}));
  if (with_bias) bias = register_parameter("bias", empty({out}));
  default_init(weight, bias, in);
}
Tensor LinearImpl::forward(const Tensor& x) { return ops::linear(x, weight, bias); }
std::string LinearImpl::extra_repr() const {
  return "in_features=" + std::to_string(in_features) + ", out_features=" + std::to_string(out_features) +
         ", bias=" + (bias.defined() ? "True" : "False");
}

BilinearImpl::BilinearImpl(int64_t in1, int64_t in2, int64_t out, bool with_bias) : Module("Bilinear") {
  weight = register_parameter("weight", empty({out, in1, in2}));
  if (with_bias) bias = register_parameter("bias", empty({out}));
  double bound = 1.0 / std::sqrt(double(std::max<int64_t>(in1, 1)));
  init::uniform_(weight, -bound, bound);
  if (with_bias) init::uniform_(bias, -bound, bound);
}
Tensor BilinearImpl::forward(const Tensor& x1, const Tensor& x2) {
  TS_CHECK_SHAPE(x1.dim() >= 1 && x2.dim() >= 1 && x1.size(-1) == weight.size(1) && x2.size(-1) == weight.size(2),
                 "Bilinear: inputs ", x1.shape(), " and ", x2.shape(), " do not match weight ", weight.shape());
  // y[..., o] = sum_ij x1[..., i] W[o, i, j] x2[..., j]
  Tensor t = ops::matmul(x1.unsqueeze(-2).unsqueeze(-3), weight);  // [..., out, 1, in2]
  Tensor y = ops::matmul(t, x2.unsqueeze(-2).unsqueeze(-1)).squeeze(-1).squeeze(-1);
  return bias.defined() ? y + bias : y;
}
std::string BilinearImpl::extra_repr() const {
  return "in1_features=" + std::to_string(weight.size(1)) + ", in2_features=" + std::to_string(weight.size(2)) +
         ", out_features=" + std::to_string(weight.size(0));
}

Conv2dImpl::Conv2dImpl(int64_t in, int64_t out, Pair k, ConvConfig o) : Module("Conv2d"), in_channels(in), out_channels(out) {
  check_positive("Conv2d", "in_channels", in);
  check_positive("Conv2d", "out_channels", out);
  check_positive("Conv2d", "kernel_size", std::min(k.h, k.w));
  check_positive("Conv2d", "groups", o.groups);
  TS_CHECK_VALUE(in % o.groups == 0 && out % o.groups == 0, "Conv2d: in_channels (", in, ") and out_channels (", out,
                 ") must be divisible by groups (", o.groups, ")");
  params = {{o.stride.h, o.stride.w}, {o.padding.h, o.padding.w}, {o.dilation.h, o.dilation.w}, o.groups};
  weight = register_parameter("weight", empty({out, in / o.groups, k.h, k.w}));
  if (o.bias) bias = register_parameter("bias", empty({out}));
  default_init(weight, bias, in / o.groups * k.h * k.w);
}
Tensor Conv2dImpl::forward(const Tensor& x) { return ops::conv2d(x, weight, bias, params); }
std::string Conv2dImpl::extra_repr() const {
  std::string s = std::to_string(in_channels) + ", " + std::to_string(out_channels) +
                  ", kernel_size=" + pair_str(weight.size(2), weight.size(3)) +
                  ", stride=" + pair_str(params.stride[0], params.stride[1]);
  if (params.padding[0] || params.padding[1]) s += ", padding=" + pair_str(params.padding[0], params.padding[1]);
  if (params.dilation[0] != 1 || params.dilation[1] != 1)
    s += ", dilation=" + pair_str(params.dilation[0], params.dilation[1]);
  if (params.groups != 1) s += ", groups=" + std::to_string(params.groups);
  if (!bias.defined()) s += ", bias=False";
  return s;
}

Conv1dImpl::Conv1dImpl(int64_t in, int64_t out, int64_t k, ConvConfig o) : Module("Conv1d"), options(o) {
  check_positive("Conv1d", "kernel_size", k);
  TS_CHECK_VALUE(in > 0 && out > 0 && o.groups > 0 && in % o.groups == 0 && out % o.groups == 0,
                 "Conv1d: invalid channels (", in, ", ", out, ") for groups=", o.groups);
  weight = register_parameter("weight", empty({out, in / o.groups, k}));
  if (o.bias) bias = register_parameter("bias", empty({out}));
  default_init(weight, bias, in / o.groups * k);
}
Tensor Conv1dImpl::forward(const Tensor& x) {
  return ops::conv1d(x, weight, bias, options.stride.w, options.padding.w, options.dilation.w, options.groups);
}
std::string Conv1dImpl::extra_repr() const {
  return std::to_string(weight.size(1) * options.groups) + ", " + std::to_string(weight.size(0)) +
         ", kernel_size=(" + std::to_string(weight.size(2)) + ",), stride=(" + std::to_string(options.stride.w) + ",)";
}

ConvTranspose2dImpl::ConvTranspose2dImpl(int64_t in, int64_t out, Pair k, ConvConfig o) : Module("ConvTranspose2d") {
  TS_CHECK_VALUE(in > 0 && out > 0 && o.groups > 0 && in % o.groups == 0 && out % o.groups == 0,
                 "ConvTranspose2d: invalid channels (", in, ", ", out, ") for groups=", o.groups);
  params = {{o.stride.h, o.stride.w}, {o.padding.h, o.padding.w}, {o.dilation.h, o.dilation.w}, o.groups};
  output_padding = {o.output_padding.h, o.output_padding.w};
  weight = register_parameter("weight", empty({in, out / o.groups, k.h, k.w}));
  if (o.bias) bias = register_parameter("bias", empty({out}));
  default_init(weight, bias, out / o.groups * k.h * k.w);
}
Tensor ConvTranspose2dImpl::forward(const Tensor& x) {
  return ops::conv_transpose2d(x, weight, bias, params, output_padding);
}
std::string ConvTranspose2dImpl::extra_repr() const {
  return std::to_string(weight.size(0)) + ", " + std::to_string(weight.size(1) * params.groups) +
         ", kernel_size=" + pair_str(weight.size(2), weight.size(3)) +
         ", stride=" + pair_str(params.stride[0], params.stride[1]);
}

namespace {
ops::PoolOptions pool_options(Pair k, const PoolConfig& o) {
  Pair s = o.stride.value_or(k);
  return {{k.h, k.w}, {s.h, s.w}, {o.padding.h, o.padding.w}, {o.dilation.h, o.dilation.w}, o.ceil_mode,
          o.count_include_pad};
}
std::string pool_repr(const ops::PoolOptions& o) {
  return "kernel_size=" + pair_str(o.kernel_size[0], o.kernel_size[1]) + ", stride=" + pair_str(o.stride[0], o.stride[1]) +
         ", padding=" + pair_str(o.padding[0], o.padding[1]);
}
}  // namespace

MaxPool2dImpl::MaxPool2dImpl(Pair k, PoolConfig o) : Module("MaxPool2d"), options(pool_options(k, o)) {}
Tensor MaxPool2dImpl::forward(const Tensor& x) { return ops::max_pool2d(x, options); }
std::string MaxPool2dImpl::extra_repr() const { return pool_repr(options); }
AvgPool2dImpl::AvgPool2dImpl(Pair k, PoolConfig o) : Module("AvgPool2d"), options(pool_options(k, o)) {}
Tensor AvgPool2dImpl::forward(const Tensor& x) { return ops::avg_pool2d(x, options); }
std::string AvgPool2dImpl::extra_repr() const { return pool_repr(options); }
AdaptiveAvgPool2dImpl::AdaptiveAvgPool2dImpl(Pair s) : Module("AdaptiveAvgPool2d"), output_size{s.h, s.w} {}
Tensor AdaptiveAvgPool2dImpl::forward(const Tensor& x) { return ops::adaptive_avg_pool2d(x, output_size); }
std::string AdaptiveAvgPool2dImpl::extra_repr() const { return "output_size=" + pair_str(output_size[0], output_size[1]); }

BatchNorm::BatchNorm(const char* type, int64_t n, BatchNormConfig o, int64_t lo, int64_t hi)
    : Module(type), options(o), num_features(n), min_dim(lo), max_dim(hi) {
  check_positive(type, "num_features", n);
  if (o.affine) {
    weight = register_parameter("weight", ones({n}));
    bias = register_parameter("bias", zeros({n}));
  }
  if (o.track_running_stats) {
    running_mean = register_buffer("running_mean", zeros({n}));
    running_var = register_buffer("running_var", ones({n}));
    num_batches_tracked = register_buffer("num_batches_tracked", zeros({}, {DType::Int64}));
  }
}
Tensor BatchNorm::forward(const Tensor& x) {
  TS_CHECK_SHAPE(x.dim() >= min_dim && x.dim() <= max_dim && x.size(1) == num_features, type_name(), ": expected ",
                 min_dim == max_dim ? std::to_string(min_dim) + "-D" : "2-D or 3-D", " input with ", num_features,
                 " channels, got ", x.shape());
  bool use_batch = is_training() || !options.track_running_stats;
  if (is_training() && options.track_running_stats) {
    autograd::NoGradGuard ng;
    num_batches_tracked.add_(int64_t(1));
  }
  return ops::batch_norm(x, use_batch && !is_training() ? Tensor() : running_mean,
                         use_batch && !is_training() ? Tensor() : running_var, weight, bias, use_batch,
                         options.momentum, options.eps);
}
std::string BatchNorm::extra_repr() const {
  return std::to_string(num_features) + ", eps=" + detail::str(options.eps) + ", momentum=" + detail::str(options.momentum);
}

LayerNormImpl::LayerNormImpl(Shape ns, double e, bool affine) : Module("LayerNorm"), normalized_shape(std::move(ns)), eps(e) {
  check_shape(normalized_shape, "LayerNorm");
  if (affine) {
    weight = register_parameter("weight", ones(normalized_shape));
    bias = register_parameter("bias", zeros(normalized_shape));
  }
}
Tensor LayerNormImpl::forward(const Tensor& x) { return ops::layer_norm(x, normalized_shape, weight, bias, eps); }
std::string LayerNormImpl::extra_repr() const { return detail::str(normalized_shape) + ", eps=" + detail::str(eps); }

GroupNormImpl::GroupNormImpl(int64_t g, int64_t c, double e, bool affine) : Module("GroupNorm"), num_groups(g), num_channels(c), eps(e) {
  TS_CHECK_VALUE(g > 0 && c > 0 && c % g == 0, "GroupNorm: num_channels (", c, ") must be divisible by num_groups (", g, ")");
  if (affine) {
    weight = register_parameter("weight", ones({c}));
    bias = register_parameter("bias", zeros({c}));
  }
}
Tensor GroupNormImpl::forward(const Tensor& x) { return ops::group_norm(x, num_groups, weight, bias, eps); }
std::string GroupNormImpl::extra_repr() const { return std::to_string(num_groups) + ", " + std::to_string(num_channels); }

namespace {
// f(x), or (inplace=True) f(x) written into x; under autograd x takes the history of f applied
// to its old value.
template <class F>
Tensor maybe_in_place(bool inplace, const Tensor& x, const char* op, F f) {
  if (!inplace) return f(x);
  Tensor y = x;  // the same tensor: the caller's input is written
  if (autograd::needs_grad({&x})) return ops::rebind_inplace(y, op, f);
  return y.copy_(f(x));
}
std::string with_inplace(std::string repr, bool inplace) {
  if (!inplace) return repr;
  return repr.empty() ? "inplace=True" : repr + ", inplace=True";
}
}  // namespace

DropoutImpl::DropoutImpl(double prob, bool inp) : Module("Dropout"), p(prob), inplace(inp) {
  TS_CHECK_VALUE(p >= 0 && p <= 1, "Dropout: probability has to be between 0 and 1, but got ", p);
}
Tensor DropoutImpl::forward(const Tensor& x) {
  if (!is_training() || p == 0) return x;  // (nothing to write in place)
  double prob = p;
  return maybe_in_place(inplace, x, "dropout_", [prob](const Tensor& v) { return ops::dropout(v, prob, true); });
}
std::string DropoutImpl::extra_repr() const { return with_inplace("p=" + detail::str(p), inplace); }

ChannelDropout::ChannelDropout(int nd, double prob, bool inp)
    : Module("Dropout" + std::to_string(nd) + "d"), p(prob), inplace(inp), spatial_dims(nd) {
  TS_CHECK_VALUE(nd >= 1 && nd <= 3, "ChannelDropout: spatial_dims must be 1, 2 or 3, got ", nd);
  TS_CHECK_VALUE(p >= 0 && p <= 1, type_name(), ": probability has to be between 0 and 1, but got ", p);
}
Tensor ChannelDropout::forward(const Tensor& x) {
  if (!is_training() || p == 0) return x;
  double prob = p;
  int nd = spatial_dims;
  return maybe_in_place(inplace, x, "dropout_", [prob, nd](const Tensor& v) {
    return nd == 1 ? ops::dropout1d(v, prob, true) : nd == 2 ? ops::dropout2d(v, prob, true) : ops::dropout3d(v, prob, true);
  });
}
std::string ChannelDropout::extra_repr() const { return with_inplace("p=" + detail::str(p), inplace); }

EmbeddingImpl::EmbeddingImpl(int64_t num, int64_t dim, std::optional<int64_t> pad) : Module("Embedding"), padding_idx(pad) {
  TS_CHECK_VALUE(num > 0 && dim > 0, "Embedding: sizes must be positive, got ", num, " x ", dim);
  if (pad) {
    TS_CHECK_INDEX(*pad >= -num && *pad < num, "Embedding: padding_idx ", *pad, " is out of range for ", num,
                   " embeddings");
    if (*pad < 0) padding_idx = *pad + num;
  }
  weight = register_parameter("weight", empty({num, dim}));
  init::normal_(weight);
  if (padding_idx) {
    autograd::NoGradGuard ng;
    weight.select(0, *padding_idx).zero_();
  }
}
Tensor EmbeddingImpl::forward(const Tensor& indices) {
  Tensor y = ops::embedding(indices, weight);
  if (padding_idx && y.requires_grad()) {
    // The padding row gets no gradient: zero it on the way back.
    Tensor keep = (indices != *padding_idx).unsqueeze(-1).to(y.dtype());
    y.register_hook([keep](const Tensor& g) { return g * keep; });
  }
  return y;
}
std::string EmbeddingImpl::extra_repr() const {
  return std::to_string(weight.size(0)) + ", " + std::to_string(weight.size(1)) +
         (padding_idx ? ", padding_idx=" + std::to_string(*padding_idx) : "");
}

std::string FlattenImpl::extra_repr() const {
  return "start_dim=" + std::to_string(start) + ", end_dim=" + std::to_string(end);
}

Tensor ReLUImpl::forward(const Tensor& x) {
  if (!inplace) return ops::relu(x);
  Tensor y = x;
  return ops::unary_(UnaryOp::Relu, y);
}
std::string ReLUImpl::extra_repr() const { return with_inplace("", inplace); }
Tensor SiLUImpl::forward(const Tensor& x) {
  if (!inplace) return ops::silu(x);
  Tensor y = x;
  return ops::unary_(UnaryOp::Silu, y);
}
std::string SiLUImpl::extra_repr() const { return with_inplace("", inplace); }
Tensor FunctionalImpl::forward(const Tensor& x) {
  TS_CHECK(function, "Functional: no function to call (made from an empty std::function)");
  return function(x);
}
Tensor LeakyReLUImpl::forward(const Tensor& x) {
  double s = slope;
  return maybe_in_place(inplace, x, "leaky_relu_", [s](const Tensor& v) {
    return functional::leaky_relu(v, functional::LeakyReLUFuncOptions().negative_slope(s));
  });
}
std::string LeakyReLUImpl::extra_repr() const { return with_inplace("negative_slope=" + detail::str(slope), inplace); }
Tensor ELUImpl::forward(const Tensor& x) {
  double a = alpha;
  return maybe_in_place(inplace, x, "elu_", [a](const Tensor& v) { return functional::elu(v, a); });
}
std::string ELUImpl::extra_repr() const { return with_inplace("alpha=" + detail::str(alpha), inplace); }

namespace {
// A number as Python prints a float (1.0, 0.25, 1e-05), for the settings PyTorch prints so.
std::string py_float(double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, end);
  if (s.find_first_of(".en") == std::string::npos) s += ".0";  // (n: inf, nan)
  return s;
}
}  // namespace

Tensor SoftplusImpl::forward(const Tensor& x) { return functional::softplus(x, beta, threshold); }
std::string SoftplusImpl::extra_repr() const { return "beta=" + py_float(beta) + ", threshold=" + py_float(threshold); }

HardtanhImpl::HardtanhImpl(const char* type, double lo, double hi, bool inp)
    : Module(type), min_val(lo), max_val(hi), inplace(inp) {
  TS_CHECK_VALUE(lo <= hi, type, ": min_val (", lo, ") cannot be greater than max_val (", hi, ")");
}
Tensor HardtanhImpl::forward(const Tensor& x) {
  double lo = min_val, hi = max_val;
  return maybe_in_place(inplace, x, "hardtanh_", [lo, hi](const Tensor& v) { return functional::hardtanh(v, lo, hi); });
}
std::string HardtanhImpl::extra_repr() const {
  return with_inplace("min_val=" + py_float(min_val) + ", max_val=" + py_float(max_val), inplace);
}
std::string ReLU6Impl::extra_repr() const { return with_inplace("", inplace); }

Tensor HardsigmoidImpl::forward(const Tensor& x) {
  return maybe_in_place(inplace, x, "hardsigmoid_", [](const Tensor& v) { return functional::hardsigmoid(v); });
}
Tensor HardswishImpl::forward(const Tensor& x) {
  return maybe_in_place(inplace, x, "hardswish_", [](const Tensor& v) { return functional::hardswish(v); });
}
Tensor MishImpl::forward(const Tensor& x) {
  return maybe_in_place(inplace, x, "mish_", [](const Tensor& v) { return functional::mish(v); });
}

PReLUImpl::PReLUImpl(int64_t n, double init) : Module("PReLU"), num_parameters(n) {
  TS_CHECK_VALUE(n >= 1, "PReLU: num_parameters must be at least 1, got ", n);
  weight = register_parameter("weight", full({n}, init));
}
Tensor PReLUImpl::forward(const Tensor& x) { return functional::prelu(x, weight); }
std::string PReLUImpl::extra_repr() const { return "num_parameters=" + std::to_string(num_parameters); }

Tensor UnflattenImpl::forward(const Tensor& x) { return x.unflatten(dim, unflattened_size); }
std::string UnflattenImpl::extra_repr() const {
  return "dim=" + std::to_string(dim) + ", unflattened_size=" + py_tuple(unflattened_size);
}

UpsampleImpl::UpsampleImpl(std::optional<Shape> sz, std::optional<std::vector<double>> sf, std::string m)
    : Module("Upsample"), size(std::move(sz)), scale_factor(std::move(sf)), mode(std::move(m)) {
  TS_CHECK_VALUE(size.has_value() != scale_factor.has_value(), "Upsample: give either size or scale_factor");
  TS_CHECK_VALUE(mode == "nearest", "Upsample: mode '", mode, "' is not supported (only 'nearest')");
}
Tensor UpsampleImpl::forward(const Tensor& x) { return functional::interpolate(x, size, scale_factor, mode); }
std::string UpsampleImpl::extra_repr() const {
  std::string info;
  if (scale_factor) {
    if (scale_factor->size() == 1) {
      info = "scale_factor=" + py_float((*scale_factor)[0]);
    } else {
      info = "scale_factor=(";
      for (size_t i = 0; i < scale_factor->size(); ++i) info += (i ? ", " : "") + py_float((*scale_factor)[i]);
      info += ")";
    }
  } else {
    info = "size=" + (size->size() == 1 ? std::to_string((*size)[0]) : py_tuple(*size));
  }
  return info + ", mode='" + mode + "'";
}

MaxPool1dImpl::MaxPool1dImpl(int64_t k, std::optional<int64_t> s, int64_t p, int64_t d, bool c)
    : Module("MaxPool1d"), kernel_size(k), stride(s.value_or(k)), padding(p), dilation(d), ceil_mode(c) {}
Tensor MaxPool1dImpl::forward(const Tensor& x) {
  return functional::max_pool1d(x, kernel_size, stride, padding, dilation, ceil_mode);
}
std::string MaxPool1dImpl::extra_repr() const {
  return detail::str("kernel_size=", kernel_size, ", stride=", stride, ", padding=", padding, ", dilation=", dilation,
                     ", ceil_mode=", ceil_mode ? "True" : "False");
}

AvgPool1dImpl::AvgPool1dImpl(int64_t k, std::optional<int64_t> s, int64_t p, bool c, bool include)
    : Module("AvgPool1d"), kernel_size(k), stride(s.value_or(k)), padding(p), ceil_mode(c), count_include_pad(include) {}
Tensor AvgPool1dImpl::forward(const Tensor& x) {
  return functional::avg_pool1d(x, kernel_size, stride, padding, ceil_mode, count_include_pad);
}
std::string AvgPool1dImpl::extra_repr() const {
  return "kernel_size=" + py_tuple({kernel_size}) + ", stride=" + py_tuple({stride}) + ", padding=" + py_tuple({padding});
}

Tensor AdaptiveAvgPool1dImpl::forward(const Tensor& x) { return functional::adaptive_avg_pool1d(x, output_size); }

MultiheadAttentionImpl::MultiheadAttentionImpl(int64_t e, int64_t h, double drop, bool bias, bool bf)
    : Module("MultiheadAttention"), embed_dim(e), num_heads(h), dropout(drop), batch_first(bf) {
  TS_CHECK_VALUE(e > 0 && h > 0 && e % h == 0, "MultiheadAttention: embed_dim (", e,
                 ") must be divisible by num_heads (", h, ")");
  in_proj_weight = register_parameter("in_proj_weight", empty({3 * e, e}));
  init::xavier_uniform_(in_proj_weight);
  if (bias) in_proj_bias = register_parameter("in_proj_bias", zeros({3 * e}));
  out_proj = register_module("out_proj", std::make_shared<LinearImpl>(e, e, bias));
  if (bias) init::zeros_(out_proj->bias);
}

std::pair<Tensor, Tensor> MultiheadAttentionImpl::forward(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in,
                                                      const Tensor& key_padding_mask, bool need_weights,
                                                      const Tensor& attn_mask) {
  TS_CHECK_SHAPE(q_in.dim() == 3 && k_in.dim() == 3 && v_in.dim() == 3 && q_in.size(-1) == embed_dim &&
                     k_in.size(-1) == embed_dim && v_in.size(-1) == embed_dim,
                 "MultiheadAttention: expected 3-D query/key/value with embed_dim ", embed_dim, ", got ", q_in.shape(),
                 ", ", k_in.shape(), ", ", v_in.shape());
  // Work batch-first: [N, L, E].
  Tensor q = batch_first ? q_in : q_in.transpose(0, 1), k = batch_first ? k_in : k_in.transpose(0, 1),
         v = batch_first ? v_in : v_in.transpose(0, 1);
  int64_t N = q.size(0), L = q.size(1), S = k.size(1), H = num_heads, D = embed_dim / num_heads;
  TS_CHECK_SHAPE(k.size(0) == N && v.size(0) == N && v.size(1) == S, "MultiheadAttention: key ", k_in.shape(),
                 " and value ", v_in.shape(), " do not match query ", q_in.shape());
  auto w = ops::chunk(in_proj_weight, 3, 0);
  std::vector<Tensor> b = in_proj_bias.defined() ? ops::chunk(in_proj_bias, 3, 0) : std::vector<Tensor>(3);
  auto heads = [&](const Tensor& x, int i, int64_t len) {  // [N, len, E] -> [N, H, len, D]
    return ops::linear(x, w[size_t(i)], b[size_t(i)]).view({N, len, H, D}).transpose(1, 2);
  };
  Tensor qh = heads(q, 0, L), kh = heads(k, 1, S), vh = heads(v, 2, S);
  // The masks as one additive mask broadcasting to [N, H, L, S] (bool: true = masked).
  auto additive = [&](const Tensor& m) {
    return m.dtype() == DType::Bool ? zeros(m.shape(), {q.dtype(), q.device()}).masked_fill(m, -INFINITY)
                                    : m.to(q.dtype());
  };
  Tensor mask;
  if (attn_mask.defined()) {
    TS_CHECK_SHAPE((attn_mask.dim() == 2 && attn_mask.size(0) == L && attn_mask.size(1) == S) ||
                       (attn_mask.dim() == 3 && attn_mask.size(0) == N * H && attn_mask.size(1) == L &&
                        attn_mask.size(2) == S),
                   "MultiheadAttention: attn_mask must be [", L, ", ", S, "] or [", N * H, ", ", L, ", ", S, "], got ",
                   attn_mask.shape());
    mask = additive(attn_mask.dim() == 3 ? attn_mask.view({N, H, L, S}) : attn_mask);
  }
  if (key_padding_mask.defined()) {
    TS_CHECK_SHAPE(key_padding_mask.dim() == 2 && key_padding_mask.size(0) == N && key_padding_mask.size(1) == S,
                   "MultiheadAttention: key_padding_mask must be [", N, ", ", S, "], got ", key_padding_mask.shape());
    Tensor kp = additive(key_padding_mask).view({N, 1, 1, S});
    mask = mask.defined() ? mask + kp : kp;
  }
  auto [o, attn] = ops::attention_with_weights(qh, kh, vh, mask, is_training() ? dropout : 0.0);
  Tensor out = o.transpose(1, 2).reshape({N, L, embed_dim});
  out = (*out_proj)(out);
  if (!batch_first) out = out.transpose(0, 1);
  return {out, need_weights ? attn.mean({1}) : Tensor()};
}
std::string MultiheadAttentionImpl::extra_repr() const {
  return "embed_dim=" + std::to_string(embed_dim) + ", num_heads=" + std::to_string(num_heads);
}

}  // namespace tessera::nn
