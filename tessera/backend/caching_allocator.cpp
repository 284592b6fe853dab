#include "tessera/backend/caching_allocator.h"

#include <algorithm>
#include <cstdio>

namespace tessera {

namespace {
std::string mib(size_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", double(bytes) / double(1 << 20));
  return buf;
}
}  // namespace

std::string MemoryStats::str() const {
  return "allocated " + mib(allocated) + ", reserved " + mib(reserved) + " in " + std::to_string(num_segments) +
         " segments, peak allocated " + mib(peak_allocated) + ", peak reserved " + mib(peak_reserved);
}

size_t CachingAllocator::round_size(size_t nbytes) {
  if (nbytes < kRound) return kRound;
  return (nbytes + kRound - 1) / kRound * kRound;
}

CachingAllocator::~CachingAllocator() {
  std::lock_guard<std::mutex> g(m_);
  process_events();
  // Blocks still handed out, or still in use by a stream, stay where they are (their segments are
  // not released); wholly free segments go back.
  for (auto& [e, b] : events_) raw_.destroy_event(e);
  events_.clear();
  release_free_segments();
}

CachingAllocator::Block* CachingAllocator::find_free(Pool& pool, size_t size, StreamId stream) {
  Block key(nullptr, size, stream, false);
  auto it = pool.lower_bound(&key);
  if (it == pool.end() || (*it)->stream != stream) return nullptr;
  Block* b = *it;
  pool.erase(it);
  return b;
}

CachingAllocator::Block* CachingAllocator::new_segment(size_t size, StreamId stream, bool small) {
  void* p = raw_.raw_malloc(size);
  if (!p) return nullptr;
  st_.reserved += size;
  st_.num_segments++;
  st_.num_raw_mallocs++;
  return new Block(static_cast<char*>(p), size, stream, small);
}

void* CachingAllocator::allocate(size_t nbytes, StreamId stream) {
  if (nbytes == 0) return nullptr;
  std::lock_guard<std::mutex> g(m_);
  process_events();
  size_t size = round_size(nbytes);
  bool small = size <= kSmallRequest;
  Pool& pool = small ? small_ : large_;
  Block* b = find_free(pool, size, stream);
  if (!b) {
    size_t seg = small ? kSmallSegment
                       : size <= kMidRequest ? kMidSegment : (size + kLargeRound - 1) / kLargeRound * kLargeRound;
    b = new_segment(seg, stream, small);
    if (!b) {  // out of memory: give the cache back and try once more
      st_.num_ooms++;
      release_free_segments();
      b = new_segment(seg, stream, small);
    }
    if (!b)
      throw OutOfMemoryError(detail::str(raw_.name(), ": out of memory allocating ", nbytes, " bytes (a ", mib(seg),
                                         " segment) after releasing the cache and retrying; ", st_.str()));
  }
  size_t rest = b->size - size;
  if (small ? rest >= kRound : rest > kSmallRequest) {  // split; the remainder stays free
    Block* r = new Block(b->ptr + size, rest, stream, small);
    r->prev = b;
    r->next = b->next;
    if (b->next) b->next->prev = r;
    b->next = r;
    b->size = size;
    pool.insert(r);
  }
  b->allocated = true;
  b->requested = nbytes;
  live_[b->ptr] = b;
  st_.allocated += b->size;
  st_.requested += nbytes;
  st_.num_allocs++;
  update_peaks();
  return b->ptr;
}

void CachingAllocator::free(void* p) {
  if (!p) return;
  std::lock_guard<std::mutex> g(m_);
  auto it = live_.find(p);
  TS_CHECK_VALUE(it != live_.end(), raw_.name(), ": free of a pointer the caching allocator did not hand out");
  Block* b = it->second;
  live_.erase(it);
  st_.allocated -= b->size;
  st_.requested -= b->requested;
  b->allocated = false;
  if (!b->used_on.empty()) {  // wait for the other streams' work on it
    for (StreamId s : b->used_on) {
      events_.emplace_back(raw_.record_event(s), b);
      b->pending_events++;
    }
    b->used_on.clear();
    return;
  }
  release_block(b);
}

bool CachingAllocator::owns(const void* p) const {
  std::lock_guard<std::mutex> g(m_);
  return live_.count(const_cast<void*>(p)) > 0;
}

void CachingAllocator::record_stream(void* p, StreamId stream) {
  std::lock_guard<std::mutex> g(m_);
  auto it = live_.find(p);
  TS_CHECK_VALUE(it != live_.end(), raw_.name(), ": record_stream on a pointer the caching allocator did not hand out");
  if (stream != it->second->stream) it->second->used_on.insert(stream);
}

void CachingAllocator::release_block(Block* b) {
  Pool& pool = b->small ? small_ : large_;
  auto is_free = [](const Block* n) { return n && !n->allocated && n->pending_events == 0; };
  // Absorbs `second` (the block right after `first` in their segment, out of the pool) into `first`.
  auto absorb = [](Block* first, Block* second) {
    first->size += second->size;
    first->next = second->next;
    if (second->next) second->next->prev = first;
    delete second;
  };
  if (is_free(b->prev)) {
    Block* p = b->prev;
    pool.erase(p);
    absorb(p, b);
    b = p;
  }
  if (is_free(b->next)) {
    pool.erase(b->next);
    absorb(b, b->next);
  }
  pool.insert(b);
}

void CachingAllocator::process_events() {
  auto done = std::stable_partition(events_.begin(), events_.end(),
                                    [&](const std::pair<EventId, Block*>& e) { return !raw_.event_done(e.first); });
  for (auto it = done; it != events_.end(); ++it) {
    raw_.destroy_event(it->first);
    if (--it->second->pending_events == 0) release_block(it->second);
  }
  events_.erase(done, events_.end());
}

void CachingAllocator::release_free_segments() {
  for (Pool* pool : {&small_, &large_}) {
    for (auto it = pool->begin(); it != pool->end();) {
      Block* b = *it;
      if (b->prev || b->next) {
        ++it;
        continue;
      }
      raw_.raw_free(b->ptr);
      st_.reserved -= b->size;
      st_.num_segments--;
      st_.num_raw_frees++;
      it = pool->erase(it);
      delete b;
    }
  }
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> g(m_);
  process_events();
  release_free_segments();
}

MemoryStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> g(m_);
  return st_;
}

void CachingAllocator::reset_peak_stats() {
  std::lock_guard<std::mutex> g(m_);
  st_.peak_allocated = st_.allocated;
  st_.peak_reserved = st_.reserved;
}

void CachingAllocator::update_peaks() {
  st_.peak_allocated = std::max(st_.peak_allocated, st_.allocated);
  st_.peak_reserved = std::max(st_.peak_reserved, st_.reserved);
}

}  // namespace tessera
