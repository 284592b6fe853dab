#include "tessera/data/dataset.h"

#include <algorithm>
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

TensorDataset::TensorDataset(Tensor inputs, Tensor targets) : inputs_(std::move(inputs)), targets_(std::move(targets)) {
  TS_CHECK_SHAPE(inputs_.dim() >= 1, "TensorDataset: inputs must have a first (example) dim, got ", inputs_.shape());
  TS_CHECK_SHAPE(!targets_.defined() || (targets_.dim() >= 1 && targets_.size(0) == inputs_.size(0)),
                 "TensorDataset: ", inputs_.size(0), " inputs but targets of shape ",
                 targets_.defined() ? targets_.shape() : Shape{});
}
Example TensorDataset::get(int64_t i) const {
  check_index(i, size(), "TensorDataset");
  return {inputs_.select(0, i), targets_.defined() ? targets_.select(0, i) : Tensor()};
}
Batch TensorDataset::get_batch(const std::vector<int64_t>& indices) const {
  for (int64_t i : indices) check_index(i, size(), "TensorDataset");
  Tensor idx = from_vector(indices);
  return {ops::index_select(inputs_, 0, idx), targets_.defined() ? ops::index_select(targets_, 0, idx) : Tensor()};
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

std::vector<std::shared_ptr<Subset>> random_split(std::shared_ptr<const Dataset> base, const std::vector<int64_t>& sizes,
                                                  uint64_t seed) {
  int64_t total = 0;
  for (int64_t s : sizes) {
    TS_CHECK_VALUE(s >= 0, "random_split: negative size in the split");
    total += s;
  }
  TS_CHECK_VALUE(total == base->size(), "random_split: sizes sum to ", total, " but the dataset has ", base->size(),
                 " examples");
  std::vector<int64_t> p = permutation(base->size(), seed, 1);
  std::vector<std::shared_ptr<Subset>> out;
  int64_t o = 0;
  for (int64_t s : sizes) {
    out.push_back(std::make_shared<Subset>(base, std::vector<int64_t>(p.begin() + o, p.begin() + o + s)));
    o += s;
  }
  return out;
}

std::vector<int64_t> shuffled_indices(int64_t n, uint64_t seed, uint64_t epoch) { return permutation(n, seed, 2 + epoch); }

}  // namespace tessera::data
