// ONNX operators, part 5: quantization (QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear)
// and the integer and quantized matrix products and convolutions, on int8 and uint8 (the table is
// in onnx_ops.cpp). Integer products are exact: the operands are small integers, multiplied and
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

}  // namespace

void add_quant_ops(OpTable& m) {
  m["QuantizeLinear"] = [](const Node& n) { return one(quantize(n)); };
  m["DequantizeLinear"] = [](const Node& n) { return one(dequantize(n)); };
  m["DynamicQuantizeLinear"] = [](const Node& n) { return dynamic_quantize(n); };
  m["MatMulInteger"] = [](const Node& n) { return one(matmul_integer(n)); };
  m["QLinearMatMul"] = [](const Node& n) { return one(qlinear_matmul(n)); };
  m["ConvInteger"] = [](const Node& n) { return one(conv_centered(n, 2, 1, 3).to(DType::Int32)); };
  m["QLinearConv"] = [](const Node& n) { return one(qlinear_conv(n)); };
}

}  // namespace tessera::io::internal
