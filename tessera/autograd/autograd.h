#pragma once
// Define-by-run automatic differentiation: every differentiable op records a Node (its backward
// rule, written with tessera ops) when grad mode is on and an input requires grad; backward()
// walks the recorded graph from the outputs to the leaves.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tessera/core/tensor.h"

namespace tessera::autograd {

class Node;
using Hook = std::function<Tensor(const Tensor&)>;

// Where a gradient goes: input number `input_nr` of node `fn` (fn null: nowhere).
struct Edge {
  std::shared_ptr<Node> fn;
  uint32_t input_nr = 0;
};

}  // namespace tessera::autograd

namespace tessera {
// The autograd state of a tensor (held by TensorImpl::autograd).
struct AutogradMeta {
  bool requires_grad = false;
  bool retains_grad = false;
  bool is_view = false;  // made by a view op from a tensor that requires grad
  // Views made while grad mode is on: the tensor that owns the memory, and the storage version
  // this view's grad_fn reflects. An in-place op on the view rewrites the base's history; a
  // view whose base changed since gets a fresh grad_fn from the base when next used.
  Tensor view_base;
  uint64_t view_version = 0;
  Tensor grad;
  std::shared_ptr<autograd::Node> grad_fn;  // null for leaves
  uint32_t output_nr = 0;
  std::weak_ptr<autograd::Node> grad_accumulator;  // leaves: their AccumulateGrad
  std::vector<autograd::Hook> hooks;                // leaves: run before accumulation
};
}  // namespace tessera

namespace tessera::autograd {

// Shape, dtype and device of a forward input: gradients are summed to this shape (undoing
// broadcasting) and cast to this dtype before they flow on.
struct InputMeta {
  Shape shape;
  DType dtype;
  Device device;
};

class Node : public std::enable_shared_from_this<Node> {
 public:
  virtual ~Node() = default;
  // grads: one per output of the forward op (undefined where none flowed). Returns one
  // gradient per input edge (undefined for none).
  virtual std::vector<Tensor> apply(const std::vector<Tensor>& grads) = 0;
  virtual std::string name() const = 0;
  // Frees what the node saved for backward (after a backward pass without retain_graph).
  virtual void release() { released = true; }

  std::vector<Edge> next;
  std::vector<InputMeta> input_meta;
  uint32_t num_outputs = 1;
  std::vector<std::vector<Hook>> pre_hooks;  // per output: run on the gradient before apply
  uint64_t seq = 0;                          // creation order; later nodes run first
  std::string context;                       // anomaly mode: where the forward op was called
  bool released = false;
};

// A tensor saved for backward. Saving an op's own output keeps no strong reference to the
// node (that would be a cycle); unpack() restores it for higher-order gradients.
class SavedTensor {
 public:
  SavedTensor() = default;
  SavedTensor(const Tensor& t, bool is_output);
  // The saved tensor; throws if it was modified in place since (version check) or released.
  Tensor unpack(const Node& owner) const;
  void reset() { data_ = Tensor(); }

 private:
  Tensor data_;
  uint64_t version_ = 0;
  bool defined_ = false, is_output_ = false, requires_grad_ = false;
  std::weak_ptr<Node> grad_fn_;
  uint32_t output_nr_ = 0;
};

// Inside a FunctionNode's backward: whether input i of the forward op gets a gradient (it or
// something it came from requires grad), like PyTorch's ctx.needs_input_grad. A backward may
// return an undefined tensor for an input that does not, skipping its computation. True outside
// a backward.
bool needs_input_grad(size_t i);

// A node whose backward is a function of the output gradients and the saved tensors.
class FunctionNode : public Node {
 public:
  using Backward = std::function<std::vector<Tensor>(const std::vector<Tensor>& grads,
                                                     const std::vector<Tensor>& saved)>;
  FunctionNode(std::string name, Backward fn) : name_(std::move(name)), fn_(std::move(fn)) {}
  std::vector<Tensor> apply(const std::vector<Tensor>& grads) override;
  std::string name() const override { return name_; }
  void release() override;
  std::vector<SavedTensor> saved;

 private:
  std::string name_;
  Backward fn_;
};

// --- grad mode ------------------------------------------------------------------------------------
bool is_grad_enabled();
void set_grad_enabled(bool on);
// Sets grad mode for its scope and restores the previous mode on exit.
class GradModeGuard {
 public:
  explicit GradModeGuard(bool on) : prev_(is_grad_enabled()) { set_grad_enabled(on); }
  ~GradModeGuard() { set_grad_enabled(prev_); }
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool prev_;
};
// Disables recording in its scope (like torch.no_grad()).
struct NoGradGuard : GradModeGuard {
  NoGradGuard() : GradModeGuard(false) {}
};
// Enables recording in its scope (inside a NoGradGuard, say).
struct EnableGradGuard : GradModeGuard {
  EnableGradGuard() : GradModeGuard(true) {}
};

// --- anomaly mode ---------------------------------------------------------------------------------
// When on, every node remembers the call stack that created it, and a backward that produces
// NaN or Inf throws an error naming the node and that stack.
bool is_anomaly_enabled();
void set_detect_anomaly(bool on);
class DetectAnomalyGuard {
 public:
  DetectAnomalyGuard() : prev_(is_anomaly_enabled()) { set_detect_anomaly(true); }
  ~DetectAnomalyGuard() { set_detect_anomaly(prev_); }
  DetectAnomalyGuard(const DetectAnomalyGuard&) = delete;
  DetectAnomalyGuard& operator=(const DetectAnomalyGuard&) = delete;

 private:
  bool prev_;
};

// --- recording (used by tessera/ops) ----------------------------------------------------------------
// True when grad mode is on and one of the tensors requires grad.
bool needs_grad(std::initializer_list<const Tensor*> inputs);
bool needs_grad(const std::vector<Tensor>& inputs);
// Connects node to the inputs (undefined or non-differentiable inputs get no edge) and makes it
// the grad_fn of the outputs.
void record(const std::shared_ptr<Node>& node, const std::vector<const Tensor*>& inputs,
            const std::vector<const Tensor*>& outputs);
// Shorthand: a FunctionNode named `name` with `backward`, saving `saved` (inputs) and
// `saved_outputs`.
void record_fn(const char* name, std::initializer_list<const Tensor*> inputs, std::initializer_list<const Tensor*> outputs,
               std::vector<Tensor> saved, FunctionNode::Backward backward, std::vector<Tensor> saved_outputs = {});
// The edge a gradient for t flows into (its grad_fn, or the AccumulateGrad of a leaf).
Edge gradient_edge(const Tensor& t);
// Marks out as a view of base (when grad mode is on): in-place ops on it then update the base's
// history, as PyTorch's CopySlices does.
void mark_view(const Tensor& out, const Tensor& base);
// The base a view was made from (undefined for tensors that are not tracked views).
Tensor view_base(const Tensor& t);
// Gives a view whose base was modified in place (through it, another view, or directly) the
// base's current history: its grad_fn becomes "this region of the base".
void refresh_view(const Tensor& view);
// Checks that an in-place op may modify t, given autograd (names op in the error).
void check_inplace(const Tensor& t, const char* op);

// --- running backward ---------------------------------------------------------------------------
// Accumulates d(outputs)/d(leaves) into the leaves' .grad.
void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs = {},
              bool retain_graph = false, bool create_graph = false);
// Returns d(outputs)/d(inputs) without touching .grad. allow_unused: an input the outputs do not
// depend on gets an undefined tensor instead of an error.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, bool retain_graph = false,
                         bool create_graph = false, bool allow_unused = false);

// How many nodes have been recorded in this process (diagnostics: what an op costs autograd).
uint64_t nodes_recorded();

// The graph behind t in Graphviz DOT, for debugging.
std::string to_dot(const Tensor& t);

}  // namespace tessera::autograd
