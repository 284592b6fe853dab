// ONNX operators, part 7: signal processing (opset 17 and later): DFT (the forward and inverse
// transforms, one-sided, of real or complex signals), STFT and MelWeightMatrix (the windows are
// with the elementwise ops in onnx_ops_math.cpp; the table is in onnx_ops.cpp). The transforms are
// products with cosine and sine matrices computed in float64 (exact angles: k*t reduced modulo
// the length before the division), so any length works and the result is a tessera matmul.
#include <cmath>

#include "tessera/io/onnx_node.h"
#include "tessera/io/onnx_proto.h"

namespace tessera::io::internal {

namespace {

// t with dim `from` moved to position `to` (the others keep their order).
Tensor move_dim(const Tensor& t, int64_t from, int64_t to) {
  from = wrap(from, t.dim());
  to = wrap(to, t.dim());
  Shape order;
  for (int64_t d = 0; d < t.dim(); ++d)
    if (d != from) order.push_back(d);
  order.insert(order.begin() + to, from);
  return t.permute(order);
}

// cos and sin of 2 pi t k / n for t < rows, k < cols, as [rows, cols] float64 matrices; weights,
// when given, scale each column (the one-sided inverse counts each inner bin twice).
std::pair<Tensor, Tensor> twiddles(int64_t rows, int64_t cols, int64_t n, const std::vector<double>& weights = {}) {
  // The products are dense: lengths beyond a few thousand points (16M matrix entries) are refused
  // rather than left to allocate gigabytes or run for minutes.
  TS_CHECK_VALUE(rows > 0 && cols > 0 && rows <= (int64_t(1) << 24) / cols, "DFT: a transform of ", n, " points (", rows,
                 " x ", cols, " coefficients) is longer than tessera's DFT supports (16M coefficients)");
  std::vector<double> c(size_t(rows * cols)), s(size_t(rows * cols));
  for (int64_t t = 0; t < rows; ++t)
    for (int64_t k = 0; k < cols; ++k) {
      double a = 2.0 * M_PI * double((t * k) % n) / double(n), w = weights.empty() ? 1.0 : weights[size_t(k)];
      c[size_t(t * cols + k)] = std::cos(a) * w;
      s[size_t(t * cols + k)] = std::sin(a) * w;
    }
  return {from_vector(c, Shape{rows, cols}), from_vector(s, Shape{rows, cols})};
}

// x [..., 1 or 2] (real, or real and imaginary parts) along `axis` (not the last): the real and
// imaginary parts as float64 with axis moved last, truncated or zero-padded to length n.
std::pair<Tensor, Tensor> parts_along(const Tensor& x, int64_t axis, int64_t n) {
  TS_CHECK_SHAPE(x.dim() >= 2 && (x.size(-1) == 1 || x.size(-1) == 2), "DFT: the input ", x.shape(),
                 " must end in a dim of 1 (real) or 2 (complex)");
  Tensor v = x.to(DType::Float64);
  Tensor re = move_dim(v.select(-1, 0), axis, -1);
  Tensor im = x.size(-1) == 2 ? move_dim(v.select(-1, 1), axis, -1) : zeros_like(re);
  int64_t have = re.size(-1);
  if (have > n) {
    re = re.narrow(-1, 0, n);
    im = im.narrow(-1, 0, n);
  } else if (have < n) {
    re = ops::pad(re, {0, n - have}, "constant", 0.0);
    im = ops::pad(im, {0, n - have}, "constant", 0.0);
  }
  return {re.contiguous(), im.contiguous()};
}

// The transform along axis of x (ONNX DFT): forward X[k] = sum_t x[t] e^(-2 pi i k t / n), k < n
// (or n/2 + 1 one-sided); inverse x[t] = 1/n sum_k X[k] e^(2 pi i k t / n); inverse one-sided
// takes the n/2 + 1 bins of a real signal's transform and gives that real signal ([..., 1]).
Tensor dft(const Tensor& x, int64_t axis, std::optional<int64_t> length, bool inverse, bool onesided) {
  TS_CHECK_DTYPE(x.is_floating_point(), "DFT: the input must be floating point, got ", x.dtype());
  TS_CHECK_VALUE(x.dim() >= 2, "DFT: the input ", x.shape(), " needs a signal dim and the last (real/imaginary) one");
  axis = wrap(axis, x.dim());
  TS_CHECK_VALUE(axis >= 0 && axis < x.dim() - 1, "DFT: axis ", axis, " must be a signal dim of ", x.shape(),
                 " (not the last)");
  int64_t n = length.value_or(inverse && onesided ? 2 * (x.size(axis) - 1) : x.size(axis));
  TS_CHECK_VALUE(n >= 1, "DFT: dft_length must be positive, got ", n);
  Tensor y;
  if (inverse && onesided) {  // Hermitian half in, real signal out
    int64_t bins = n / 2 + 1;
    auto [re, im] = parts_along(x, axis, bins);
    std::vector<double> w(size_t(bins), 2.0 / double(n));
    w[0] = 1.0 / double(n);
    if (n % 2 == 0) w[size_t(bins - 1)] = 1.0 / double(n);
    auto [c, s] = twiddles(n, bins, n, w);
    y = (ops::matmul(re, c.t()) - ops::matmul(im, s.t())).unsqueeze(-1);
  } else {
    int64_t bins = onesided ? n / 2 + 1 : n;
    auto [re, im] = parts_along(x, axis, n);
    auto [c, s] = twiddles(n, bins, n);
    Tensor yr, yi;
    if (inverse) {
      yr = (ops::matmul(re, c) - ops::matmul(im, s)) / double(n);
      yi = (ops::matmul(im, c) + ops::matmul(re, s)) / double(n);
    } else {
      yr = ops::matmul(re, c) + ops::matmul(im, s);
      yi = ops::matmul(im, c) - ops::matmul(re, s);
    }
    y = ops::stack({yr, yi}, -1);
  }
  return move_dim(y, -2, axis).contiguous().to(x.dtype());
}

// STFT: frames of frame_length every frame_step samples of signal [batch, length, 1 or 2], each
// multiplied by the window, transformed: [batch, frames, bins, 2].
Tensor stft(const Node& n) {
  // [batch, length] is a real signal too (PyTorch's TorchScript exporter writes that form, and
  // onnxruntime runs it).
  const Tensor x = n.at(0).dim() == 2 ? n.at(0).unsqueeze(-1) : n.at(0);
  TS_CHECK_SHAPE(x.dim() == 3 && (x.size(2) == 1 || x.size(2) == 2), "STFT: the signal ", n.at(0).shape(),
                 " must be [batch, length, 1 or 2] (or [batch, length])");
  int64_t step = n.host_ints(1).at(0);
  TS_CHECK_VALUE(step >= 1, "STFT: frame_step must be positive, got ", step);
  int64_t length = n.has(3) ? n.host_ints(3).at(0) : n.has(2) ? n.in[2].size(0) : x.size(1);
  TS_CHECK_VALUE(length >= 1 && length <= x.size(1), "STFT: frame_length ", length,
                 " must be positive and at most the signal's length ", x.size(1));
  Tensor window = n.has(2) ? n.in[2].to(DType::Float64) : ones({length}, {DType::Float64, x.device()});
  TS_CHECK_SHAPE(window.dim() == 1 && window.size(0) == length, "STFT: the window ", window.shape(),
                 " must be [frame_length] = [", length, "]");
  bool onesided = n.i("onesided", 1) != 0;
  TS_CHECK_VALUE(!onesided || x.size(2) == 1, "STFT: onesided needs a real signal ([batch, length, 1])");
  int64_t frames = (x.size(1) - length) / step + 1;
  Values parts;
  for (int64_t f = 0; f < frames; ++f) parts.push_back(x.narrow(1, f * step, length));
  Tensor framed = ops::stack(parts, 1).to(DType::Float64) * window.reshape({1, 1, length, 1});
  return dft(framed, 2, length, false, onesided).to(x.dtype());
}

// MelWeightMatrix: [dft_length / 2 + 1, num_mel_bins] triangular filters between the edges, as
// ONNX's reference computes them (mel = 2595 log10(1 + hz / 700), bins from (dft_length + 1) hz /
// sample_rate rounded down).
Tensor mel_weight_matrix(const Node& n) {
  auto scalar_of = [&](size_t k) { return host_doubles(n.at(k)).at(0); };
  int64_t mels = int64_t(scalar_of(0)), dft_length = int64_t(scalar_of(1)), rate = int64_t(scalar_of(2));
  double lower = scalar_of(3), upper = scalar_of(4);
  TS_CHECK_VALUE(mels >= 1 && dft_length >= 1 && rate >= 1 && lower >= 0 && upper > lower,
                 "MelWeightMatrix: num_mel_bins ", mels, ", dft_length ", dft_length, " and sample_rate ", rate,
                 " must be positive and 0 <= lower_edge_hertz ", lower, " < upper_edge_hertz ", upper);
  int64_t spectrum = dft_length / 2 + 1;
  TS_CHECK_VALUE(mels <= (int64_t(1) << 16) && spectrum <= (int64_t(1) << 24) / mels, "MelWeightMatrix: num_mel_bins ",
                 mels, " and dft_length ", dft_length, " make an implausibly large matrix (over 16M entries)");
  auto mel = [](double hz) { return 2595.0 * std::log1p(hz / 700.0) / std::log(10.0); };
  double low = mel(lower), step = (mel(upper) - low) / double(mels + 2);
  std::vector<int64_t> bin(size_t(mels + 2));
  for (int64_t i = 0; i < mels + 2; ++i) {
    double hz = 700.0 * std::expm1((double(i) * step + low) / 2595.0 * std::log(10.0));
    bin[size_t(i)] = int64_t(std::floor(double(dft_length + 1) * hz / double(rate)));
  }
  std::vector<double> w(size_t(spectrum * mels), 0.0);
  auto set = [&](int64_t j, int64_t i, double v) {
    TS_CHECK_VALUE(j >= 0 && j < spectrum, "MelWeightMatrix: upper_edge_hertz ", upper, " is above what sample_rate ",
                   rate, " and dft_length ", dft_length, " resolve");
    w[size_t(j * mels + i)] = v;
  };
  for (int64_t i = 0; i < mels; ++i) {
    int64_t left = bin[size_t(i)], center = bin[size_t(i + 1)], right = bin[size_t(i + 2)];
    if (center == left) set(center, i, 1.0);
    else
      for (int64_t j = left; j <= center; ++j) set(j, i, double(j - left) / double(center - left));
    for (int64_t j = center; j < right; ++j) set(j, i, double(right - j) / double(right - center));
  }
  DType dt = onnx_proto::dtype_of(int32_t(n.i("output_datatype", 1)), "output_datatype");
  return from_vector(w, Shape{spectrum, mels}).to(dt).to(n.at(0).device());
}

}  // namespace

void add_signal_ops(OpTable& m) {
  m["DFT"] = [](const Node& n) {
    // Opset 20 moved axis from an attribute (default 1) to input 2 (default -2).
    int64_t axis = n.opset >= 20 ? (n.has(2) ? n.host_ints(2).at(0) : -2) : n.i("axis", 1);
    std::optional<int64_t> length;
    if (n.has(1)) length = n.host_ints(1).at(0);
    return one(dft(n.at(0), axis, length, n.i("inverse", 0) != 0, n.i("onesided", 0) != 0));
  };
  m["STFT"] = [](const Node& n) { return one(stft(n)); };
  m["MelWeightMatrix"] = [](const Node& n) { return one(mel_weight_matrix(n)); };
}

}  // namespace tessera::io::internal
