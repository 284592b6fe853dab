#include "tessera/nn/container.h"

namespace tessera::nn {

Tensor SequentialImpl::forward(const Tensor& x) {
  Tensor y = x;
  for (auto& [name, m] : children_) y = (*m)(y);  // (with each child's hooks)
  return y;
}

std::shared_ptr<Module> ModuleListImpl::at(size_t i) const {
  TS_CHECK_INDEX(i < children_.size(), type_name(), ": index ", i, " is out of range for ", children_.size(), " modules");
  return children_[i].second;
}

bool ModuleDictImpl::contains(const std::string& key) const {
  for (auto& [n, m] : children_)
    if (n == key) return true;
  return false;
}

std::shared_ptr<Module> ModuleDictImpl::at(const std::string& key) const {
  for (auto& [n, m] : children_)
    if (n == key) return m;
  throw IndexError(::tessera::detail::str("ModuleDict: no module called '", key, "'"));
}

}  // namespace tessera::nn
