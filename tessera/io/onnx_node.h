#pragma once
// One ONNX node being run, and the table of operators (not installed): onnx_ops.cpp holds the
// table and the shape, convolution and pooling operators, onnx_ops_math.cpp the elementwise
// ones, reductions and casts, onnx_ops_nn.cpp normalizations, losses, attention and recurrent layers,
// onnx_ops_image.cpp resampling (Resize, Upsample, GridSample), onnx_ops_quant.cpp the
// quantized operators (ONNX's and ONNX Runtime's com.microsoft ones), onnx_ops_contrib.cpp ONNX
// Runtime's fused float operators (com.microsoft), onnx_ops_signal.cpp DFT, STFT and
// MelWeightMatrix.
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "tessera/io/onnx_internal.h"
#include "tessera/ops/ops.h"

namespace tessera::io::internal {

using Values = std::vector<Tensor>;

// One node being run: its inputs (undefined where the name is empty) and attribute readers.
struct Node {
  const onnx::NodeProto& proto;
  Values in;
  int64_t opset = kOnnxOpset;  // the model's default-domain opset: some ops changed meaning

  const onnx::AttributeProto* find(const std::string& name) const {
    for (auto& a : proto.attribute())
      if (a.name() == name) return &a;
    return nullptr;
  }
  int64_t i(const std::string& name, int64_t dflt) const {
    auto* a = find(name);
    return a ? a->i() : dflt;
  }
  double f(const std::string& name, double dflt) const {
    auto* a = find(name);
    return a ? double(a->f()) : dflt;
  }
  std::string s(const std::string& name, const std::string& dflt) const {
    auto* a = find(name);
    return a ? a->s() : dflt;
  }
  std::optional<Shape> ints(const std::string& name) const {
    auto* a = find(name);
    if (!a) return std::nullopt;
    return Shape(a->ints().begin(), a->ints().end());
  }
  bool has(size_t k) const { return k < in.size() && in[k].defined(); }
  const Tensor& at(size_t k) const {
    TS_CHECK_VALUE(has(k), "input ", k, " is required");
    return in[k];
  }
  // An input that holds a list of integers (a shape, axes, pads): read on the host.
  Shape host_ints(size_t k) const {
    Tensor t = at(k);
    TS_CHECK_DTYPE(t.dtype() == DType::Int64 || t.dtype() == DType::Int32, "input ", k,
                   " must be an integer tensor, got ", t.dtype());
    return t.to(Device::cpu()).to(DType::Int64).tolist<int64_t>();
  }
  // Axes given as an input (newer opsets) or an attribute (older ones).
  std::optional<Shape> axes(size_t k) const {
    if (has(k)) return host_ints(k);
    return ints("axes");
  }
};

inline int64_t wrap(int64_t d, int64_t rank) { return d < 0 ? d + rank : d; }

using OpFn = std::function<Values(const Node&)>;
using OpTable = std::unordered_map<std::string, OpFn>;

inline Values one(Tensor t) { return {std::move(t)}; }

// t's values on the host, flattened, as float64 (scales, rois, thresholds, host-side loops).
inline std::vector<double> host_doubles(const Tensor& t) {
  return t.to(Device::cpu()).to(DType::Float64).reshape({-1}).tolist<double>();
}

// The values an integer dtype holds (Int64's as the nearest doubles inside its range), for
// results computed in float64 and saturated back.
inline std::pair<double, double> integer_range(DType t) {
  switch (t) {
    case DType::UInt8: return {0, 255};
    case DType::Int8: return {-128, 127};
    case DType::Int32: return {-2147483648.0, 2147483647.0};
    default: return {-9223372036854774784.0, 9223372036854774784.0};
  }
}

// Refuses a kernel, stride or dilation list with a value below 1 (or a pads list with one below
// 0 when min is 0), naming it: the window arithmetic divides by strides.
inline void check_at_least(const Shape& v, int64_t min, const char* what) {
  for (int64_t x : v) TS_CHECK_VALUE(x >= min, what, " must be at least ", min, ", got ", v);
}

void add_math_ops(OpTable& m);
void add_nn_ops(OpTable& m);
void add_image_ops(OpTable& m);
void add_quant_ops(OpTable& m);
void add_contrib_ops(OpTable& m);
void add_signal_ops(OpTable& m);

// Conv, Gemm and AveragePool on n's inputs and attributes (Conv and pooling 1-D to 3-D), for the
// quantized and fused forms of those ops.
Tensor run_conv(const Node& n);
Tensor run_gemm(const Node& n);
Tensor run_average_pool(const Node& n);

}  // namespace tessera::io::internal
