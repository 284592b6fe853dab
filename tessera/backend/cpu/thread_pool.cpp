#include "tessera/backend/cpu/thread_pool.h"

#include <omp.h>
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TS_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define TS_CPU_RELAX() asm volatile("yield")
#else
#define TS_CPU_RELAX() ((void)0)
#endif

namespace tessera::cpu {
namespace {

// How long an idle worker watches for the next job before sleeping in the kernel. Eager graphs
// issue an op every few microseconds, so a worker that just finished one usually finds the next
// within this window; between bursts of watching it yields its core to any other runnable
// thread, so that it takes no time from the caller or another process sharing that core.
constexpr auto kWorkerSpin = std::chrono::microseconds(2000);
// How long the caller watches for chunks held by workers before sleeping until they finish. It
// does not yield meanwhile: the worker usually runs on its own core, and a system call per
// burst would cost more than the wait.
constexpr auto kCallerSpin = std::chrono::microseconds(20);

struct Job {
  void (*fn)(void*, int64_t) = nullptr;
  void* ctx = nullptr;
  int64_t chunks = 0;
  int caller_cpu = -1;           // where the caller runs: a worker on the same core stays out
  std::atomic<int64_t> next{0};  // the next unclaimed chunk
  std::atomic<int64_t> done{0};  // chunks finished or skipped
  std::atomic<bool> failed{false};
  std::exception_ptr error;  // written once, by the chunk that set `failed`
};

thread_local bool t_in_parallel = false;

// Claims and runs chunks until none are left.
void work_on(Job& job) {
  for (;;) {
    int64_t c = job.next.fetch_add(1, std::memory_order_relaxed);
    if (c >= job.chunks) return;
    if (!job.failed.load(std::memory_order_relaxed)) {
      try {
        job.fn(job.ctx, c);
      } catch (...) {
        bool expected = false;
        if (job.failed.compare_exchange_strong(expected, true)) job.error = std::current_exception();
      }
    }
    if (job.done.fetch_add(1, std::memory_order_acq_rel) + 1 == job.chunks) job.done.notify_all();
  }
}

// Spins until done() or `budget` passes; returns done(). After `yield_after` it yields the core
// between bursts of 64 checks.
template <class Done, class Dur1, class Dur2>
bool spin_until(const Done& done, Dur1 budget, Dur2 yield_after) {
  if (done()) return true;
  auto start = std::chrono::steady_clock::now(), until = start + budget, yield_from = start + yield_after;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      TS_CPU_RELAX();
      if (done()) return true;
    }
    auto now = std::chrono::steady_clock::now();
    if (now >= until) return false;
    if (now >= yield_from) sched_yield();
  }
}

class Pool {
 public:
  explicit Pool(int threads) : threads_(threads) {}

  int threads() const { return threads_.load(std::memory_order_relaxed); }

  void set_threads(int n) { threads_.store(n, std::memory_order_relaxed); }

  void run(int64_t chunks, void (*fn)(void*, int64_t), void* ctx) {
    int nt = threads();
    if (chunks == 1 || nt <= 1 || t_in_parallel || busy_.exchange(true, std::memory_order_acquire)) {
      for (int64_t c = 0; c < chunks; ++c) fn(ctx, c);
      return;
    }
    start_workers(nt - 1);
    auto job = std::make_shared<Job>();
    job->fn = fn;
    job->ctx = ctx;
    job->chunks = chunks;
    job->caller_cpu = sched_getcpu();
    {
      std::lock_guard<std::mutex> g(m_);
      current_ = job;
    }
    generation_.fetch_add(1, std::memory_order_release);
    generation_.notify_all();
    t_in_parallel = true;
    work_on(*job);
    t_in_parallel = false;
    auto all_done = [&] { return job->done.load(std::memory_order_acquire) == chunks; };
    if (!spin_until(all_done, kCallerSpin, kCallerSpin)) {
      // A worker still holds a chunk: sleep until the last one is done.
      for (int64_t d; (d = job->done.load(std::memory_order_acquire)) != chunks;)
        job->done.wait(d, std::memory_order_acquire);
    }
    {
      std::lock_guard<std::mutex> g(m_);
      current_.reset();
    }
    busy_.store(false, std::memory_order_release);
    if (job->error) std::rethrow_exception(job->error);
  }

 private:
  void start_workers(int n) {
    if (started_.load(std::memory_order_acquire) >= n) return;
    std::lock_guard<std::mutex> g(spawn_m_);
    for (int i = started_.load(std::memory_order_relaxed); i < n; ++i) {
      std::thread([this, i] { worker(i); }).detach();  // the pool lives as long as the process
      started_.store(i + 1, std::memory_order_release);
    }
  }

  void worker(int index) {
    t_in_parallel = true;
    uint32_t seen = generation_.load(std::memory_order_acquire);
    for (;;) {
      uint32_t g;
      auto changed = [&] { return (g = generation_.load(std::memory_order_acquire)) != seen; };
      if (!spin_until(changed, kWorkerSpin, std::chrono::microseconds(0)))
        while (!changed()) generation_.wait(seen, std::memory_order_acquire);
      seen = g;
      if (index + 1 >= threads()) continue;  // set_num_threads lowered the count
      std::shared_ptr<Job> job;
      {
        std::lock_guard<std::mutex> lk(m_);
        job = current_;
      }
      // A worker the OS put on the caller's core would only take turns with it.
      if (job) work_on(*job);
    }
  }

  std::atomic<int> threads_;
  std::atomic<int> started_{0};
  std::atomic<bool> busy_{false};  // a job holds the pool; other callers run serially
  std::atomic<uint32_t> generation_{0};
  std::mutex m_, spawn_m_;
  std::shared_ptr<Job> current_;
};

std::atomic<Pool*> g_pool{nullptr};

int default_threads() { return std::max(1, omp_get_max_threads()); }

Pool& pool() {
  Pool* p = g_pool.load(std::memory_order_acquire);
  if (p) return *p;
  static std::once_flag once;
  std::call_once(once, [] {
    // A forked child has none of the parent's workers: it starts a fresh pool (the old one,
    // whose mutexes a parent thread may have held, is left alone).
    pthread_atfork(nullptr, nullptr, [] {
      Pool* old = g_pool.load(std::memory_order_relaxed);
      g_pool.store(new Pool(old ? old->threads() : default_threads()), std::memory_order_release);
      t_in_parallel = false;
    });
    g_pool.store(new Pool(default_threads()), std::memory_order_release);
  });
  return *g_pool.load(std::memory_order_acquire);
}

}  // namespace

int pool_threads() { return pool().threads(); }
void set_pool_threads(int n) { pool().set_threads(n); }
bool in_parallel_region() { return t_in_parallel; }

void run_chunks(int64_t chunks, void (*fn)(void*, int64_t), void* ctx) {
  if (chunks <= 0) return;
  pool().run(chunks, fn, ctx);
}

}  // namespace tessera::cpu
