#pragma once
// oneDNN plumbing shared by matmul.cpp and conv.cpp (internal to the CPU backend).
#include <oneapi/dnnl/dnnl.hpp>

#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

#include "tessera/core/tensor.h"

namespace tessera::cpu {

dnnl::engine& dnnl_engine();
// The oneDNN data type of a dtype, or undef when oneDNN cannot compute in it on this CPU.
dnnl::memory::data_type dnnl_type(DType t);

// A small LRU cache of primitives keyed by a string of shapes and parameters: creating a
// oneDNN primitive costs far more than running a small one.
template <class V>
class PrimitiveCache {
 public:
  template <class Make>
  V& get(const std::string& key, const Make& make) {
    std::lock_guard<std::mutex> g(m_);
    auto it = map_.find(key);
    if (it != map_.end()) {
      order_.splice(order_.begin(), order_, it->second.second);
      return it->second.first;
    }
    if (map_.size() >= 256) {
      map_.erase(order_.back());
      order_.pop_back();
    }
    order_.push_front(key);
    auto& slot = map_.emplace(key, std::make_pair(make(), order_.begin())).first->second;
    return slot.first;
  }

 private:
  std::mutex m_;
  std::list<std::string> order_;
  std::unordered_map<std::string, std::pair<V, std::list<std::string>::iterator>> map_;
};

}  // namespace tessera::cpu
