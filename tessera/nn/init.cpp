#include "tessera/nn/init.h"

#include <cmath>
#include <vector>

#include "tessera/autograd/autograd.h"
#include "tessera/ops/ops.h"

namespace tessera::nn::init {

namespace {
void check(const Tensor& t, const char* op) {
  TS_CHECK(t.defined(), op, ": undefined tensor");
  TS_CHECK_DTYPE(t.is_floating_point(), op, ": expected a floating-point tensor, got ", t.dtype());
}
}  // namespace

std::pair<int64_t, int64_t> fans(const Tensor& w) {
  TS_CHECK_SHAPE(w.dim() >= 2, "init: fan in and fan out can not be computed for a tensor with fewer than 2 "
                 "dimensions (shape ", w.shape(), ")");
  int64_t receptive = 1;
  for (int64_t d = 2; d < w.dim(); ++d) receptive *= w.size(d);
  return {w.size(1) * receptive, w.size(0) * receptive};
}

double calculate_gain(const std::string& nl, double param) {
  if (nl == "linear" || nl == "conv1d" || nl == "conv2d" || nl == "sigmoid") return 1;
  if (nl == "tanh") return 5.0 / 3;
  if (nl == "relu") return std::sqrt(2.0);
  if (nl == "leaky_relu") return std::sqrt(2.0 / (1 + param * param));
  if (nl == "selu") return 3.0 / 4;
  throw ValueError(detail::str("calculate_gain: unsupported nonlinearity '", nl, "'"));
}

Tensor uniform_(Tensor t, double lo, double hi, Generator* g) { return t.uniform_(lo, hi, g); }
Tensor normal_(Tensor t, double mean, double std, Generator* g) { return t.normal_(mean, std, g); }
Tensor constant_(Tensor t, double v) {
  check(t, "constant_");
  autograd::NoGradGuard ng;
  t.fill_(v);
  return t;
}
Tensor zeros_(Tensor t) { return constant_(t, 0); }
Tensor ones_(Tensor t) { return constant_(t, 1); }

Tensor xavier_uniform_(Tensor t, double gain, Generator* g) {
  auto [fi, fo] = fans(t);
  double a = gain * std::sqrt(6.0 / double(fi + fo));
  return uniform_(t, -a, a, g);
}
Tensor xavier_normal_(Tensor t, double gain, Generator* g) {
  auto [fi, fo] = fans(t);
  return normal_(t, 0, gain * std::sqrt(2.0 / double(fi + fo)), g);
}

namespace {
double kaiming_std(const Tensor& t, double a, const std::string& mode, const std::string& nl) {
  auto [fi, fo] = fans(t);
  TS_CHECK_VALUE(mode == "fan_in" || mode == "fan_out", "kaiming: mode must be fan_in or fan_out, got '", mode, "'");
  int64_t fan = mode == "fan_in" ? fi : fo;
  TS_CHECK_VALUE(fan > 0, "kaiming: initializing a zero-element tensor (shape ", t.shape(), ")");
  return calculate_gain(nl, a) / std::sqrt(double(fan));
}
}  // namespace

Tensor kaiming_uniform_(Tensor t, double a, const std::string& mode, const std::string& nl, Generator* g) {
  double bound = std::sqrt(3.0) * kaiming_std(t, a, mode, nl);
  return uniform_(t, -bound, bound, g);
}
Tensor kaiming_normal_(Tensor t, double a, const std::string& mode, const std::string& nl, Generator* g) {
  return normal_(t, 0, kaiming_std(t, a, mode, nl), g);
}

Tensor orthogonal_(Tensor t, double gain, Generator* g) {
  check(t, "orthogonal_");
  TS_CHECK_SHAPE(t.dim() >= 2, "orthogonal_: only tensors with 2 or more dimensions are supported, got ", t.shape());
  int64_t rows = t.size(0), cols = t.numel() / std::max<int64_t>(rows, 1);
  // QR of a normal (max x min) matrix by Householder reflections, in double.
  int64_t m = std::max(rows, cols), n = std::min(rows, cols);
  std::vector<double> a = randn({m, n}, {DType::Float64}, g).to_vector();  // row-major m x n
  std::vector<double> q(size_t(m * m), 0.0);
  for (int64_t i = 0; i < m; ++i) q[size_t(i * m + i)] = 1;
  std::vector<double> signs(size_t(n), 1.0);
  for (int64_t k = 0; k < n; ++k) {
    double norm = 0;
    for (int64_t i = k; i < m; ++i) norm += a[size_t(i * n + k)] * a[size_t(i * n + k)];
    norm = std::sqrt(norm);
    double alpha = a[size_t(k * n + k)] > 0 ? -norm : norm;
    std::vector<double> v(size_t(m), 0.0);
    for (int64_t i = k; i < m; ++i) v[size_t(i)] = a[size_t(i * n + k)];
    v[size_t(k)] -= alpha;
    double vv = 0;
    for (int64_t i = k; i < m; ++i) vv += v[size_t(i)] * v[size_t(i)];
    if (vv > 0) {
      for (int64_t j = 0; j < n; ++j) {  // A = (I - 2vv'/v'v) A
        double d = 0;
        for (int64_t i = k; i < m; ++i) d += v[size_t(i)] * a[size_t(i * n + j)];
        for (int64_t i = k; i < m; ++i) a[size_t(i * n + j)] -= 2 * d / vv * v[size_t(i)];
      }
      for (int64_t r = 0; r < m; ++r) {  // Q = Q (I - 2vv'/v'v)
        double d = 0;
        for (int64_t i = k; i < m; ++i) d += q[size_t(r * m + i)] * v[size_t(i)];
        for (int64_t i = k; i < m; ++i) q[size_t(r * m + i)] -= 2 * d / vv * v[size_t(i)];
      }
    }
    signs[size_t(k)] = a[size_t(k * n + k)] < 0 ? -1 : 1;  // make R's diagonal positive, as PyTorch does
  }
  // The first n columns of Q (m x n), sign-corrected; transpose when rows < cols.
  std::vector<double> out(size_t(rows * cols));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double v = q[size_t(i * m + j)] * signs[size_t(j)] * gain;
      if (rows >= cols) out[size_t(i * cols + j)] = v;
      else out[size_t(j * cols + i)] = v;
    }
  autograd::NoGradGuard ng;
  t.copy_(from_vector(out, t.shape()).to(t.dtype()).to(t.device()));
  return t;
}

}  // namespace tessera::nn::init
