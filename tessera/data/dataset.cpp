#include "tessera/data/dataset.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "tessera/backend/math/random.h"
#include "tessera/ops/ops.h"

namespace tessera::data {

namespace {
void check_index(int64_t i, int64_t n, const char* what) {
  TS_CHECK_INDEX(i >= 0 && i < n, what, ": index ", i, " is out of range for a dataset of ", n, " examples");
}
std::vector<int64_t> permutation(int64_t n, uint64_t seed, uint64_t stream) {
  // Fisher-Yates driven by Philox, so a seed gives the same order everywhere.
  std::vector<int64_t> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), 0);
  for (int64_t i = n - 1; i > 0; --i) {
    Philox4x32 r = philox4x32(seed, uint64_t(i), stream);
    uint64_t x = (uint64_t(r.v[0]) << 32) | r.v[1];
    std::swap(p[size_t(i)], p[size_t(x % uint64_t(i + 1))]);
  }
  return p;
}
}  // namespace

Batch Dataset::get_batch(const std::vector<int64_t>& indices) const {
  std::vector<Tensor> in, tg;
  for (int64_t i : indices) {
    Example e = get(i);
    in.push_back(e.input);
    tg.push_back(e.target);
  }
  TS_CHECK_VALUE(!in.empty(), "get_batch: empty batch");
  return {ops::stack(in), tg[0].defined() ? ops::stack(tg) : Tensor()};
}

TensorDataset::TensorDataset(Tensor inputs, Tensor targets)
    : TensorDataset(targets.defined() ? std::vector<Tensor>{std::move(inputs), std::move(targets)}
                                      : std::vector<Tensor>{std::move(inputs)}) {}

TensorDataset::TensorDataset(std::vector<Tensor> tensors) : tensors_(std::move(tensors)) {
  TS_CHECK_VALUE(!tensors_.empty(), "TensorDataset: needs at least one tensor");
  for (size_t k = 0; k < tensors_.size(); ++k) {
    TS_CHECK(tensors_[k].defined(), "TensorDataset: tensor ", k, " is undefined");
    TS_CHECK_SHAPE(tensors_[k].dim() >= 1, "TensorDataset: tensor ", k, " must have a first (example) dim, got ",
                   tensors_[k].shape());
    TS_CHECK_SHAPE(tensors_[k].size(0) == tensors_[0].size(0), "TensorDataset: tensor 0 has ", tensors_[0].size(0),
                   " rows but tensor ", k, " has shape ", tensors_[k].shape(), " (all need the same first dim)");
  }
  if (tensors_.size() == 2) targets_ = tensors_[1];
}
Example TensorDataset::get(int64_t i) const {
  check_index(i, size(), "TensorDataset");
  TS_CHECK_VALUE(tensors_.size() <= 2, "TensorDataset: an example of ", tensors_.size(),
                 " tensors is not an (input, target) pair; use get_batch (a DataLoader) for its fields");
  return {tensors_[0].select(0, i), targets_.defined() ? targets_.select(0, i) : Tensor()};
}
Batch TensorDataset::get_batch(const std::vector<int64_t>& indices) const {
  for (int64_t i : indices) check_index(i, size(), "TensorDataset");
  Tensor idx = from_vector(indices);
  Batch b;
  if (tensors_.size() <= 2) {
    b.input = ops::index_select(tensors_[0], 0, idx);
    if (targets_.defined()) b.target = ops::index_select(targets_, 0, idx);
  }
  if (tensors_.size() != 2)
    for (const Tensor& t : tensors_) b.fields.push_back(ops::index_select(t, 0, idx));
  return b;
}

Subset::Subset(std::shared_ptr<const Dataset> base, std::vector<int64_t> indices)
    : base_(std::move(base)), indices_(std::move(indices)) {
  TS_CHECK(base_ != nullptr, "Subset: null dataset");
  for (int64_t i : indices_) check_index(i, base_->size(), "Subset");
}
Example Subset::get(int64_t i) const {
  check_index(i, size(), "Subset");
  return base_->get(indices_[size_t(i)]);
}
Batch Subset::get_batch(const std::vector<int64_t>& indices) const {
  std::vector<int64_t> mapped;
  for (int64_t i : indices) {
    check_index(i, size(), "Subset");
    mapped.push_back(indices_[size_t(i)]);
  }
  return base_->get_batch(mapped);
}

ConcatDataset::ConcatDataset(std::vector<std::shared_ptr<const Dataset>> parts) : parts_(std::move(parts)), offsets_{0} {
  for (auto& p : parts_) {
    TS_CHECK(p != nullptr, "ConcatDataset: null dataset");
    offsets_.push_back(offsets_.back() + p->size());
  }
}
Example ConcatDataset::get(int64_t i) const {
  check_index(i, size(), "ConcatDataset");
  size_t k = size_t(std::upper_bound(offsets_.begin(), offsets_.end(), i) - offsets_.begin() - 1);
  return parts_[k]->get(i - offsets_[k]);
}

MapDataset::MapDataset(std::shared_ptr<const Dataset> base, Fn fn, uint64_t seed)
    : base_(std::move(base)), fn_(std::move(fn)), seed_(seed) {}
Example MapDataset::get(int64_t i) const {
  // Each example draws from its own stream: results do not depend on worker scheduling.
  Generator g(seed_ * 0x9E3779B97F4A7C15ull + uint64_t(i));
  return fn_(base_->get(i), g);
}

std::vector<std::vector<int64_t>> random_split_indices(int64_t n, const std::vector<int64_t>& sizes, uint64_t seed) {
  int64_t total = 0;
  for (int64_t s : sizes) {
    TS_CHECK_VALUE(s >= 0, "random_split: negative size in the split");
    total += s;
  }
  TS_CHECK_VALUE(total == n, "random_split: sizes sum to ", total, " but the dataset has ", n, " examples");
  std::vector<int64_t> p = permutation(n, seed, 1);
  std::vector<std::vector<int64_t>> out;
  int64_t o = 0;
  for (int64_t s : sizes) {
    out.emplace_back(p.begin() + o, p.begin() + o + s);
    o += s;
  }
  return out;
}

std::vector<std::shared_ptr<Subset>> random_split(std::shared_ptr<const Dataset> base, const std::vector<int64_t>& sizes,
                                                  uint64_t seed) {
  std::vector<std::shared_ptr<Subset>> out;
  for (auto& idx : random_split_indices(base->size(), sizes, seed)) out.push_back(std::make_shared<Subset>(base, std::move(idx)));
  return out;
}

std::vector<int64_t> shuffled_indices(int64_t n, uint64_t seed, uint64_t epoch) { return permutation(n, seed, 2 + epoch); }

std::vector<int64_t> split_lengths(const std::vector<double>& fractions, int64_t n) {
  double sum = 0;
  for (double f : fractions) {
    TS_CHECK_VALUE(f >= 0 && f <= 1, "random_split: fraction ", f, " is not in [0, 1]");
    sum += f;
  }
  TS_CHECK_VALUE(std::abs(sum - 1) < 1e-9, "random_split: fractions sum to ", sum, ", not 1");
  std::vector<int64_t> sizes;
  int64_t used = 0;
  for (double f : fractions) {
    sizes.push_back(int64_t(std::floor(f * double(n))));
    used += sizes.back();
  }
  for (size_t k = 0; used < n; k = (k + 1) % sizes.size(), ++used) ++sizes[k];
  return sizes;
}

// The samplers' random streams: 1 is random_split's, 2 + epoch the loader's shuffle; the samplers
// draw from their own seed, so the stream number only separates epochs.
std::vector<int64_t> SequentialSampler::indices(int64_t n, uint64_t) const {
  std::vector<int64_t> p(size_t(n), 0);
  std::iota(p.begin(), p.end(), 0);
  return p;
}

RandomSampler::RandomSampler(uint64_t seed, bool replacement, std::optional<int64_t> num_samples)
    : seed_(seed), replacement_(replacement), num_samples_(num_samples) {
  TS_CHECK_VALUE(!num_samples_ || *num_samples_ > 0, "RandomSampler: num_samples must be positive, got ",
                 num_samples_.value_or(0));
}
std::vector<int64_t> RandomSampler::indices(int64_t n, uint64_t epoch) const {
  const int64_t k = size(n);
  std::vector<int64_t> out;
  out.reserve(size_t(k));
  if (replacement_) {
    TS_CHECK_VALUE(n > 0, "RandomSampler: cannot draw from an empty dataset");
    for (int64_t i = 0; i < k; ++i) {
      Philox4x32 r = philox4x32(seed_, uint64_t(i), 1000 + epoch);
      out.push_back(math::randint_value<int64_t>(r, 0, uint64_t(n)));
    }
    return out;
  }
  // Without replacement: whole permutations, as many as num_samples needs (torch does the same).
  for (uint64_t round = 0; int64_t(out.size()) < k; ++round) {
    TS_CHECK_VALUE(n > 0, "RandomSampler: cannot draw from an empty dataset");
    std::vector<int64_t> p = permutation(n, seed_, 1000 + epoch + (round << 32));
    for (int64_t v : p) {
      if (int64_t(out.size()) == k) break;
      out.push_back(v);
    }
  }
  return out;
}

SubsetRandomSampler::SubsetRandomSampler(std::vector<int64_t> indices, uint64_t seed)
    : indices_(std::move(indices)), seed_(seed) {}
std::vector<int64_t> SubsetRandomSampler::indices(int64_t, uint64_t epoch) const {
  std::vector<int64_t> p = permutation(int64_t(indices_.size()), seed_, 1000 + epoch), out;
  out.reserve(p.size());
  for (int64_t i : p) out.push_back(indices_[size_t(i)]);
  return out;
}

WeightedRandomSampler::WeightedRandomSampler(std::vector<double> weights, int64_t num_samples, bool replacement,
                                             uint64_t seed)
    : weights_(std::move(weights)), num_samples_(num_samples), replacement_(replacement), seed_(seed) {
  TS_CHECK_VALUE(num_samples_ > 0, "WeightedRandomSampler: num_samples must be positive, got ", num_samples_);
  int64_t positive = 0;
  for (double w : weights_) {
    TS_CHECK_VALUE(std::isfinite(w) && w >= 0, "WeightedRandomSampler: weights must be finite and >= 0, got ", w);
    positive += w > 0;
  }
  TS_CHECK_VALUE(positive > 0, "WeightedRandomSampler: all ", weights_.size(), " weights are zero");
  TS_CHECK_VALUE(replacement_ || num_samples_ <= positive, "WeightedRandomSampler: ", num_samples_,
                 " samples without replacement but only ", positive, " weights are positive");
}
std::vector<int64_t> WeightedRandomSampler::indices(int64_t, uint64_t epoch) const {
  const size_t n = weights_.size();
  std::vector<int64_t> out;
  out.reserve(size_t(num_samples_));
  if (replacement_) {  // one cumulative sum, then a binary search per draw
    std::vector<double> cum(n);
    std::partial_sum(weights_.begin(), weights_.end(), cum.begin());
    const size_t last = size_t(std::find_if(weights_.rbegin(), weights_.rend(), [](double x) { return x > 0; }).base() -
                               weights_.begin()) - 1;
    for (int64_t i = 0; i < num_samples_; ++i) {
      Philox4x32 r = philox4x32(seed_, uint64_t(i), 1000 + epoch);
      double u = math::unit_double(r.v[0], r.v[1]) * cum.back();
      // cum[k] > u >= cum[k-1], so weight k > 0; u rounding up to the total picks the last positive weight.
      size_t k = std::min(size_t(std::upper_bound(cum.begin(), cum.end(), u) - cum.begin()), last);
      out.push_back(int64_t(k));
    }
    return out;
  }
  // Without replacement (Efraimidis-Spirakis): the num_samples largest keys log(u) / w, which
  // orders the indices as drawing one at a time with the remaining weights would.
  std::vector<std::pair<double, int64_t>> keys;
  for (size_t k = 0; k < n; ++k) {
    if (weights_[k] <= 0) continue;
    Philox4x32 r = philox4x32(seed_, uint64_t(k), 1000 + epoch);
    double u = std::max(math::unit_double(r.v[0], r.v[1]), 1e-300);
    keys.emplace_back(std::log(u) / weights_[k], int64_t(k));
  }
  std::partial_sort(keys.begin(), keys.begin() + num_samples_, keys.end(),
                    [](const auto& a, const auto& b) { return a.first > b.first; });
  for (int64_t i = 0; i < num_samples_; ++i) out.push_back(keys[size_t(i)].second);
  return out;
}

BatchSampler::BatchSampler(std::shared_ptr<const Sampler> sampler, int64_t batch_size, bool drop_last)
    : sampler_(std::move(sampler)), batch_size_(batch_size), drop_last_(drop_last) {
  TS_CHECK(sampler_ != nullptr, "BatchSampler: null sampler");
  TS_CHECK_VALUE(batch_size_ > 0, "BatchSampler: batch_size must be positive, got ", batch_size_);
}
int64_t BatchSampler::size(int64_t n) const {
  TS_CHECK(sampler_ != nullptr, "BatchSampler: a subclass must define size() and batches()");
  int64_t k = sampler_->size(n);
  return drop_last_ ? k / batch_size_ : (k + batch_size_ - 1) / batch_size_;
}
std::vector<std::vector<int64_t>> BatchSampler::batches(int64_t n, uint64_t epoch) const {
  TS_CHECK(sampler_ != nullptr, "BatchSampler: a subclass must define size() and batches()");
  std::vector<int64_t> idx = sampler_->indices(n, epoch);
  std::vector<std::vector<int64_t>> out;
  for (size_t lo = 0; lo < idx.size(); lo += size_t(batch_size_)) {
    size_t hi = std::min(idx.size(), lo + size_t(batch_size_));
    if (drop_last_ && hi - lo < size_t(batch_size_)) break;
    out.emplace_back(idx.begin() + long(lo), idx.begin() + long(hi));
  }
  return out;
}

}  // namespace tessera::data
