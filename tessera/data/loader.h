#pragma once
// DataLoader: batches of a Dataset, shuffled with a seed, assembled by worker threads ahead of
// the training step (num_workers threads, prefetch batches in flight), in order.
#include <condition_variable>
#include <deque>
#include <exception>
#include <map>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "tessera/data/dataset.h"

namespace tessera::data {

struct LoaderOptions {
  int64_t batch_size = 1;
  bool shuffle = false;
  uint64_t seed = 0;      // with shuffle: epoch e uses the order (seed, e)
  bool drop_last = false;
  int num_workers = 2;    // 0: batches are built on the calling thread
  int prefetch = 4;       // batches prepared ahead
  std::function<Batch(Batch)> collate{};  // applied to each assembled batch (e.g. normalization)
  // Batches in pinned host memory, so copies to a GPU can run asynchronously (like PyTorch,
  // ignored where no GPU is available).
  bool pin_memory = false;
  // Data-parallel sharding (torch's DistributedSampler): every replica shuffles alike (same seed)
  // and takes every num_replicas-th example from position rank, the order padded by wrapping
  // around to a multiple of num_replicas so all replicas run the same number of batches.
  int64_t num_replicas = 1;
  int64_t rank = 0;
  // torch's sampler= and batch_sampler=: the epoch's index order (instead of shuffle/seed, then
  // cut into batch_size pieces and sharded as above), or its batches themselves (instead of all of
  // batch_size, shuffle, sampler, drop_last and sharding, which must keep their defaults).
  std::shared_ptr<const Sampler> sampler{};
  std::shared_ptr<const BatchSampler> batch_sampler{};
};

// The index order of an epoch (a Philox-driven Fisher-Yates shuffle).
std::vector<int64_t> shuffled_indices(int64_t n, uint64_t seed, uint64_t epoch);

class DataLoader {
 public:
  DataLoader(std::shared_ptr<const Dataset> dataset, LoaderOptions o);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  int64_t num_batches() const;
  // Examples this loader hands out per epoch (its shard, with num_replicas > 1; -1 with a
  // batch_sampler, whose batches are known only when an epoch starts).
  int64_t examples() const;
  int64_t size() const { return num_batches(); }
  const Dataset& dataset() const { return *dataset_; }
  const LoaderOptions& options() const { return o_; }

  // Starts an epoch; next() then returns its batches in order, and false at the end.
  void start_epoch(uint64_t epoch);
  bool next(Batch& out);

  // Range-for support: for (Batch& b : loader) ... runs one epoch (counting epochs itself).
  class Iterator {
   public:
    Iterator(DataLoader* l, bool end);
    Batch& operator*() { return batch_; }
    Iterator& operator++();
    bool operator!=(const Iterator& o) const { return done_ != o.done_; }

   private:
    DataLoader* loader_;
    Batch batch_;
    bool done_;
  };
  Iterator begin();
  Iterator end() { return Iterator(this, true); }

 private:
  void stop_workers();
  Batch build(int64_t b) const;

  std::shared_ptr<const Dataset> dataset_;
  LoaderOptions o_;
  std::vector<std::vector<int64_t>> batches_;  // the epoch's
  uint64_t epochs_started_ = 0;
  int64_t next_to_hand_ = 0, next_to_build_ = 0, total_ = 0;
  std::vector<std::thread> workers_;
  std::mutex m_;
  std::condition_variable cv_;
  std::map<int64_t, Batch> ready_;
  std::exception_ptr error_;
  bool stop_ = false;
};

}  // namespace tessera::data
