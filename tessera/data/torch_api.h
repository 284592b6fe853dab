#pragma once
// LibTorch's data API (torch::data), spelled tessera::data, over tessera's datasets and loader:
//
//   auto train = data::datasets::MNIST(root)
//                    .map(data::transforms::Normalize<>(0.1307, 0.3081))
//                    .map(data::transforms::Stack<>());
//   auto loader = data::make_data_loader(std::move(train), data::DataLoaderOptions().batch_size(64).workers(2));
//   for (auto& batch : *loader) { batch.data; batch.target; }
//
// make_data_loader<data::samplers::SequentialSampler>(...) keeps the dataset's order; the
// default, RandomSampler, shuffles each epoch (seed() sets the stream, 0 by default).
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "tessera/core/arg.h"
#include "tessera/data/loader.h"
#include "tessera/data/transforms.h"

namespace tessera::data {

// A dataset with the transforms its loader applies to each batch, as LibTorch's MapDataset.
class MappedDataset {
 public:
  explicit MappedDataset(std::shared_ptr<const Dataset> base) : base_(std::move(base)) {}
  // This dataset with a transform added (transforms::Normalize<>, transforms::Stack<>).
  template <class T>
  MappedDataset map(const T& transform) const {
    MappedDataset d = *this;
    transform.apply_to(d);
    return d;
  }
  std::optional<size_t> size() const { return size_t(base_->size()); }
  const std::shared_ptr<const Dataset>& base() const { return base_; }
  // Applied to each assembled batch, in order (the loader's collate).
  std::vector<std::function<Batch(Batch)>> transforms;
  bool stacked = false;

 private:
  std::shared_ptr<const Dataset> base_;
};

namespace datasets {
// MNIST (or Fashion-MNIST) from root's IDX files: images float32 [1, 28, 28] in [0, 1],
// targets int64, as LibTorch's.
class MNIST : public MappedDataset {
 public:
  enum class Mode { kTrain, kTest };
  explicit MNIST(const std::string& root, Mode mode = Mode::kTrain);
};
}  // namespace datasets

namespace transforms {
// (x - mean) / stddev on the inputs of every batch (one value, or one per channel).
template <class Target = Tensor>
class Normalize {
 public:
  Normalize(double mean, double stddev) : mean_{mean}, std_{stddev} {}
  Normalize(std::vector<double> mean, std::vector<double> stddev) : mean_(std::move(mean)), std_(std::move(stddev)) {}
  void apply_to(MappedDataset& d) const {
    auto mean = mean_, stddev = std_;
    d.transforms.push_back([mean, stddev](Batch b) {
      b.input = normalize(b.input, mean, stddev);
      return b;
    });
  }

 private:
  std::vector<double> mean_, std_;
};
// Stacks examples into batches (tessera's loader always does; LibTorch needs it said).
template <class T = void>
struct Stack {
  void apply_to(MappedDataset& d) const { d.stacked = true; }
};
}  // namespace transforms

namespace samplers {
using data::RandomSampler;
using data::SequentialSampler;
}  // namespace samplers

namespace detail {
struct LoaderConfig {
  int64_t batch_size = 1;
  int64_t workers = 0;
  bool drop_last = false;
  uint64_t seed = 0;
};
}  // namespace detail
class DataLoaderOptions {
 public:
  DataLoaderOptions() = default;
  DataLoaderOptions(int64_t batch_size) { c_.batch_size = batch_size; }  // NOLINT
  TESSERA_ARG(int64_t, batch_size)
  TESSERA_ARG(int64_t, workers)
  TESSERA_ARG(bool, drop_last)
  TESSERA_ARG(uint64_t, seed)
  const detail::LoaderConfig& config() const { return c_; }

 private:
  detail::LoaderConfig c_;
};

// What a LibTorch-style loader yields: the stacked inputs and targets.
struct Example2 {
  Tensor data, target;
};

class TorchStyleLoader {
 public:
  TorchStyleLoader(const MappedDataset& dataset, const DataLoaderOptions& o, bool shuffle);
  class Iterator {
   public:
    Iterator(DataLoader::Iterator it) : it_(std::move(it)) {}  // NOLINT
    Example2& operator*() {
      Batch& b = *it_;
      current_ = {b.input, b.target};
      return current_;
    }
    Example2* operator->() { return &**this; }
    Iterator& operator++() {
      ++it_;
      return *this;
    }
    bool operator!=(const Iterator& o) const { return it_ != o.it_; }

   private:
    DataLoader::Iterator it_;
    Example2 current_;
  };
  Iterator begin() { return Iterator(loader_.begin()); }
  Iterator end() { return Iterator(loader_.end()); }
  DataLoader& loader() { return loader_; }

 private:
  DataLoader loader_;
};

template <class Sampler = samplers::RandomSampler>
std::unique_ptr<TorchStyleLoader> make_data_loader(const MappedDataset& dataset, const DataLoaderOptions& o = {}) {
  static_assert(std::is_same_v<Sampler, samplers::RandomSampler> || std::is_same_v<Sampler, samplers::SequentialSampler>,
                "make_data_loader: RandomSampler or SequentialSampler");
  return std::make_unique<TorchStyleLoader>(dataset, o, std::is_same_v<Sampler, samplers::RandomSampler>);
}
template <class Sampler = samplers::RandomSampler>
std::unique_ptr<TorchStyleLoader> make_data_loader(const MappedDataset& dataset, int64_t batch_size) {
  return make_data_loader<Sampler>(dataset, DataLoaderOptions(batch_size));
}

}  // namespace tessera::data
