#pragma once
// A caching allocator for device memory (the CUDA backend's, and pinned host memory), written
// against a small RawAllocator interface so that its logic is tested without a GPU.
//
// Like PyTorch's: requests are rounded to 512 bytes and served from segments obtained from the
// raw allocator (2 MiB segments for requests up to 1 MiB, 20 MiB for requests up to 10 MiB,
// the rounded size beyond). A free block is split when a request is smaller, and merged with
// free neighbours of its segment when freed. Blocks belong to the stream they were allocated
// on and are reused only by that stream; a block that another stream used (record_stream) is
// recycled only once events recorded on those streams at free time have completed. When the
// raw allocator fails, the cache is released and the request retried once; then an
// OutOfMemoryError names the request and the statistics, and the allocator stays usable.
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "tessera/core/error.h"

namespace tessera {

class OutOfMemoryError : public Error {
  using Error::Error;
};

using StreamId = uintptr_t;  // an opaque stream handle (0: the default stream)
using EventId = uintptr_t;

// Where the memory comes from: cudaMalloc/cudaFree and CUDA events on a GPU; a fake in tests.
class RawAllocator {
 public:
  virtual ~RawAllocator() = default;
  // nullptr when out of memory (any other failure throws).
  virtual void* raw_malloc(size_t nbytes) = 0;
  virtual void raw_free(void* p) = 0;
  // An event recorded on stream now; event_done tells whether the stream has passed it.
  virtual EventId record_event(StreamId stream) = 0;
  virtual bool event_done(EventId e) = 0;
  virtual void destroy_event(EventId e) = 0;
  virtual std::string name() const = 0;  // for messages: "cuda:0", "pinned host"
};

struct MemoryStats {
  size_t allocated = 0;       // bytes in blocks handed out (rounded sizes)
  size_t reserved = 0;        // bytes in segments obtained from the raw allocator
  size_t peak_allocated = 0;  // since construction or reset_peak_stats()
  size_t peak_reserved = 0;
  size_t requested = 0;       // bytes asked for (unrounded) in live blocks
  int64_t num_allocs = 0;     // allocate() calls served
  int64_t num_segments = 0;   // live segments
  int64_t num_raw_mallocs = 0, num_raw_frees = 0;
  int64_t num_ooms = 0;       // raw allocator failures (including the ones the retry fixed)
  std::string str() const;
};

class CachingAllocator {
 public:
  static constexpr size_t kRound = 512;
  static constexpr size_t kSmallRequest = size_t(1) << 20;  // up to here: the small pool
  static constexpr size_t kSmallSegment = size_t(2) << 20;
  static constexpr size_t kMidRequest = size_t(10) << 20;   // up to here: 20 MiB segments
  static constexpr size_t kMidSegment = size_t(20) << 20;
  static constexpr size_t kLargeRound = size_t(2) << 20;

  explicit CachingAllocator(RawAllocator& raw) : raw_(raw) {}
  ~CachingAllocator();
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // At least nbytes (nullptr for 0 bytes), usable on stream.
  void* allocate(size_t nbytes, StreamId stream = 0);
  void free(void* p);
  // Whether p is a block this allocator handed out and that is not freed yet.
  bool owns(const void* p) const;
  // p is also used on stream: its memory is not reused until that work is done.
  void record_stream(void* p, StreamId stream);
  // Returns every wholly free segment to the raw allocator (after pending events complete).
  void empty_cache();
  MemoryStats stats() const;
  void reset_peak_stats();
  // The size the allocator serves a request with.
  static size_t round_size(size_t nbytes);

 private:
  struct Block {
    Block(char* p, size_t n, StreamId s, bool sm) : ptr(p), size(n), stream(s), small(sm) {}
    char* ptr;
    size_t size;
    size_t requested = 0;
    StreamId stream;
    bool small;
    bool allocated = false;
    int pending_events = 0;
    Block *prev = nullptr, *next = nullptr;  // neighbours within the segment
    std::set<StreamId> used_on;              // other streams (record_stream)
  };
  struct Order {  // free blocks by (stream, size, address): best fit on the same stream
    bool operator()(const Block* a, const Block* b) const {
      if (a->stream != b->stream) return a->stream < b->stream;
      if (a->size != b->size) return a->size < b->size;
      return a->ptr < b->ptr;
    }
  };
  using Pool = std::set<Block*, Order>;

  Block* find_free(Pool& pool, size_t size, StreamId stream);
  Block* new_segment(size_t size, StreamId stream, bool small);
  void release_free_segments();  // caller holds m_
  void release_block(Block* b);  // back to the free pool, merging neighbours
  void process_events();         // recycles blocks whose events completed
  void update_peaks();

  RawAllocator& raw_;
  mutable std::mutex m_;
  Pool small_, large_;
  std::map<void*, Block*> live_;
  std::vector<std::pair<EventId, Block*>> events_;
  MemoryStats st_;
};

}  // namespace tessera
