#pragma once
// nn::Module: the base of every layer and model. A module owns named parameters, buffers and
// child modules, built at run time (no compile-time network types), so any architecture,
// loop or branch works. Semantics follow torch.nn.Module.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tessera/core/tensor.h"

namespace tessera::nn {

// Parameters and buffers by dotted name ("features.0.weight"), in registration order.
using StateDict = std::vector<std::pair<std::string, Tensor>>;

// What load_state_dict found: keys it expected and did not get, keys it did not expect, and
// keys whose shapes differ ("name: expected [..], got [..]").
struct LoadReport {
  std::vector<std::string> missing, unexpected, mismatched;
  bool ok() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
};

class Module;

// Forward hooks, as torch.nn.Module's: a pre-hook sees the input before forward and may return a
// replacement; a hook sees the input and output after it and may return a replacement output.
// They run when a module is called (module(x), which the containers and the zoo's models do for
// their children), not when forward is called directly.
using ForwardPreHook = std::function<std::optional<Tensor>(Module& module, const Tensor& input)>;
using ForwardHook = std::function<std::optional<Tensor>(Module& module, const Tensor& input, const Tensor& output)>;

// What register_forward_(pre_)hook returns: remove() takes the hook off (a no-op once the module
// is gone or the hook removed).
class HookHandle {
 public:
  struct Table;
  HookHandle() = default;
  HookHandle(std::weak_ptr<Table> table, int64_t id) : table_(std::move(table)), id_(id) {}
  void remove();

 private:
  std::weak_ptr<Table> table_;
  int64_t id_ = -1;
};

class Module {
 public:
  explicit Module(std::string type_name = "Module") : type_(std::move(type_name)) {}
  virtual ~Module() = default;
  Module(Module&&) = default;
  Module& operator=(Module&&) = default;
  Module(const Module&) = delete;  // a copy would share parameters silently
  Module& operator=(const Module&) = delete;

  // The computation of a one-input module; modules with other signatures define their own.
  virtual Tensor forward(const Tensor& x);
  // forward(x) with the forward hooks around it.
  Tensor operator()(const Tensor& x);
  HookHandle register_forward_pre_hook(ForwardPreHook hook);
  HookHandle register_forward_hook(ForwardHook hook);

  // --- registration (returns the stored tensor/module) -----------------------------------------
  Tensor register_parameter(const std::string& name, Tensor t, bool requires_grad = true);
  // A buffer that is not persistent is kept and moved with the module but left out of its state
  // dict (PyTorch's register_buffer(..., persistent=False)). An undefined tensor reserves the name.
  Tensor register_buffer(const std::string& name, Tensor t, bool persistent = true);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    add_child(name, m);
    return m;
  }
  // A module holder (tessera/nn/holder.h): fc = register_module("fc", nn::Linear(4, 2)).
  template <class H>
    requires requires(const H& h) { typename H::ContainedType; h.ptr(); }
  H register_module(const std::string& name, H m) {
    add_child(name, m.ptr());
    return m;
  }

  // Assignment to a registered name, as PyTorch's `module.name = value`: the new tensor or module
  // takes the old one's place (and a buffer keeps its persistence); an error when nothing of that
  // kind is registered under name.
  Tensor replace_parameter(const std::string& name, Tensor t);
  Tensor replace_buffer(const std::string& name, Tensor t);
  template <class M>
  std::shared_ptr<M> replace_module(const std::string& name, std::shared_ptr<M> m) {
    replace_child(name, m);
    return m;
  }
  template <class H>
    requires requires(const H& h) { typename H::ContainedType; h.ptr(); }
  H replace_module(const std::string& name, H m) {
    replace_child(name, m.ptr());
    return m;
  }
  // Removes the child called name (an error when there is none), as LibTorch's.
  void unregister_module(const std::string& name);
  // Removes whatever parameter, buffer or child is registered under name (PyTorch's
  // `del module.name`); false when nothing is.
  bool unregister(const std::string& name);

  // --- access -----------------------------------------------------------------------------------
  std::vector<Tensor> parameters(bool recurse = true) const;
  StateDict named_parameters(bool recurse = true) const;
  StateDict named_buffers(bool recurse = true) const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const { return children_; }
  // This module ("") and every descendant, depth first.
  std::vector<std::pair<std::string, Module*>> named_modules();
  // The parameter or buffer of this module (not its children) called name.
  Tensor& operator[](const std::string& name);
  int64_t num_parameters() const;
  const std::string& type_name() const { return type_; }

  // --- state ---------------------------------------------------------------------------------
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  // Moves or converts every parameter and buffer in place (handles held elsewhere follow).
  Module& to(Device d);
  Module& to(DType t);  // floating-point parameters and buffers only, like PyTorch
  // Every parameter, its gradient and every buffer into shared memory (Tensor::share_memory_):
  // processes forked afterwards train the same weights (Hogwild).
  Module& share_memory();
  void zero_grad(bool set_to_none = true);
  void apply(const std::function<void(Module&)>& fn);
  // The parameters and persistent buffers by dotted name, in PyTorch's order: each module's
  // parameters, then its buffers, then its children's entries.
  StateDict state_dict() const;
  // Copies matching entries in. strict: any missing, unexpected or mis-shaped key throws an
  // error listing all of them; otherwise the report says what was skipped.
  LoadReport load_state_dict(const StateDict& sd, bool strict = true);

  // A readable tree, PyTorch-style, with parameter counts.
  std::string str() const;
  virtual std::string extra_repr() const { return ""; }

 protected:
  void add_child(const std::string& name, std::shared_ptr<Module> m);
  void replace_child(const std::string& name, std::shared_ptr<Module> m);
  void check_free(const std::string& name, const char* what) const;
  std::vector<std::pair<std::string, Tensor>> params_, buffers_;
  std::vector<std::string> non_persistent_;  // buffers left out of the state dict
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;

 private:
  std::shared_ptr<HookHandle::Table> hooks_;  // created by the first hook
  // Set by a module holder whose module's forward takes its Tensor by value (holder.h): what
  // Module::forward calls, so that forward is reached through the virtual call too.
  template <class> friend class ModuleHolder;
  Tensor (*by_value_forward_)(Module&, const Tensor&) = nullptr;
  void collect(const std::string& prefix, bool params, bool recurse, StateDict& out) const;
  void collect_state(const std::string& prefix, StateDict& out) const;
  void str_into(std::string& out, int indent) const;
  std::string type_;
};

std::ostream& operator<<(std::ostream& os, const Module& m);

// Puts a module in eval mode for its scope and restores its mode afterwards, also when an error
// unwinds (evaluate, predict, graph drawing and export use it).
class EvalModeGuard {
 public:
  explicit EvalModeGuard(Module& m) : m_(m), was_training_(m.is_training()) { m.eval(); }
  ~EvalModeGuard() { m_.train(was_training_); }
  EvalModeGuard(const EvalModeGuard&) = delete;
  EvalModeGuard& operator=(const EvalModeGuard&) = delete;

 private:
  Module& m_;
  bool was_training_;
};


}  // namespace tessera::nn
