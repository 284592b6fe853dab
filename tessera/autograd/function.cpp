#include "tessera/autograd/function.h"

#include "tessera/ops/ops.h"

namespace tessera::autograd {

void AutogradContext::save_for_backward(std::vector<Tensor> tensors) {
  TS_CHECK(in_forward_, "save_for_backward: can only be called from a custom function's forward");
  to_save_ = std::move(tensors);
}

std::vector<Tensor> AutogradContext::get_saved_variables() const {
  if (saved_.empty()) return to_save_;  // in forward, or after a forward that recorded nothing
  std::shared_ptr<Node> node = node_.lock();
  TS_CHECK(node != nullptr, "saved_tensors: the function's graph no longer exists");
  std::vector<Tensor> out;
  for (const SavedTensor& s : saved_) out.push_back(s.unpack(*node));
  return out;
}

void AutogradContext::mark_dirty(const std::vector<Tensor>& inputs) {
  TS_CHECK(in_forward_, "mark_dirty: can only be called from a custom function's forward");
  dirty_ = inputs;
}

void AutogradContext::mark_non_differentiable(const std::vector<Tensor>& outputs) {
  TS_CHECK(in_forward_, "mark_non_differentiable: can only be called from a custom function's forward");
  non_diff_ = outputs;
}

namespace {
bool contains(const std::vector<Tensor>& v, const Tensor& t) {
  for (const Tensor& x : v)
    if (x.defined() && x.is_same(t)) return true;
  return false;
}
}  // namespace

class CustomFunctionNode : public Node {
 public:
  CustomFunctionNode(std::string name, std::shared_ptr<AutogradContext> ctx, FunctionBackward fn,
                     std::vector<InputMeta> outputs)
      : name_(std::move(name)), ctx_(std::move(ctx)), fn_(std::move(fn)), outputs_(std::move(outputs)) {}
  std::string name() const override { return name_; }
  std::vector<Tensor> apply(const std::vector<Tensor>& grads) override {
    std::vector<Tensor> g = grads;
    if (ctx_->materialize_)
      for (size_t i = 0; i < g.size() && i < outputs_.size(); ++i)
        if (!g[i].defined()) g[i] = zeros(outputs_[i].shape, {outputs_[i].dtype, outputs_[i].device});
    std::vector<Tensor> r = fn_(*ctx_, g);
    TS_CHECK_VALUE(r.size() == next.size(), name_, ": backward returned ", r.size(), " gradients, expected ",
                   next.size(), " (one per tensor input of forward)");
    for (size_t i = 0; i < r.size(); ++i) {
      if (!r[i].defined()) continue;
      TS_CHECK_SHAPE(broadcast_shapes(r[i].shape(), input_meta[i].shape, name_.c_str()) == r[i].shape(), name_,
                     ": backward returned a gradient of shape ", r[i].shape(), " for input ", i, " of shape ",
                     input_meta[i].shape);
    }
    return r;
  }
  void release() override {
    for (SavedTensor& s : ctx_->saved_) s.reset();
    Node::release();
  }

 private:
  std::string name_;
  std::shared_ptr<AutogradContext> ctx_;
  FunctionBackward fn_;
  std::vector<InputMeta> outputs_;
};

std::vector<Tensor> apply_function(const std::string& name, const std::vector<Tensor>& inputs,
                                   const std::shared_ptr<AutogradContext>& ctx, const FunctionForward& forward,
                                   FunctionBackward backward) {
  TS_CHECK(ctx != nullptr, name, ": null autograd context");
  const bool record = needs_grad(inputs);
  ctx->needs_.clear();
  for (const Tensor& t : inputs) ctx->needs_.push_back(record && t.defined() && t.requires_grad());
  std::vector<Tensor> outs;
  {
    NoGradGuard ng;
    ctx->in_forward_ = true;
    struct Done {
      AutogradContext& c;
      ~Done() { c.in_forward_ = false; }
    } done{*ctx};
    outs = forward(*ctx);
  }
  for (const Tensor& d : ctx->dirty_)
    TS_CHECK_VALUE(contains(inputs, d), name, ": mark_dirty was given a tensor that is not an input");
  if (!record) return outs;  // (saved tensors stay readable, as plain tensors)
  // Outputs that are inputs: dirty ones take this node as their new history (the in-place rule);
  // others become aliases so that the input keeps its own.
  std::vector<const Tensor*> in_ptrs, out_ptrs;
  for (const Tensor& t : inputs) in_ptrs.push_back(&t);
  std::vector<Tensor> dirty_inputs;
  for (Tensor& o : outs) {
    if (!o.defined() || !contains(inputs, o)) continue;
    if (contains(ctx->dirty_, o)) {
      TS_CHECK(!(o.requires_grad() && o.is_leaf()), name, ": a leaf tensor that requires grad is being used in an "
               "in-place operation (mark_dirty); clone() it first");
      continue;
    }
    o = Tensor(o.storage(), o.shape(), o.strides(), o.storage_offset(), o.dtype());
  }
  std::vector<InputMeta> out_meta;
  for (const Tensor& o : outs) {
    bool diff = o.defined() && o.is_floating_point() && !contains(ctx->non_diff_, o);
    out_ptrs.push_back(diff ? &o : nullptr);
    out_meta.push_back(o.defined() ? InputMeta{o.shape(), o.dtype(), o.device()} : InputMeta{{}, DType::Float32, Device::cpu()});
  }
  auto node = std::make_shared<CustomFunctionNode>(name, ctx, std::move(backward), std::move(out_meta));
  autograd::record(node, in_ptrs, out_ptrs);
  ctx->node_ = node;
  // Saved after record(), so that saved outputs refer to this node without owning it.
  for (const Tensor& t : ctx->to_save_) {
    bool is_output = false;
    for (const Tensor* o : out_ptrs) is_output = is_output || (o && t.defined() && o->is_same(t));
    ctx->saved_.emplace_back(t, is_output);
  }
  ctx->to_save_.clear();
  ctx->dirty_.clear();
  ctx->non_diff_.clear();
  return outs;
}

}  // namespace tessera::autograd
