// ONNX operators, part 5: quantization (QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear)
// and the integer and quantized matrix products and convolutions, on int8 and uint8, and ONNX
// Runtime's quantized operators (com.microsoft: QLinearAdd, QGemm, ...; the table is in
// onnx_ops.cpp). Integer products are exact: the operands are small integers, multiplied and
// summed in float64.
#include <cmath>

#include "tessera/io/onnx_node.h"
#include "tessera/io/onnx_proto.h"

namespace tessera::io::internal {

namespace {

// A scale or zero point as ONNX lays it out against x: a scalar, one value per index of `axis`,
// or (block_size > 0) one per block of block_size along axis.
Tensor per_axis(const Tensor& v, const Tensor& x, int64_t axis, int64_t block_size) {
  if (v.dim() == 0 || v.numel() == 1) return v.reshape({});
  axis = wrap(axis, x.dim());
  if (block_size > 0) {
    TS_CHECK_SHAPE(v.dim() == x.dim(), "blocked scale ", v.shape(), " must have the rank of the input ", x.shape());
    Tensor r = v.unsqueeze(axis + 1);
    Shape s = r.shape();
    s[size_t(axis + 1)] = block_size;
    Shape merged = v.shape();
    merged[size_t(axis)] *= block_size;
    return r.expand(s).reshape(merged).narrow(axis, 0, x.size(axis));
  }
  TS_CHECK_SHAPE(v.dim() == 1 && v.size(0) == x.size(axis), "a per-axis scale or zero point of shape ", v.shape(),
                 " does not fit axis ", axis, " of ", x.shape());
  Shape s(size_t(x.dim()), 1);
  s[size_t(axis)] = v.size(0);
  return v.reshape(s);
}

// round-half-to-even(v) clamped to t's range, as t.
Tensor saturate(const Tensor& v, DType t, const char* what) {
  TS_CHECK_DTYPE(t == DType::UInt8 || t == DType::Int8, what, ": quantized type ", t,
                 " is not supported (int8 and uint8 are)");
  auto [lo, hi] = integer_range(t);
  return ops::clamp(ops::round(v), Scalar(lo), Scalar(hi)).to(t);
}

Tensor quantize(const Node& n) {
  const Tensor& x = n.at(0);
  int64_t axis = n.i("axis", 1), block = n.i("block_size", 0);
  DType out = n.has(2) ? n.in[2].dtype()
                       : n.find("output_dtype") ? onnx_proto::dtype_of(int32_t(n.i("output_dtype", 2)), "output_dtype")
                                                : DType::UInt8;
  Tensor scale = per_axis(n.at(1), x, axis, block);
  Tensor q = ops::round(x / scale.to(x.dtype()));
  if (n.has(2)) q = q + per_axis(n.in[2], x, axis, block).to(x.dtype());
  return saturate(q, out, "QuantizeLinear");
}

Tensor dequantize(const Node& n) {
  const Tensor& x = n.at(0);
  int64_t axis = n.i("axis", 1), block = n.i("block_size", 0);
  Tensor scale = per_axis(n.at(1), x, axis, block);
  DType out = n.find("output_dtype") ? onnx_proto::dtype_of(int32_t(n.i("output_dtype", 1)), "output_dtype")
                                     : scale.dtype();
  Tensor v = x.to(DType::Float64);
  if (n.has(2)) v = v - per_axis(n.in[2], x, axis, block).to(DType::Float64);
  return (v.to(scale.dtype()) * scale).to(out);
}

Values dynamic_quantize(const Node& n) {
  const Tensor& x = n.at(0);
  Tensor xf = x.to(DType::Float32);
  double hi = std::max(0.0, ops::amax(xf).item().to_double()), lo = std::min(0.0, ops::amin(xf).item().to_double());
  float scale = float(hi == lo ? 1.0 : float(hi) - float(lo)) / 255.0f;
  float zp = std::nearbyint(std::clamp(0.0f - float(lo) / scale, 0.0f, 255.0f));
  Tensor y = ops::clamp(ops::round(xf / scale) + zp, Scalar(0.0), Scalar(255.0)).to(DType::UInt8);
  return {y, scalar_tensor(double(scale), x.dtype(), x.device()), scalar_tensor(double(zp), DType::UInt8, x.device())};
}

// x - zero_point in float64; a_row: a zero point per row of a matrix operand ([M] against [.., M, K]).
Tensor centered(const Tensor& x, const Node& n, size_t zp, bool a_row) {
  Tensor v = x.to(DType::Float64);
  if (!n.has(zp)) return v;
  Tensor z = n.in[zp].to(DType::Float64);
  if (a_row && z.dim() == 1 && z.numel() > 1) z = z.reshape({-1, 1});
  return v - z;
}

Tensor matmul_integer(const Node& n) {
  return ops::matmul(centered(n.at(0), n, 2, true), centered(n.at(1), n, 3, false)).to(DType::Int32);
}

Tensor qlinear_matmul(const Node& n) {
  Tensor c = ops::matmul(centered(n.at(0), n, 2, true), centered(n.at(3), n, 5, false));
  Tensor factor = (n.at(1) * n.at(4) / n.at(6)).to(DType::Float64);  // in the scales' own precision
  Tensor d = c * factor;
  DType out = n.has(7) ? n.in[7].dtype() : n.at(0).dtype();
  if (n.has(7)) d = d + n.in[7].to(DType::Float64);
  return saturate(d, out, "QLinearMatMul");
}

// A convolution node's x and w inputs replaced by their centered values (and the bias dropped).
Tensor conv_centered(const Node& n, size_t x_zp, size_t w, size_t w_zp) {
  Tensor wf = n.at(w).to(DType::Float64);
  if (n.has(w_zp)) {
    Tensor z = n.in[w_zp].to(DType::Float64);
    if (z.numel() > 1) {  // one per output channel
      Shape s(size_t(wf.dim()), 1);
      s[0] = z.numel();
      z = z.reshape(s);
    }
    wf = wf - z;
  }
  Node c{n.proto, {centered(n.at(0), n, x_zp, false), wf}, n.opset};
  return run_conv(c);
}

Tensor qlinear_conv(const Node& n) {
  Tensor acc = conv_centered(n, 2, 3, 5);
  Shape per_channel(size_t(acc.dim()), 1);
  per_channel[1] = -1;
  if (n.has(8)) acc = acc + n.in[8].to(DType::Float64).reshape(per_channel);
  Tensor ws = n.at(4).numel() > 1 ? n.at(4).reshape(per_channel) : n.at(4).reshape({});
  Tensor d = acc * (n.at(1) * ws / n.at(6)).to(DType::Float64);
  if (n.has(7)) d = d + n.in[7].to(DType::Float64);
  return saturate(d, n.has(7) ? n.in[7].dtype() : n.at(0).dtype(), "QLinearConv");
}

// ONNX Runtime's quantized operators (com.microsoft): each dequantizes its inputs to float32,
// runs the float op and quantizes the result with the output's scale and zero point, as ONNX
// Runtime's kernels do (they differ from this by at most one quantization step, from rounding).

// The real values of input x: (x - zero_point) * scale in float32 (a missing zero point is 0).
Tensor real(const Node& n, size_t x, size_t scale, size_t zp) {
  Tensor v = n.at(x).to(DType::Float32);
  if (n.has(zp)) v = v - n.in[zp].to(DType::Float32).reshape({});
  return v * n.at(scale).to(DType::Float32).reshape({});
}

// v quantized with the scale and zero point at inputs scale and zp, as zp's type (or the type of
// input like when there is no zero point).
Tensor requantize(const Tensor& v, const Node& n, size_t scale, size_t zp, size_t like, const char* what) {
  Tensor q = ops::round(v / n.at(scale).to(DType::Float32).reshape({}));
  if (n.has(zp)) q = q + n.in[zp].to(DType::Float32).reshape({});
  return saturate(q, n.has(zp) ? n.in[zp].dtype() : n.at(like).dtype(), what);
}

// The spatial dims of a pooled input, in NCHW order or (channels_last) NHWC.
Shape spatial_dims(const Tensor& x, bool channels_last) {
  Shape d;
  for (int64_t k = channels_last ? 1 : 2; k < (channels_last ? x.dim() - 1 : x.dim()); ++k) d.push_back(k);
  return d;
}

Tensor qlinear_average_pool(const Node& n) {
  Tensor x = real(n, 0, 1, 2);
  bool last = n.i("channels_last", 0) != 0;
  TS_CHECK_SHAPE(x.dim() >= 3, "QLinearAveragePool: input ", x.shape(), " needs a batch, channel and spatial dims");
  Shape to_first{0, x.dim() - 1}, to_last{0};
  for (int64_t d = 1; d < x.dim() - 1; ++d) to_first.push_back(d);
  for (int64_t d = 2; d < x.dim(); ++d) to_last.push_back(d);
  to_last.push_back(1);
  if (last) x = x.permute(to_first).contiguous();
  Tensor y = run_average_pool(Node{n.proto, {x}, n.opset});
  if (last) y = y.permute(to_last).contiguous();
  return requantize(y, n, 3, 4, 0, "QLinearAveragePool");
}

Tensor qlinear_softmax(const Node& n) {
  Tensor x = real(n, 0, 1, 2);
  int64_t before13 = n.i("opset", 13) < 13;
  int64_t axis = wrap(n.i("axis", before13 ? 1 : -1), x.dim());
  TS_CHECK_VALUE(axis >= 0 && axis < std::max<int64_t>(x.dim(), 1), "QLinearSoftmax: axis ", n.i("axis", -1),
                 " is out of range for a ", x.dim(), "-D input");
  Tensor y;
  if (before13) {  // on the input flattened to 2-D at axis
    int64_t rows = 1;
    for (int64_t d = 0; d < axis; ++d) rows *= x.size(d);
    y = ops::softmax(x.reshape({rows, -1}), 1).reshape(x.shape());
  } else {
    y = ops::softmax(x, axis);
  }
  return requantize(y, n, 3, 4, 0, "QLinearSoftmax");
}

Tensor qlinear_concat(const Node& n) {
  TS_CHECK_VALUE(n.in.size() >= 5 && (n.in.size() - 2) % 3 == 0, "QLinearConcat takes Y_scale, Y_zero_point, then a "
                 "tensor, its scale and zero point for each part; got ", n.in.size(), " inputs");
  Values parts;
  for (size_t k = 2; k < n.in.size(); k += 3) parts.push_back(real(n, k, k + 1, k + 2));
  return requantize(ops::cat(parts, n.i("axis", 0)), n, 0, 1, 2, "QLinearConcat");
}

// A scale or zero point that is one value or one per output column, as float64.
Tensor column_scale(const Tensor& s) { return s.to(DType::Float64).reshape(s.numel() > 1 ? Shape{-1} : Shape{}); }

// A matrix operand of QGemm, DynamicQuantizeMatMul and MatMulIntegerToFloat minus its zero point,
// in float64 (exact: small integers); for B a zero point may be one per column.
Tensor centered_operand(const Tensor& x, const Node& n, size_t zp, bool trans) {
  Tensor v = x.to(DType::Float64);
  if (trans) {
    TS_CHECK_SHAPE(v.dim() == 2, "a transposed operand must be 2-D, got ", v.shape());
    v = v.t();
  }
  if (n.has(zp)) v = v - column_scale(n.in[zp]);
  return v;
}


Tensor qgemm(const Node& n) {
  Tensor a = centered_operand(n.at(0), n, 2, n.i("transA", 0) != 0);
  Tensor b = centered_operand(n.at(3), n, 5, n.i("transB", 0) != 0);
  TS_CHECK_SHAPE(a.dim() == 2 && b.dim() == 2, "QGemm: A ", n.at(0).shape(), " and B ", n.at(3).shape(),
                 " must be matrices");
  Tensor acc = ops::matmul(a, b);
  if (n.has(6)) acc = acc + n.in[6].to(DType::Float64);  // int32, in the accumulator's scale
  Tensor scale = n.at(1).to(DType::Float64).reshape({}) * column_scale(n.at(4)) * n.f("alpha", 1.0);
  if (!n.has(7)) return (acc * scale).to(DType::Float32);  // no output scale: the float result
  Tensor d = acc * (scale / n.in[7].to(DType::Float64).reshape({}));
  if (n.has(8)) d = d + n.in[8].to(DType::Float64).reshape({});
  return saturate(d, n.has(8) ? n.in[8].dtype() : n.at(0).dtype(), "QGemm");
}

// (A - a_zero_point) x (B - b_zero_point) * a_scale * b_scale + bias, in float32.
Tensor integer_product_to_float(const Tensor& a, const Tensor& a_scale, const Node& n, size_t b_zp, size_t b_scale,
                                size_t bias) {
  Tensor acc = ops::matmul(a, centered_operand(n.at(1), n, b_zp, false));
  Tensor y = (acc * (a_scale.to(DType::Float64).reshape({}) * column_scale(n.at(b_scale)))).to(DType::Float32);
  if (n.has(bias)) y = y + n.in[bias].to(DType::Float32);
  return y;
}

Tensor dynamic_quantize_matmul(const Node& n) {
  Node q{n.proto, {n.at(0)}, n.opset};
  Values aq = dynamic_quantize(q);  // uint8 values, scale, zero point
  Tensor a = aq[0].to(DType::Float64) - aq[2].to(DType::Float64);
  return integer_product_to_float(a, aq[1], n, 3, 2, 4);
}

Tensor matmul_integer_to_float(const Node& n) {
  Tensor a = n.at(0).to(DType::Float64);
  if (n.has(4)) a = a - n.in[4].to(DType::Float64).reshape({});
  return integer_product_to_float(a, n.at(2), n, 5, 3, 6);
}

}  // namespace

void add_quant_ops(OpTable& m) {
  const std::string ms = std::string(kMicrosoftDomain) + ".";
  m[ms + "QLinearAdd"] = [](const Node& n) { return one(requantize(real(n, 0, 1, 2) + real(n, 3, 4, 5), n, 6, 7, 0, "QLinearAdd")); };
  m[ms + "QLinearMul"] = [](const Node& n) { return one(requantize(real(n, 0, 1, 2) * real(n, 3, 4, 5), n, 6, 7, 0, "QLinearMul")); };
  m[ms + "QLinearSigmoid"] = [](const Node& n) {
    return one(requantize(ops::sigmoid(real(n, 0, 1, 2)), n, 3, 4, 0, "QLinearSigmoid"));
  };
  m[ms + "QLinearLeakyRelu"] = [](const Node& n) {
    Tensor x = real(n, 0, 1, 2);
    return one(requantize(ops::where(x >= 0.0, x, x * n.f("alpha", 0.01)), n, 3, 4, 0, "QLinearLeakyRelu"));
  };
  m[ms + "QLinearAveragePool"] = [](const Node& n) { return one(qlinear_average_pool(n)); };
  m[ms + "QLinearGlobalAveragePool"] = [](const Node& n) {
    Tensor x = real(n, 0, 1, 2);
    TS_CHECK_SHAPE(x.dim() >= 3, "QLinearGlobalAveragePool: input ", x.shape(), " needs spatial dims");
    return one(requantize(ops::mean(x, spatial_dims(x, n.i("channels_last", 0) != 0), true), n, 3, 4, 0,
                          "QLinearGlobalAveragePool"));
  };
  m[ms + "QLinearSoftmax"] = [](const Node& n) { return one(qlinear_softmax(n)); };
  m[ms + "QLinearConcat"] = [](const Node& n) { return one(qlinear_concat(n)); };
  m[ms + "QGemm"] = [](const Node& n) { return one(qgemm(n)); };
  m[ms + "DynamicQuantizeMatMul"] = [](const Node& n) { return one(dynamic_quantize_matmul(n)); };
  m[ms + "MatMulIntegerToFloat"] = [](const Node& n) { return one(matmul_integer_to_float(n)); };
  m["QuantizeLinear"] = [](const Node& n) { return one(quantize(n)); };
  m["DequantizeLinear"] = [](const Node& n) { return one(dequantize(n)); };
  m["DynamicQuantizeLinear"] = [](const Node& n) { return dynamic_quantize(n); };
  m["MatMulInteger"] = [](const Node& n) { return one(matmul_integer(n)); };
  m["QLinearMatMul"] = [](const Node& n) { return one(qlinear_matmul(n)); };
  m["ConvInteger"] = [](const Node& n) { return one(conv_centered(n, 2, 1, 3).to(DType::Int32)); };
  m["QLinearConv"] = [](const Node& n) { return one(qlinear_conv(n)); };
}

}  // namespace tessera::io::internal
