#pragma once
// The cuDNN descriptors of a 2-D convolution (host-only planning, tested without a GPU): the
// NCHW / OIHW dims, the geometry, the data and compute types, whether tensor cores (TF32 for
// float32) may be used, the key of the algorithm cache, and the batch chunks that keep every
// tensor under cuDNN's 2^31-element limit.
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "tessera/backend/backend.h"

namespace tessera::cuda {

enum class ConvType { Float, Half, BFloat16, Double };

struct ConvPlan {
  ConvType data = ConvType::Float, compute = ConvType::Float;
  int x[4] = {}, w[4] = {}, y[4] = {};  // per chunk: x[0] and y[0] are the chunk's batch
  int pad[2] = {}, stride[2] = {}, dilation[2] = {}, groups = 1;
  bool tensor_ops = false;
  std::vector<int64_t> chunks;  // batch sizes of the successive calls (they add up to N)
  std::string key;              // the configuration, for the algorithm cache

  // The plan of one call on a chunk of n samples (dims and key updated).
  ConvPlan for_batch(int64_t n) const;
};

// x [N, C, H, W], w [O, C/groups, KH, KW], y [N, O, OH, OW] (y is the output of the forward
// convolution, whichever pass runs). Throws ShapeError when the shapes disagree with p and
// DTypeError for a dtype cuDNN does not convolve (integers).
ConvPlan plan_conv(const Shape& x, const Shape& w, const Shape& y, const Conv2dParams& p, DType dtype,
                   bool allow_tf32);

// The algorithm chosen per configuration: `search` runs once per key (cudnn.benchmark's cache).
template <class Algo>
class AlgoCache {
 public:
  Algo get(const std::string& key, const std::function<Algo()>& search) {
    {
      std::lock_guard<std::mutex> g(m_);
      auto it = cache_.find(key);
      if (it != cache_.end()) return it->second;
    }
    Algo a = search();  // outside the lock: a search runs convolutions
    std::lock_guard<std::mutex> g(m_);
    return cache_.emplace(key, a).first->second;
  }
  size_t size() const {
    std::lock_guard<std::mutex> g(m_);
    return cache_.size();
  }

 private:
  mutable std::mutex m_;
  std::map<std::string, Algo> cache_;
};

}  // namespace tessera::cuda
