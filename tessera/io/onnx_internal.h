#pragma once
// Shared by ONNX export, import and the inference session (not installed): a traced graph as a
// ModelProto in memory, a checked file read into one, and one node run with tessera ops.
#include <functional>
#include <memory>
#include <unordered_map>
#include <string>
#include <vector>

#include "tessera/io/onnx.h"
#include "tessera/io/onnx_proto.h"

namespace tessera::io::internal {

// Traces fn on inputs into a checked ModelProto (what export_onnx writes); `what` names the
// destination in errors.
onnx::ModelProto trace_model(const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& fn,
                             const std::vector<Tensor>& inputs, const nn::StateDict& params,
                             const OnnxExportOptions& options, const std::string& what);
// The newest default-domain opset the ONNX library here (Debian's) knows; its checker refuses newer.
int64_t checker_opset();
// What ONNX's checker would refuse that tessera relies on (for files newer than that checker):
// every value read is defined earlier, once; errors start with `what`.
void check_structure(const onnx::ModelProto& model, const std::string& what);
// Runs read() with every tessera error it raises turned into OnnxError (one type for every
// problem reading a file).
template <class F>
auto as_onnx_error(F&& read) -> decltype(read()) {
  try {
    return read();
  } catch (const OnnxError&) {
    throw;
  } catch (const Error& e) {
    throw OnnxError(e.what());
  }
}
// Reads an ONNX file and checks it as load_onnx does (errors name the file).
onnx::ModelProto read_model(const std::string& path);
// The same for a serialized model in memory; name stands for the file in errors.
onnx::ModelProto read_model_bytes(const std::string& bytes, const std::string& name);
// ONNX Runtime's operator domain: its contributed quantized and fused operators (all version 1),
// which its quantization tool and graph optimizer write into files.
inline constexpr const char* kMicrosoftDomain = "com.microsoft";
inline bool in_default_domain(const onnx::NodeProto& p) { return p.domain().empty() || p.domain() == "ai.onnx"; }
// The name run_node, the attribute rules and operator_names know p's op by: its op_type in the
// default domain, "<domain>.<op_type>" in another ("com.microsoft.QLinearAdd").
inline std::string op_key(const onnx::NodeProto& p) {
  return in_default_domain(p) ? p.op_type() : p.domain() + "." + p.op_type();
}
// Whether run_node knows node p's op.
bool runs(const onnx::NodeProto& p);
// Runs node p on its inputs (undefined where the graph names none) with tessera ops; Constant
// nodes are made on dev. Errors are the op's own (the caller adds the node's name).
// opset: the model's default-domain opset (ops whose meaning changed follow it).
std::vector<Tensor> run_node(const onnx::NodeProto& p, const std::vector<Tensor>& in, Device dev, int64_t opset);
// A recurrent node (RNN, LSTM, GRU) whose cell PyTorch's layout can run (no sequence_lens, no
// peepholes; GRU with linear_before_reset) reorders its W, R and B from ONNX's gate order into
// PyTorch's at every run. An inference session does it once: it passes the weights through
// torch_gate_order (W, R and B; H the hidden size) and marks the node with kTorchGateOrder.
inline constexpr const char* kTorchGateOrder = "tessera.torch_gate_order";
bool takes_torch_gate_order(const onnx::NodeProto& p);
Tensor torch_gate_order(const onnx::NodeProto& p, const Tensor& t, int64_t H);
// A value while a graph runs: a tensor, or a sequence of tensors (ONNX's sequence type).
struct Value {
  Tensor tensor;
  std::shared_ptr<const std::vector<Tensor>> sequence;  // set for a sequence
  std::shared_ptr<const StringTensor> strings;          // set for a tensor of strings
  Value() = default;
  Value(Tensor t) : tensor(std::move(t)) {}  // NOLINT: a tensor is a value
  static Value of_sequence(std::vector<Tensor> s) {
    Value v;
    v.sequence = std::make_shared<const std::vector<Tensor>>(std::move(s));
    return v;
  }
  static Value of_strings(StringTensor s) {
    Value v;
    v.strings = std::make_shared<const StringTensor>(std::move(s));
    return v;
  }
  bool is_sequence() const { return sequence != nullptr; }
  bool is_strings() const { return strings != nullptr; }
};
// Values by name while a graph runs; a body graph's scope reads through to the graphs around it.
struct Scope {
  std::unordered_map<std::string, Value> values;
  const Scope* outer = nullptr;
  const Value* find(const std::string& name) const;
};
// Runs g's nodes in order with tessera ops (If, Loop, Scan and the sequence ops included),
// reading and adding values in scope; where names the model in errors.
void run_graph(const onnx::GraphProto& g, Scope& scope, Device dev, int64_t opset, const std::string& where);
// If, Loop and Scan: run by run_graph (they need the scope), not by run_node.
bool is_control_flow(const onnx::NodeProto& p);
// The ops that take or make sequences: run by run_graph too.
bool is_sequence_op(const onnx::NodeProto& p);
const std::vector<std::string>& sequence_op_names();
// The ops on string tensors (StringConcat, StringSplit, StringNormalizer, RegexFullMatch, and
// Equal and Identity given strings): run by run_graph (onnx_strings.cpp).
bool is_string_op(const onnx::NodeProto& p);
const std::vector<std::string>& string_op_names();
std::vector<Value> run_string_op(const onnx::NodeProto& p, const std::vector<Value>& in, Device dev);
// Refuses (OnnxError) an attribute of p that tessera does not honour, or a value it does not
// implement; where names the file.
void check_attributes(const onnx::NodeProto& p, int64_t opset, const std::string& where);
// Every op type the importer runs, and those of them the attribute check has no rules for (none).
std::vector<std::string> operator_names();
std::vector<std::string> ops_without_attribute_rules();
// If, Loop and Scan: run by run_graph (they need the scope), not by run_node.
bool is_control_flow(const onnx::NodeProto& p);
// The model's default-domain opset (ai.onnx).
int64_t default_opset(const onnx::ModelProto& model);

}  // namespace tessera::io::internal
