// Grad/anomaly modes, saved tensors, recording, and the Tensor autograd methods.
#include "tessera/autograd/autograd.h"

#include <cxxabi.h>
#include <execinfo.h>

#include <atomic>
#include <cstdlib>

#include "tessera/autograd/accumulate.h"
#include "tessera/ops/ops.h"

namespace tessera::autograd {

namespace {
thread_local bool g_grad_enabled = true;
std::atomic<bool> g_anomaly{false};
std::atomic<uint64_t> g_seq{0};

AutogradMeta& meta_of(const Tensor& t) {
  auto& m = t.impl().autograd;
  if (!m) m = std::make_shared<AutogradMeta>();
  return *m;
}
const AutogradMeta* meta_if(const Tensor& t) { return t.defined() ? t.impl().autograd.get() : nullptr; }

// The caller's stack, demangled, for anomaly reports.
std::string creation_stack(const char* op) {
  void* frames[24];
  int n = ::backtrace(frames, 24);
  char** syms = ::backtrace_symbols(frames, n);
  std::string out = std::string("forward op '") + op + "' called from:";
  for (int i = 2; i < n && syms; ++i) {
    std::string s = syms[i];
    auto l = s.find('('), r = s.find('+', l);
    if (l != std::string::npos && r != std::string::npos && r > l + 1) {
      std::string mangled = s.substr(l + 1, r - l - 1);
      int status = 0;
      char* d = abi::__cxa_demangle(mangled.c_str(), nullptr, nullptr, &status);
      if (status == 0 && d) s = d;
      std::free(d);
    }
    out += "\n    " + s;
  }
  std::free(syms);
  return out;
}
}  // namespace

bool is_grad_enabled() { return g_grad_enabled; }
uint64_t nodes_recorded() { return g_seq.load(); }
void set_grad_enabled(bool on) { g_grad_enabled = on; }
bool is_anomaly_enabled() { return g_anomaly.load(); }
void set_detect_anomaly(bool on) { g_anomaly = on; }

SavedTensor::SavedTensor(const Tensor& t, bool is_output) : defined_(t.defined()), is_output_(is_output) {
  if (!defined_) return;
  version_ = t.version();
  if (is_output && t.requires_grad()) {
    // An alias without autograd state: the node must not own its own output's meta.
    data_ = Tensor(t.storage(), t.shape(), t.strides(), t.storage_offset(), t.dtype());
    grad_fn_ = t.grad_fn();
    output_nr_ = t.impl().autograd->output_nr;
    requires_grad_ = true;
  } else {
    data_ = t;
  }
}

Tensor SavedTensor::unpack(const Node& owner) const {
  if (!defined_) return Tensor();
  TS_CHECK(data_.defined(), owner.name(), ": trying to backward through the graph a second time (or to use "
           "saved tensors after they were freed). Pass retain_graph=true to the first backward() if you need to "
           "backward through the graph again.");
  TS_CHECK(data_.version() == version_, owner.name(), ": one of the tensors needed for the gradient has been "
           "modified by an in-place operation (its version is ", data_.version(), ", expected ", version_,
           "). Use the out-of-place form of that operation, or clone() the tensor before modifying it.");
  if (!is_output_ || !requires_grad_) return data_;
  Tensor t(data_.storage(), data_.shape(), data_.strides(), data_.storage_offset(), data_.dtype());
  auto& m = meta_of(t);
  m.requires_grad = true;
  m.grad_fn = grad_fn_.lock();
  m.output_nr = output_nr_;
  return t;
}

namespace {
thread_local const Node* t_applying = nullptr;  // the node whose backward runs on this thread
}  // namespace

bool needs_input_grad(size_t i) {
  if (!t_applying) return true;
  return i < t_applying->next.size() && t_applying->next[i].fn != nullptr;
}

std::vector<Tensor> FunctionNode::apply(const std::vector<Tensor>& grads) {
  std::vector<Tensor> s;
  s.reserve(saved.size());
  for (const SavedTensor& t : saved) s.push_back(t.unpack(*this));
  struct Applying {
    const Node* prev;
    explicit Applying(const Node* n) : prev(t_applying) { t_applying = n; }
    ~Applying() { t_applying = prev; }
  } applying(this);
  return fn_(grads, s);
}

void FunctionNode::release() {
  for (SavedTensor& t : saved) t.reset();
  Node::release();
}

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor* t : inputs)
    if (t && t->defined() && t->requires_grad()) return true;
  return false;
}
bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Edge gradient_edge(const Tensor& t) {
  const AutogradMeta* m = meta_if(t);
  if (!m || !m->requires_grad) return {};
  if (m->grad_fn) return {m->grad_fn, m->output_nr};
  auto acc = meta_of(t).grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(t);
    meta_of(t).grad_accumulator = acc;
  }
  return {acc, 0};
}

void record(const std::shared_ptr<Node>& node, const std::vector<const Tensor*>& inputs,
            const std::vector<const Tensor*>& outputs) {
  node->seq = g_seq++;
  for (const Tensor* t : inputs) {
    bool diff = t && t->defined() && t->requires_grad();
    node->next.push_back(diff ? gradient_edge(*t) : Edge{});
    node->input_meta.push_back(t && t->defined() ? InputMeta{t->shape(), t->dtype(), t->device()}
                                                 : InputMeta{{}, DType::Float32, Device::cpu()});
  }
  node->num_outputs = uint32_t(outputs.size());
  node->pre_hooks.resize(outputs.size());
  if (g_anomaly) node->context = creation_stack(node->name().c_str());
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (!outputs[i] || !outputs[i]->defined()) continue;
    TS_CHECK_DTYPE(outputs[i]->is_floating_point(), node->name(), ": only floating-point outputs can require grad, "
                   "got ", outputs[i]->dtype());
    auto& m = meta_of(*outputs[i]);
    m.requires_grad = true;
    m.grad_fn = node;
    m.output_nr = uint32_t(i);
  }
}

void record_fn(const char* name, std::initializer_list<const Tensor*> inputs,
               std::initializer_list<const Tensor*> outputs, std::vector<Tensor> saved,
               FunctionNode::Backward backward, std::vector<Tensor> saved_outputs) {
  auto node = std::make_shared<FunctionNode>(name, std::move(backward));
  for (const Tensor& t : saved) node->saved.emplace_back(t, false);
  record(node, std::vector<const Tensor*>(inputs), std::vector<const Tensor*>(outputs));
  // Outputs are saved after record() so that they carry this node as their grad_fn.
  for (const Tensor& t : saved_outputs) node->saved.emplace_back(t, true);
}

void mark_view(const Tensor& out, const Tensor& base) {
  if (!g_grad_enabled) return;
  const AutogradMeta* bm = meta_if(base);
  auto& m = meta_of(out);
  m.view_base = bm && bm->view_base.defined() ? bm->view_base : base;
  m.view_version = out.version();
  if (m.requires_grad) m.is_view = true;
}

Tensor view_base(const Tensor& t) {
  const AutogradMeta* m = meta_if(t);
  return m ? m->view_base : Tensor();
}

void refresh_view(const Tensor& v) {
  AutogradMeta* m = v.defined() ? v.impl().autograd.get() : nullptr;
  // (Not under no_grad: nothing is recorded there; the view catches up when grad mode is back.)
  if (!m || !m->view_base.defined() || m->view_version == v.version() || !g_grad_enabled) return;
  m->view_version = v.version();
  const Tensor& base = m->view_base;
  if (!base.requires_grad()) return;
  TS_CHECK(base.is_contiguous(), "a view whose base was modified in place is used, and the base is not contiguous: "
           "clone() the base before taking views of it");
  Shape shape = v.shape(), strides = v.strides(), base_shape = base.shape();
  int64_t rel = v.storage_offset() - base.storage_offset();
  auto region_of = [shape, strides, rel](const Tensor& z) {
    return Tensor(z.storage(), shape, strides, z.storage_offset() + rel, z.dtype());
  };
  record_fn("view_of_modified_base", {&base}, {&v}, {}, [region_of, base_shape](const std::vector<Tensor>& g, const std::vector<Tensor>&) {
    return std::vector<Tensor>{ops::embed_in_zeros(g[0], base_shape, region_of)};
  });
  m->is_view = true;
}

void check_inplace(const Tensor& t, const char* op) {
  if (!g_grad_enabled) return;
  const AutogradMeta* m = meta_if(t);
  if (!m || !m->requires_grad) return;
  TS_CHECK(m->grad_fn != nullptr, op, ": a leaf tensor that requires grad is being used in an in-place operation; "
           "wrap the update in a NoGradGuard (as optimizers do) or use the out-of-place form");
  if (m->is_view && m->view_base.defined()) {
    const AutogradMeta* bm = meta_if(m->view_base);
    TS_CHECK(!(bm && bm->requires_grad && !bm->grad_fn), op, ": a view of a leaf tensor that requires grad is being "
             "used in an in-place operation; wrap the update in a NoGradGuard or use the out-of-place form");
  }
}

}  // namespace tessera::autograd

namespace tessera {

using namespace autograd;

bool Tensor::requires_grad() const {
  const AutogradMeta* m = impl().autograd.get();
  if (m && m->view_base.defined() && m->view_version != version()) refresh_view(*this);
  return m && m->requires_grad;
}

Tensor& Tensor::requires_grad_(bool on) {
  TS_CHECK_DTYPE(!on || is_floating_point(), "requires_grad_: only tensors of floating point dtype can require "
                 "gradients, got ", dtype());
  auto& m = impl().autograd;
  TS_CHECK(on || !m || !m->grad_fn, "requires_grad_: you can only change requires_grad flags of leaf tensors; "
           "use detach() to get a tensor that does not require grad");
  if (!m) m = std::make_shared<AutogradMeta>();
  m->requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const {
  const AutogradMeta* m = impl().autograd.get();
  return m ? m->grad : Tensor();
}

void Tensor::set_grad(const Tensor& g) const {
  if (g.defined())
    TS_CHECK_SHAPE(g.shape() == shape(), "set_grad: gradient of shape ", g.shape(), " for a tensor of shape ",
                   shape());
  auto& m = impl().autograd;
  if (!m) m = std::make_shared<AutogradMeta>();
  m->grad = g;
}

std::shared_ptr<Node> Tensor::grad_fn() const {
  const AutogradMeta* m = impl().autograd.get();
  if (m && m->view_base.defined() && m->view_version != version()) refresh_view(*this);
  return m ? m->grad_fn : nullptr;
}

bool Tensor::is_leaf() const { return grad_fn() == nullptr; }

Tensor Tensor::detach() const { return Tensor(storage(), shape(), strides(), storage_offset(), dtype()); }

void Tensor::set_data(const Tensor& src) const {
  TS_CHECK(src.defined(), "set_data: the new data is an undefined tensor");
  TS_CHECK(is_leaf(), "set_data: only a leaf tensor's data can be replaced (this one is the result of ", grad_fn()->name(),
           "); replace the data of the leaf it comes from");
  TS_CHECK_DTYPE(!requires_grad() || src.is_floating_point(), "set_data: a tensor that requires grad needs "
                 "floating-point data, got ", src.dtype());
  TensorImpl& m = impl();
  m.storage = src.storage();
  m.shape = src.shape();
  m.strides = src.strides();
  m.offset = src.storage_offset();
  m.dtype = src.dtype();
  if (m.autograd && m.autograd->grad.defined() &&
      (m.autograd->grad.shape() != m.shape || m.autograd->grad.device() != src.device()))
    m.autograd->grad = Tensor();  // a gradient for the old shape or device no longer applies
}

void Tensor::retain_grad() const {
  TS_CHECK(requires_grad(), "retain_grad: can't retain_grad on a tensor that has requires_grad=false");
  if (is_leaf()) return;  // leaves keep their grad anyway
  auto& m = *impl().autograd;
  if (m.retains_grad) return;
  m.retains_grad = true;
  std::weak_ptr<TensorImpl> self = impl_ptr();
  m.grad_fn->pre_hooks[m.output_nr].push_back([self](const Tensor& g) {
    if (auto p = self.lock()) {
      Tensor t(p);
      Tensor cur = t.grad();
      t.set_grad(cur.defined() ? cur + g.detach() : g.detach().clone());
    }
    return Tensor();
  });
}

void Tensor::register_hook(std::function<Tensor(const Tensor&)> hook) const {
  TS_CHECK(requires_grad(), "register_hook: cannot register a hook on a tensor that doesn't require gradient");
  auto& m = *impl().autograd;
  if (m.grad_fn) m.grad_fn->pre_hooks[m.output_nr].push_back(std::move(hook));
  else m.hooks.push_back(std::move(hook));
}

void Tensor::backward(const Tensor& gradient, bool retain_graph, bool create_graph) const {
  autograd::backward({*this}, gradient.defined() ? std::vector<Tensor>{gradient} : std::vector<Tensor>{},
                     retain_graph, create_graph);
}

}  // namespace tessera
