#include "tessera/data/loader.h"

#include "tessera/autograd/autograd.h"
#include "tessera/backend/cuda/cuda.h"

namespace tessera::data {

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, LoaderOptions o) : dataset_(std::move(dataset)), o_(std::move(o)) {
  TS_CHECK(dataset_ != nullptr, "DataLoader: null dataset");
  TS_CHECK_VALUE(o_.batch_size > 0, "DataLoader: batch_size must be positive, got ", o_.batch_size);
  TS_CHECK_VALUE(o_.num_workers >= 0 && o_.prefetch >= 1, "DataLoader: num_workers must be >= 0 and prefetch >= 1");
  TS_CHECK_VALUE(o_.num_replicas >= 1 && o_.rank >= 0 && o_.rank < o_.num_replicas, "DataLoader: rank ", o_.rank,
                 " is not in [0, num_replicas = ", o_.num_replicas, ")");
  if (o_.batch_sampler)
    TS_CHECK_VALUE(o_.batch_size == 1 && !o_.shuffle && !o_.sampler && !o_.drop_last && o_.num_replicas == 1,
                   "DataLoader: batch_sampler gives the batches; batch_size, shuffle, sampler, drop_last and "
                   "num_replicas cannot be set with it");
  TS_CHECK_VALUE(!(o_.sampler && o_.shuffle), "DataLoader: sampler gives the order; shuffle cannot be set with it");
}

int64_t DataLoader::examples() const {
  int64_t n = dataset_->size(), r = o_.num_replicas;
  if (o_.batch_sampler) return -1;
  if (o_.sampler) n = o_.sampler->size(n);
  return (n + r - 1) / r;
}

DataLoader::~DataLoader() { stop_workers(); }

int64_t DataLoader::num_batches() const {
  if (o_.batch_sampler) return o_.batch_sampler->size(dataset_->size());
  int64_t n = examples();
  return o_.drop_last ? n / o_.batch_size : (n + o_.batch_size - 1) / o_.batch_size;
}

Batch DataLoader::build(int64_t b) const {
  const std::vector<int64_t>& idx = batches_[size_t(b)];
  autograd::NoGradGuard ng;  // data preparation never records gradients
  Batch batch = dataset_->get_batch(idx);
  if (o_.collate) batch = o_.collate(std::move(batch));
  if (o_.pin_memory && cuda::is_available()) {
    if (batch.input.defined() && batch.input.device().is_cpu()) batch.input = batch.input.pin_memory();
    if (batch.target.defined() && batch.target.device().is_cpu()) batch.target = batch.target.pin_memory();
    for (Tensor& f : batch.fields)
      if (f.defined() && f.device().is_cpu()) f = f.pin_memory();
  }
  return batch;
}

void DataLoader::stop_workers() {
  {
    std::lock_guard<std::mutex> g(m_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
  stop_ = false;
}

void DataLoader::start_epoch(uint64_t epoch) {
  stop_workers();
  const int64_t n = dataset_->size();
  auto checked = [&](std::vector<int64_t> idx, const char* who) {
    for (int64_t i : idx)
      TS_CHECK_INDEX(i >= 0 && i < n, "DataLoader: the ", who, " gave index ", i, " for a dataset of ", n, " examples");
    return idx;
  };
  batches_.clear();
  if (o_.batch_sampler) {
    for (auto& b : o_.batch_sampler->batches(n, epoch)) {
      TS_CHECK_VALUE(!b.empty(), "DataLoader: the batch_sampler gave an empty batch");
      batches_.push_back(checked(std::move(b), "batch_sampler"));
    }
  } else {
    std::vector<int64_t> order;
    if (o_.sampler) {
      order = checked(o_.sampler->indices(n, epoch), "sampler");
    } else if (o_.shuffle) {
      order = shuffled_indices(n, o_.seed, epoch);
    } else {
      order.resize(size_t(n));
      for (int64_t i = 0; i < n; ++i) order[size_t(i)] = i;
    }
    const int64_t m = int64_t(order.size());
    if (o_.num_replicas > 1 && m > 0) {
      std::vector<int64_t> mine;
      int64_t padded = (m + o_.num_replicas - 1) / o_.num_replicas * o_.num_replicas;
      for (int64_t k = o_.rank; k < padded; k += o_.num_replicas) mine.push_back(order[size_t(k % m)]);
      order = std::move(mine);
    }
    for (size_t lo = 0; lo < order.size(); lo += size_t(o_.batch_size)) {
      size_t hi = std::min(order.size(), lo + size_t(o_.batch_size));
      if (o_.drop_last && hi - lo < size_t(o_.batch_size)) break;
      batches_.emplace_back(order.begin() + long(lo), order.begin() + long(hi));
    }
  }
  total_ = int64_t(batches_.size());
  next_to_hand_ = next_to_build_ = 0;
  ready_.clear();
  error_ = nullptr;
  ++epochs_started_;
  for (int w = 0; w < o_.num_workers; ++w)
    workers_.emplace_back([this] {
      for (;;) {
        int64_t b;
        {
          std::unique_lock<std::mutex> lk(m_);
          cv_.wait(lk, [&] { return stop_ || (next_to_build_ < total_ && next_to_build_ < next_to_hand_ + o_.prefetch); });
          if (stop_) return;
          b = next_to_build_++;
        }
        Batch batch;
        std::exception_ptr err;
        try {
          batch = build(b);
        } catch (...) {
          err = std::current_exception();
        }
        {
          std::lock_guard<std::mutex> g(m_);
          if (err && !error_) error_ = err;
          ready_[b] = std::move(batch);
        }
        cv_.notify_all();
      }
    });
}

bool DataLoader::next(Batch& out) {
  if (next_to_hand_ >= total_) return false;
  if (o_.num_workers == 0) {
    out = build(next_to_hand_++);
    return true;
  }
  std::unique_lock<std::mutex> lk(m_);
  cv_.wait(lk, [&] { return error_ || ready_.count(next_to_hand_); });
  if (error_) {
    std::exception_ptr e = error_;
    lk.unlock();
    stop_workers();
    std::rethrow_exception(e);  // a worker's error (a corrupt example, say) reaches the caller
  }
  out = std::move(ready_[next_to_hand_]);
  ready_.erase(next_to_hand_);
  ++next_to_hand_;
  lk.unlock();
  cv_.notify_all();
  return true;
}

DataLoader::Iterator::Iterator(DataLoader* l, bool end) : loader_(l), done_(end) {
  if (!end) done_ = !loader_->next(batch_);
}
DataLoader::Iterator& DataLoader::Iterator::operator++() {
  done_ = !loader_->next(batch_);
  return *this;
}
DataLoader::Iterator DataLoader::begin() {
  start_epoch(epochs_started_);
  return Iterator(this, false);
}

}  // namespace tessera::data
