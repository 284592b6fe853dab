#include "tessera/backend/cpu/cpu_backend.h"

#include <omp.h>
#include <sys/mman.h>

#include <cstdlib>
#include <iterator>
#include <deque>
#include <list>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "tessera/backend/cpu/loops.h"

namespace tessera {

Backend* make_cpu_backend() {
  static cpu::CpuBackend b;
  return &b;
}

void set_num_threads(int n) {
  TS_CHECK_VALUE(n >= 1, "set_num_threads: expected a positive thread count, got ", n);
  cpu::set_pool_threads(n);
  omp_set_num_threads(n);  // oneDNN's threads
}
int get_num_threads() { return cpu::pool_threads(); }

namespace {
// Blocks of 64 KiB and more are kept for reuse when freed: an eager training step frees and
// reallocates the same sizes every step, and a fresh block (which malloc maps anew above its
// mmap threshold) costs a page fault per 4 KiB on first touch, faults that threads writing one
// output in parallel take one at a time. Medium blocks are rounded to 64 KiB; large ones (>= 1
// MiB) to 2 MiB and backed by transparent huge pages. At most the limit (256 MiB by default)
// is kept; empty_cache() returns them to the system.
class BlockCache {
 public:
  static constexpr size_t kMedium = size_t(64) << 10, kLarge = size_t(1) << 20, kHuge = size_t(2) << 20;

  // The size a block of n bytes is cached under.
  static size_t rounded(size_t n) {
    size_t unit = n >= kLarge ? kHuge : kMedium;
    return (n + unit - 1) / unit * unit;
  }

  void* get(size_t size) {
    {
      std::lock_guard<std::mutex> g(m_);
      auto it = free_.find(size);
      if (it != free_.end() && !it->second.empty()) {
        auto entry = it->second.back();  // the most recently freed: likeliest still in cache
        it->second.pop_back();
        void* p = entry->ptr;
        lru_.erase(entry);
        cached_ -= size;
        return p;
      }
    }
    size_t align = size >= kHuge ? kHuge : 64;
    void* p = std::aligned_alloc(align, size);
    if (!p) {
      empty();
      p = std::aligned_alloc(align, size);
    }
    if (p && size >= kHuge) madvise(p, size, MADV_HUGEPAGE);
    return p;
  }
  // Keeps the block; over the limit, the blocks freed longest ago go back to the system first,
  // so the sizes a program is using now stay cached (a full cache of sizes no longer used would
  // otherwise turn every later free into a fresh, page-faulting allocation).
  void put(void* p, size_t size) {
    std::vector<void*> release;
    {
      std::lock_guard<std::mutex> g(m_);
      if (size > limit_) {
        release.push_back(p);
      } else {
        while (cached_ + size > limit_ && !lru_.empty()) {
          Entry& old = lru_.front();
          auto& same = free_[old.size];
          same.pop_front();  // the oldest block overall is the oldest of its size
          cached_ -= old.size;
          release.push_back(old.ptr);
          lru_.pop_front();
        }
        lru_.push_back({p, size});
        free_[size].push_back(std::prev(lru_.end()));
        cached_ += size;
      }
    }
    for (void* q : release) std::free(q);  // outside the lock
  }
  void empty() {
    std::vector<void*> release;
    {
      std::lock_guard<std::mutex> g(m_);
      for (Entry& e : lru_) release.push_back(e.ptr);
      lru_.clear();
      free_.clear();
      cached_ = 0;
    }
    for (void* q : release) std::free(q);
  }
  size_t cached() {
    std::lock_guard<std::mutex> g(m_);
    return cached_;
  }
  void set_limit(size_t bytes) {
    {
      std::lock_guard<std::mutex> g(m_);
      limit_ = bytes;
    }
    if (cached() > bytes) empty();
  }

 private:
  struct Entry {
    void* ptr;
    size_t size;
  };
  std::mutex m_;
  std::list<Entry> lru_;  // cached blocks, the longest-freed first
  std::unordered_map<size_t, std::deque<std::list<Entry>::iterator>> free_;  // by size, oldest first
  size_t cached_ = 0, limit_ = size_t(256) << 20;
};

BlockCache& block_cache() {
  static BlockCache* c = new BlockCache;  // never destroyed: storages may outlive static destructors
  return *c;
}
}  // namespace

void cpu_empty_cache() { block_cache().empty(); }
size_t cpu_cached_bytes() { return block_cache().cached(); }
void set_cpu_cache_limit(size_t bytes) { block_cache().set_limit(bytes); }

namespace cpu {


Storage CpuBackend::allocate(size_t nbytes) {
  if (nbytes >= BlockCache::kMedium) {
    size_t size = BlockCache::rounded(nbytes);
    void* p = block_cache().get(size);
    if (!p) throw Error(detail::str("cpu: out of memory allocating ", nbytes, " bytes"));
    return std::make_shared<StorageImpl>(p, nbytes, Device::cpu(), [size](void* q) { block_cache().put(q, size); });
  }
  // 64-byte alignment for vector loads; at least one byte so every tensor has an address.
  size_t n = (std::max<size_t>(nbytes, 1) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, n);
  if (!p) throw Error(detail::str("cpu: out of memory allocating ", nbytes, " bytes"));
  return std::make_shared<StorageImpl>(p, nbytes, Device::cpu(), [](void* q) { std::free(q); });
}

}  // namespace cpu
}  // namespace tessera
