#pragma once
// Sequential, ModuleList and ModuleDict: modules that hold other modules.
#include <memory>
#include <string>
#include <type_traits>

#include "tessera/nn/module.h"

namespace tessera::nn {

namespace detail {
template <class T> struct is_shared_ptr : std::false_type {};
template <class T> struct is_shared_ptr<std::shared_ptr<T>> : std::true_type {};
// A module given by value (moved into a shared_ptr) or as a shared_ptr.
template <class M>
std::shared_ptr<Module> to_module_ptr(M&& m) {
  using D = std::decay_t<M>;
  if constexpr (is_shared_ptr<D>::value) return std::static_pointer_cast<Module>(std::forward<M>(m));
  else return std::make_shared<D>(std::move(m));
}
}  // namespace detail

class ModuleList : public Module {
 public:
  ModuleList() : Module("ModuleList") {}
  template <class M>
  void push_back(M&& m) {
    add_child(std::to_string(children_.size()), detail::to_module_ptr(std::forward<M>(m)));
  }
  size_t size() const { return children_.size(); }
  std::shared_ptr<Module> at(size_t i) const;

 protected:
  explicit ModuleList(std::string type_name) : Module(std::move(type_name)) {}
};

// Runs its modules in order: Sequential(nn::Linear(4, 8), nn::ReLU(), nn::Linear(8, 1)).
class Sequential : public ModuleList {
 public:
  Sequential() : ModuleList("Sequential") {}
  template <class... M>
  explicit Sequential(M&&... ms) : ModuleList("Sequential") {
    (push_back(std::forward<M>(ms)), ...);
  }
  Tensor forward(const Tensor& x) override;
};

class ModuleDict : public Module {
 public:
  ModuleDict() : Module("ModuleDict") {}
  template <class M>
  void insert(const std::string& key, M&& m) {
    add_child(key, detail::to_module_ptr(std::forward<M>(m)));
  }
  bool contains(const std::string& key) const;
  std::shared_ptr<Module> at(const std::string& key) const;
  size_t size() const { return children_.size(); }
};

}  // namespace tessera::nn
