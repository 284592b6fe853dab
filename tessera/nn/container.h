#pragma once
// Sequential, ModuleList and ModuleDict: modules that hold other modules.
#include <memory>
#include <string>
#include <type_traits>

#include "tessera/nn/holder.h"

namespace tessera::detail {
// A module given by value (moved into a shared_ptr), as a shared_ptr or in a holder.
template <class M>
std::shared_ptr<nn::Module> to_module_ptr(M&& m) {
  using D = std::decay_t<M>;
  if constexpr (is_shared_ptr<D>::value) return std::static_pointer_cast<nn::Module>(std::forward<M>(m));
  else if constexpr (nn::module_holder<D>) return m.ptr();
  else return std::make_shared<D>(std::move(m));
}
}  // namespace tessera::detail

namespace tessera::nn {

class ModuleListImpl : public Module {
 public:
  ModuleListImpl() : Module("ModuleList") {}
  template <class M>
  void push_back(M&& m) {
    add_child(std::to_string(children_.size()), detail::to_module_ptr(std::forward<M>(m)));
  }
  size_t size() const { return children_.size(); }
  std::shared_ptr<Module> at(size_t i) const;

 protected:
  explicit ModuleListImpl(std::string type_name) : Module(std::move(type_name)) {}
};

// Runs its modules in order: Sequential(nn::Linear(4, 8), nn::ReLU(), nn::Linear(8, 1)).
class SequentialImpl : public ModuleListImpl {
 public:
  SequentialImpl() : ModuleListImpl("Sequential") {}
  template <class... M>
  explicit SequentialImpl(M&&... ms) : ModuleListImpl("Sequential") {
    (push_back(std::forward<M>(ms)), ...);
  }
  Tensor forward(const Tensor& x) override;
};

class ModuleDictImpl : public Module {
 public:
  ModuleDictImpl() : Module("ModuleDict") {}
  template <class M>
  void insert(const std::string& key, M&& m) {
    add_child(key, detail::to_module_ptr(std::forward<M>(m)));
  }
  bool contains(const std::string& key) const;
  std::shared_ptr<Module> at(const std::string& key) const;
  size_t size() const { return children_.size(); }
};

TESSERA_NN_NAME(ModuleList); TESSERA_NN_NAME(Sequential); TESSERA_NN_NAME(ModuleDict);

}  // namespace tessera::nn
