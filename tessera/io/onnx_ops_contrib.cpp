// ONNX operators, part 6: ONNX Runtime's fused float operators (domain com.microsoft), which its
// graph optimizer writes into the files it saves: FusedConv, FusedGemm, FusedMatMul, Gelu,
// FastGelu, BiasGelu, QuickGelu, SkipLayerNormalization (the table is in onnx_ops.cpp; the
// quantized com.microsoft ops are in onnx_ops_quant.cpp).
#include "tessera/io/onnx_node.h"

namespace tessera::io::internal {

namespace {

// The activation a fused node applies after its product (the activation attribute's values;
// the attribute check refuses any other): params are LeakyRelu's alpha, Clip's min and max,
// HardSigmoid's alpha and beta.
Tensor fused_activation(const Tensor& y, const std::string& act, const std::vector<double>& params) {
  auto param = [&](size_t k, double dflt) { return k < params.size() ? params[k] : dflt; };
  if (act.empty()) return y;
  if (act == "Relu") return ops::relu(y);
  if (act == "Tanh") return ops::tanh(y);
  if (act == "Sigmoid") return ops::sigmoid(y);
  if (act == "LeakyRelu") return ops::where(y >= 0.0, y, y * param(0, 0.01));
  if (act == "Clip") return ops::clamp(y, Scalar(param(0, -3.4028234663852886e38)), Scalar(param(1, 3.4028234663852886e38)));
  if (act == "HardSigmoid") return ops::clamp(y * param(0, 0.2) + param(1, 0.5), Scalar(0.0), Scalar(1.0));
  throw ValueError("activation '" + act + "' is not one of Relu, Tanh, Sigmoid, LeakyRelu, Clip, HardSigmoid");
}

Tensor fused_conv(const Node& n) {
  Tensor y = run_conv(Node{n.proto, {n.at(0), n.at(1), n.has(2) ? n.in[2] : Tensor()}, n.opset});
  if (n.has(3)) y = y + n.in[3];  // Z: a residual added before the activation
  std::vector<double> params;
  if (auto* a = n.find("activation_params"))
    for (float v : a->floats()) params.push_back(double(v));
  return fused_activation(y, n.s("activation", ""), params);
}

Tensor fused_gemm(const Node& n) {
  return fused_activation(run_gemm(n), n.s("activation", ""),
                          {n.f("activation_alpha", n.s("activation", "") == "LeakyRelu" ? 0.01 : 0.2),
                           n.f("activation_beta", 0.5)});
}

// alpha * A' x B', where ' transposes the last two dims when transA / transB is set.
Tensor fused_matmul(const Node& n) {
  Tensor a = n.at(0), b = n.at(1);
  auto last_two = [](const Tensor& t, const char* what) {
    TS_CHECK_SHAPE(t.dim() >= 2, "FusedMatMul: ", what, " of shape ", t.shape(), " cannot be transposed (under 2-D)");
    return t.transpose(-1, -2);
  };
  if (n.i("transA", 0)) a = last_two(a, "A");
  if (n.i("transB", 0)) b = last_two(b, "B");
  Tensor y = ops::matmul(a, b);
  double alpha = n.f("alpha", 1.0);
  return alpha == 1.0 ? y : y * alpha;
}

// SkipLayerNormalization: s = input + skip (+ bias), then a layer norm over the last dim with
// gamma (and beta); the outputs are the result, the mean and 1/std (ONNX Runtime's training
// outputs, [..., 1]) and s.
Values skip_layer_norm(const Node& n) {
  const Tensor& x = n.at(0);
  Tensor s = x + n.at(1);
  if (n.has(4)) s = s + n.in[4];
  const Tensor& gamma = n.at(2);
  TS_CHECK_SHAPE(x.dim() >= 1 && gamma.dim() == 1 && gamma.size(0) == x.size(-1), "SkipLayerNormalization: gamma ",
                 gamma.shape(), " must have the input's last dim, input ", x.shape());
  Tensor sf = s.to(x.dtype() == DType::Float64 ? DType::Float64 : DType::Float32);
  Tensor mean = ops::mean(sf, {-1}, true);
  Tensor centered = sf - mean;
  Tensor inv_std = ops::rsqrt(ops::mean(centered * centered, {-1}, true) + n.f("epsilon", 1e-12));
  Tensor y = (centered * inv_std).to(x.dtype()) * gamma;
  if (n.has(3)) y = y + n.in[3];
  return {y, mean, inv_std, s};
}

}  // namespace

void add_contrib_ops(OpTable& m) {
  const std::string ms = std::string(kMicrosoftDomain) + ".";
  m[ms + "FusedConv"] = [](const Node& n) { return one(fused_conv(n)); };
  m[ms + "FusedGemm"] = [](const Node& n) { return one(fused_gemm(n)); };
  m[ms + "FusedMatMul"] = [](const Node& n) { return one(fused_matmul(n)); };
  m[ms + "Gelu"] = [](const Node& n) { return one(ops::gelu(n.at(0), "none")); };
  m[ms + "FastGelu"] = [](const Node& n) {  // the tanh approximation, of x + bias
    return one(ops::gelu(n.has(1) ? n.at(0) + n.in[1] : n.at(0), "tanh"));
  };
  m[ms + "BiasGelu"] = [](const Node& n) { return one(ops::gelu(n.at(0) + n.at(1), "none")); };
  m[ms + "QuickGelu"] = [](const Node& n) {  // x * sigmoid(alpha x)
    const Tensor& x = n.at(0);
    return one(x * ops::sigmoid(x * n.f("alpha", 1.702)));
  };
  m[ms + "SkipLayerNormalization"] = [](const Node& n) { return skip_layer_norm(n); };
}

}  // namespace tessera::io::internal
