// ONNX import: a module that runs an ONNX graph node by node with tessera ops (the files are
// read and checked in onnx_read.cpp, the operators run in onnx_ops.cpp).
#include <cctype>
#include <unordered_set>

#include "tessera/io/onnx.h"
#include "tessera/io/onnx_internal.h"
#include "tessera/io/onnx_proto.h"
#include "tessera/ops/ops.h"

namespace tessera::io {

namespace {

using Values = std::vector<Tensor>;

// Module and parameter names: dots make child modules; other characters outside [A-Za-z0-9_]
// become '_' (so "onnx::Conv_12" is "onnx__Conv_12").
std::vector<std::string> name_path(const std::string& name) {
  std::vector<std::string> parts;
  std::string cur;
  for (char ch : name) {
    if (ch == '.') {
      parts.push_back(cur.empty() ? "_" : cur);
      cur.clear();
    } else {
      cur += std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' ? ch : '_';
    }
  }
  parts.push_back(cur.empty() ? "_" : cur);
  return parts;
}

}  // namespace

struct OnnxModel::Impl {
  std::string path;
  int64_t opset = kOnnxOpset;  // of the default domain
  onnx::GraphProto graph;
  std::vector<std::string> inputs, outputs;
  std::vector<Shape> input_shapes;
  std::vector<DType> input_dtypes;  // of the elements, for a sequence input
  std::vector<bool> input_is_sequence;
  std::vector<bool> input_is_strings;
  // Each initializer: the module that holds it and its name there.
  std::vector<std::tuple<std::string, nn::Module*, std::string>> weights;
};

OnnxModel::OnnxModel(std::shared_ptr<Impl> impl) : nn::Module("OnnxModel"), impl_(std::move(impl)) {
  std::unordered_set<std::string> taken;
  for (auto& init : impl_->graph.initializer()) {
    std::string where = "load_onnx: " + impl_->path;
    Tensor t = onnx_proto::from_proto(init, where);
    std::vector<std::string> path = name_path(init.name());
    nn::Module* owner = this;
    for (size_t i = 0; i + 1 < path.size(); ++i) {
      nn::Module* next = nullptr;
      for (auto& [n, child] : owner->named_children())
        if (n == path[i]) next = child.get();
      if (!next) next = owner->register_module(path[i], std::make_shared<nn::Module>("Module")).get();
      owner = next;
    }
    std::string local = path.back(), full;
    for (auto& p : path) full += (full.empty() ? "" : ".") + p;
    for (int k = 1; taken.count(full); ++k) {  // two ONNX names that sanitize alike
      local = path.back() + "_" + std::to_string(k);
      full = full.substr(0, full.size() - path.back().size()) + local;
    }
    taken.insert(full);
    if (t.is_floating_point()) owner->register_parameter(local, t);
    else owner->register_buffer(local, t);
    impl_->weights.emplace_back(init.name(), owner, local);
  }
  eval();
}

OnnxModel::~OnnxModel() = default;

const std::vector<std::string>& OnnxModel::input_names() const { return impl_->inputs; }
const std::vector<std::string>& OnnxModel::output_names() const { return impl_->outputs; }
std::vector<Shape> OnnxModel::input_shapes() const { return impl_->input_shapes; }
std::vector<std::string> OnnxModel::op_types() const {
  std::vector<std::string> r;
  for (auto& n : impl_->graph.node())
    if (std::find(r.begin(), r.end(), n.op_type()) == r.end()) r.push_back(n.op_type());
  return r;
}

Tensor OnnxModel::forward(const Tensor& x) {
  TS_CHECK_VALUE(impl_->inputs.size() == 1, "OnnxModel: ", impl_->path, " has ", impl_->inputs.size(),
                 " inputs; call run() with all of them");
  return run({x})[0];
}

std::vector<Tensor> OnnxModel::run(const std::vector<Tensor>& inputs) {
  std::vector<Value> out = run_values(std::vector<Value>(inputs.begin(), inputs.end()));
  std::vector<Tensor> r;
  for (size_t k = 0; k < out.size(); ++k) {
    TS_CHECK_VALUE(std::holds_alternative<Tensor>(out[k]), "OnnxModel: ", impl_->path, ": output '",
                   impl_->outputs[k], "' is a sequence; use run_values");
    r.push_back(std::get<Tensor>(out[k]));
  }
  return r;
}

std::vector<OnnxModel::Value> OnnxModel::run_values(const std::vector<Value>& inputs) {
  const Impl& m = *impl_;
  TS_CHECK_VALUE(inputs.size() == m.inputs.size(), "OnnxModel: ", m.path, " takes ", m.inputs.size(),
                 " inputs, got ", inputs.size());
  internal::Scope scope;
  auto& values = scope.values;
  for (auto& [name, owner, local] : m.weights) values[name] = internal::Value((*owner)[local]);
  Device dev = Device::cpu();
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (m.input_is_strings[i]) {
      TS_CHECK_VALUE(std::holds_alternative<StringTensor>(inputs[i]), "OnnxModel: input '", m.inputs[i], "' of ",
                     m.path, " is a tensor of strings");
      values[m.inputs[i]] = internal::Value::of_strings(std::get<StringTensor>(inputs[i]));
      continue;
    }
    if (m.input_is_sequence[i]) {
      TS_CHECK_VALUE(std::holds_alternative<std::vector<Tensor>>(inputs[i]), "OnnxModel: input '", m.inputs[i],
                     "' of ", m.path, " is a sequence of tensors, got a tensor");
      const auto& items = std::get<std::vector<Tensor>>(inputs[i]);
      for (const Tensor& x : items)
        TS_CHECK_DTYPE(x.dtype() == m.input_dtypes[i], "OnnxModel: the elements of input '", m.inputs[i], "' of ",
                       m.path, " must be ", m.input_dtypes[i], ", got ", x.dtype());
      if (!items.empty()) dev = items[0].device();
      values[m.inputs[i]] = internal::Value::of_sequence(items);
      continue;
    }
    TS_CHECK_VALUE(std::holds_alternative<Tensor>(inputs[i]), "OnnxModel: input '", m.inputs[i], "' of ", m.path,
                   " is a tensor, got a sequence");
    const Tensor& x = std::get<Tensor>(inputs[i]);
    const Shape& want = m.input_shapes[i];
    TS_CHECK_DTYPE(x.dtype() == m.input_dtypes[i], "OnnxModel: input '", m.inputs[i], "' of ", m.path, " must be ",
                   m.input_dtypes[i], ", got ", x.dtype());
    bool ok = x.dim() == int64_t(want.size());
    for (size_t d = 0; ok && d < want.size(); ++d) ok = want[d] < 0 || want[d] == x.size(int64_t(d));
    TS_CHECK_SHAPE(ok, "OnnxModel: input '", m.inputs[i], "' of ", m.path, " must have shape ", want,
                   " (-1: any size), got ", x.shape());
    if (i == 0 || dev.is_cpu()) dev = x.device();
    values[m.inputs[i]] = internal::Value(x);
  }
  internal::run_graph(m.graph, scope, dev, m.opset, m.path);
  std::vector<Value> r;
  for (auto& name : m.outputs) {
    auto v = values.find(name);
    TS_CHECK_VALUE(v != values.end(), "OnnxModel: ", m.path, ": output '", name, "' is never computed");
    if (v->second.is_strings()) r.emplace_back(*v->second.strings);
    else if (v->second.is_sequence()) r.emplace_back(*v->second.sequence);
    else r.emplace_back(v->second.tensor);
  }
  return r;
}

static std::shared_ptr<OnnxModel> load_checked(const onnx::ModelProto& model, const std::string& path);

std::shared_ptr<OnnxModel> load_onnx(const std::string& path) {
  return internal::as_onnx_error([&] { return load_checked(internal::read_model(path), path); });
}

std::shared_ptr<OnnxModel> load_onnx_bytes(const std::string& bytes, const std::string& name) {
  return internal::as_onnx_error([&] { return load_checked(internal::read_model_bytes(bytes, name), name); });
}

static std::shared_ptr<OnnxModel> load_checked(const onnx::ModelProto& model, const std::string& path) {
  auto impl = std::make_shared<OnnxModel::Impl>();
  impl->path = path;
  impl->opset = internal::default_opset(model);
  impl->graph = model.graph();
  std::unordered_set<std::string> inits;
  for (auto& i : impl->graph.initializer()) inits.insert(i.name());
  for (auto& in : impl->graph.input()) {
    if (inits.count(in.name())) continue;  // older files list initializers as inputs too
    const bool sequence = in.type().has_sequence_type() && in.type().sequence_type().elem_type().has_tensor_type();
    TS_CHECK_VALUE(in.type().has_tensor_type() || sequence, "load_onnx: ", path, ": input '", in.name(),
                   "' is neither a tensor nor a sequence of tensors");
    impl->input_is_sequence.push_back(sequence);
    const auto& tt = sequence ? in.type().sequence_type().elem_type().tensor_type() : in.type().tensor_type();
    const bool strings = !sequence && tt.elem_type() == onnx::TensorProto::STRING;
    impl->input_is_strings.push_back(strings);
    if (strings) {
      impl->inputs.push_back(in.name());
      impl->input_dtypes.push_back(DType::UInt8);  // (unused: the values are strings)
      impl->input_shapes.push_back({});
      continue;
    }
    impl->inputs.push_back(in.name());
    impl->input_dtypes.push_back(onnx_proto::dtype_of(tt.elem_type(), "load_onnx: " + path + ": input '" + in.name() + "'"));
    Shape s;
    for (auto& d : tt.shape().dim()) s.push_back(d.has_dim_value() ? d.dim_value() : -1);
    impl->input_shapes.push_back(s);
  }
  for (auto& out : impl->graph.output()) impl->outputs.push_back(out.name());
  return std::make_shared<OnnxModel>(impl);
}

}  // namespace tessera::io
