#pragma once
// oneDNN plumbing shared by matmul.cpp and conv.cpp (internal to the CPU backend).
//
// Threads: oneDNN here is an OpenMP build, and an OpenMP team waits at its barrier for every
// member, also one that another process keeps off its core, and its idle members spin. So oneDNN
// never starts a team: every primitive is created and run single-threaded (the calling thread's
// OpenMP count held at one), and the backend cuts big problems into pieces (batches, rows) that
// run on the thread pool (thread_pool.h), one primitive per piece. Primitives use a scratchpad
// the caller provides, so the same primitive runs on several pool threads at once.
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "tessera/core/tensor.h"

namespace tessera::cpu {

dnnl::engine& dnnl_engine();
// Whether oneDNN's kernels on this machine are its AVX-512 ones (its effective ISA, which the
// CPU and the ONEDNN_MAX_CPU_ISA variable decide, includes avx512_core): the one question behind
// the bfloat16 kernels (dnnl_type), the inference session's channel block (16 or 8) and the
// Winograd kernels (cpu_winograd_available, which asks oneDNN for such a primitive).
bool dnnl_avx512();
// The oneDNN data type of a dtype, or undef when oneDNN cannot compute in it on this CPU.
dnnl::memory::data_type dnnl_type(DType t);
// The attributes every primitive is created with: user-managed scratchpad.
const dnnl::primitive_attr& dnnl_attr();
// A memory descriptor as bytes that tell it apart, for cache keys.
std::string dnnl_key(const dnnl::memory::desc& d);
// The calling thread's stream on dnnl_engine() (made once per thread: a stream per call cost
// an allocation and oneDNN's bookkeeping on every small primitive).
dnnl::stream& dnnl_stream();

// Holds the calling thread's OpenMP thread count at one for a scope (oneDNN reads it when it
// creates and runs primitives).
class DnnlSerial {
 public:
  DnnlSerial();
  ~DnnlSerial();
  DnnlSerial(const DnnlSerial&) = delete;
  DnnlSerial& operator=(const DnnlSerial&) = delete;

 private:
  int saved_;
};

// Whether a float32 convolution (of n images; C -> O channels; OH x OW outputs) should run on
// oneDNN's Winograd kernels (F(4x4, 3x3)): 3x3, stride 1, no dilation, one group, Winograd
// allowed (cpu_winograd_enabled), and where they beat its direct kernels on this machine by
// 1.5-2.5x: at least 32 channels in and out, and at least as many output positions as channels
// (the weight transform is the overhead: 512 channels on 7x7 run 1.5-3x slower in Winograd at 1-2
// images; 256 on 14x14 tie at one image).
bool winograd_suits(int64_t n, int64_t C, int64_t O, int64_t OH, int64_t OW, int64_t KH, int64_t KW,
                    const dnnl::memory::dims& strides, const dnnl::memory::dims& dilates, int64_t groups);

// Whether a bfloat16 product (convolution, matmul) runs as float32 on widened operands, rounded
// once at the end: where oneDNN has no bfloat16 kernels for this CPU (dnnl_type gives undef).
// That is what its bfloat16 kernels compute (float32 accumulation), without their speed-up, and
// far faster than the direct loops (35x on the Rosetta CNN's step on an AVX2 machine: 13.7 s ->
// 0.39 s, docs/benchmarks.md).
bool widen_bf16(DType dt);

// How many pieces a problem of `flops` operations with `items` independent parts (batch
// entries, rows) is cut into for the pool: 1 below a few MFLOP (or with one thread, or inside
// another parallel job), else up to two per thread, each of a MFLOP at least.
int64_t dnnl_pieces(double flops, int64_t items);

// Near-equal pieces of [0, n): piece c is [begin(c), begin(c) + size(c)).
struct Pieces {
  int64_t n, count;
  int64_t begin(int64_t c) const { return c * (n / count) + std::min(c, n % count); }
  int64_t size(int64_t c) const { return n / count + (c < n % count ? 1 : 0); }
};

// One operand of a primitive run: the user's memory (plain layout, at ptr) and the layout the
// primitive wants it in.
struct DnnlArg {
  int id;
  void* ptr;
  dnnl::memory::desc user, want;
  bool output = false;
};

// Runs `prim` on the calling thread (single-threaded): inputs whose user layout differs from the
// wanted one are reordered into scratch buffers first, outputs reordered back after; the
// primitive gets a scratchpad of `scratchpad` bytes of its own.
void dnnl_run(const dnnl::primitive& prim, const dnnl::memory::desc& scratchpad, const std::vector<DnnlArg>& args);
// Copies (converting layout and data type) user memory `src` at sp into `dst` at dp.
void dnnl_reorder(const dnnl::memory::desc& src, const void* sp, const dnnl::memory::desc& dst, void* dp);
// A buffer from the CPU allocator.
Storage dnnl_scratch(size_t bytes);

// A small LRU cache of primitives keyed by a string of shapes and parameters: creating a
// oneDNN primitive costs far more than running a small one. Entries are shared: one evicted
// while another thread runs it stays alive until that run ends.
template <class V>
class PrimitiveCache {
 public:
  template <class Make>
  std::shared_ptr<V> get(const std::string& key, const Make& make) {
    std::lock_guard<std::mutex> g(m_);
    auto it = map_.find(key);
    if (it != map_.end()) {
      order_.splice(order_.begin(), order_, it->second.second);
      return it->second.first;
    }
    if (map_.size() >= 512) {
      map_.erase(order_.back());
      order_.pop_back();
    }
    order_.push_front(key);
    auto& slot = map_.emplace(key, std::make_pair(std::make_shared<V>(make()), order_.begin())).first->second;
    return slot.first;
  }

 private:
  std::mutex m_;
  std::list<std::string> order_;
  std::unordered_map<std::string, std::pair<std::shared_ptr<V>, std::list<std::string>::iterator>> map_;
};

}  // namespace tessera::cpu
