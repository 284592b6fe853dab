#pragma once
// ONNX (https://onnx.ai) export and import.
//
// Export traces the ops a model runs on example inputs (eval mode, no autograd) and writes them
// as an ONNX graph (opset 17, IR version 8) with the parameters and buffers as initializers named
// by their state_dict keys; onnxruntime, Netron and other frameworks read it.
//
//   io::export_onnx(*model, {example_batch}, "model.onnx", {.dynamic_batch = true});
//
// Import reads an ONNX file into a module that runs its graph with tessera ops, on any device,
// with its floating-point initializers as trainable parameters.
//
//   auto net = io::load_onnx("model.onnx");
//   Tensor y = net->forward(x);
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "tessera/nn/module.h"

namespace tessera::io {

struct OnnxExportOptions {
  std::vector<std::string> input_names = {};   // default: input, input_1, ...
  std::vector<std::string> output_names = {};  // default: output, output_1, ...
  // Dim 0 of every input and output becomes the symbolic "batch", so the file runs at any batch
  // size (reshapes that keep the batch dim in front keep it symbolic).
  bool dynamic_batch = false;
  std::string doc_string = {};
  // The opset written: 17 (the default) to 21, with each opset's operator forms (from 18 the
  // reductions take their axes as an input).
  int64_t opset = 17;
};

// The ONNX opset export writes by default, and the newest it writes on request.
inline constexpr int64_t kOnnxOpset = 17;
inline constexpr int64_t kOnnxMaxExportOpset = 21;
// What import reads: IR versions 3 to 14 (onnx 1.23 writes 14 by default; 12 to 14 added only
// element types, refused by name where tessera has no such dtype), default-domain opsets 6 to
// 23. (Opset 6 is what PyTorch's oldest exporter wrote: its arithmetic ops broadcast only with
// broadcast=1, along `axis`. Opsets 22 and 23 changed no signature of an op tessera runs: 22
// added bfloat16 to type constraints; 23 4-bit types and the new Attention, RMSNormalization and
// RotaryEmbedding.)
inline constexpr int64_t kOnnxMaxIrVersion = 14;
inline constexpr int64_t kOnnxMinImportOpset = 6;
inline constexpr int64_t kOnnxMaxImportOpset = 23;

// Runs model on inputs (eval mode, restored afterwards; no autograd) and writes the traced graph
// to path (a temporary file renamed into place). Errors name the op that ONNX cannot express.
void export_onnx(nn::Module& model, const std::vector<Tensor>& inputs, const std::string& path,
                 const OnnxExportOptions& options = {});
// The same for any function of tensors; params are the tensors it reads that become initializers.
void export_onnx(const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& fn,
                 const std::vector<Tensor>& inputs, const nn::StateDict& params, const std::string& path,
                 const OnnxExportOptions& options = {});

// An ONNX tensor of strings (element type STRING), which tessera's tensors do not hold: row-major
// values and a shape. Graphs take and make them through OnnxModel::run_values.
struct StringTensor {
  Shape shape;
  std::vector<std::string> values;
};

// A model read from an ONNX file. Its floating-point initializers are parameters (requires_grad)
// and the others buffers, with the file's names (dots make child modules, as in a state_dict; other
// characters outside [A-Za-z0-9_] become '_').
class OnnxModel : public nn::Module {
 public:
  struct Impl;
  explicit OnnxModel(std::shared_ptr<Impl> impl);
  ~OnnxModel() override;
  // The graph's outputs for its inputs, in the file's order.
  std::vector<Tensor> run(const std::vector<Tensor>& inputs);
  // The same for graphs whose inputs or outputs include sequences of tensors (ONNX's sequence
  // type) or string tensors: each value is a tensor, a sequence or a StringTensor.
  using Value = std::variant<Tensor, std::vector<Tensor>, StringTensor>;
  std::vector<Value> run_values(const std::vector<Value>& inputs);
  // For single-input graphs: the first output.
  Tensor forward(const Tensor& x) override;
  const std::vector<std::string>& input_names() const;
  const std::vector<std::string>& output_names() const;
  // The file's input shapes (-1 for symbolic dims).
  std::vector<Shape> input_shapes() const;
  // The op types the graph uses, in first-use order.
  std::vector<std::string> op_types() const;

 private:
  std::shared_ptr<Impl> impl_;
};

// Every problem reading an ONNX file (missing or unreadable, not ONNX, an IR version or opset
// outside what tessera reads, a structure or checker failure, an op, attribute or domain it does
// not run) is this one type; Python raises tessera.onnx.OnnxError, a ValueError.
class OnnxError : public ValueError {
  using ValueError::ValueError;
};

// Every op type the importer runs, sorted: the default domain's by op type, ONNX Runtime's as
// "com.microsoft.<op type>".
std::vector<std::string> onnx_operator_names();
// Every traced tessera op (ops::trace::traced_op_names) export_onnx writes, sorted.
std::vector<std::string> onnx_exported_op_names();

// Reads and checks an ONNX file. Errors (OnnxError) name the file and what is wrong (bad protobuf,
// missing values, an op or attribute tessera does not run).
std::shared_ptr<OnnxModel> load_onnx(const std::string& path);
// The same for a serialized ModelProto in memory (weights in external files cannot be read this
// way); name stands for the file in errors.
std::shared_ptr<OnnxModel> load_onnx_bytes(const std::string& bytes, const std::string& name = "<bytes>");

}  // namespace tessera::io
