// ONNX operators, part 3: normalizations, losses, attention and resizing (the table is in
// onnx_ops.cpp).
#include <cmath>
#include <limits>

#include "tessera/io/onnx_node.h"
#include "tessera/io/onnx_proto.h"

namespace tessera::io::internal {

namespace {

}  // namespace

void add_nn_ops(OpTable& m) {
  m["BatchNormalization"] = [](const Node& n) {
    TS_CHECK_VALUE(!n.i("training_mode", 0) && n.proto.output_size() == 1,
                   "training-mode BatchNormalization is not supported");
    TS_CHECK_VALUE(n.i("spatial", 1) == 1, "BatchNormalization with spatial=0 (opsets 7-8: statistics per ",
                   "activation) is not supported");
    TS_CHECK_VALUE(n.i("is_test", 1) == 1, "BatchNormalization with is_test=0 (opsets 6 and older: training) is not ",
                   "supported");
    return one(ops::batch_norm(n.at(0), n.at(3), n.at(4), n.at(1), n.at(2), false, 0.1, n.f("epsilon", 1e-5)));
  };
  m["LayerNormalization"] = [](const Node& n) {
    const Tensor& x = n.at(0);
    TS_CHECK_VALUE(n.proto.output_size() == 1, "the Mean and InvStdDev outputs are not supported");
    int64_t axis = wrap(n.i("axis", -1), x.dim());
    Shape ns(x.shape().begin() + axis, x.shape().end());
    return one(ops::layer_norm(x, ns, n.at(1), n.has(2) ? n.in[2] : Tensor(), n.f("epsilon", 1e-5)));
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
}

}  // namespace tessera::io::internal
