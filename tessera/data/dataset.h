#pragma once
// Datasets: indexable collections of (input, target) examples, as torch.utils.data.
#include <functional>
#include <memory>
#include <vector>

#include "tessera/core/generator.h"
#include "tessera/core/tensor.h"

namespace tessera::data {

struct Example {
  Tensor input, target;
};
struct Batch {
  Tensor input, target;  // stacked along a new first dim
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual Example get(int64_t index) const = 0;
  // Several examples at once, stacked. Datasets backed by whole tensors override this with one
  // gather instead of per-example copies.
  virtual Batch get_batch(const std::vector<int64_t>& indices) const;
};

// Examples are the rows of an input tensor and a target tensor (same first dim).
class TensorDataset : public Dataset {
 public:
  TensorDataset(Tensor inputs, Tensor targets);
  int64_t size() const override { return inputs_.size(0); }
  Example get(int64_t index) const override;
  Batch get_batch(const std::vector<int64_t>& indices) const override;
  const Tensor& inputs() const { return inputs_; }
  const Tensor& targets() const { return targets_; }

 private:
  Tensor inputs_, targets_;
};

class Subset : public Dataset {
 public:
  Subset(std::shared_ptr<const Dataset> base, std::vector<int64_t> indices);
  int64_t size() const override { return int64_t(indices_.size()); }
  Example get(int64_t index) const override;
  Batch get_batch(const std::vector<int64_t>& indices) const override;

 private:
  std::shared_ptr<const Dataset> base_;
  std::vector<int64_t> indices_;
};

class ConcatDataset : public Dataset {
 public:
  explicit ConcatDataset(std::vector<std::shared_ptr<const Dataset>> parts);
  int64_t size() const override { return offsets_.back(); }
  Example get(int64_t index) const override;

 private:
  std::vector<std::shared_ptr<const Dataset>> parts_;
  std::vector<int64_t> offsets_;  // cumulative sizes, starting at 0
};

// Applies fn to every example of base (a transform such as normalization or augmentation).
class MapDataset : public Dataset {
 public:
  using Fn = std::function<Example(Example, Generator&)>;
  MapDataset(std::shared_ptr<const Dataset> base, Fn fn, uint64_t seed = 0);
  int64_t size() const override { return base_->size(); }
  Example get(int64_t index) const override;

 private:
  std::shared_ptr<const Dataset> base_;
  Fn fn_;
  uint64_t seed_;
};

// Splits base into disjoint random subsets of the given sizes (which must sum to its size).
std::vector<std::shared_ptr<Subset>> random_split(std::shared_ptr<const Dataset> base, const std::vector<int64_t>& sizes,
                                                  uint64_t seed = 0);

}  // namespace tessera::data
