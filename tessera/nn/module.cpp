#include "tessera/nn/module.h"

#include <cxxabi.h>

#include <algorithm>
#include <cstdlib>
#include <ostream>
#include <set>

#include "tessera/autograd/autograd.h"
#include "tessera/nn/holder.h"
#include "tessera/ops/ops.h"

namespace tessera::detail {
namespace {
std::string demangled(const char* mangled) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name(abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free);
  return status == 0 && name ? std::string(name.get()) : std::string(mangled);
}
}  // namespace

std::string class_name(const char* mangled) {
  std::string name = demangled(mangled);
  size_t colons = name.rfind("::");
  return colons == std::string::npos ? name : name.substr(colons + 2);
}

void throw_empty_holder(const char* mangled) {
  std::string type = demangled(mangled);
  if (type.ends_with("Impl")) type.resize(type.size() - 4);
  throw Error(::tessera::detail::str("module holder ", type, " is empty (made with nullptr): assign it a module, e.g. fc = ",
                          "register_module(\"fc\", ", type, "(...)), before using it"));
}
}  // namespace tessera::detail

namespace tessera::nn {

namespace {
void check_name(const std::string& name, const char* what) {
  TS_CHECK_VALUE(!name.empty() && name.find('.') == std::string::npos, "register_", what, ": invalid name '", name,
                 "' (names must be non-empty and contain no '.')");
}
std::string with_commas(int64_t n) {
  std::string s = std::to_string(n);
  for (int i = int(s.size()) - 3; i > 0; i -= 3) s.insert(size_t(i), ",");
  return s;
}
}  // namespace


Tensor Module::forward(const Tensor& x) {
  if (by_value_forward_) return by_value_forward_(*this, x);
  throw Error(detail::str(type_, ": forward(const Tensor&) is not defined for this module (a forward that takes its "
                                 "Tensor by value overrides nothing: declare it `Tensor forward(const Tensor& x) "
                                 "override`, or hold the module in a holder, TESSERA_MODULE)"));
}

struct HookHandle::Table {
  int64_t next = 0;
  std::vector<std::pair<int64_t, ForwardPreHook>> pre;
  std::vector<std::pair<int64_t, ForwardHook>> post;
};

void HookHandle::remove() {
  auto t = table_.lock();
  if (!t) return;
  std::erase_if(t->pre, [this](const auto& h) { return h.first == id_; });
  std::erase_if(t->post, [this](const auto& h) { return h.first == id_; });
}

namespace {
// Adds hook to one of table's lists (made on first use), under a new id.
template <class Hook>
HookHandle add_hook(std::shared_ptr<HookHandle::Table>& table,
                    std::vector<std::pair<int64_t, Hook>> HookHandle::Table::*list, Hook hook, const std::string& who,
                    const char* what) {
  TS_CHECK_VALUE(bool(hook), who, ": ", what, ": the hook is empty");
  if (!table) table = std::make_shared<HookHandle::Table>();
  int64_t id = table->next++;
  ((*table).*list).emplace_back(id, std::move(hook));
  return HookHandle(table, id);
}
}  // namespace

HookHandle Module::register_forward_pre_hook(ForwardPreHook hook) {
  return add_hook(hooks_, &HookHandle::Table::pre, std::move(hook), type_, "register_forward_pre_hook");
}

HookHandle Module::register_forward_hook(ForwardHook hook) {
  return add_hook(hooks_, &HookHandle::Table::post, std::move(hook), type_, "register_forward_hook");
}

Tensor Module::operator()(const Tensor& x) {
  if (!hooks_ || (hooks_->pre.empty() && hooks_->post.empty())) return forward(x);
  auto keep = hooks_;  // (a hook may remove hooks, this one included)
  Tensor in = x;
  for (auto [id, hook] : std::vector(keep->pre))
    if (std::optional<Tensor> r = hook(*this, in)) in = *r;
  Tensor out = forward(in);
  for (auto [id, hook] : std::vector(keep->post))
    if (std::optional<Tensor> r = hook(*this, in, out)) out = *r;
  return out;
}

void Module::check_free(const std::string& name, const char* what) const {
  auto named = [&](const auto& list) {
    return std::any_of(list.begin(), list.end(), [&](const auto& e) { return e.first == name; });
  };
  const char* taken = named(params_) ? "a parameter" : named(buffers_) ? "a buffer" : named(children_) ? "a submodule" : nullptr;
  TS_CHECK_VALUE(taken == nullptr, type_, ": register_", what, ": '", name, "' is already registered as ", taken);
}

Tensor Module::register_parameter(const std::string& name, Tensor t, bool requires_grad) {
  check_name(name, "parameter");
  check_free(name, "parameter");
  if (t.defined() && requires_grad) t.requires_grad_(true);
  params_.emplace_back(name, t);
  return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t, bool persistent) {
  check_name(name, "buffer");
  check_free(name, "buffer");
  buffers_.emplace_back(name, t);
  if (!persistent) non_persistent_.push_back(name);
  return t;
}

namespace {
template <class T>
T* find_named(std::vector<std::pair<std::string, T>>& list, const std::string& name) {
  for (auto& [n, v] : list)
    if (n == name) return &v;
  return nullptr;
}
}  // namespace

Tensor Module::replace_parameter(const std::string& name, Tensor t) {
  Tensor* p = find_named(params_, name);
  TS_CHECK_VALUE(p != nullptr, type_, ": replace_parameter: no parameter called '", name, "'");
  *p = t;
  return t;
}

Tensor Module::replace_buffer(const std::string& name, Tensor t) {
  Tensor* b = find_named(buffers_, name);
  TS_CHECK_VALUE(b != nullptr, type_, ": replace_buffer: no buffer called '", name, "'");
  *b = t;
  return t;
}

void Module::replace_child(const std::string& name, std::shared_ptr<Module> m) {
  TS_CHECK_VALUE(m != nullptr, type_, ": replace_module: module '", name, "' is null");
  std::shared_ptr<Module>* c = find_named(children_, name);
  TS_CHECK_VALUE(c != nullptr, type_, ": replace_module: no submodule called '", name, "'");
  *c = std::move(m);
}

void Module::unregister_module(const std::string& name) {
  TS_CHECK_VALUE(find_named(children_, name) != nullptr, type_, ": unregister_module: no submodule called '", name,
                 "'");
  unregister(name);
}

bool Module::unregister(const std::string& name) {
  auto named = [&](const auto& e) { return e.first == name; };
  size_t removed = std::erase_if(params_, named) + std::erase_if(buffers_, named) + std::erase_if(children_, named);
  std::erase(non_persistent_, name);
  return removed > 0;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> m) {
  check_name(name, "module");
  TS_CHECK_VALUE(m != nullptr, "register_module: module '", name, "' is null");
  check_free(name, "module");
  children_.emplace_back(name, std::move(m));
}

void Module::collect(const std::string& prefix, bool params, bool recurse, StateDict& out) const {
  for (auto& [n, t] : params ? params_ : buffers_)
    if (t.defined()) out.emplace_back(prefix + n, t);
  if (!recurse) return;
  for (auto& [n, c] : children_) c->collect(prefix + n + ".", params, true, out);
}

void Module::collect_state(const std::string& prefix, StateDict& out) const {
  for (auto& [n, t] : params_)
    if (t.defined()) out.emplace_back(prefix + n, t);
  for (auto& [n, t] : buffers_)
    if (t.defined() && std::find(non_persistent_.begin(), non_persistent_.end(), n) == non_persistent_.end())
      out.emplace_back(prefix + n, t);
  for (auto& [n, c] : children_) c->collect_state(prefix + n + ".", out);
}

StateDict Module::named_parameters(bool recurse) const {
  StateDict out;
  collect("", true, recurse, out);
  // A parameter shared by two submodules is listed once, under its first name.
  std::set<TensorImpl*> seen;
  StateDict unique;
  for (auto& e : out)
    if (seen.insert(e.second.impl_ptr().get()).second) unique.push_back(e);
  return unique;
}

StateDict Module::named_buffers(bool recurse) const {
  StateDict out;
  collect("", false, recurse, out);
  return out;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> r;
  for (auto& [n, t] : named_parameters(recurse)) r.push_back(t);
  return r;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out{{"", this}};
  for (auto& [n, c] : children_)
    for (auto& [sub, m] : c->named_modules()) out.emplace_back(sub.empty() ? n : n + "." + sub, m);
  return out;
}

Tensor& Module::operator[](const std::string& name) {
  for (auto& [n, t] : params_)
    if (n == name) return t;
  for (auto& [n, t] : buffers_)
    if (n == name) return t;
  throw IndexError(detail::str(type_, ": no parameter or buffer called '", name, "'"));
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (auto& [name, t] : named_parameters()) n += t.numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, c] : children_) c->train(on);
}

Module& Module::to(Device dev) {
  autograd::NoGradGuard ng;
  apply([&](Module& m) {
    for (auto* list : {&m.params_, &m.buffers_})
      for (auto& [n, t] : *list)
        if (t.defined() && t.device() != dev) {
          Tensor g = t.grad();
          t.set_data(t.to(dev));
          if (g.defined()) t.set_grad(g.to(dev));
        }
  });
  return *this;
}

Module& Module::to(DType dt) {
  TS_CHECK_DTYPE(is_floating(dt), "Module::to: expected a floating-point dtype, got ", dt);
  autograd::NoGradGuard ng;
  apply([&](Module& m) {
    for (auto* list : {&m.params_, &m.buffers_})
      for (auto& [n, t] : *list)
        if (t.defined() && t.is_floating_point() && t.dtype() != dt) {
          Tensor g = t.grad();
          t.set_data(t.to(dt));
          if (g.defined()) t.set_grad(g.to(dt));
        }
  });
  return *this;
}

Module& Module::share_memory() {
  apply([](Module& m) {
    for (auto* list : {&m.params_, &m.buffers_})
      for (auto& [n, t] : *list)
        if (t.defined()) {
          t.share_memory_();
          if (Tensor g = t.grad(); g.defined()) g.share_memory_();
        }
  });
  return *this;
}

void Module::zero_grad(bool set_to_none) {
  autograd::NoGradGuard ng;
  for (Tensor& p : parameters()) {
    if (!p.grad().defined()) continue;
    if (set_to_none) p.set_grad({});
    else p.grad().zero_();
  }
}

void Module::apply(const std::function<void(Module&)>& fn) {
  for (auto& [n, c] : children_) c->apply(fn);
  fn(*this);
}

StateDict Module::state_dict() const {
  StateDict out;
  collect_state("", out);
  return out;
}

LoadReport Module::load_state_dict(const StateDict& sd, bool strict) {
  LoadReport r;
  StateDict mine = state_dict();
  std::set<std::string> known;
  for (auto& [k, t] : mine) known.insert(k);
  for (auto& [k, t] : sd)
    if (!known.count(k)) r.unexpected.push_back(k);
  std::vector<std::pair<Tensor, Tensor>> copies;
  for (auto& [k, t] : mine) {
    const Tensor* src = nullptr;
    for (auto& [sk, st] : sd)
      if (sk == k) src = &st;
    if (!src) {
      r.missing.push_back(k);
    } else if (src->shape() != t.shape()) {
      r.mismatched.push_back(detail::str(k, ": expected ", t.shape(), ", got ", src->shape()));
    } else {
      copies.emplace_back(t, *src);
    }
  }
  if (strict && !r.ok()) {
    std::string msg = "load_state_dict: the state dict does not match " + type_ + ":";
    for (auto& k : r.missing) msg += "\n  missing key: " + k;
    for (auto& k : r.unexpected) msg += "\n  unexpected key: " + k;
    for (auto& k : r.mismatched) msg += "\n  size mismatch: " + k;
    throw ValueError(msg);
  }
  autograd::NoGradGuard ng;
  for (auto& [dst, src] : copies) {
    Tensor d = dst;
    d.copy_(src.to(d.dtype()).to(d.device()));
  }
  return r;
}

void Module::str_into(std::string& out, int indent) const {
  out += type_ + "(" + extra_repr();
  if (!children_.empty()) {
    out += "\n";
    for (auto& [n, c] : children_) {
      out += std::string(size_t(indent + 2), ' ') + "(" + n + "): ";
      c->str_into(out, indent + 2);
      out += "\n";
    }
    out += std::string(size_t(indent), ' ');
  }
  out += ")";
}

std::string Module::str() const {
  std::string s;
  str_into(s, 0);
  int64_t n = num_parameters(), trainable = 0;
  for (auto& [name, t] : named_parameters())
    if (t.requires_grad()) trainable += t.numel();
  s += "\nparameters: " + with_commas(n) + " (" + with_commas(trainable) + " trainable)";
  return s;
}

std::ostream& operator<<(std::ostream& os, const Module& m) { return os << m.str(); }

}  // namespace tessera::nn
