// Linear algebra and neural-network ops: matmul, convolution, pooling (normalization: norm.cpp),
// dropout, embedding, one_hot.
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
// The layout a conv or max-pool operand is handed to the backend in: channels last when it is so
// and the backend takes it for the dtype (Backend::channels_last), contiguous NCHW otherwise.
MemoryFormat kernel_format(const Tensor& x4) {
  return x4.suggest_memory_format() == MemoryFormat::ChannelsLast && backend_for(x4.device()).channels_last(x4.dtype())
             ? MemoryFormat::ChannelsLast
             : MemoryFormat::Contiguous;
}
Tensor in_format(const Tensor& x4, MemoryFormat f) {
  autograd::NoGradGuard ng;
  return x4.contiguous(f);
}

void check_float(const char* op, const Tensor& t, const char* what) {
  TS_CHECK_DTYPE(t.is_floating_point(), op, ": expected ", what, " to be floating point, got ", t.dtype());
}
void check_same(const char* op, const Tensor& a, const Tensor& b) {
  TS_CHECK_DTYPE(a.dtype() == b.dtype(), op, ": expected both operands to have the same dtype, got ", a.dtype(),
                 " and ", b.dtype());
  TS_CHECK_DEVICE(a.device() == b.device(), op, ": expected both operands on the same device, got ", a.device(),
                  " and ", b.device());
}
std::string dims_x(const Shape& s) {
  std::string r;
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "x" : "") + std::to_string(s[i]);
  return r;
}

// matmul's forward; the reshapes and expansions of the operands record nothing.
Tensor matmul_forward(const Tensor& a, const Tensor& b) {
  autograd::NoGradGuard ng;
  TS_CHECK_SHAPE(a.dim() >= 1 && b.dim() >= 1, "matmul: both arguments need at least 1 dimension, got shapes ",
                 a.shape(), " and ", b.shape());
  check_same("matmul", a, b);
  TS_CHECK_DTYPE(a.dtype() != DType::Bool, "matmul: not implemented for bool tensors");
  Tensor A = a.dim() == 1 ? a.unsqueeze(0) : a, B = b.dim() == 1 ? b.unsqueeze(1) : b;
  int64_t M = A.size(-2), K = A.size(-1), K2 = B.size(-2), N = B.size(-1);
  TS_CHECK_SHAPE(K == K2, "matmul: mat1 and mat2 shapes cannot be multiplied (", dims_x({M, K}), " and ",
                 dims_x({K2, N}), "); full shapes ", a.shape(), " and ", b.shape());
  Shape ba(A.shape().begin(), A.shape().end() - 2), bb(B.shape().begin(), B.shape().end() - 2);
  Shape batch = broadcast_shapes(ba, bb, "matmul");
  Tensor out3;
  if (bb.empty() && A.dim() > 2 && (A.is_contiguous() || A.stride(-1) == 1)) {
    // [..., M, K] @ [K, N]: fold the batch into M, one big GEMM.
    Tensor a2 = A.reshape({1, -1, K});
    out3 = empty({1, a2.size(1), N}, {a.dtype(), a.device()});
    backend_for(a.device()).matmul(out3, a2, B.unsqueeze(0));
  } else {
    int64_t nb = numel_of(batch);
    Shape fa = batch, fb = batch;
    fa.insert(fa.end(), {M, K});
    fb.insert(fb.end(), {K, N});
    Tensor a3 = A.expand(fa), b3 = B.expand(fb);
    // A fully broadcast batch stays a stride-0 view; otherwise flatten (copying if needed).
    a3 = ba.empty() || numel_of(ba) == 1 ? A.reshape({1, M, K}).expand({nb, M, K}) : a3.reshape({nb, M, K});
    b3 = bb.empty() || numel_of(bb) == 1 ? B.reshape({1, K, N}).expand({nb, K, N}) : b3.reshape({nb, K, N});
    out3 = empty({nb, M, N}, {a.dtype(), a.device()});
    backend_for(a.device()).matmul(out3, a3, b3);
  }
  Shape os = batch;
  if (a.dim() > 1) os.push_back(M);
  if (b.dim() > 1) os.push_back(N);
  if (bb.empty() && A.dim() > 2) {
    os = Shape(A.shape().begin(), A.shape().end() - 1);
    os.push_back(N);
    if (b.dim() == 1) os.pop_back();
  }
  return out3.view(os);
}
}  // namespace

Tensor matmul(const Tensor& a_, const Tensor& b_) {
  autocast::Operands ac("matmul", {&a_, &b_});
  const Tensor &a = ac[0], &b = ac[1];
  trace::Scope ts;
  Tensor out = matmul_forward(a, b);
  if (needs_grad({&a, &b})) {
    bool a1 = a.dim() == 1, b1 = b.dim() == 1;
    record_fn("matmul", {&a, &b}, {&out}, {a, b}, [a1, b1](const G& g, const G& s) {
      Tensor A = a1 ? s[0].unsqueeze(0) : s[0], B = b1 ? s[1].unsqueeze(1) : s[1];
      Tensor gg = g[0];
      if (a1 && b1) gg = gg.reshape({1, 1});  // a dot product: g is 0-d
      else if (a1) gg = gg.unsqueeze(-2);
      else if (b1) gg = gg.unsqueeze(-1);
      // Batch dims that were broadcast are summed back by the engine.
      Tensor ga, gb;
      if (autograd::needs_input_grad(0)) ga = matmul(gg, B.transpose(-1, -2));
      if (autograd::needs_input_grad(1) && B.dim() == 2 && A.dim() >= 2) {
        // A matrix b: the batch folded into one product; for a transposed view (linear's weight.t())
        // computed transposed, so that the weight's gradient is row-major like the weight.
        Tensor A2 = A.reshape({-1, A.size(-1)}), g2 = gg.reshape({-1, gg.size(-1)});
        bool cm = B.size(0) > 1 && B.stride(0) == 1 && B.stride(1) == B.size(0);
        gb = cm ? matmul(g2.transpose(0, 1), A2).transpose(0, 1) : matmul(A2.transpose(0, 1), g2);
      } else if (autograd::needs_input_grad(1)) {
        gb = matmul(A.transpose(-1, -2), gg);
      }
      return G{a1 && ga.defined() ? ga.squeeze(-2) : ga, b1 && gb.defined() ? gb.squeeze(-1) : gb};
    });
  }
  if (ts.recording()) ts.record("matmul", {a, b}, {out});
  return out;
}

static Tensor linear_untraced(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  TS_CHECK_SHAPE(weight.dim() == 2, "linear: weight must be 2-D [out_features, in_features], got ", weight.shape());
  TS_CHECK_SHAPE(x.dim() >= 1 && x.size(-1) == weight.size(1), "linear: input shape ", x.shape(),
                 " does not match weight shape ", weight.shape(), " (expected last dim ", weight.size(1), ")");
  Tensor y = matmul(x, weight.t());
  if (bias.defined()) {
    TS_CHECK_SHAPE(bias.dim() == 1 && bias.size(0) == weight.size(0), "linear: bias shape ", bias.shape(),
                   " does not match out_features ", weight.size(0));
    y = y + bias;
  }
  return y;
}

namespace {
void check_conv_params(const char* op, const Conv2dParams& p) {
  for (int i = 0; i < 2; ++i) {
    TS_CHECK_VALUE(p.stride[i] > 0, op, ": stride must be positive, got ", p.stride[i]);
    TS_CHECK_VALUE(p.dilation[i] > 0, op, ": dilation must be positive, got ", p.dilation[i]);
    TS_CHECK_VALUE(p.padding[i] >= 0, op, ": padding must be non-negative, got ", p.padding[i]);
  }
  TS_CHECK_VALUE(p.groups > 0, op, ": groups must be positive, got ", p.groups);
}
int64_t conv_out(int64_t in, int64_t k, const Conv2dParams& p, int i) {
  return (in + 2 * p.padding[i] - p.dilation[i] * (k - 1) - 1) / p.stride[i] + 1;
}
}  // namespace

namespace {
// conv2d's forward; the contiguous copies of the operands record nothing.
Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p) {
  autograd::NoGradGuard ng;
  check_conv_params("conv2d", p);
  check_float("conv2d", x, "input");
  check_same("conv2d", x, w);
  bool batched = x.dim() == 4;
  TS_CHECK_SHAPE(x.dim() == 4 || x.dim() == 3, "conv2d: expected 3-D or 4-D input [N, C, H, W], got ", x.shape());
  TS_CHECK_SHAPE(w.dim() == 4, "conv2d: expected 4-D weight [out, in/groups, kH, kW], got ", w.shape());
  Tensor xb = batched ? x : x.unsqueeze(0);
  MemoryFormat fmt = kernel_format(xb);
  xb = xb.contiguous(fmt);
  int64_t C = xb.size(1), O = w.size(0);
  TS_CHECK_SHAPE(C == w.size(1) * p.groups, "conv2d: given groups=", p.groups, ", weight of size ", w.shape(),
                 ", expected input ", x.shape(), " to have ", w.size(1) * p.groups, " channels, but got ", C,
                 " channels instead");
  TS_CHECK_SHAPE(O % p.groups == 0, "conv2d: out_channels (", O, ") must be divisible by groups (", p.groups, ")");
  int64_t OH = conv_out(xb.size(2), w.size(2), p, 0), OW = conv_out(xb.size(3), w.size(3), p, 1);
  TS_CHECK_SHAPE(OH > 0 && OW > 0, "conv2d: input ", x.shape(), " (padded) is smaller than the dilated kernel ",
                 w.shape(), "; output would be ", OH, "x", OW);
  if (bias.defined())
    TS_CHECK_SHAPE(bias.dim() == 1 && bias.size(0) == O, "conv2d: bias shape ", bias.shape(), " does not match ",
                   O, " output channels");
  Tensor out = empty({xb.size(0), O, OH, OW}, {x.dtype(), x.device()}, fmt);
  backend_for(x.device()).conv2d(out, xb, w.contiguous(), bias.defined() ? bias.to(x.dtype()).contiguous() : bias, p);
  return batched ? out : out.squeeze(0);
}
}  // namespace

static Tensor conv2d_untraced(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p) {
  Tensor out = conv2d_forward(x, w, bias, p);
  bool batched = x.dim() == 4;
  if (needs_grad({&x, &w, &bias})) {
    bool with_bias = bias.defined();
    record_fn("conv2d", {&x, &w, &bias}, {&out}, {x, w}, [p, batched, with_bias](const G& g, const G& s) {
      Tensor gy = batched ? g[0] : g[0].unsqueeze(0), xb = batched ? s[0] : s[0].unsqueeze(0);
      // The first layer's input (the images) needs no gradient: skip that pass.
      Tensor gx = autograd::needs_input_grad(0) ? conv2d_backward_input(gy, s[1], xb.shape(), p) : Tensor();
      Tensor gw, gb;
      if (autograd::needs_input_grad(1) || (with_bias && autograd::needs_input_grad(2)))
        std::tie(gw, gb) = conv2d_backward_weight(gy, xb, s[1].shape(), p, with_bias);
      return G{batched || !gx.defined() ? gx : gx.squeeze(0), gw, gb};
    });
  }
  return out;
}

Tensor conv2d_backward_input(const Tensor& grad_out, const Tensor& w, const Shape& input_shape,
                             const Conv2dParams& p) {
  check_conv_params("conv2d_backward_input", p);
  TS_CHECK_SHAPE(input_shape.size() == 4 && grad_out.dim() == 4, "conv2d_backward_input: expected 4-D shapes, got ",
                 input_shape, " and ", grad_out.shape());
  MemoryFormat fmt = kernel_format(grad_out);
  Tensor gx = empty(input_shape, {grad_out.dtype(), grad_out.device()}, fmt);
  backend_for(gx.device()).conv2d_backward_input(gx, in_format(grad_out, fmt), w.contiguous(), p);
  // Linear in (grad_out, w): d/d grad_out is the convolution of gg with w, d/dw is the weight
  // gradient of a convolution of gg (as input) giving grad_out.
  if (needs_grad({&grad_out, &w}))
    record_fn("conv2d_backward_input", {&grad_out, &w}, {&gx}, {grad_out, w}, [p](const G& g, const G& s) {
      return G{conv2d(g[0], s[1], {}, p), conv2d_backward_weight(s[0], g[0], s[1].shape(), p, false).first};
    });
  return gx;
}

std::pair<Tensor, Tensor> conv2d_backward_weight(const Tensor& grad_out, const Tensor& x, const Shape& weight_shape,
                                                 const Conv2dParams& p, bool with_bias) {
  check_conv_params("conv2d_backward_weight", p);
  Tensor gw = empty(weight_shape, {x.dtype(), x.device()});
  Tensor gb = with_bias ? empty({weight_shape[0]}, {x.dtype(), x.device()}) : Tensor();
  backend_for(x.device()).conv2d_backward_weight(gw, gb, in_format(x, kernel_format(x)),
                                                 in_format(grad_out, kernel_format(grad_out)), p);
  if (needs_grad({&grad_out, &x})) {
    // Bilinear in (grad_out, x): d/d grad_out is the convolution of x with gg; d/dx is the input
    // gradient of a convolution with weight gg. The bias gradient is grad_out summed.
    record_fn("conv2d_backward_weight", {&grad_out, &x}, {&gw, &gb}, {grad_out, x}, [p](const G& g, const G& s) {
      Tensor ggo, gx;
      if (g[0].defined()) {
        ggo = conv2d(s[1], g[0], {}, p);
        gx = conv2d_backward_input(s[0], g[0], s[1].shape(), p);
      }
      if (g.size() > 1 && g[1].defined()) {
        Tensor gb = g[1].view({1, -1, 1, 1}).expand(s[0].shape());
        ggo = ggo.defined() ? ggo + gb : gb;
      }
      return G{ggo, gx};
    });
  }
  return {gw, gb};
}

Tensor conv1d(const Tensor& x_, const Tensor& w_, const Tensor& bias_, int64_t stride, int64_t padding,
              int64_t dilation, int64_t groups) {
  autocast::Operands ac("conv1d", {&x_, &w_, &bias_});
  const Tensor &x = ac[0], &w = ac[1], &bias = ac[2];
  TS_CHECK_SHAPE(x.dim() == 3 || x.dim() == 2, "conv1d: expected 2-D or 3-D input [N, C, L], got ", x.shape());
  TS_CHECK_SHAPE(w.dim() == 3, "conv1d: expected 3-D weight [out, in/groups, k], got ", w.shape());
  Conv2dParams p{{1, stride}, {0, padding}, {1, dilation}, groups};
  Tensor y = conv2d(x.unsqueeze(-2), w.unsqueeze(-2), bias, p);
  return y.squeeze(-2);
}

static Tensor conv_transpose2d_untraced(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p,
                        Shape output_padding) {
  check_conv_params("conv_transpose2d", p);
  check_float("conv_transpose2d", x, "input");
  check_same("conv_transpose2d", x, w);
  TS_CHECK_SHAPE(x.dim() == 4, "conv_transpose2d: expected 4-D input [N, C, H, W], got ", x.shape());
  TS_CHECK_SHAPE(w.dim() == 4 && w.size(0) == x.size(1), "conv_transpose2d: weight ", w.shape(),
                 " must be [in=", x.size(1), ", out/groups, kH, kW]");
  TS_CHECK_SHAPE(output_padding.size() == 2, "conv_transpose2d: output_padding needs 2 values, got ", output_padding);
  int64_t O = w.size(1) * p.groups;
  Shape os{x.size(0), O, 0, 0};
  for (int i = 0; i < 2; ++i) {
    TS_CHECK_VALUE(output_padding[size_t(i)] >= 0 &&
                       (output_padding[size_t(i)] < p.stride[i] || output_padding[size_t(i)] < p.dilation[i]),
                   "conv_transpose2d: output padding must be smaller than either stride or dilation, got ",
                   output_padding);
    os[size_t(2 + i)] = (x.size(2 + i) - 1) * p.stride[i] - 2 * p.padding[i] + p.dilation[i] * (w.size(2 + i) - 1) +
                        output_padding[size_t(i)] + 1;
    TS_CHECK_SHAPE(os[size_t(2 + i)] > 0, "conv_transpose2d: output size ", os, " is not positive");
  }
  // The transposed convolution is the input-gradient of the convolution with this weight.
  Tensor y = conv2d_backward_input(x, w, os, p);  // differentiable in x and w
  if (bias.defined()) y = y + bias.view({1, O, 1, 1});
  return y;
}

namespace {
Pool2dParams pool_params(const char* op, const Tensor& x, const PoolOptions& o, int64_t& OH, int64_t& OW) {
  TS_CHECK_SHAPE(x.dim() == 4 || x.dim() == 3, op, ": expected 3-D or 4-D input [N, C, H, W], got ", x.shape());
  auto two = [&](const Shape& s, const char* what, Shape dflt) {
    Shape r = s.empty() ? dflt : s;
    if (r.size() == 1) r = {r[0], r[0]};
    TS_CHECK_VALUE(r.size() == 2, op, ": ", what, " must have 1 or 2 values, got ", s);
    return r;
  };
  Shape k = two(o.kernel_size, "kernel_size", {});
  Shape st = two(o.stride, "stride", k), pd = two(o.padding, "padding", {0, 0}), dl = two(o.dilation, "dilation", {1, 1});
  Pool2dParams p;
  int64_t H = x.size(-2), W = x.size(-1);
  int64_t* outs[2] = {&OH, &OW};
  int64_t ins[2] = {H, W};
  for (int i = 0; i < 2; ++i) {
    TS_CHECK_VALUE(k[size_t(i)] > 0, op, ": kernel_size must be positive, got ", k);
    TS_CHECK_VALUE(st[size_t(i)] > 0, op, ": stride must be positive, got ", st);
    TS_CHECK_VALUE(dl[size_t(i)] > 0, op, ": dilation must be positive, got ", dl);
    TS_CHECK_VALUE(pd[size_t(i)] >= 0 && pd[size_t(i)] * 2 <= k[size_t(i)], op,
                   ": pad should be at most half of effective kernel size, but got pad=", pd[size_t(i)],
                   ", kernel_size=", k[size_t(i)]);
    p.kernel[i] = k[size_t(i)];
    p.stride[i] = st[size_t(i)];
    p.padding[i] = pd[size_t(i)];
    p.dilation[i] = dl[size_t(i)];
    int64_t span = ins[i] + 2 * p.padding[i] - p.dilation[i] * (p.kernel[i] - 1) - 1;
    int64_t n = (o.ceil_mode ? (span + p.stride[i] - 1) / p.stride[i] : span / p.stride[i]) + 1;
    // With ceil_mode the last window must start inside the input or its left padding.
    if (o.ceil_mode && (n - 1) * p.stride[i] >= ins[i] + p.padding[i]) --n;
    TS_CHECK_SHAPE(span >= 0 && n > 0, op, ": input ", x.shape(), " is too small for kernel ", k, " (output size ",
                   n, ")");
    *outs[i] = n;
  }
  p.count_include_pad = o.count_include_pad;
  return p;
}
// The 4-D contiguous operand a pooling kernel reads (scratch: no autograd nodes).
Tensor batch4(const Tensor& x) {
  autograd::NoGradGuard ng;
  return (x.dim() == 3 ? x.unsqueeze(0) : x).contiguous();
}
}  // namespace

std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x, const PoolOptions& o) {
  int64_t OH, OW;
  Pool2dParams p = pool_params("max_pool2d", x, o, OH, OW);
  Tensor x4 = x.dim() == 3 ? x.unsqueeze(0) : x;
  MemoryFormat fmt = kernel_format(x4);
  Tensor xb = in_format(x4, fmt);
  Tensor out = empty({xb.size(0), xb.size(1), OH, OW}, {x.dtype(), x.device()}, fmt);
  Tensor idx = empty(out.shape(), {DType::Int64, x.device()}, fmt);
  backend_for(x.device()).max_pool2d(out, idx, xb, p);
  if (x.dim() == 3) {
    out = out.squeeze(0);
    idx = idx.squeeze(0);
  }
  if (needs_grad({&x}))
    record_fn("max_pool2d", {&x}, {&out}, {x, idx}, [](const G& g, const G& s) {
      return G{max_pool2d_backward(g[0], s[0], s[1])};
    });
  return {out, idx};
}
static Tensor max_pool2d_untraced(const Tensor& x, const PoolOptions& o) { return max_pool2d_with_indices(x, o).first; }

Tensor max_pool2d_backward(const Tensor& grad_out, const Tensor& x, const Tensor& indices) {
  TS_CHECK_SHAPE(grad_out.shape() == indices.shape(), "max_pool2d_backward: grad_out ", grad_out.shape(),
                 " and indices ", indices.shape(), " differ");
  Tensor x4 = x.dim() == 3 ? x.unsqueeze(0) : x;
  Tensor i4 = indices.dim() == 3 ? indices.unsqueeze(0) : indices, g4 = grad_out.dim() == 3 ? grad_out.unsqueeze(0) : grad_out;
  // The indices' layout (the forward's) decides: the gradient is scattered in that layout.
  MemoryFormat fmt = i4.suggest_memory_format() == MemoryFormat::ChannelsLast &&
                             backend_for(x.device()).channels_last(grad_out.dtype())
                         ? MemoryFormat::ChannelsLast
                         : MemoryFormat::Contiguous;
  Tensor gx = empty(x4.shape(), {grad_out.dtype(), x.device()}, fmt);
  backend_for(x.device()).max_pool2d_backward(gx, in_format(g4, fmt), in_format(i4, fmt));
  gx = x.dim() == 3 ? gx.squeeze(0) : gx;
  if (needs_grad({&grad_out}))  // linear in grad_out: its gradient picks gg at the indices
    record_fn("max_pool2d_backward", {&grad_out}, {&gx}, {indices}, [](const G& g, const G& s) {
      Tensor gg = g[0].flatten(-2), idx = s[0].flatten(-2);
      return G{gather(gg, -1, idx).view(s[0].shape())};
    });
  return gx;
}

static Tensor avg_pool2d_untraced(const Tensor& x, const PoolOptions& o) {
  check_float("avg_pool2d", x, "input");
  int64_t OH, OW;
  Pool2dParams p = pool_params("avg_pool2d", x, o, OH, OW);
  Tensor xb = batch4(x);
  Tensor out = empty({xb.size(0), xb.size(1), OH, OW}, {x.dtype(), x.device()});
  backend_for(x.device()).avg_pool2d(out, xb, p);
  out = x.dim() == 3 ? out.squeeze(0) : out;
  if (needs_grad({&x})) {
    Shape xs = x.shape();
    record_fn("avg_pool2d", {&x}, {&out}, {}, [o, xs](const G& g, const G&) {
      return G{avg_pool2d_backward(g[0], zeros(xs, {g[0].dtype(), g[0].device()}), o)};
    });
  }
  return out;
}

Tensor avg_pool2d_backward(const Tensor& grad_out, const Tensor& x, const PoolOptions& o) {
  int64_t OH, OW;
  Pool2dParams p = pool_params("avg_pool2d_backward", x, o, OH, OW);
  Tensor xb = batch4(x);
  Tensor gx = empty(xb.shape(), {grad_out.dtype(), x.device()});
  backend_for(x.device()).avg_pool2d_backward(gx, batch4(grad_out), p);
  gx = x.dim() == 3 ? gx.squeeze(0) : gx;
  if (needs_grad({&grad_out}))  // the adjoint of the adjoint: average pooling again
    record_fn("avg_pool2d_backward", {&grad_out}, {&gx}, {}, [o](const G& g, const G&) { return G{avg_pool2d(g[0], o)}; });
  return gx;
}

static Tensor adaptive_avg_pool2d_untraced(const Tensor& x, const Shape& output_size) {
  check_float("adaptive_avg_pool2d", x, "input");
  TS_CHECK_SHAPE(x.dim() == 4 || x.dim() == 3, "adaptive_avg_pool2d: expected 3-D or 4-D input, got ", x.shape());
  Shape os = output_size.size() == 1 ? Shape{output_size[0], output_size[0]} : output_size;
  TS_CHECK_VALUE(os.size() == 2 && os[0] > 0 && os[1] > 0, "adaptive_avg_pool2d: output_size must be 2 positive "
                 "values, got ", output_size);
  int64_t H = x.size(-2), W = x.size(-1);
  if (H % os[0] == 0 && W % os[1] == 0)  // uniform windows: a plain average pool
    return avg_pool2d(x, {.kernel_size = {H / os[0], W / os[1]}});
  // Window i spans [floor(i*H/OH), ceil((i+1)*H/OH)), as in PyTorch.
  std::vector<Tensor> rows;
  for (int64_t i = 0; i < os[0]; ++i) {
    int64_t h0 = i * H / os[0], h1 = ((i + 1) * H + os[0] - 1) / os[0];
    std::vector<Tensor> cols;
    for (int64_t j = 0; j < os[1]; ++j) {
      int64_t w0 = j * W / os[1], w1 = ((j + 1) * W + os[1] - 1) / os[1];
      cols.push_back(mean(x.narrow(-2, h0, h1 - h0).narrow(-1, w0, w1 - w0), {-2, -1}, true));
    }
    rows.push_back(cat(cols, -1));
  }
  return cat(rows, -2);
}

static Tensor fma_untraced(const Tensor& a, const Tensor& b, const Tensor& c) {
  DType dt = promote_types(promote_types(a.dtype(), b.dtype()), c.dtype());
  TS_CHECK_DTYPE(is_floating(dt), "fma: expected floating-point operands, got ", a.dtype(), ", ", b.dtype(), " and ",
                 c.dtype());
  TS_CHECK_DEVICE(a.device() == b.device() && b.device() == c.device(), "fma: operands on different devices (",
                  a.device(), ", ", b.device(), ", ", c.device(), ")");
  Shape s = broadcast_shapes(broadcast_shapes(a.shape(), b.shape(), "fma"), c.shape(), "fma");
  Tensor out = empty(s, {dt, a.device()}, result_format(s, {&a, &b, &c}));
  {
    autograd::NoGradGuard ng;
    backend_for(a.device()).fma(out, a.to(dt).expand(s), b.to(dt).expand(s), c.to(dt).expand(s));
  }
  if (needs_grad({&a, &b, &c}))
    record_fn("fma", {&a, &b, &c}, {&out}, {a, b}, [](const G& g, const G& s) {
      return G{g[0] * s[1], g[0] * s[0], g[0]};
    });
  return out;
}

Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  TS_CHECK_VALUE(p >= 0 && p <= 1, "dropout: probability has to be between 0 and 1, but got ", p);
  if (!training || p == 0) return x;
  check_float("dropout", x, "input");
  if (p == 1) return zeros_like(x);
  Tensor keep = bernoulli(x.shape(), 1 - p, {x.dtype(), x.device()}, gen);
  // Independent draws in any order: the mask takes the input's layout for free.
  if (x.suggest_memory_format() == MemoryFormat::ChannelsLast)
    keep = Tensor(keep.storage(), keep.shape(), channels_last_strides(keep.shape()), 0, keep.dtype());
  keep.mul_(1.0 / (1 - p));  // 0 or 1/(1-p): one product each way, x * s bit for bit as before
  return x * keep;
}

Tensor feature_dropout(const Tensor& x, double p, bool training, Generator* gen) {
  TS_CHECK_VALUE(p >= 0 && p <= 1, "feature_dropout: probability has to be between 0 and 1, but got ", p);
  if (!training || p == 0) return x;
  check_float("feature_dropout", x, "input");
  TS_CHECK_SHAPE(x.dim() >= 2, "feature_dropout: expected [N, C, ...] input, got shape ", x.shape());
  Shape ms(size_t(x.dim()), 1);
  ms[0] = x.size(0);
  ms[1] = x.size(1);
  Tensor keep = bernoulli(ms, 1 - p, {x.dtype(), x.device()}, gen);
  return x * (p == 1 ? keep : keep * (1.0 / (1 - p)));
}

// Channel dropout with `spatial` spatial dims: batched inputs have spatial + 2 dims, unbatched
// spatial + 1 (a batch of one is added and removed). lenient: PyTorch's dropout2d/3d, which warn
// on other ranks and then treat the input as unbatched.
static Tensor channel_dropout(const char* op, int64_t spatial, bool lenient, const Tensor& x, double p, bool training,
                              Generator* gen) {
  const int64_t d = x.dim();
  if (d != spatial + 1 && d != spatial + 2) {
    TS_CHECK_SHAPE(lenient, op, ": expected ", spatial + 1, "-D or ", spatial + 2, "-D input, got shape ", x.shape());
    warn(detail::str(op, ": Received a ", d, "-D input to ", op, ", which is deprecated and will result in an error "
                     "in a future release. To retain the behavior and silence this warning, please use dropout "
                     "instead. Note that ", op, " exists to provide channel-wise dropout on inputs with ", spatial,
                     " spatial dimensions, a channel dimension, and an optional batch dimension (i.e. ", spatial + 1,
                     "D or ", spatial + 2, "D inputs)."));
  }
  if (d == spatial + 2) return feature_dropout(x, p, training, gen);
  return feature_dropout(x.unsqueeze(0), p, training, gen).squeeze(0);
}
Tensor dropout1d(const Tensor& x, double p, bool training, Generator* gen) {
  return channel_dropout("dropout1d", 1, false, x, p, training, gen);
}
Tensor dropout2d(const Tensor& x, double p, bool training, Generator* gen) {
  return channel_dropout("dropout2d", 2, true, x, p, training, gen);
}
Tensor dropout3d(const Tensor& x, double p, bool training, Generator* gen) {
  return channel_dropout("dropout3d", 3, true, x, p, training, gen);
}

static Tensor embedding_untraced(const Tensor& indices, const Tensor& weight) {
  TS_CHECK_SHAPE(weight.dim() == 2, "embedding: weight must be 2-D [num_embeddings, dim], got ", weight.shape());
  TS_CHECK_DTYPE(is_integral(indices.dtype()), "embedding: expected integer indices, got ", indices.dtype());
  Shape s = indices.shape();
  s.push_back(weight.size(1));
  Tensor flat = indices.reshape({-1}).to(DType::Int64);
  // Negative indices are errors here (PyTorch's rule), not counted from the end as index_select does.
  if (flat.numel() > 0) {
    const int64_t n = weight.size(0);
    int64_t lo, hi;
    if (flat.device().is_cpu()) {
      Tensor c = flat.contiguous();
      const int64_t* v = c.data_ptr<int64_t>();
      lo = hi = v[0];
      for (int64_t i = 1; i < c.numel(); ++i) lo = std::min(lo, v[i]), hi = std::max(hi, v[i]);
    } else {
      lo = amin(flat).item<int64_t>();
      hi = amax(flat).item<int64_t>();
    }
    const int64_t bad = lo < 0 ? lo : hi;
    TS_CHECK_INDEX(lo >= 0 && hi < n, "embedding: index ", bad, " is out of range for ", n,
                   " embeddings (valid indices are 0..", n - 1, ")");
  }
  return index_select(weight, 0, flat).view(s);
}

Tensor one_hot(const Tensor& labels, int64_t num_classes) {
  TS_CHECK_DTYPE(is_integral(labels.dtype()), "one_hot: expected integer class labels, got ", labels.dtype());
  Tensor l = labels.to(DType::Int64);
  if (num_classes < 0) {
    TS_CHECK_VALUE(l.numel() > 0, "one_hot: can not infer total number of classes from an empty tensor");
    num_classes = amax(l).item<int64_t>() + 1;
  }
  if (l.numel() > 0) {
    int64_t lo = amin(l).item<int64_t>(), hi = amax(l).item<int64_t>();
    TS_CHECK_INDEX(lo >= 0 && hi < num_classes, "one_hot: class values must be in [0, ", num_classes, "), got [", lo,
                   ", ", hi, "]");
  }
  Shape s = l.shape();
  s.push_back(num_classes);
  Tensor out = zeros(s, {DType::Int64, l.device()});
  return scatter_(out, -1, l.unsqueeze(-1), ones(l.unsqueeze(-1).shape(), {DType::Int64, l.device()}));
}

// --- traced entry points: each reports itself to an installed tracer (ops/trace.h) ------------------
namespace {
using trace::AttrValue;
using Attrs = std::vector<std::pair<std::string, AttrValue>>;
Attrs conv_attrs(const Conv2dParams& p) {
  return {{"stride", Shape{p.stride[0], p.stride[1]}},
          {"padding", Shape{p.padding[0], p.padding[1]}},
          {"dilation", Shape{p.dilation[0], p.dilation[1]}},
          {"groups", p.groups}};
}
Attrs pool_attrs(const PoolOptions& o) {
  auto two = [](const Shape& s, const Shape& dflt) {
    Shape r = s.empty() ? dflt : s;
    return r.size() == 1 ? Shape{r[0], r[0]} : r;
  };
  Shape k = two(o.kernel_size, {});
  return {{"kernel_size", k},
          {"stride", two(o.stride, k)},
          {"padding", two(o.padding, {0, 0})},
          {"dilation", two(o.dilation, {1, 1})},
          {"ceil_mode", int64_t(o.ceil_mode)},
          {"count_include_pad", int64_t(o.count_include_pad)}};
}
}  // namespace

Tensor linear(const Tensor& x_, const Tensor& weight_, const Tensor& bias_) {
  autocast::Operands ac("linear", {&x_, &weight_, &bias_});
  const Tensor &x = ac[0], &weight = ac[1], &bias = ac[2];
  trace::Scope ts;
  Tensor y = linear_untraced(x, weight, bias);
  if (ts.recording()) ts.record("linear", {x, weight, bias}, {y});
  return y;
}
Tensor conv2d(const Tensor& x_, const Tensor& w_, const Tensor& bias_, const Conv2dParams& p) {
  autocast::Operands ac("conv2d", {&x_, &w_, &bias_});
  const Tensor &x = ac[0], &w = ac[1], &bias = ac[2];
  trace::Scope ts;
  Tensor y = conv2d_untraced(x, w, bias, p);
  if (ts.recording()) ts.record("conv2d", {x, w, bias}, {y}, conv_attrs(p));
  return y;
}
Tensor conv_transpose2d(const Tensor& x_, const Tensor& w_, const Tensor& bias_, const Conv2dParams& p,
                        Shape output_padding) {
  autocast::Operands ac("conv_transpose2d", {&x_, &w_, &bias_});
  const Tensor &x = ac[0], &w = ac[1], &bias = ac[2];
  trace::Scope ts;
  Tensor y = conv_transpose2d_untraced(x, w, bias, p, output_padding);
  Attrs a = conv_attrs(p);
  a.emplace_back("output_padding", output_padding);
  if (ts.recording()) ts.record("conv_transpose2d", {x, w, bias}, {y}, std::move(a));
  return y;
}
Tensor max_pool2d(const Tensor& x, const PoolOptions& o) {
  trace::Scope ts;
  Tensor y = max_pool2d_untraced(x, o);
  if (ts.recording()) ts.record("max_pool2d", {x}, {y}, pool_attrs(o));
  return y;
}
Tensor avg_pool2d(const Tensor& x, const PoolOptions& o) {
  trace::Scope ts;
  Tensor y = avg_pool2d_untraced(x, o);
  if (ts.recording()) ts.record("avg_pool2d", {x}, {y}, pool_attrs(o));
  return y;
}
Tensor adaptive_avg_pool2d(const Tensor& x, const Shape& output_size) {
  bool global = output_size == Shape{1} || output_size == Shape{1, 1};
  if (!global) return adaptive_avg_pool2d_untraced(x, output_size);  // traced as the pools it is made of
  trace::Scope ts;
  Tensor y = adaptive_avg_pool2d_untraced(x, output_size);
  if (ts.recording()) ts.record("global_avg_pool2d", {x}, {y});
  return y;
}
Tensor embedding(const Tensor& indices, const Tensor& weight) {
  trace::Scope ts;
  Tensor y = embedding_untraced(indices, weight);
  if (ts.recording()) ts.record("embedding", {indices, weight}, {y});
  return y;
}

Tensor fma(const Tensor& a, const Tensor& b, const Tensor& c) {
  trace::Scope ts;
  Tensor y = fma_untraced(a, b, c);
  if (ts.recording()) ts.record("fma", {a, b, c}, {y});
  return y;
}

}  // namespace tessera::ops
