#pragma once
// Random numbers: a counter-based Philox4x32-10 generator. A draw of n values reserves n
// counters, so a stream is reproducible from (seed, offset) whatever the thread count or device.
#include <cstdint>
#include <mutex>

namespace tessera {

struct Philox4x32 {
  uint32_t v[4];
};

// The Philox4x32-10 block for (key = seed, counter = (offset, subsequence)).
inline Philox4x32 philox4x32(uint64_t seed, uint64_t offset, uint64_t subseq = 0) {
  uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
  uint32_t c0 = uint32_t(offset), c1 = uint32_t(offset >> 32), c2 = uint32_t(subseq), c3 = uint32_t(subseq >> 32);
  for (int r = 0; r < 10; ++r) {
    uint64_t p0 = uint64_t(0xD2511F53u) * c0, p1 = uint64_t(0xCD9E8D57u) * c2;
    uint32_t n0 = uint32_t(p1 >> 32) ^ c1 ^ k0, n2 = uint32_t(p0 >> 32) ^ c3 ^ k1;
    c1 = uint32_t(p1);
    c3 = uint32_t(p0);
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {{c0, c1, c2, c3}};
}

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

}  // namespace tessera
