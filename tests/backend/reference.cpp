#include "reference.h"

#include <cmath>
#include <limits>

namespace tessera::ref {

Array of(const Tensor& t) { return {t.shape(), t.to_vector()}; }

Tensor to_tensor(const Array& a, DType dtype) { return from_vector(a.v, a.shape).to(dtype); }

std::vector<int64_t> unravel(int64_t i, const Shape& shape) {
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = i % shape[d];
    i /= shape[d];
  }
  return idx;
}

int64_t ravel_broadcast(const std::vector<int64_t>& idx, const Shape& shape) {
  int64_t off = 0;
  size_t lead = idx.size() - shape.size();
  for (size_t d = 0; d < shape.size(); ++d) off = off * shape[d] + (shape[d] == 1 ? 0 : idx[lead + d]);
  return off;
}

double unary(UnaryOp op, double x) {
  switch (op) {
    case UnaryOp::Abs: return std::fabs(x);
    case UnaryOp::Neg: return -x;
    case UnaryOp::Exp: return std::exp(x);
    case UnaryOp::Expm1: return std::expm1(x);
    case UnaryOp::Log: return std::log(x);
    case UnaryOp::Log1p: return std::log1p(x);
    case UnaryOp::Sqrt: return std::sqrt(x);
    case UnaryOp::Rsqrt: return 1 / std::sqrt(x);
    case UnaryOp::Sin: return std::sin(x);
    case UnaryOp::Cos: return std::cos(x);
    case UnaryOp::Tanh: return std::tanh(x);
    case UnaryOp::Sigmoid: return 1 / (1 + std::exp(-x));
    case UnaryOp::Relu: return x > 0 ? x : 0;
    case UnaryOp::GeluErf: return x * 0.5 * std::erfc(-x / std::sqrt(2.0));
    case UnaryOp::GeluTanh: return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case UnaryOp::Silu: return x / (1 + std::exp(-x));
    case UnaryOp::Erf: return std::erf(x);
    case UnaryOp::Floor: return std::floor(x);
    case UnaryOp::Ceil: return std::ceil(x);
    case UnaryOp::Round: return x - std::floor(x) == 0.5 ? 2 * std::round(x / 2) : std::round(x);
    case UnaryOp::Sign: return x > 0 ? 1 : x < 0 ? -1 : 0;
    case UnaryOp::Reciprocal: return 1 / x;
    case UnaryOp::Square: return x * x;
    case UnaryOp::LogicalNot: return x == 0;
    case UnaryOp::BitwiseNot: return double(~int64_t(x));
    case UnaryOp::Count: break;
  }
  return 0;
}

double binary(BinaryOp op, double a, double b, bool integral) {
  switch (op) {
    case BinaryOp::Add: return a + b;
    case BinaryOp::Sub: return a - b;
    case BinaryOp::Mul: return a * b;
    case BinaryOp::Div: return integral ? std::trunc(a / b) : a / b;
    case BinaryOp::Pow: return std::pow(a, b);
    case BinaryOp::Maximum: return std::isnan(a) || std::isnan(b) ? NAN : std::max(a, b);
    case BinaryOp::Minimum: return std::isnan(a) || std::isnan(b) ? NAN : std::min(a, b);
    case BinaryOp::Atan2: return std::atan2(a, b);
    case BinaryOp::Fmod: return std::fmod(a, b);
    case BinaryOp::BitwiseAnd: return double(int64_t(a) & int64_t(b));
    case BinaryOp::BitwiseOr: return double(int64_t(a) | int64_t(b));
    case BinaryOp::BitwiseXor: return double(int64_t(a) ^ int64_t(b));
    case BinaryOp::Eq: return a == b;
    case BinaryOp::Ne: return a != b;
    case BinaryOp::Lt: return a < b;
    case BinaryOp::Le: return a <= b;
    case BinaryOp::Gt: return a > b;
    case BinaryOp::Ge: return a >= b;
    case BinaryOp::LogicalAnd: return a != 0 && b != 0;
    case BinaryOp::LogicalOr: return a != 0 || b != 0;
    case BinaryOp::LogicalXor: return (a != 0) != (b != 0);
    case BinaryOp::Count: break;
  }
  return 0;
}

Array binary(BinaryOp op, const Array& a, const Array& b, bool integral) {
  size_t n = std::max(a.shape.size(), b.shape.size());
  Shape s(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i + a.shape.size() >= n ? a.shape[i + a.shape.size() - n] : 1;
    int64_t db = i + b.shape.size() >= n ? b.shape[i + b.shape.size() - n] : 1;
    s[i] = std::max(da, db);
  }
  Array r{s, std::vector<double>(size_t(numel_of(s)))};
  for (int64_t i = 0; i < r.numel(); ++i) {
    auto idx = unravel(i, s);
    r.v[size_t(i)] = binary(op, a.v[size_t(ravel_broadcast(idx, a.shape))], b.v[size_t(ravel_broadcast(idx, b.shape))],
                            integral);
  }
  return r;
}

Array reduce(ReduceOp op, const Array& a, const std::vector<bool>& red) {
  Shape os = a.shape;
  for (size_t d = 0; d < os.size(); ++d)
    if (red[d]) os[d] = 1;
  double init = op == ReduceOp::Sum || op == ReduceOp::Any ? 0
                : op == ReduceOp::Prod || op == ReduceOp::All ? 1
                : op == ReduceOp::Max ? -INFINITY : INFINITY;
  Array r{os, std::vector<double>(size_t(numel_of(os)), init)};
  for (int64_t i = 0; i < a.numel(); ++i) {
    auto idx = unravel(i, a.shape);
    double& o = r.v[size_t(ravel_broadcast(idx, os))];
    double x = a.v[size_t(i)];
    switch (op) {
      case ReduceOp::Sum: o += x; break;
      case ReduceOp::Prod: o *= x; break;
      case ReduceOp::Max: o = std::isnan(o) || std::isnan(x) ? NAN : std::max(o, x); break;
      case ReduceOp::Min: o = std::isnan(o) || std::isnan(x) ? NAN : std::min(o, x); break;
      case ReduceOp::Any: o = o != 0 || x != 0; break;
      case ReduceOp::All: o = o != 0 && x != 0; break;
      case ReduceOp::Count: break;
    }
  }
  return r;
}

Array matmul(const Array& a, const Array& b) {
  int64_t B = a.shape[0], M = a.shape[1], K = a.shape[2], N = b.shape[2];
  Array r{{B, M, N}, std::vector<double>(size_t(B * M * N))};
  for (int64_t bi = 0; bi < B; ++bi)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k) s += a.v[size_t((bi * M + i) * K + k)] * b.v[size_t((bi * K + k) * N + j)];
        r.v[size_t((bi * M + i) * N + j)] = s;
      }
  return r;
}

namespace {
struct ConvIter {
  int64_t N, C, H, W, O, KH, KW, OH, OW, G;
  const Conv2dParams& p;
  // f(n, o, c, oh, ow, ih, iw, kh, kw) over every valid multiply of the convolution.
  template <class F>
  void each(const F& f) const {
    int64_t Cg = C / G, Og = O / G;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t o = 0; o < O; ++o)
        for (int64_t c = 0; c < Cg; ++c)
          for (int64_t oh = 0; oh < OH; ++oh)
            for (int64_t ow = 0; ow < OW; ++ow)
              for (int64_t kh = 0; kh < KH; ++kh)
                for (int64_t kw = 0; kw < KW; ++kw) {
                  int64_t ih = oh * p.stride[0] - p.padding[0] + kh * p.dilation[0];
                  int64_t iw = ow * p.stride[1] - p.padding[1] + kw * p.dilation[1];
                  if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                  f(n, o, (o / Og) * Cg + c, c, oh, ow, ih, iw, kh, kw);
                }
  }
};
ConvIter conv_iter(const Shape& xs, const Shape& ws, const Conv2dParams& p) {
  int64_t OH = (xs[2] + 2 * p.padding[0] - p.dilation[0] * (ws[2] - 1) - 1) / p.stride[0] + 1;
  int64_t OW = (xs[3] + 2 * p.padding[1] - p.dilation[1] * (ws[3] - 1) - 1) / p.stride[1] + 1;
  return {xs[0], xs[1], xs[2], xs[3], ws[0], ws[2], ws[3], OH, OW, p.groups, p};
}
}  // namespace

Array conv2d(const Array& x, const Array& w, const Array* bias, const Conv2dParams& p) {
  ConvIter it = conv_iter(x.shape, w.shape, p);
  Array y{{it.N, it.O, it.OH, it.OW}, std::vector<double>(size_t(it.N * it.O * it.OH * it.OW))};
  if (bias)
    for (size_t i = 0; i < y.v.size(); ++i) y.v[i] = bias->v[size_t((int64_t(i) / (it.OH * it.OW)) % it.O)];
  int64_t Cg = it.C / it.G;
  it.each([&](int64_t n, int64_t o, int64_t ci, int64_t c, int64_t oh, int64_t ow, int64_t ih, int64_t iw, int64_t kh,
              int64_t kw) {
    y.v[size_t(((n * it.O + o) * it.OH + oh) * it.OW + ow)] +=
        x.v[size_t(((n * it.C + ci) * it.H + ih) * it.W + iw)] * w.v[size_t(((o * Cg + c) * it.KH + kh) * it.KW + kw)];
  });
  return y;
}

Array conv2d_grad_input(const Array& gy, const Array& w, const Shape& xs, const Conv2dParams& p) {
  ConvIter it = conv_iter(xs, w.shape, p);
  Array gx{xs, std::vector<double>(size_t(numel_of(xs)))};
  int64_t Cg = it.C / it.G;
  it.each([&](int64_t n, int64_t o, int64_t ci, int64_t c, int64_t oh, int64_t ow, int64_t ih, int64_t iw, int64_t kh,
              int64_t kw) {
    gx.v[size_t(((n * it.C + ci) * it.H + ih) * it.W + iw)] +=
        gy.v[size_t(((n * it.O + o) * it.OH + oh) * it.OW + ow)] * w.v[size_t(((o * Cg + c) * it.KH + kh) * it.KW + kw)];
  });
  return gx;
}

Array conv2d_grad_weight(const Array& gy, const Array& x, const Shape& ws, const Conv2dParams& p) {
  ConvIter it = conv_iter(x.shape, ws, p);
  Array gw{ws, std::vector<double>(size_t(numel_of(ws)))};
  int64_t Cg = it.C / it.G;
  it.each([&](int64_t n, int64_t o, int64_t ci, int64_t c, int64_t oh, int64_t ow, int64_t ih, int64_t iw, int64_t kh,
              int64_t kw) {
    gw.v[size_t(((o * Cg + c) * it.KH + kh) * it.KW + kw)] +=
        gy.v[size_t(((n * it.O + o) * it.OH + oh) * it.OW + ow)] * x.v[size_t(((n * it.C + ci) * it.H + ih) * it.W + iw)];
  });
  return gw;
}

Array max_pool2d(const Array& x, const Pool2dParams& p, int64_t OH, int64_t OW) {
  int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  Array y{{N, C, OH, OW}, std::vector<double>(size_t(N * C * OH * OW), -INFINITY)};
  for (int64_t pl = 0; pl < N * C; ++pl)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow)
        for (int64_t kh = 0; kh < p.kernel[0]; ++kh)
          for (int64_t kw = 0; kw < p.kernel[1]; ++kw) {
            int64_t ih = oh * p.stride[0] - p.padding[0] + kh * p.dilation[0];
            int64_t iw = ow * p.stride[1] - p.padding[1] + kw * p.dilation[1];
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            double& o = y.v[size_t((pl * OH + oh) * OW + ow)];
            o = std::max(o, x.v[size_t((pl * H + ih) * W + iw)]);
          }
  return y;
}

Array avg_pool2d(const Array& x, const Pool2dParams& p, int64_t OH, int64_t OW) {
  int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  Array y{{N, C, OH, OW}, std::vector<double>(size_t(N * C * OH * OW))};
  for (int64_t pl = 0; pl < N * C; ++pl)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        double s = 0;
        int64_t valid = 0, padded = 0;
        for (int64_t kh = 0; kh < p.kernel[0]; ++kh)
          for (int64_t kw = 0; kw < p.kernel[1]; ++kw) {
            int64_t ih = oh * p.stride[0] - p.padding[0] + kh, iw = ow * p.stride[1] - p.padding[1] + kw;
            if (ih < H + p.padding[0] && iw < W + p.padding[1]) ++padded;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            s += x.v[size_t((pl * H + ih) * W + iw)];
            ++valid;
          }
        y.v[size_t((pl * OH + oh) * OW + ow)] = s / double(p.count_include_pad ? padded : valid);
      }
  return y;
}

}  // namespace tessera::ref
