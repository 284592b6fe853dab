#pragma once
// The export side of the ONNX operator families (not installed). Each family's file
// (onnx_ops*.cpp) holds, beside the importers of its ONNX operators, what each traced tessera op
// it owns becomes in ONNX (add_*_exports), registered into the table the exporter
// (onnx_export.cpp) runs; ExportGraph is what those translations write nodes with.
#include <functional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "tessera/io/onnx_internal.h"
#include "tessera/ops/trace.h"

namespace tessera::io::internal {

// The graph being written, and the traced call being translated into it.
class ExportGraph {
 public:
  ExportGraph(onnx::GraphProto& g, bool dynamic, int64_t batch, int64_t opset)
      : g_(g), dynamic_(dynamic), batch_(batch), opset_(opset) {}

  // The call translated next (label: what errors name, the op or an output).
  void begin(const ops::trace::Call* c, std::string label) {
    c_ = c;
    op_ = std::move(label);
  }
  const ops::trace::Call& call() const { return *c_; }
  [[noreturn]] void fail(const std::string& why) const;

  bool dynamic() const { return dynamic_; }
  int64_t batch() const { return batch_; }
  int64_t opset() const { return opset_; }
  onnx::GraphProto& graph() { return g_; }

  std::string fresh(const std::string& base) { return base + "_" + std::to_string(counter_++); }
  onnx::NodeProto& node(const std::string& type, const std::vector<std::string>& in, const std::string& out);
  // A one-output node with a fresh output name.
  onnx::NodeProto& node(const std::string& type, const std::vector<std::string>& in) {
    return node(type, in, fresh(op_));
  }
  // A node with `outputs` fresh outputs (Split, the recurrent ops).
  onnx::NodeProto& multi_node(const std::string& type, const std::vector<std::string>& in, int outputs);
  std::string emit(const std::string& type, const std::vector<std::string>& in) { return node(type, in).output(0); }

  // Constants are Constant nodes, so the initializers are exactly the state_dict.
  std::string constant(const Tensor& t);
  std::string ints(const Shape& v);
  std::string scalar(double v, DType dt);
  // Values computed from constants only (no input or parameter).
  bool is_constant(const std::string& name) const { return const_names_.count(name) > 0; }
  void mark_constant(const std::string& name) { const_names_.insert(name); }

  static void attr(onnx::NodeProto& n, const std::string& name, int64_t v);
  static void attr(onnx::NodeProto& n, const std::string& name, double v);
  static void attr(onnx::NodeProto& n, const std::string& name, const std::string& v);
  static void attr(onnx::NodeProto& n, const std::string& name, const Shape& v);
  static void attr(onnx::NodeProto& n, const std::string& name, const std::vector<std::string>& v);

  std::string cast(const std::string& v, DType from, DType to);
  // Input i of the current call, converted to dtype to.
  std::string in_as(const std::vector<std::string>& in, size_t i, DType to) {
    return cast(in[i], c_->inputs[i].dtype(), to);
  }
  // A reduction over dims: opset 17 takes ReduceSum's axes as an input and the others' as an
  // attribute; from opset 18 every reduction takes them as an input.
  onnx::NodeProto& reduction(const std::string& type, const std::string& x, const Shape& dims);
  // Runs f on x made 4-D (pools accept [C, H, W] too).
  template <class F>
  std::string batched(const std::string& x, int64_t rank, F f) {
    if (rank == 4) return f(x);
    std::string y = f(emit("Unsqueeze", {x, ints({0})}));
    return emit("Squeeze", {y, ints({0})});
  }
  // The traced shape argument of a reshape, with the batch symbolic where the input has it in
  // front and the result keeps it outside every other non-1 dim: 0 (copy) in front, else -1.
  Shape reshape_target(Shape s, const Tensor& x) const;
  // The traced shape argument of an expand: 1 broadcasts a symbolic batch in front.
  Shape expand_target(Shape s, const Tensor& x) const;

 private:
  onnx::GraphProto& g_;
  bool dynamic_;
  int64_t batch_;
  int64_t opset_;
  std::unordered_set<std::string> const_names_;
  int64_t counter_ = 0;
  std::string op_;
  const ops::trace::Call* c_ = nullptr;
};

// What one traced op becomes: the ONNX names of its outputs (empty for an absent one), given the
// ONNX names of its inputs (empty for an absent optional one).
using ExportFn =
    std::function<std::vector<std::string>(ExportGraph&, const ops::trace::Call&, const std::vector<std::string>&)>;
using ExportTable = std::unordered_map<std::string, ExportFn>;

void add_math_exports(ExportTable& t);    // onnx_ops_math.cpp: elementwise, reductions, softmax, casts
void add_tensor_exports(ExportTable& t);  // onnx_ops_tensor_export.cpp: shapes, indexing, products, convolutions, pools
void add_nn_exports(ExportTable& t);      // onnx_ops_nn.cpp: normalizations, recurrent layers
const ExportTable& export_table();

}  // namespace tessera::io::internal
