// What tessera's traced shape, indexing, product, convolution and pooling ops export as: the
// export side of onnx_ops.cpp's operators (the exporter's table is in onnx_export.cpp).
#include "tessera/io/onnx_export_graph.h"
#include "tessera/io/onnx_node.h"
namespace tessera::io::internal {

namespace {
using ops::trace::Call;
using Names = std::vector<std::string>;

Shape pads4(const Shape& p) { return {p[0], p[1], p[0], p[1]}; }
}  // namespace

void add_tensor_exports(ExportTable& t) {
  using G = ExportGraph;
  t["constant"] = [](G& x, const Call& c, const Names&) -> Names { return {x.constant(c.outputs[0])}; };
  t["clone"] = [](G& x, const Call&, const Names& in) -> Names { return {x.emit("Identity", {in[0]})}; };
  t["reshape"] = [](G& x, const Call& c, const Names& in) -> Names {
    return {x.emit("Reshape", {in[0], x.ints(x.reshape_target(c.ints("shape"), c.inputs[0]))})};
  };
  t["expand"] = [](G& x, const Call& c, const Names& in) -> Names {
    return {x.emit("Expand", {in[0], x.ints(x.expand_target(c.ints("shape"), c.inputs[0]))})};
  };
  t["permute"] = [](G& x, const Call& c, const Names& in) -> Names {
    auto& n = x.node("Transpose", {in[0]});
    G::attr(n, "perm", c.ints("dims"));
    return {n.output(0)};
  };
  t["slice"] = [](G& x, const Call& c, const Names& in) -> Names {
    return {x.emit("Slice", {in[0], x.ints({c.i("start")}), x.ints({c.i("stop")}), x.ints({c.i("dim")}),
                             x.ints({c.i("step")})})};
  };
  t["select"] = [](G& x, const Call& c, const Names& in) -> Names {
    auto& n = x.node("Gather", {in[0], x.constant(scalar_tensor(c.i("index"), DType::Int64))});
    G::attr(n, "axis", c.i("dim"));
    return {n.output(0)};
  };
  t["cat"] = [](G& x, const Call& c, const Names& in) -> Names {
    Names parts;
    for (size_t i = 0; i < in.size(); ++i) parts.push_back(x.in_as(in, i, c.outputs[0].dtype()));
    auto& n = x.node("Concat", parts);
    G::attr(n, "axis", c.i("dim"));
    return {n.output(0)};
  };
  t["pad"] = [](G& x, const Call& c, const Names& in) -> Names {
    const Tensor& v = c.inputs[0];
    const Shape& p = c.ints("pad");  // (left, right) pairs from the last dim, as torch's F.pad
    Shape pads(size_t(2 * v.dim()), 0);
    for (size_t i = 0; i < p.size() / 2; ++i) {
      size_t d = size_t(v.dim()) - 1 - i;
      pads[d] = p[2 * i];
      pads[d + size_t(v.dim())] = p[2 * i + 1];
    }
    const std::string& mode = c.s("mode");
    if (mode != "constant" && mode != "reflect" && mode != "replicate") x.fail("mode '" + mode + "' has no ONNX form");
    auto& n = x.node("Pad", {in[0], x.ints(pads), mode == "constant" ? x.scalar(c.f("value"), v.dtype()) : ""});
    G::attr(n, "mode", mode == "replicate" ? std::string("edge") : mode);
    return {n.output(0)};
  };
  for (const char* op : {"embedding", "index_select"})
    t[op] = [](G& x, const Call& c, const Names& in) -> Names {
      bool emb = c.op == "embedding";
      const Tensor& idx = c.inputs[emb ? 0 : 1];
      std::string i = x.cast(in[emb ? 0 : 1], idx.dtype(), idx.dtype() == DType::Int32 ? DType::Int32 : DType::Int64);
      if (!emb && idx.dim() == 0) i = x.emit("Reshape", {i, x.ints({1})});
      auto& n = x.node("Gather", {in[emb ? 1 : 0], i});
      G::attr(n, "axis", emb ? int64_t(0) : c.i("dim"));
      return {n.output(0)};
    };
  t["gather"] = [](G& x, const Call& c, const Names& in) -> Names {
    auto& n = x.node("GatherElements", {in[0], x.in_as(in, 1, DType::Int64)});
    G::attr(n, "axis", c.i("dim"));
    return {n.output(0)};
  };
  t["matmul"] = [](G& x, const Call&, const Names& in) -> Names { return {x.emit("MatMul", {in[0], in[1]})}; };
  t["linear"] = [](G& x, const Call& c, const Names& in) -> Names {
    if (c.inputs[0].dim() == 2) {
      auto& n = x.node("Gemm", {in[0], in[1], in[2]});
      G::attr(n, "transB", int64_t(1));
      return {n.output(0)};
    }
    auto& tr = x.node("Transpose", {in[1]});
    G::attr(tr, "perm", Shape{1, 0});
    std::string y = x.emit("MatMul", {in[0], tr.output(0)});
    return {in[2].empty() ? y : x.emit("Add", {y, in[2]})};
  };
  for (const char* op : {"conv2d", "conv_transpose2d"})
    t[op] = [](G& x, const Call& c, const Names& in) -> Names {
      const Tensor& w = c.inputs[1];
      Names args{in[0], in[1]};
      if (!in[2].empty()) args.push_back(in[2]);
      bool transpose = c.op == "conv_transpose2d";
      auto& n = x.node(transpose ? "ConvTranspose" : "Conv", args);
      G::attr(n, "kernel_shape", Shape{w.size(2), w.size(3)});
      G::attr(n, "strides", c.ints("stride"));
      G::attr(n, "pads", pads4(c.ints("padding")));
      G::attr(n, "dilations", c.ints("dilation"));
      G::attr(n, "group", c.i("groups"));
      if (transpose) G::attr(n, "output_padding", c.ints("output_padding"));
      return {n.output(0)};
    };
  for (const char* op : {"max_pool2d", "avg_pool2d"})
    t[op] = [](G& x, const Call& c, const Names& in) -> Names {
      bool max = c.op == "max_pool2d";
      if (!max && c.ints("dilation") != Shape{1, 1}) x.fail("dilated average pooling has no opset-17 form");
      return {x.batched(in[0], c.inputs[0].dim(), [&](const std::string& v) {
        auto& n = x.node(max ? "MaxPool" : "AveragePool", {v});
        G::attr(n, "kernel_shape", c.ints("kernel_size"));
        G::attr(n, "strides", c.ints("stride"));
        G::attr(n, "pads", pads4(c.ints("padding")));
        G::attr(n, "ceil_mode", c.i("ceil_mode"));
        if (max) G::attr(n, "dilations", c.ints("dilation"));
        else G::attr(n, "count_include_pad", c.i("count_include_pad"));
        return n.output(0);
      })};
    };
  t["global_avg_pool2d"] = [](G& x, const Call& c, const Names& in) -> Names {
    return {x.batched(in[0], c.inputs[0].dim(), [&](const std::string& v) { return x.emit("GlobalAveragePool", {v}); })};
  };
}

}  // namespace tessera::io::internal
