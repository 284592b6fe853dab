#pragma once
// Custom autograd functions, as LibTorch's torch::autograd::Function and PyTorch's
// torch.autograd.Function: a forward computed without recording, and a hand-written backward.
//
//   struct MulConstant : autograd::Function<MulConstant> {
//     static Tensor forward(autograd::AutogradContext* ctx, const Tensor& x, double c) {
//       ctx->saved_data["c"] = c;
//       return x * c;
//     }
//     static std::vector<Tensor> backward(autograd::AutogradContext* ctx, std::vector<Tensor> g) {
//       return {g[0] * std::any_cast<double>(ctx->saved_data["c"]), Tensor()};  // one per forward argument
//     }
//   };
//   Tensor y = MulConstant::apply(x, 2.0);
#include <any>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <typeinfo>
#include <vector>

#include "tessera/autograd/autograd.h"

namespace tessera::autograd {

class AutogradContext {
 public:
  // Tensors the backward needs (inputs or outputs): checked for in-place changes when read back.
  void save_for_backward(std::vector<Tensor> tensors);
  // In backward: the saved tensors (an error if one was modified in place since, or freed).
  std::vector<Tensor> get_saved_variables() const;
  // Inputs that forward modified in place (and returns): their history continues through this node.
  void mark_dirty(const std::vector<Tensor>& inputs);
  // Outputs that get no gradient (integer outputs are such anyway).
  void mark_non_differentiable(const std::vector<Tensor>& outputs);
  // Whether undefined output gradients reach backward as zeros (the default) or undefined.
  void set_materialize_grads(bool on) { materialize_ = on; }
  bool materialize_grads() const { return materialize_; }
  // Whether tensor input i needs a gradient (known in forward and backward).
  bool needs_input_grad(size_t i) const { return i < needs_.size() && needs_[i]; }
  std::map<std::string, std::any> saved_data;  // anything else backward needs

 private:
  friend std::vector<Tensor> apply_function(const std::string&, const std::vector<Tensor>&,
                                            const std::shared_ptr<AutogradContext>&,
                                            const std::function<std::vector<Tensor>(AutogradContext&)>&,
                                            std::function<std::vector<Tensor>(AutogradContext&, const std::vector<Tensor>&)>);
  friend class CustomFunctionNode;
  std::vector<Tensor> to_save_, dirty_, non_diff_;
  std::vector<SavedTensor> saved_;
  std::vector<bool> needs_;
  std::weak_ptr<Node> node_;
  bool materialize_ = true, in_forward_ = false;
};

using FunctionForward = std::function<std::vector<Tensor>(AutogradContext&)>;
using FunctionBackward = std::function<std::vector<Tensor>(AutogradContext&, const std::vector<Tensor>& grad_outputs)>;

// Runs forward (with grad mode off) and, when grad mode is on and an input requires grad, makes
// one node named `name` the grad_fn of the outputs; its backward gets one gradient per output
// and returns one per input (undefined: none). Returns the outputs; an output that is an input
// unchanged comes back as a new tensor sharing its data (unless marked dirty).
std::vector<Tensor> apply_function(const std::string& name, const std::vector<Tensor>& inputs,
                                   const std::shared_ptr<AutogradContext>& ctx, const FunctionForward& forward,
                                   FunctionBackward backward);

namespace detail {
template <class A>
void collect_tensor(std::vector<Tensor>& out, std::vector<size_t>& pos, size_t i, const A& a) {
  if constexpr (std::is_same_v<std::decay_t<A>, Tensor>) {
    out.push_back(a);
    pos.push_back(i);
  }
}
inline std::vector<Tensor> as_list(const Tensor& t) { return {t}; }
inline std::vector<Tensor> as_list(std::vector<Tensor> t) { return t; }
}  // namespace detail

// CRTP base: T defines static forward(AutogradContext*, args...) returning a Tensor or a
// vector of them, and static backward(AutogradContext*, std::vector<Tensor> grad_outputs)
// returning one tensor per forward argument (undefined for non-tensors and for no gradient).
template <class T>
struct Function {
  template <class... Args>
  static auto apply(Args&&... args) {
    std::vector<Tensor> inputs;
    std::vector<size_t> pos;
    size_t i = 0;
    (detail::collect_tensor(inputs, pos, i++, args), ...);
    auto ctx = std::make_shared<AutogradContext>();
    using R = decltype(T::forward(ctx.get(), std::forward<Args>(args)...));
    std::vector<Tensor> outs = apply_function(
        typeid(T).name(), inputs, ctx,
        [&](AutogradContext& c) { return detail::as_list(T::forward(&c, std::forward<Args>(args)...)); },
        [pos, nargs = sizeof...(Args)](AutogradContext& c, const std::vector<Tensor>& g) {
          std::vector<Tensor> all = T::backward(&c, g);
          TS_CHECK_VALUE(all.size() == nargs, "Function::backward returned ", all.size(),
                         " gradients; expected one per forward argument (", nargs, ")");
          std::vector<Tensor> per_input;
          for (size_t p : pos) per_input.push_back(all[p]);
          return per_input;
        });
    if constexpr (std::is_same_v<std::decay_t<R>, Tensor>) return outs.at(0);
    else return outs;
  }
};

}  // namespace tessera::autograd
