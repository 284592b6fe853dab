#include "tessera/backend/cpu/cpu_backend.h"

#include <sys/mman.h>

#include <cstdlib>
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
  omp_set_num_threads(n);
}
int get_num_threads() { return omp_get_max_threads(); }

namespace {
// Large blocks (>= 1 MiB) are rounded to 2 MiB, backed by transparent huge pages, and kept for
// reuse when freed: an eager training step frees and reallocates the same sizes every step,
// and a fresh block costs a page fault per 4 KiB on first touch. At most kCacheLimit bytes
// are kept; empty_cache() returns them to the system.
class BlockCache {
 public:
  static constexpr size_t kLarge = size_t(1) << 20, kHuge = size_t(2) << 20;

  void* get(size_t size) {
    {
      std::lock_guard<std::mutex> g(m_);
      auto it = free_.find(size);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cached_ -= size;
        return p;
      }
    }
    void* p = std::aligned_alloc(kHuge, size);
    if (!p) {
      empty();
      p = std::aligned_alloc(kHuge, size);
    }
    if (p) madvise(p, size, MADV_HUGEPAGE);
    return p;
  }
  void put(void* p, size_t size) {
    std::lock_guard<std::mutex> g(m_);
    if (cached_ + size > limit_) {
      std::free(p);
      return;
    }
    free_[size].push_back(p);
    cached_ += size;
  }
  void empty() {
    std::lock_guard<std::mutex> g(m_);
    for (auto& [size, blocks] : free_)
      for (void* p : blocks) std::free(p);
    free_.clear();
    cached_ = 0;
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
  std::mutex m_;
  std::unordered_map<size_t, std::vector<void*>> free_;
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
  if (nbytes >= BlockCache::kLarge) {
    size_t size = (nbytes + BlockCache::kHuge - 1) / BlockCache::kHuge * BlockCache::kHuge;
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
