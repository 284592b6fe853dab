// ONNX export: a Tracer (ops/trace.h) that turns each op the model runs into ONNX nodes, through
// the export table the operator families fill (onnx_export_graph.h), and the ModelProto around them.
#include <algorithm>
#include <cmath>
#include <onnx/checker.h>
#include <unordered_map>
#include <unordered_set>

#include "tessera/autograd/autograd.h"
#include "tessera/io/onnx.h"
#include "tessera/io/onnx_export_graph.h"
#include "tessera/io/onnx_internal.h"
#include "tessera/io/onnx_proto.h"
#include "tessera/io/safetensors.h"
#include "tessera/ops/ops.h"
#include "tessera/ops/trace.h"

namespace tessera::io {

namespace internal {

void ExportGraph::fail(const std::string& why) const { throw ValueError("export_onnx: " + op_ + ": " + why); }

onnx::NodeProto& ExportGraph::node(const std::string& type, const std::vector<std::string>& in, const std::string& out) {
  onnx::NodeProto& n = *g_.add_node();
  n.set_op_type(type);
  n.set_name(out);
  for (auto& i : in) n.add_input(i);
  n.add_output(out);
  return n;
}

onnx::NodeProto& ExportGraph::multi_node(const std::string& type, const std::vector<std::string>& in, int outputs) {
  onnx::NodeProto& n = *g_.add_node();
  n.set_op_type(type);
  n.set_name(fresh(op_));
  for (auto& i : in) n.add_input(i);
  for (int k = 0; k < outputs; ++k) n.add_output(n.name() + "_" + std::to_string(k));
  return n;
}

std::string ExportGraph::constant(const Tensor& t) {
  auto& n = node("Constant", {}, fresh("const"));
  auto* a = n.add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  *a->mutable_t() = onnx_proto::to_proto(t.detach(), n.output(0));
  return n.output(0);
}
std::string ExportGraph::ints(const Shape& v) { return constant(from_vector(std::vector<int64_t>(v.begin(), v.end()))); }
std::string ExportGraph::scalar(double v, DType dt) { return constant(scalar_tensor(v, dt)); }

void ExportGraph::attr(onnx::NodeProto& n, const std::string& name, int64_t v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}
void ExportGraph::attr(onnx::NodeProto& n, const std::string& name, double v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(float(v));
}
void ExportGraph::attr(onnx::NodeProto& n, const std::string& name, const std::string& v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(v);
}
void ExportGraph::attr(onnx::NodeProto& n, const std::string& name, const Shape& v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}
void ExportGraph::attr(onnx::NodeProto& n, const std::string& name, const std::vector<std::string>& v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRINGS);
  for (auto& x : v) a->add_strings(x);
}

std::string ExportGraph::cast(const std::string& v, DType from, DType to) {
  if (from == to || v.empty()) return v;
  auto& n = node("Cast", {v});
  attr(n, "to", int64_t(onnx_proto::elem_type(to)));
  return n.output(0);
}

onnx::NodeProto& ExportGraph::reduction(const std::string& type, const std::string& x, const Shape& dims) {
  if (type == "ReduceSum" || opset_ >= 18)
    return node(type, dims.empty() ? std::vector<std::string>{x} : std::vector{x, ints(dims)});
  onnx::NodeProto& n = node(type, {x});
  if (!dims.empty()) attr(n, "axes", dims);
  return n;
}

Shape ExportGraph::reshape_target(Shape s, const Tensor& x) const {
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

Shape ExportGraph::expand_target(Shape s, const Tensor& x) const {
  if (dynamic_ && x.dim() > 0 && !s.empty() && x.size(0) == batch_ && s[0] == batch_) s[0] = 1;
  return s;
}

const ExportTable& export_table() {
  static const ExportTable t = [] {
    ExportTable m;
    add_math_exports(m);
    add_tensor_exports(m);
    add_nn_exports(m);
    return m;
  }();
  return t;
}

}  // namespace internal

namespace {

using ops::trace::Call;
using onnx_proto::elem_type;

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

// A Tracer (ops/trace.h) that names each tensor the model reads or makes and turns each op it
// runs into ONNX nodes through the families' export table.
class Exporter : public ops::trace::Tracer {
 public:
  Exporter(onnx::GraphProto& g, bool dynamic, int64_t batch, int64_t opset)
      : g_(g), x_(g, dynamic, batch, opset), dynamic_(dynamic) {}

  void add_input(const std::string& name, const Tensor& t) {
    set_type(*g_.add_input(), name, t, dynamic_);
    bind(t, name);
  }
  void add_param(const std::string& name, const Tensor& t) {
    if (t.defined()) params_.emplace(t.impl_ptr().get(), Param{name, t, t.version(), false});
  }
  // Names the value of each output tensor as the graph's output.
  void add_output(const std::string& name, const Tensor& t) {
    x_.begin(nullptr, "output '" + name + "'");
    x_.node("Identity", {value(t)}, name);
    set_type(*g_.add_output(), name, t, dynamic_);
  }

  void record(Call c) override {
    x_.begin(&c, c.op);
    std::vector<std::string> in;
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      // An in-place op's output is its first input, already holding the new value.
      bool in_place = c.inputs[i].defined() && !c.outputs.empty() && c.inputs[i].is_same(c.outputs[0]);
      in.push_back(c.constant[i] ? x_.constant(c.inputs[i]) : value(c.inputs[i], in_place));
    }
    const auto& table = internal::export_table();
    auto fn = table.find(c.op);
    if (fn == table.end()) x_.fail("has no ONNX form in tessera's exporter");
    std::vector<std::string> out = fn->second(x_, c, in);
    // Values that depend on no input or parameter (constants and what is computed from them).
    bool constant_only = true;
    for (size_t i = 0; i < in.size(); ++i)
      if (!in[i].empty() && !c.constant[i] && !x_.is_constant(in[i])) constant_only = false;
    for (size_t i = 0; i < c.outputs.size(); ++i) {
      if (!c.outputs[i].defined()) continue;
      bind(c.outputs[i], out[i]);
      if (constant_only) x_.mark_constant(out[i]);
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

  void bind(const Tensor& t, const std::string& name) {
    values_[t.impl_ptr().get()] = Value{name, t.version(), t};
  }

  // The ONNX name of a tensor an op reads.
  std::string value(const Tensor& t, bool in_place = false) {
    if (!t.defined()) return "";
    auto v = values_.find(t.impl_ptr().get());
    if (v != values_.end()) {
      if (v->second.version != t.version() && !in_place)
        x_.fail("reads a tensor of shape " + detail::str(t.shape()) +
                " that was modified in place by an op export does not trace (or through a view)");
      return v->second.name;
    }
    auto p = params_.find(t.impl_ptr().get());
    if (p != params_.end()) {
      Param& q = p->second;
      if (q.version != t.version()) x_.fail("parameter '" + q.name + "' was modified while the model ran");
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
    x_.fail(detail::str("reads a ", t.dtype(), " tensor of shape ", t.shape(),
                        " that is not an input, a parameter or buffer, or the result of an op export traces "
                        "(it was made by an op with no ONNX form, or created inside forward)"));
  }

  onnx::GraphProto& g_;
  internal::ExportGraph x_;
  bool dynamic_;
  std::unordered_map<const TensorImpl*, Value> values_;
  std::unordered_map<const TensorImpl*, Param> params_;
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

std::vector<std::string> onnx_exported_op_names() {
  std::vector<std::string> r;
  for (const auto& [name, fn] : internal::export_table()) r.push_back(name);
  std::sort(r.begin(), r.end());
  return r;
}

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
