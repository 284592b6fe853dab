// ONNX export: a Tracer (ops/trace.h) that turns each op the model runs into ONNX nodes.
#include <cmath>
#include <onnx/checker.h>
#include <unordered_map>
#include <unordered_set>

#include "tessera/autograd/autograd.h"
#include "tessera/io/onnx.h"
#include "tessera/io/onnx_internal.h"
#include "tessera/io/onnx_proto.h"
#include "tessera/io/safetensors.h"
#include "tessera/ops/ops.h"
#include "tessera/ops/trace.h"

namespace tessera::io {

namespace {

using ops::trace::Call;
using onnx_proto::elem_type;

// True when op is the traced name (op_name) of one of the enum's values up to last.
template <class E>
bool names_an(const std::string& op, E last) {
  for (int i = 0; i <= int(last); ++i)
    if (op == op_name(E(i))) return true;
  return false;
}

void set_type(onnx::ValueInfoProto& v, const std::string& name, const Tensor& t, bool symbolic_batch) {
  v.set_name(name);
  auto* tt = v.mutable_type()->mutable_tensor_type();
  tt->set_elem_type(elem_type(t.dtype()));
  auto* shape = tt->mutable_shape();
  for (int64_t i = 0; i < t.dim(); ++i) {
    auto* d = shape->add_dim();
    if (i == 0 && symbolic_batch) d->set_dim_param("batch");
    else d->set_dim_value(t.size(i));
  }
}

class Exporter : public ops::trace::Tracer {
 public:
  Exporter(onnx::GraphProto& g, bool dynamic, int64_t batch, int64_t opset)
      : g_(g), dynamic_(dynamic), batch_(batch), opset_(opset) {}

  void add_input(const std::string& name, const Tensor& t) {
    set_type(*g_.add_input(), name, t, dynamic_);
    bind(t, name);
  }
  void add_param(const std::string& name, const Tensor& t) {
    if (t.defined()) params_.emplace(t.impl_ptr().get(), Param{name, t, t.version(), false});
  }
  // Names the value of each output tensor as the graph's output.
  void add_output(const std::string& name, const Tensor& t) {
    op_ = "output '" + name + "'";
    node("Identity", {value(t)}, name);
    set_type(*g_.add_output(), name, t, dynamic_);
  }

  void record(Call c) override {
    op_ = c.op;
    c_ = &c;
    std::vector<std::string> in;
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      // An in-place op's output is its first input, already holding the new value.
      bool in_place = c.inputs[i].defined() && !c.outputs.empty() && c.inputs[i].is_same(c.outputs[0]);
      in.push_back(c.constant[i] ? constant(c.inputs[i]) : value(c.inputs[i], in_place));
    }
    std::vector<std::string> out = translate(c, in);
    // Values that depend on no input or parameter (constants and what is computed from them).
    bool constant_only = true;
    for (size_t i = 0; i < in.size(); ++i)
      if (!in[i].empty() && !c.constant[i] && !const_names_.count(in[i])) constant_only = false;
    for (size_t i = 0; i < c.outputs.size(); ++i) {
      if (!c.outputs[i].defined()) continue;
      bind(c.outputs[i], out[i]);
      if (constant_only) const_names_.insert(out[i]);
      if (!dynamic_) set_type(*g_.add_value_info(), out[i], c.outputs[i], false);
    }
  }

 private:
  struct Value {
    std::string name;
    uint64_t version;
    Tensor keep;  // holds the tensor so its address is not reused while the trace lasts
  };
  struct Param {
    std::string name;
    Tensor t;
    uint64_t version;
    bool written;
  };

  [[noreturn]] void fail(const std::string& why) const {
    throw ValueError("export_onnx: " + op_ + ": " + why);
  }

  void bind(const Tensor& t, const std::string& name) {
    values_[t.impl_ptr().get()] = Value{name, t.version(), t};
  }

  std::string fresh(const std::string& base) { return base + "_" + std::to_string(counter_++); }

  // The ONNX name of a tensor an op reads.
  std::string value(const Tensor& t, bool in_place = false) {
    if (!t.defined()) return "";
    auto v = values_.find(t.impl_ptr().get());
    if (v != values_.end()) {
      if (v->second.version != t.version() && !in_place)
        fail("reads a tensor of shape " + detail::str(t.shape()) +
             " that was modified in place by an op export does not trace (or through a view)");
      return v->second.name;
    }
    auto p = params_.find(t.impl_ptr().get());
    if (p != params_.end()) {
      Param& q = p->second;
      if (q.version != t.version()) fail("parameter '" + q.name + "' was modified while the model ran");
      if (!q.written) {
        *g_.add_initializer() = onnx_proto::to_proto(q.t.detach(), q.name);
        q.written = true;
      }
      return q.name;
    }
    // A new handle on a known value's memory with the same layout (detach() makes these).
    auto same_view = [&t](const Tensor& k) {
      return k.storage().get() == t.storage().get() && k.shape() == t.shape() && k.strides() == t.strides() &&
             k.storage_offset() == t.storage_offset() && k.dtype() == t.dtype() && k.version() == t.version();
    };
    for (auto& [impl, val] : values_)
      if (same_view(val.keep)) return val.name;
    for (auto& [impl, q] : params_)
      if (same_view(q.t)) return value(q.t);
    fail(detail::str("reads a ", t.dtype(), " tensor of shape ", t.shape(),
                     " that is not an input, a parameter or buffer, or the result of an op export traces "
                     "(it was made by an op with no ONNX form, or created inside forward)"));
  }

  // Constants are Constant nodes, so the initializers are exactly the state_dict.
  std::string constant(const Tensor& t) {
    auto& n = node("Constant", {}, fresh("const"));
    auto* a = n.add_attribute();
    a->set_name("value");
    a->set_type(onnx::AttributeProto::TENSOR);
    *a->mutable_t() = onnx_proto::to_proto(t.detach(), n.output(0));
    return n.output(0);
  }
  std::string ints(const Shape& v) { return constant(from_vector(std::vector<int64_t>(v.begin(), v.end()))); }
  std::string scalar(double v, DType dt) { return constant(scalar_tensor(v, dt)); }

  onnx::NodeProto& node(const std::string& type, const std::vector<std::string>& in, const std::string& out) {
    onnx::NodeProto& n = *g_.add_node();
    n.set_op_type(type);
    n.set_name(out);
    for (auto& i : in) n.add_input(i);
    n.add_output(out);
    return n;
  }
  // A one-output node with a fresh output name.
  onnx::NodeProto& node(const std::string& type, const std::vector<std::string>& in) {
    return node(type, in, fresh(op_));
  }
  std::string emit(const std::string& type, const std::vector<std::string>& in) { return node(type, in).output(0); }

  static void attr(onnx::NodeProto& n, const std::string& name, int64_t v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attr(onnx::NodeProto& n, const std::string& name, double v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(float(v));
  }
  static void attr(onnx::NodeProto& n, const std::string& name, const std::string& v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(v);
  }
  static void attr(onnx::NodeProto& n, const std::string& name, const Shape& v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }

  std::string cast(const std::string& v, DType from, DType to) {
    if (from == to || v.empty()) return v;
    auto& n = node("Cast", {v});
    attr(n, "to", int64_t(elem_type(to)));
    return n.output(0);
  }
  // Input i of the current call, converted to dtype to.
  std::string in_as(const std::vector<std::string>& in, size_t i, DType to) {
    return cast(in[i], c_->inputs[i].dtype(), to);
  }

  std::string unary(const std::string& op, const std::string& x, DType dt) {
    auto one = [&] { return scalar(1.0, dt); };
    if (op == "abs") return emit(dt == DType::Bool ? "Identity" : "Abs", {x});
    static const std::unordered_map<std::string, std::string> direct = {
        {"neg", "Neg"},     {"exp", "Exp"},     {"log", "Log"},         {"sqrt", "Sqrt"},
        {"sin", "Sin"},     {"cos", "Cos"},     {"tanh", "Tanh"},       {"sigmoid", "Sigmoid"},
        {"relu", "Relu"},   {"erf", "Erf"},     {"floor", "Floor"},     {"ceil", "Ceil"},
        {"round", "Round"}, {"sign", "Sign"},   {"reciprocal", "Reciprocal"}, {"logical_not", "Not"}};
    if (auto d = direct.find(op); d != direct.end()) return emit(d->second, {x});
    if (op == "expm1") return emit("Sub", {emit("Exp", {x}), one()});
    if (op == "log1p") return emit("Log", {emit("Add", {x, one()})});
    if (op == "rsqrt") return emit("Reciprocal", {emit("Sqrt", {x})});
    if (op == "square") return emit("Mul", {x, x});
    if (op == "silu") return emit("Mul", {x, emit("Sigmoid", {x})});
    if (op == "gelu") {  // x/2 * (1 + erf(x / sqrt 2))
      std::string e = emit("Erf", {emit("Div", {x, scalar(std::sqrt(2.0), dt)})});
      return emit("Mul", {emit("Mul", {x, scalar(0.5, dt)}), emit("Add", {e, one()})});
    }
    if (op == "gelu_tanh") {  // x/2 * (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
      std::string x3 = emit("Mul", {emit("Mul", {x, x}), x});
      std::string inner = emit("Add", {x, emit("Mul", {x3, scalar(0.044715, dt)})});
      std::string t = emit("Tanh", {emit("Mul", {inner, scalar(std::sqrt(2.0 / M_PI), dt)})});
      return emit("Mul", {emit("Mul", {x, scalar(0.5, dt)}), emit("Add", {t, one()})});
    }
    fail("has no ONNX form");
  }

  std::string binary(const std::string& op, const std::vector<std::string>& in, const Call& c) {
    DType out = c.outputs[0].dtype();
    static const std::unordered_map<std::string, std::string> arith = {
        {"add", "Add"}, {"sub", "Sub"}, {"mul", "Mul"}, {"div", "Div"},
        {"pow", "Pow"}, {"maximum", "Max"}, {"minimum", "Min"}, {"fmod", "Mod"}};
    if (auto a = arith.find(op); a != arith.end()) {
      auto& n = node(a->second, {in_as(in, 0, out), in_as(in, 1, out)});
      if (op == "fmod") attr(n, "fmod", int64_t(1));
      return n.output(0);
    }
    static const std::unordered_map<std::string, std::string> logic = {
        {"logical_and", "And"}, {"logical_or", "Or"}, {"logical_xor", "Xor"}};
    if (auto l = logic.find(op); l != logic.end())
      return emit(l->second, {in_as(in, 0, DType::Bool), in_as(in, 1, DType::Bool)});
    static const std::unordered_map<std::string, std::string> bitwise = {
        {"bitwise_and", "BitwiseAnd"}, {"bitwise_or", "BitwiseOr"}, {"bitwise_xor", "BitwiseXor"}};
    if (auto k = bitwise.find(op); k != bitwise.end()) {
      if (out == DType::Bool) return emit(logic.at("logical" + op.substr(7)), {in[0], in[1]});  // and, or, xor
      if (opset_ < 18) fail("needs opset_version 18 or later (ONNX's Bitwise ops)");
      return emit(k->second, {in_as(in, 0, out), in_as(in, 1, out)});
    }
    static const std::unordered_map<std::string, std::string> compare = {
        {"eq", "Equal"}, {"ne", "Equal"}, {"lt", "Less"}, {"le", "LessOrEqual"}, {"gt", "Greater"}, {"ge", "GreaterOrEqual"}};
    if (auto k = compare.find(op); k != compare.end()) {
      DType dt = ops::result_type(c.inputs[0], c.inputs[1]);
      std::string r = emit(k->second, {in_as(in, 0, dt), in_as(in, 1, dt)});
      return op == "ne" ? emit("Not", {r}) : r;
    }
    fail("has no ONNX form");
  }

  // Reductions: opset 17 takes ReduceSum's axes as an input and the others' as an attribute;
  // from opset 18 every reduction takes them as an input.
  onnx::NodeProto& reduction(const std::string& type, const std::string& x, const Shape& dims) {
    if (type == "ReduceSum" || opset_ >= 18) return node(type, dims.empty() ? std::vector<std::string>{x} : std::vector{x, ints(dims)});
    onnx::NodeProto& n = node(type, {x});
    if (!dims.empty()) attr(n, "axes", dims);
    return n;
  }
  std::string reduce(const std::string& type, const std::string& x, const Call& c) {
    onnx::NodeProto& n = reduction(type, x, c.ints("dims"));
    attr(n, "keepdims", c.i("keepdim"));
    return n.output(0);
  }

  Shape pads4(const Shape& p) const { return {p[0], p[1], p[0], p[1]}; }

  // Runs f on x made 4-D (pools accept [C, H, W] too).
  template <class F>
  std::string batched(const std::string& x, int64_t rank, F f) {
    if (rank == 4) return f(x);
    std::string y = f(emit("Unsqueeze", {x, ints({0})}));
    return emit("Squeeze", {y, ints({0})});
  }

  // The traced shape argument of a reshape, with the batch symbolic where the input has it in front
  // and the result keeps it outside every other non-1 dim: 0 (copy) in front, else -1 (infer).
  Shape reshape_target(Shape s, const Tensor& x) const {
    if (!dynamic_ || x.dim() == 0 || x.size(0) != batch_) return s;
    for (size_t k = 0; k < s.size(); ++k) {
      if (s[k] == batch_) {
        s[k] = k == 0 ? 0 : -1;
        break;
      }
      if (s[k] != 1) break;
    }
    return s;
  }
  // The traced shape argument of an expand: 1 broadcasts a symbolic batch in front.
  Shape expand_target(Shape s, const Tensor& x) const {
    if (dynamic_ && x.dim() > 0 && !s.empty() && x.size(0) == batch_ && s[0] == batch_) s[0] = 1;
    return s;
  }

  std::vector<std::string> translate(const Call& c, const std::vector<std::string>& in) {
    const std::string& op = c.op;
    DType out = c.outputs.empty() ? DType::Float32 : c.outputs[0].dtype();
    if (op == "bitwise_not") {
      if (out == DType::Bool) return {emit("Not", {in[0]})};
      if (opset_ < 18) fail("needs opset_version 18 or later (ONNX's BitwiseNot)");
      return {emit("BitwiseNot", {in[0]})};
    }
    if (names_an(op, UnaryOp::LogicalNot)) {
      if (op == "abs") return {unary(op, in[0], c.inputs[0].dtype())};
      if (op == "logical_not") return {emit("Not", {in_as(in, 0, DType::Bool)})};
      return {unary(op, in_as(in, 0, out), out)};  // integer inputs of floating functions are cast first
    }
    if (names_an(op, BinaryOp::LogicalXor)) return {binary(op, in, c)};
    if (op == "constant") return {constant(c.outputs[0])};
    const Tensor& x = c.inputs[0];
    if (op == "where") return {emit("Where", {in[0], in_as(in, 1, out), in_as(in, 2, out)})};
    if (op == "clamp") {
      std::string lo = c.has("min") ? scalar(c.f("min"), out) : "", hi = c.has("max") ? scalar(c.f("max"), out) : "";
      return {emit("Clip", {in_as(in, 0, out), lo, hi})};
    }
    if (op == "sum") return {reduce("ReduceSum", in_as(in, 0, out), c)};
    if (op == "prod") return {reduce("ReduceProd", in_as(in, 0, out), c)};
    if (op == "mean") return {reduce("ReduceMean", in[0], c)};
    if (op == "amax") return {reduce("ReduceMax", in[0], c)};
    if (op == "amin") return {reduce("ReduceMin", in[0], c)};
    if (op == "all" || op == "any") {
      std::string r = reduce(op == "all" ? "ReduceMin" : "ReduceMax", in_as(in, 0, DType::Int32), c);
      return {cast(r, DType::Int32, DType::Bool)};
    }
    if (op == "argmax" || op == "argmin") {
      std::string type = op == "argmax" ? "ArgMax" : "ArgMin";
      if (c.has("dim")) {
        auto& n = node(type, {in[0]});
        attr(n, "axis", c.i("dim"));
        attr(n, "keepdims", c.i("keepdim"));
        return {n.output(0)};
      }
      auto& n = node(type, {emit("Reshape", {in[0], ints({-1})})});
      attr(n, "axis", int64_t(0));
      attr(n, "keepdims", int64_t(0));
      return {c.i("keepdim") ? emit("Reshape", {n.output(0), ints(Shape(size_t(x.dim()), 1))}) : n.output(0)};
    }
    if (op == "softmax" || op == "log_softmax") {
      auto& n = node(op == "softmax" ? "Softmax" : "LogSoftmax", {in_as(in, 0, out)});
      attr(n, "axis", c.i("dim"));
      if (x.dim() == 0) fail("0-d softmax has no ONNX form");
      return {n.output(0)};
    }
    if (op == "reshape") return {emit("Reshape", {in[0], ints(reshape_target(c.ints("shape"), x))})};
    if (op == "expand") return {emit("Expand", {in[0], ints(expand_target(c.ints("shape"), x))})};
    if (op == "permute") {
      auto& n = node("Transpose", {in[0]});
      attr(n, "perm", c.ints("dims"));
      return {n.output(0)};
    }
    if (op == "slice")
      return {emit("Slice", {in[0], ints({c.i("start")}), ints({c.i("stop")}), ints({c.i("dim")}), ints({c.i("step")})})};
    if (op == "select") {
      auto& n = node("Gather", {in[0], constant(scalar_tensor(c.i("index"), DType::Int64))});
      attr(n, "axis", c.i("dim"));
      return {n.output(0)};
    }
    if (op == "to") return {cast(in[0], x.dtype(), out)};
    if (op == "clone") return {emit("Identity", {in[0]})};
    if (op == "matmul") return {emit("MatMul", {in[0], in[1]})};
    if (op == "linear") {
      if (x.dim() == 2) {
        auto& n = node("Gemm", {in[0], in[1], in[2]});
        attr(n, "transB", int64_t(1));
        return {n.output(0)};
      }
      auto& t = node("Transpose", {in[1]});
      attr(t, "perm", Shape{1, 0});
      std::string y = emit("MatMul", {in[0], t.output(0)});
      return {in[2].empty() ? y : emit("Add", {y, in[2]})};
    }
    if (op == "conv2d" || op == "conv_transpose2d") {
      const Tensor& w = c.inputs[1];
      std::vector<std::string> args{in[0], in[1]};
      if (!in[2].empty()) args.push_back(in[2]);
      auto& n = node(op == "conv2d" ? "Conv" : "ConvTranspose", args);
      attr(n, "kernel_shape", Shape{w.size(2), w.size(3)});
      attr(n, "strides", c.ints("stride"));
      attr(n, "pads", pads4(c.ints("padding")));
      attr(n, "dilations", c.ints("dilation"));
      attr(n, "group", c.i("groups"));
      if (op == "conv_transpose2d") attr(n, "output_padding", c.ints("output_padding"));
      return {n.output(0)};
    }
    if (op == "max_pool2d" || op == "avg_pool2d") {
      if (op == "avg_pool2d" && c.ints("dilation") != Shape{1, 1}) fail("dilated average pooling has no opset-17 form");
      return {batched(in[0], x.dim(), [&](const std::string& v) {
        auto& n = node(op == "max_pool2d" ? "MaxPool" : "AveragePool", {v});
        attr(n, "kernel_shape", c.ints("kernel_size"));
        attr(n, "strides", c.ints("stride"));
        attr(n, "pads", pads4(c.ints("padding")));
        attr(n, "ceil_mode", c.i("ceil_mode"));
        if (op == "max_pool2d") attr(n, "dilations", c.ints("dilation"));
        else attr(n, "count_include_pad", c.i("count_include_pad"));
        return n.output(0);
      })};
    }
    if (op == "global_avg_pool2d")
      return {batched(in[0], x.dim(), [&](const std::string& v) { return emit("GlobalAveragePool", {v}); })};
    if (op == "batch_norm") {
      if (c.i("training")) fail("batch statistics (training mode, or no running stats) have no ONNX form");
      int64_t C = x.size(1);
      std::string scale = in[1].empty() ? constant(ones({C}, {x.dtype()})) : in[1];
      std::string bias = in[2].empty() ? constant(zeros({C}, {x.dtype()})) : in[2];
      auto& n = node("BatchNormalization", {in[0], scale, bias, in[3], in[4]});
      attr(n, "epsilon", c.f("eps"));
      return {n.output(0)};
    }
    if (op == "layer_norm") {
      const Shape& ns = c.ints("normalized_shape");
      std::string scale = in[1].empty() ? constant(ones(ns, {x.dtype()})) : in[1];
      std::vector<std::string> args{in[0], scale};
      if (!in[2].empty()) args.push_back(in[2]);
      auto& n = node("LayerNormalization", args);
      attr(n, "axis", -int64_t(ns.size()));
      attr(n, "epsilon", c.f("eps"));
      return {n.output(0)};
    }
    if (op == "group_norm") {  // opset 17 has none: normalize [N, G, rest], then scale and shift per channel
      DType dt = x.dtype();
      std::string xr = emit("Reshape", {in[0], ints({dynamic_ ? 0 : x.size(0), c.i("num_groups"), -1})});
      auto mean = [&](const std::string& v) {
        auto& n = reduction("ReduceMean", v, Shape{2});
        attr(n, "keepdims", int64_t(1));
        return n.output(0);
      };
      std::string d = emit("Sub", {xr, mean(xr)});
      std::string var = mean(emit("Mul", {d, d}));
      std::string y = emit("Div", {d, emit("Sqrt", {emit("Add", {var, scalar(c.f("eps"), dt)})})});
      y = emit("Reshape", {y, emit("Shape", {in[0]})});
      Shape per_channel(size_t(x.dim()), 1);
      per_channel[1] = x.size(1);
      if (!in[1].empty()) y = emit("Mul", {y, emit("Reshape", {in[1], ints(per_channel)})});
      if (!in[2].empty()) y = emit("Add", {y, emit("Reshape", {in[2], ints(per_channel)})});
      return {y};
    }
    if (op == "embedding" || op == "index_select") {
      bool emb = op == "embedding";
      const Tensor& idx = c.inputs[emb ? 0 : 1];
      std::string i = cast(in[emb ? 0 : 1], idx.dtype(), idx.dtype() == DType::Int32 ? DType::Int32 : DType::Int64);
      if (!emb && idx.dim() == 0) i = emit("Reshape", {i, ints({1})});
      auto& n = node("Gather", {in[emb ? 1 : 0], i});
      attr(n, "axis", emb ? int64_t(0) : c.i("dim"));
      return {n.output(0)};
    }
    if (op == "gather") {
      auto& n = node("GatherElements", {in[0], in_as(in, 1, DType::Int64)});
      attr(n, "axis", c.i("dim"));
      return {n.output(0)};
    }
    if (op == "cat") {
      std::vector<std::string> parts;
      for (size_t i = 0; i < in.size(); ++i) parts.push_back(in_as(in, i, out));
      auto& n = node("Concat", parts);
      attr(n, "axis", c.i("dim"));
      return {n.output(0)};
    }
    if (op == "pad") {
      const Shape& p = c.ints("pad");
      Shape pads(size_t(2 * x.dim()), 0);
      for (size_t i = 0; i < p.size() / 2; ++i) {
        size_t d = size_t(x.dim()) - 1 - i;
        pads[d] = p[2 * i];
        pads[d + size_t(x.dim())] = p[2 * i + 1];
      }
      const std::string& mode = c.s("mode");
      if (mode != "constant" && mode != "reflect" && mode != "replicate") fail("mode '" + mode + "' has no ONNX form");
      auto& n = node("Pad", {in[0], ints(pads), mode == "constant" ? scalar(c.f("value"), x.dtype()) : ""});
      attr(n, "mode", mode == "replicate" ? std::string("edge") : mode);
      return {n.output(0)};
    }
    if (op == "fma") return {emit("Add", {emit("Mul", {in_as(in, 0, out), in_as(in, 1, out)}), in_as(in, 2, out)})};
    if (op == "rnn") return recurrent(c, in);
    fail("has no ONNX form in tessera's exporter");
  }

  // A tessera recurrent layer's direction as ONNX's RNN, LSTM or GRU: PyTorch's gate order
  // (i f g o; r z n) becomes ONNX's (i o f c; z r h), and GRU applies its reset gate after the
  // recurrent matmul (linear_before_reset), as PyTorch does.
  std::vector<std::string> recurrent(const Call& c, const std::vector<std::string>& in) {
    int64_t cell = c.i("cell"), H = c.i("hidden_size");
    bool lstm = cell == 2, gru = cell == 3;
    std::vector<int64_t> order = lstm ? std::vector<int64_t>{0, 3, 1, 2} : gru ? std::vector<int64_t>{1, 0, 2}
                                                                          : std::vector<int64_t>{0};
    auto reorder = [&](const std::string& w) {  // gate blocks along dim 0, reordered
      if (order.size() == 1) return w;
      std::string sizes = ints(Shape(order.size(), H));
      onnx::NodeProto& split = *g_.add_node();
      split.set_op_type("Split");
      split.set_name(fresh(op_));
      split.add_input(w);
      split.add_input(sizes);
      attr(split, "axis", int64_t(0));
      for (size_t k = 0; k < order.size(); ++k) split.add_output(split.name() + "_" + std::to_string(k));
      std::vector<std::string> parts;
      for (int64_t k : order) parts.push_back(split.output(int(k)));
      auto& cat = node("Concat", parts);
      attr(cat, "axis", int64_t(0));
      return cat.output(0);
    };
    auto unsqueeze0 = [&](const std::string& v) { return emit("Unsqueeze", {v, ints({0})}); };
    std::string B;
    if (!in[5].empty()) {
      auto& cat = node("Concat", {reorder(in[5]), reorder(in[6])});
      attr(cat, "axis", int64_t(0));
      B = unsqueeze0(cat.output(0));
    }
    // Zero initial states computed from constants are left out: ONNX starts from zeros at any batch size.
    auto state = [&](size_t k) {
      if (in[k].empty()) return std::string();
      if (const_names_.count(in[k]) && !ops::any(c.inputs[k] != 0.0).item<bool>()) return std::string();
      return unsqueeze0(in[k]);
    };
    std::vector<std::string> args{in[0], unsqueeze0(reorder(in[3])), unsqueeze0(reorder(in[4])), B, "", state(1)};
    if (lstm) args.push_back(state(2));
    while (!args.empty() && args.back().empty()) args.pop_back();
    onnx::NodeProto& n = *g_.add_node();
    n.set_op_type(lstm ? "LSTM" : gru ? "GRU" : "RNN");
    n.set_name(fresh(op_));
    for (auto& a : args) n.add_input(a);
    for (int k = 0; k < (lstm ? 3 : 2); ++k) n.add_output(n.name() + "_" + std::to_string(k));
    attr(n, "hidden_size", H);
    attr(n, "direction", std::string(c.i("reverse") ? "reverse" : "forward"));
    if (gru) attr(n, "linear_before_reset", int64_t(1));
    if (cell == 1) {  // RNN with relu
      auto* a = n.add_attribute();
      a->set_name("activations");
      a->set_type(onnx::AttributeProto::STRINGS);
      a->add_strings("Relu");
    }
    std::string y = emit("Squeeze", {n.output(0), ints({1})}), h = emit("Squeeze", {n.output(1), ints({0})});
    return {y, h, lstm ? emit("Squeeze", {n.output(2), ints({0})}) : std::string()};
  }

  onnx::GraphProto& g_;
  bool dynamic_;
  int64_t batch_;
  int64_t opset_;
  std::unordered_map<const TensorImpl*, Value> values_;
  std::unordered_map<const TensorImpl*, Param> params_;
  std::unordered_set<std::string> const_names_;
  int64_t counter_ = 0;
  std::string op_;
  const Call* c_ = nullptr;
};

std::string name_at(const std::vector<std::string>& names, size_t i, const char* base) {
  if (i < names.size()) return names[i];
  return i == 0 ? std::string(base) : std::string(base) + "_" + std::to_string(i);
}

}  // namespace

namespace internal {
onnx::ModelProto trace_model(const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& fn,
                             const std::vector<Tensor>& inputs, const nn::StateDict& params,
                             const OnnxExportOptions& options, const std::string& path) {
  TS_CHECK_VALUE(!inputs.empty(), "export_onnx: needs at least one example input");
  int64_t batch = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    TS_CHECK_VALUE(inputs[i].defined(), "export_onnx: example input ", i, " is undefined");
    if (!options.dynamic_batch) continue;
    TS_CHECK_SHAPE(inputs[i].dim() >= 1 && inputs[i].size(0) >= 2, "export_onnx: dynamic_batch needs example inputs "
                   "with a batch dim of at least 2 (to tell it from other dims), got shape ", inputs[i].shape(),
                   " for input ", i);
    TS_CHECK_SHAPE(batch == 0 || inputs[i].size(0) == batch, "export_onnx: dynamic_batch needs one batch size, got ",
                   batch, " and ", inputs[i].size(0));
    batch = inputs[i].size(0);
  }
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.set_producer_name("tessera");
  model.set_producer_version(TESSERA_VERSION_STRING);
  if (!options.doc_string.empty()) model.set_doc_string(options.doc_string);
  auto* opset = model.add_opset_import();
  opset->set_domain("");
  TS_CHECK_VALUE(options.opset >= kOnnxOpset && options.opset <= kOnnxMaxExportOpset, "export_onnx: tessera writes "
                 "opsets ", kOnnxOpset, " to ", kOnnxMaxExportOpset, ", not ", options.opset);
  opset->set_version(options.opset);
  onnx::GraphProto& g = *model.mutable_graph();
  g.set_name("tessera");

  Exporter ex(g, options.dynamic_batch, batch, options.opset);
  std::vector<Tensor> xs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    xs.push_back(inputs[i].detach());
    ex.add_input(name_at(options.input_names, i, "input"), xs.back());
  }
  for (auto& [name, t] : params) ex.add_param(name, t);
  std::vector<Tensor> outputs;
  {
    autograd::NoGradGuard no_grad;
    ops::trace::TracingGuard tracing(ex);
    outputs = fn(xs);
  }
  TS_CHECK_VALUE(!outputs.empty(), "export_onnx: the model returned no outputs");
  for (size_t i = 0; i < outputs.size(); ++i) ex.add_output(name_at(options.output_names, i, "output"), outputs[i]);

  if (options.opset <= checker_opset()) {
    try {
      onnx::checker::check_model(model);
    } catch (const std::exception& e) {
      throw Error(::tessera::detail::str("export_onnx: the graph for ", path, " fails ONNX's checker: ", e.what()));
    }
  } else {  // newer than the ONNX library here knows (its checker would refuse the opset itself)
    check_structure(model, "export_onnx: the graph for " + path);
  }
  return model;
}
}  // namespace internal

void export_onnx(const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& fn,
                 const std::vector<Tensor>& inputs, const nn::StateDict& params, const std::string& path,
                 const OnnxExportOptions& options) {
  onnx::ModelProto model = internal::trace_model(fn, inputs, params, options, path);
  std::string bytes;
  TS_CHECK(model.SerializeToString(&bytes), "export_onnx: could not serialize the model for ", path,
           " (over protobuf's 2 GiB limit?)");
  write_file_atomic(path, bytes);
}

void export_onnx(nn::Module& model, const std::vector<Tensor>& inputs, const std::string& path,
                 const OnnxExportOptions& options) {
  nn::EvalModeGuard eval(model);
  nn::StateDict params = model.named_parameters();
  for (auto& b : model.named_buffers()) params.push_back(b);
  export_onnx([&](const std::vector<Tensor>& xs) {
    TS_CHECK_VALUE(xs.size() == 1, "export_onnx: a Module takes one input, got ", xs.size());
    return std::vector<Tensor>{model(xs[0])};
  }, inputs, params, path, options);
}

}  // namespace tessera::io
