// The caching allocator's logic against a fake device: a capacity-limited malloc and events
// the test completes by hand. Also the CPU backend's cache of freed blocks.
#include "tessera/backend/caching_allocator.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <random>
#include <set>
#include <thread>

#include "tessera/tessera.h"

using namespace tessera;

namespace {
constexpr size_t MiB = size_t(1) << 20;

class FakeDevice : public RawAllocator {
 public:
  explicit FakeDevice(size_t capacity) : capacity_(capacity) {}
  ~FakeDevice() override { EXPECT_EQ(in_use_, 0u) << "segments leaked"; }
  void* raw_malloc(size_t n) override {
    if (in_use_ + n > capacity_) return nullptr;
    in_use_ += n;
    mallocs++;
    void* p = std::malloc(n);
    sizes_[p] = n;
    return p;
  }
  void raw_free(void* p) override {
    in_use_ -= sizes_.at(p);
    sizes_.erase(p);
    frees++;
    std::free(p);
  }
  EventId record_event(StreamId s) override {
    EventId e = ++next_event_;
    pending_.insert(e);
    streams_[e] = s;
    return e;
  }
  bool event_done(EventId e) override { return !pending_.count(e); }
  void destroy_event(EventId e) override {
    EXPECT_FALSE(pending_.count(e)) << "destroyed an event that had not completed";
    destroyed++;
  }
  std::string name() const override { return "fake:0"; }
  void complete_all() { pending_.clear(); }
  void complete_stream(StreamId s) {
    for (auto it = pending_.begin(); it != pending_.end();)
      it = streams_[*it] == s ? pending_.erase(it) : std::next(it);
  }
  size_t in_use() const { return in_use_; }
  int mallocs = 0, frees = 0, destroyed = 0;

 private:
  size_t capacity_, in_use_ = 0;
  std::map<void*, size_t> sizes_;
  std::set<EventId> pending_;
  std::map<EventId, StreamId> streams_;
  EventId next_event_ = 0;
};
}  // namespace

TEST(CachingAllocator, RoundsAndBinsRequests) {
  EXPECT_EQ(CachingAllocator::round_size(1), 512u);
  EXPECT_EQ(CachingAllocator::round_size(512), 512u);
  EXPECT_EQ(CachingAllocator::round_size(513), 1024u);
  FakeDevice dev(1024 * MiB);
  CachingAllocator a(dev);
  EXPECT_EQ(a.allocate(0), nullptr);
  void* p = a.allocate(100);  // small pool: one 2 MiB segment
  EXPECT_EQ(a.stats().reserved, 2 * MiB);
  EXPECT_EQ(a.stats().allocated, 512u);
  EXPECT_EQ(a.stats().requested, 100u);
  void* q = a.allocate(3 * MiB);  // mid: a 20 MiB segment
  EXPECT_EQ(a.stats().reserved, 22 * MiB);
  void* r = a.allocate(25 * MiB + 1);  // large (and over the 17 MiB left free): rounded to 2 MiB
  EXPECT_EQ(a.stats().reserved, 22 * MiB + 26 * MiB);
  EXPECT_EQ(a.stats().num_segments, 3);
  std::memset(p, 1, 100);
  std::memset(q, 2, 3 * MiB);
  std::memset(r, 3, 25 * MiB + 1);
  a.free(p);
  a.free(q);
  a.free(r);
  EXPECT_EQ(a.stats().allocated, 0u);
  EXPECT_EQ(a.stats().reserved, 48 * MiB);  // cached
  a.empty_cache();
  EXPECT_EQ(a.stats().reserved, 0u);
  EXPECT_EQ(dev.in_use(), 0u);
}

TEST(CachingAllocator, SplitsReusesAndMerges) {
  FakeDevice dev(1024 * MiB);
  CachingAllocator a(dev);
  // Four 512 KiB blocks come out of one 2 MiB segment, back to back.
  std::vector<char*> ps;
  for (int i = 0; i < 4; ++i) ps.push_back(static_cast<char*>(a.allocate(512 * 1024)));
  EXPECT_EQ(dev.mallocs, 1);
  for (int i = 1; i < 4; ++i) EXPECT_EQ(ps[i], ps[i - 1] + 512 * 1024);
  // Freed blocks are reused without new segments; a freed neighbour pair merges.
  a.free(ps[1]);
  a.free(ps[2]);
  char* big = static_cast<char*>(a.allocate(1024 * 1024));  // fits only in the merged pair
  EXPECT_EQ(big, ps[1]);
  EXPECT_EQ(dev.mallocs, 1);
  a.free(big);
  a.free(ps[0]);
  a.free(ps[3]);
  // Everything merged back into one free segment, which empty_cache returns.
  a.empty_cache();
  EXPECT_EQ(dev.frees, 1);
  EXPECT_EQ(a.stats().num_segments, 0);
  // A large segment is split when the remainder is over 1 MiB, not otherwise.
  void* x = a.allocate(2 * MiB);  // 20 MiB segment: 18 MiB stay free
  void* y = a.allocate(17 * MiB);
  EXPECT_EQ(dev.mallocs, 2);
  EXPECT_EQ(static_cast<char*>(y), static_cast<char*>(x) + 2 * MiB);
  EXPECT_EQ(a.stats().allocated, 20 * MiB);  // 2 + 18: the 1 MiB tail is not split off
  a.free(x);
  a.free(y);
}

TEST(CachingAllocator, BlocksBelongToTheirStream) {
  FakeDevice dev(1024 * MiB);
  CachingAllocator a(dev);
  void* p = a.allocate(4096, /*stream=*/1);
  a.free(p);
  void* q = a.allocate(4096, /*stream=*/2);  // not stream 1's cached block
  EXPECT_NE(q, p);
  EXPECT_EQ(dev.mallocs, 2);
  void* r = a.allocate(4096, /*stream=*/1);  // stream 1 gets its block back
  EXPECT_EQ(r, p);
  a.free(q);
  a.free(r);
}

TEST(CachingAllocator, RecordStreamDefersReuseUntilTheWorkIsDone) {
  FakeDevice dev(1024 * MiB);
  CachingAllocator a(dev);
  void* p = a.allocate(4096, 1);
  a.record_stream(p, 2);
  a.record_stream(p, 1);  // its own stream: nothing to wait for
  a.free(p);
  void* q = a.allocate(4096, 1);  // the kernel on stream 2 may still read p
  EXPECT_NE(q, p);
  dev.complete_stream(2);
  void* r = a.allocate(4096, 1);  // now p is recycled
  EXPECT_EQ(r, p);
  EXPECT_EQ(dev.destroyed, 1);
  a.free(q);
  a.free(r);
  // empty_cache does not release a segment whose block still waits for an event.
  void* s = a.allocate(3 * MiB, 1);
  a.record_stream(s, 3);
  a.free(s);
  MemoryStats before = a.stats();
  a.empty_cache();
  EXPECT_EQ(a.stats().num_segments, before.num_segments - 1);  // the small segment went back
  dev.complete_all();
  a.empty_cache();
  EXPECT_EQ(a.stats().num_segments, 0);
}

TEST(CachingAllocator, StatisticsAndPeaks) {
  FakeDevice dev(1024 * MiB);
  CachingAllocator a(dev);
  void* p = a.allocate(5 * MiB);
  void* q = a.allocate(1000);
  MemoryStats s = a.stats();
  EXPECT_EQ(s.allocated, 5 * MiB + 1024);
  EXPECT_EQ(s.peak_allocated, s.allocated);
  EXPECT_EQ(s.reserved, 22 * MiB);
  EXPECT_EQ(s.num_allocs, 2);
  a.free(p);
  EXPECT_EQ(a.stats().peak_allocated, 5 * MiB + 1024);
  a.reset_peak_stats();
  EXPECT_EQ(a.stats().peak_allocated, 1024u);
  EXPECT_EQ(a.stats().peak_reserved, 22 * MiB);
  a.free(q);
  EXPECT_NE(s.str().find("allocated 5.0 MiB"), std::string::npos) << s.str();
}

TEST(CachingAllocator, OutOfMemoryReleasesTheCacheRetriesThenThrowsAndStaysUsable) {
  FakeDevice dev(64 * MiB);
  CachingAllocator a(dev);
  void* p = a.allocate(30 * MiB);
  a.free(p);  // 30 MiB cached
  void* q = a.allocate(40 * MiB);  // does not fit beside the cache: released, retried, served
  EXPECT_NE(q, nullptr);
  EXPECT_EQ(a.stats().num_ooms, 1);
  EXPECT_EQ(a.stats().reserved, 40 * MiB);
  try {
    a.allocate(100 * MiB);
    FAIL() << "expected OutOfMemoryError";
  } catch (const OutOfMemoryError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("fake:0: out of memory allocating 104857600 bytes"), std::string::npos) << m;
    EXPECT_NE(m.find("reserved 40.0 MiB"), std::string::npos) << m;
  }
  void* r = a.allocate(10 * MiB);  // still usable
  EXPECT_NE(r, nullptr);
  a.free(q);
  a.free(r);
  EXPECT_THROW(a.free(reinterpret_cast<void*>(0x1234)), ValueError);
  a.empty_cache();
}

TEST(CachingAllocator, RandomWorkloadKeepsBlocksDisjointAndAccountsExactly) {
  FakeDevice dev(4096 * MiB);
  CachingAllocator a(dev);
  std::mt19937_64 rng(std::random_device{}());
  std::map<char*, size_t> live;
  size_t allocated = 0, requested = 0;
  for (int i = 0; i < 4000; ++i) {
    if (live.empty() || rng() % 3) {
      size_t n = rng() % 4 == 0 ? 1 + rng() % (12 * MiB) : 1 + rng() % 200000;
      auto* p = static_cast<char*>(a.allocate(n, rng() % 2));
      auto next = live.lower_bound(p);  // no overlap with live blocks
      if (next != live.end()) {
        ASSERT_LE(p + n, next->first);
      }
      if (next != live.begin()) {
        ASSERT_LE(std::prev(next)->first + std::prev(next)->second, p);
      }
      p[0] = 1;
      p[n - 1] = 1;
      live[p] = n;
      allocated += CachingAllocator::round_size(n);
      requested += n;
    } else {
      auto it = live.begin();
      std::advance(it, rng() % live.size());
      allocated -= CachingAllocator::round_size(it->second);
      requested -= it->second;
      a.free(it->first);
      live.erase(it);
    }
    ASSERT_LE(allocated, a.stats().allocated);  // large blocks may keep an unsplit tail
    ASSERT_EQ(requested, a.stats().requested);
    if (i % 500 == 0) a.empty_cache();
  }
  for (auto& [p, n] : live) a.free(p);
  EXPECT_EQ(a.stats().allocated, 0u);
  EXPECT_EQ(a.stats().requested, 0u);
  a.empty_cache();
  EXPECT_EQ(a.stats().reserved, 0u);
}

TEST(CachingAllocator, ThreadSafe) {
  FakeDevice dev(4096 * MiB);
  CachingAllocator a(dev);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&a, t] {
      std::mt19937 rng(t);
      std::vector<void*> mine;
      for (int i = 0; i < 2000; ++i) {
        if (mine.size() < 20 && rng() % 2) mine.push_back(a.allocate(1 + rng() % 100000, t % 2));
        else if (!mine.empty()) {
          a.free(mine.back());
          mine.pop_back();
        }
      }
      for (void* p : mine) a.free(p);
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(a.stats().allocated, 0u);
  a.empty_cache();
}

// The CPU backend's cache of freed blocks (64 KiB and more; set_cpu_cache_limit,
// cpu_cached_bytes, cpu_empty_cache): a freed block is reused by the next tensor of its size,
// small blocks go back to malloc, over the limit the blocks freed longest ago are released first,
// and a limit of 0 keeps nothing.
TEST(CpuBlockCache, ReusesFreedBlocksWithinTheLimit) {
  cpu_empty_cache();
  EXPECT_EQ(cpu_cached_bytes(), 0u);
  const int64_t four_mib = int64_t(1) << 20, two_mib = int64_t(1) << 19;  // floats
  void* a_at;
  {
    Tensor a = empty({four_mib});
    a_at = a.data_ptr();
  }
  EXPECT_EQ(cpu_cached_bytes(), 4 * MiB);
  {
    Tensor b = empty({four_mib});
    EXPECT_EQ(b.data_ptr(), a_at);  // the cached block, not a fresh one
    EXPECT_EQ(cpu_cached_bytes(), 0u);
  }
  { Tensor small = empty({1000}); }  // 4 KB: malloc's
  EXPECT_EQ(cpu_cached_bytes(), 4 * MiB);

  set_cpu_cache_limit(5 * MiB);
  void* c_at;
  {
    Tensor c = empty({two_mib});
    c_at = c.data_ptr();
  }
  EXPECT_EQ(cpu_cached_bytes(), 2 * MiB);  // the older 4 MiB block went back to make room
  {
    Tensor again = empty({two_mib});
    EXPECT_EQ(again.data_ptr(), c_at);
  }
  set_cpu_cache_limit(0);
  EXPECT_EQ(cpu_cached_bytes(), 0u);
  { Tensor d = empty({four_mib}); }
  EXPECT_EQ(cpu_cached_bytes(), 0u);

  set_cpu_cache_limit(256 * MiB);  // the default
  { Tensor e = empty({four_mib}); }
  EXPECT_EQ(cpu_cached_bytes(), 4 * MiB);
  cpu_empty_cache();
  EXPECT_EQ(cpu_cached_bytes(), 0u);
}
