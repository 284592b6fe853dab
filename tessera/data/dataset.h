#pragma once
// Datasets: indexable collections of (input, target) examples, as torch.utils.data.
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "tessera/core/generator.h"
#include "tessera/core/tensor.h"

namespace tessera::data {

struct Example {
  Tensor input, target;
};
struct Batch {
  Batch() = default;
  Batch(Tensor in, Tensor tg) : input(std::move(in)), target(std::move(tg)) {}
  Tensor input, target;  // stacked along a new first dim
  // Datasets whose examples are not (input, target) pairs (Python's tuples of any length, dicts,
  // nests; TensorDataset of other than two tensors) put every stacked leaf here, and in
  // `structure` how the binding puts them back together (opaque to C++).
  std::vector<Tensor> fields;
  std::shared_ptr<const void> structure;
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

// Examples are the rows of an input tensor and a target tensor (same first dim); or, as
// torch.utils.data.TensorDataset(*tensors), the rows of any number of tensors: with other than
// two, batches carry them in Batch::fields (one tensor: input only) and get() is refused for more.
class TensorDataset : public Dataset {
 public:
  TensorDataset(Tensor inputs, Tensor targets);
  explicit TensorDataset(std::vector<Tensor> tensors);
  int64_t size() const override { return tensors_[0].size(0); }
  Example get(int64_t index) const override;
  Batch get_batch(const std::vector<int64_t>& indices) const override;
  const Tensor& inputs() const { return tensors_[0]; }
  const Tensor& targets() const { return targets_; }
  const std::vector<Tensor>& tensors() const { return tensors_; }

 private:
  std::vector<Tensor> tensors_;
  Tensor targets_;  // tensors_[1] when there are exactly two, else undefined
};

class Subset : public Dataset {
 public:
  Subset(std::shared_ptr<const Dataset> base, std::vector<int64_t> indices);
  int64_t size() const override { return int64_t(indices_.size()); }
  Example get(int64_t index) const override;
  Batch get_batch(const std::vector<int64_t>& indices) const override;
  const std::shared_ptr<const Dataset>& dataset() const { return base_; }
  const std::vector<int64_t>& indices() const { return indices_; }

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
// The index lists random_split gives the subsets of a dataset of n examples.
std::vector<std::vector<int64_t>> random_split_indices(int64_t n, const std::vector<int64_t>& sizes, uint64_t seed = 0);
// torch.utils.data.random_split's fractions (summing to 1): floor(f * n) each, the remainder
// handed out one at a time round-robin from the first.
std::vector<int64_t> split_lengths(const std::vector<double>& fractions, int64_t n);

// Samplers (torch.utils.data's): the order of an epoch's indices. A DataLoader given one uses it
// instead of shuffle/seed; epoch e of a random sampler draws from the stream (seed, e).
class Sampler {
 public:
  virtual ~Sampler() = default;
  // Indices per epoch for a dataset of n examples.
  virtual int64_t size(int64_t n) const = 0;
  virtual std::vector<int64_t> indices(int64_t n, uint64_t epoch) const = 0;
};

class SequentialSampler : public Sampler {
 public:
  int64_t size(int64_t n) const override { return n; }
  std::vector<int64_t> indices(int64_t n, uint64_t epoch) const override;
};

// A permutation each epoch; with replacement, num_samples uniform draws.
class RandomSampler : public Sampler {
 public:
  explicit RandomSampler(uint64_t seed = 0, bool replacement = false, std::optional<int64_t> num_samples = std::nullopt);
  int64_t size(int64_t n) const override { return num_samples_ ? *num_samples_ : n; }
  std::vector<int64_t> indices(int64_t n, uint64_t epoch) const override;

 private:
  uint64_t seed_;
  bool replacement_;
  std::optional<int64_t> num_samples_;
};

// The given indices, in a new random order each epoch.
class SubsetRandomSampler : public Sampler {
 public:
  explicit SubsetRandomSampler(std::vector<int64_t> indices, uint64_t seed = 0);
  int64_t size(int64_t) const override { return int64_t(indices_.size()); }
  std::vector<int64_t> indices(int64_t n, uint64_t epoch) const override;

 private:
  std::vector<int64_t> indices_;
  uint64_t seed_;
};

// num_samples indices drawn with probability proportional to weights (with or without replacement).
class WeightedRandomSampler : public Sampler {
 public:
  WeightedRandomSampler(std::vector<double> weights, int64_t num_samples, bool replacement = true, uint64_t seed = 0);
  int64_t size(int64_t) const override { return num_samples_; }
  std::vector<int64_t> indices(int64_t n, uint64_t epoch) const override;

 private:
  std::vector<double> weights_;
  int64_t num_samples_;
  bool replacement_;
  uint64_t seed_;
};

// An epoch's batches of indices: a sampler's indices cut into batch_size pieces. Subclass it
// (size and batches) for batches of varying size.
class BatchSampler {
 public:
  BatchSampler(std::shared_ptr<const Sampler> sampler, int64_t batch_size, bool drop_last = false);
  virtual ~BatchSampler() = default;
  virtual int64_t size(int64_t n) const;
  virtual std::vector<std::vector<int64_t>> batches(int64_t n, uint64_t epoch) const;

 protected:
  BatchSampler() = default;

 private:
  std::shared_ptr<const Sampler> sampler_;
  int64_t batch_size_ = 1;
  bool drop_last_ = false;
};

}  // namespace tessera::data
