#pragma once
// Random numbers: the state of a counter-based Philox4x32-10 generator (backend/math/random.h
// holds the block function). A draw of n values reserves n counters, so a stream is reproducible
// from (seed, offset) whatever the thread count or device.
#include <cstdint>
#include <mutex>

namespace tessera {

class Generator {
 public:
  explicit Generator(uint64_t seed = 67280421310721ull) : seed_(seed) {}
  void manual_seed(uint64_t seed) {
    std::lock_guard<std::mutex> g(m_);
    seed_ = seed;
    offset_ = 0;
  }
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  // Restores a state saved from seed() and offset() (checkpoints use this).
  void set_state(uint64_t seed, uint64_t offset) {
    std::lock_guard<std::mutex> g(m_);
    seed_ = seed;
    offset_ = offset;
  }
  // Reserves n Philox blocks and returns the first block's offset.
  uint64_t reserve(uint64_t n) {
    std::lock_guard<std::mutex> g(m_);
    uint64_t o = offset_;
    offset_ += n;
    return o;
  }

 private:
  std::mutex m_;
  uint64_t seed_;
  uint64_t offset_ = 0;
};

// The process-wide generator used when an op is given none.
Generator& default_generator();
// Seeds the default generator (like torch.manual_seed).
void manual_seed(uint64_t seed);
// A 64-bit seed drawn from g (one Philox block), for things that keep their own stream (samplers,
// random_split, a loader's shuffle) but follow manual_seed.
uint64_t draw_seed(Generator& g);

}  // namespace tessera
