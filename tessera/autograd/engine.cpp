// The backward engine: counts each node's dependencies in the graph reachable from the
// outputs, then runs nodes latest-created first once all their gradients have arrived.
#include <map>
#include <queue>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "tessera/autograd/accumulate.h"
#include "tessera/ops/ops.h"

namespace tessera::autograd {

namespace {
// Sums g down to shape (undoing broadcasting), then casts to dtype.
Tensor fit_to(const Tensor& g, const InputMeta& m, const Node& node, size_t i) {
  Tensor r = g;
  if (r.shape() != m.shape) {
    TS_CHECK_SHAPE(r.dim() >= int64_t(m.shape.size()), node.name(), ": gradient ", i, " has shape ", r.shape(),
                   " which does not reduce to the input's shape ", m.shape);
    size_t lead = size_t(r.dim()) - m.shape.size();
    Shape dims;
    for (size_t d = 0; d < size_t(r.dim()); ++d)
      if (d < lead || (m.shape[d - lead] == 1 && r.size(int64_t(d)) != 1)) dims.push_back(int64_t(d));
    if (!dims.empty()) r = ops::sum(r, dims, true);
    r = r.reshape(m.shape);
  }
  if (r.dtype() != m.dtype) r = r.to(m.dtype);
  if (r.device() != m.device) r = r.to(m.device);
  return r;
}

bool has_non_finite(const Tensor& g) {
  NoGradGuard ng;
  return ops::any(ops::logical_or(ops::isnan(g), ops::isinf(g))).item<bool>();
}

struct Run {
  std::unordered_map<Node*, int> deps;
  std::unordered_map<Node*, std::vector<Tensor>> buffers;
  // autograd::grad: which (node, slot) to capture, and where.
  std::map<std::pair<Node*, uint32_t>, size_t> capture;
  std::vector<Tensor>* captured = nullptr;
  bool accumulate = true;
};

void add_to(std::vector<Tensor>& buf, size_t slot, const Tensor& g) {
  if (!g.defined()) return;
  buf[slot] = buf[slot].defined() ? buf[slot] + g : g;
}

void execute(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs, bool retain_graph,
             bool create_graph, Run& run) {
  TS_CHECK_VALUE(grad_outputs.empty() || grad_outputs.size() == outputs.size(), "backward: got ",
                 grad_outputs.size(), " gradients for ", outputs.size(), " outputs");
  // Roots: the outputs' edges, with their initial gradients.
  std::vector<std::pair<Edge, Tensor>> roots;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& o = outputs[i];
    TS_CHECK(o.requires_grad(), "backward: element ", i, " of the outputs does not require grad and has no "
             "grad_fn (did you call backward on a tensor computed under NoGradGuard, or on a detached one?)");
    Tensor g = grad_outputs.empty() ? Tensor() : grad_outputs[i];
    if (!g.defined()) {
      TS_CHECK_VALUE(o.numel() == 1, "backward: grad can be implicitly created only for one-element outputs; "
                     "this output has shape ", o.shape());
      g = ones_like(o);
    } else {
      TS_CHECK_SHAPE(g.shape() == o.shape(), "backward: gradient of shape ", g.shape(), " for an output of shape ",
                     o.shape());
    }
    roots.push_back({gradient_edge(o), g});
  }
  // Dependency counts over the reachable graph.
  std::vector<Node*> stack;
  std::unordered_set<Node*> seen;
  for (auto& [e, g] : roots)
    if (e.fn && seen.insert(e.fn.get()).second) stack.push_back(e.fn.get());
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->next) {
      if (!e.fn) continue;
      ++run.deps[e.fn.get()];
      if (seen.insert(e.fn.get()).second) stack.push_back(e.fn.get());
    }
  }
  auto cmp = [](const std::shared_ptr<Node>& a, const std::shared_ptr<Node>& b) { return a->seq < b->seq; };
  std::priority_queue<std::shared_ptr<Node>, std::vector<std::shared_ptr<Node>>, decltype(cmp)> ready(cmp);
  std::unordered_set<Node*> queued;
  for (auto& [e, g] : roots) {
    auto& buf = run.buffers[e.fn.get()];
    buf.resize(e.fn->num_outputs);
    add_to(buf, e.input_nr, g);
  }
  for (auto& [e, g] : roots)
    if (run.deps[e.fn.get()] == 0 && queued.insert(e.fn.get()).second) ready.push(e.fn);

  bool prev = is_grad_enabled();
  set_grad_enabled(create_graph);
  try {
    while (!ready.empty()) {
      std::shared_ptr<Node> node = ready.top();
      ready.pop();
      std::vector<Tensor> grads = std::move(run.buffers[node.get()]);
      run.buffers.erase(node.get());
      grads.resize(node->num_outputs);
      for (uint32_t i = 0; i < node->num_outputs; ++i) {
        if (i < node->pre_hooks.size())
          for (auto& hook : node->pre_hooks[i])
            if (grads[i].defined()) {
              Tensor r = hook(grads[i]);
              if (r.defined()) grads[i] = r;
            }
        auto c = run.capture.find({node.get(), i});
        if (c != run.capture.end()) (*run.captured)[c->second] = grads[i];
      }
      bool any = false;
      for (const Tensor& g : grads) any = any || g.defined();
      bool is_leaf_node = dynamic_cast<AccumulateGrad*>(node.get()) != nullptr;
      std::vector<Tensor> in_grads;
      if (any && !(is_leaf_node && !run.accumulate)) {
        TS_CHECK(!node->released, node->name(), ": trying to backward through the graph a second time (or to use "
                 "saved tensors after they were freed). Pass retain_graph=true to the first backward() if you need "
                 "to backward through the graph again.");
        in_grads = node->apply(grads);
        if (!retain_graph) node->release();
      }
      in_grads.resize(node->next.size());
      for (size_t i = 0; i < node->next.size(); ++i) {
        const Edge& e = node->next[i];
        if (!e.fn) continue;
        if (in_grads[i].defined()) {
          in_grads[i] = fit_to(in_grads[i], node->input_meta[i], *node, i);
          if (is_anomaly_enabled() && has_non_finite(in_grads[i]))
            throw ValueError(detail::str("anomaly detected: ", node->name(), " returned NaN or Inf in its gradient ",
                                         i, ".\n", node->context.empty() ? "(no creation context)" : node->context));
        }
        auto& buf = run.buffers[e.fn.get()];
        buf.resize(e.fn->num_outputs);
        add_to(buf, e.input_nr, in_grads[i]);
        if (--run.deps[e.fn.get()] == 0 && queued.insert(e.fn.get()).second) ready.push(e.fn);
      }
    }
  } catch (...) {
    set_grad_enabled(prev);
    throw;
  }
  set_grad_enabled(prev);
}
}  // namespace

std::vector<Tensor> AccumulateGrad::apply(const std::vector<Tensor>& grads) {
  Tensor g = grads[0];
  auto* m = leaf_.impl().autograd.get();
  for (auto& hook : m->hooks) {
    Tensor r = hook(g);
    if (r.defined()) g = r;
  }
  if (g.shape() != leaf_.shape()) g = g.reshape(leaf_.shape());
  if (g.dtype() != leaf_.dtype()) g = g.to(leaf_.dtype());
  if (!m->grad.defined()) {
    // Keep the gradient's storage when nothing else holds it; otherwise copy, so that later
    // in-place updates of .grad (zero_grad, optimizers) never touch the caller's tensors.
    // (g's impl is held by `grads` and by g here; its storage by that impl alone.)
    bool own = g.impl_ptr().use_count() <= 2 && g.storage().use_count() == 1;
    m->grad = is_grad_enabled() ? g : (own ? g.detach() : g.detach().clone());
  } else if (is_grad_enabled()) {
    m->grad = m->grad + g;
  } else {
    m->grad = m->grad.detach();
    m->grad.add_(g);
  }
  return {};
}

void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs, bool retain_graph,
              bool create_graph) {
  Run run;
  execute(outputs, grad_outputs, retain_graph || create_graph, create_graph, run);
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, bool retain_graph, bool create_graph,
                         bool allow_unused) {
  Run run;
  run.accumulate = false;
  std::vector<Tensor> result(inputs.size());
  run.captured = &result;
  for (size_t i = 0; i < inputs.size(); ++i) {
    TS_CHECK(inputs[i].requires_grad(), "grad: input ", i, " does not require grad");
    Edge e = gradient_edge(inputs[i]);
    run.capture[{e.fn.get(), e.input_nr}] = i;
  }
  execute(outputs, grad_outputs, retain_graph || create_graph, create_graph, run);
  for (size_t i = 0; i < inputs.size(); ++i)
    TS_CHECK(result[i].defined() || allow_unused, "grad: input ", i, " (shape ", inputs[i].shape(),
             ") was not used in the graph of the outputs; pass allow_unused=true if this is expected");
  for (size_t i = 0; i < inputs.size(); ++i)
    if (result[i].defined() && result[i].dtype() != inputs[i].dtype()) result[i] = result[i].to(inputs[i].dtype());
  return result;
}

std::string to_dot(const Tensor& t) {
  std::ostringstream os;
  os << "digraph autograd {\n  node [shape=box, fontname=monospace];\n";
  std::unordered_map<Node*, int> ids;
  std::vector<Node*> stack;
  auto id_of = [&](Node* n) {
    auto [it, fresh] = ids.emplace(n, int(ids.size()));
    if (fresh) {
      stack.push_back(n);
      std::string label = n->name();
      if (auto* a = dynamic_cast<AccumulateGrad*>(n))
        label += "\\n" + detail::str(a->leaf().shape()) + " " + std::string(dtype_name(a->leaf().dtype()));
      os << "  n" << it->second << " [label=\"" << label << "\"];\n";
    }
    return it->second;
  };
  os << "  out [label=\"output " << detail::str(t.shape()) << "\", shape=ellipse];\n";
  if (auto fn = t.grad_fn()) os << "  n" << id_of(fn.get()) << " -> out;\n";
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    int me = ids[n];
    for (const Edge& e : n->next)
      if (e.fn) os << "  n" << id_of(e.fn.get()) << " -> n" << me << ";\n";
  }
  os << "}\n";
  return os.str();
}

}  // namespace tessera::autograd
