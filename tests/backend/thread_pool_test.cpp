// The CPU thread pool and the thread policy: every chunk runs once, errors come back to the
// caller, nested and concurrent jobs, a forked child, results independent of the thread count,
// and small ops that do not wait for a thread the OS has not scheduled.
#include "tessera/backend/cpu/thread_pool.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "tessera/backend/cpu/loops.h"
#include "tessera/tessera.h"

namespace tessera {
namespace {

// Restores the thread count a test changed.
struct ThreadsGuard {
  int saved = get_num_threads();
  ~ThreadsGuard() { set_num_threads(saved); }
};

TEST(ThreadPool, EveryChunkRunsExactlyOnce) {
  ThreadsGuard guard;
  for (int nt : {1, 2, 3, 5}) {
    set_num_threads(nt);
    for (int64_t chunks : {1, 2, 7, 64, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(chunks));
      for (int rep = 0; rep < 20; ++rep) cpu::parallel_chunks(chunks, [&](int64_t c) { hits[size_t(c)]++; });
      for (int64_t c = 0; c < chunks; ++c) ASSERT_EQ(hits[size_t(c)].load(), 20) << nt << " threads, chunk " << c;
    }
  }
}

TEST(ThreadPool, ParallelForCoversTheRangeInDisjointPieces) {
  ThreadsGuard guard;
  set_num_threads(3);
  for (int64_t n : {int64_t(0), int64_t(1), int64_t(999), int64_t(100000), int64_t(1234567)}) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    cpu::parallel_for(n, 1000, [&](int64_t b, int64_t e) {
      ASSERT_LE(0, b);
      ASSERT_LT(b, e);
      ASSERT_LE(e, n);
      for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
    });
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[size_t(i)].load(), 1) << "n=" << n << " i=" << i;
  }
}

TEST(ThreadPool, SmallWorkStaysOnTheCallingThread) {
  ThreadsGuard guard;
  set_num_threads(4);
  auto caller = std::this_thread::get_id();
  std::atomic<int> elsewhere{0};
  cpu::parallel_for(1000, 1000, [&](int64_t, int64_t) { elsewhere += std::this_thread::get_id() != caller; });
  cpu::parallel_for(32768, 32768, [&](int64_t, int64_t) { elsewhere += std::this_thread::get_id() != caller; });
  EXPECT_EQ(elsewhere.load(), 0);
  EXPECT_EQ(cpu::chunks_for(1000, 1000), 1);
  EXPECT_EQ(cpu::chunks_for(1001, 1000), 2);
  EXPECT_EQ(cpu::chunks_for(int64_t(1) << 40, 1000), 4 * cpu::kChunksPerThread);
  set_num_threads(1);
  EXPECT_EQ(cpu::chunks_for(int64_t(1) << 40, 1000), 1);
}

TEST(ThreadPool, AnErrorInAChunkReachesTheCallerAndThePoolStaysUsable) {
  ThreadsGuard guard;
  set_num_threads(2);
  for (int rep = 0; rep < 50; ++rep) {
    EXPECT_THROW(cpu::parallel_chunks(16,
                                      [&](int64_t c) {
                                        if (c == rep % 16) throw std::runtime_error("chunk failed");
                                      }),
                 std::runtime_error);
  }
  std::atomic<int64_t> sum{0};
  cpu::parallel_chunks(100, [&](int64_t c) { sum += c; });
  EXPECT_EQ(sum.load(), 4950);
  // Ops go on working after a kernel raised.
  Tensor a = arange(0, 100000, 1, {DType::Float64});
  EXPECT_DOUBLE_EQ(ops::sum(a).item<double>(), 4999950000.0);
}

TEST(ThreadPool, NestedJobsRunSeriallyInsideTheOuterChunk) {
  ThreadsGuard guard;
  set_num_threads(3);
  std::atomic<int> total{0}, nested_elsewhere{0};
  cpu::parallel_chunks(12, [&](int64_t) {
    EXPECT_TRUE(cpu::in_parallel_region());
    auto me = std::this_thread::get_id();
    cpu::parallel_chunks(10, [&](int64_t) {
      total++;
      nested_elsewhere += std::this_thread::get_id() != me;
    });
  });
  EXPECT_EQ(total.load(), 120);
  EXPECT_EQ(nested_elsewhere.load(), 0);
  EXPECT_FALSE(cpu::in_parallel_region());
}

TEST(ThreadPool, ConcurrentCallersEachGetTheirWholeJob) {
  ThreadsGuard guard;
  set_num_threads(3);
  std::vector<std::thread> callers;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t)
    callers.emplace_back([&, t] {
      for (int rep = 0; rep < 200; ++rep) {
        int64_t chunks = 1 + (rep * 7 + t) % 40;
        std::vector<std::atomic<int>> hits(static_cast<size_t>(chunks));
        cpu::parallel_chunks(chunks, [&](int64_t c) { hits[size_t(c)]++; });
        for (auto& h : hits) bad += h.load() != 1;
      }
    });
  for (auto& c : callers) c.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(ThreadPool, AForkedChildRunsParallelJobs) {
  ThreadsGuard guard;
  set_num_threads(2);
  cpu::parallel_chunks(8, [](int64_t) {});  // the parent's workers exist
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::atomic<int> n{0};
    cpu::parallel_chunks(64, [&](int64_t) { n++; });
    Tensor a = ones({1 << 20});
    _exit(n.load() == 64 && ops::sum(a).item<double>() == double(1 << 20) ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(ThreadPool, ResultsDoNotDependOnTheThreadCount) {
  ThreadsGuard guard;
  manual_seed(7);
  Tensor x = randn({3, 1 << 19}), y = randn({1 << 21});
  std::vector<std::vector<float>> seen;
  for (int nt : {1, 2, 3, 4}) {
    set_num_threads(nt);
    std::vector<float> v;
    for (const Tensor& r : {ops::sum(x, {1}), ops::sum(y), ops::mean(y, {0}), ops::sum(x, {0}), x.std(Shape{1})})
      for (float f : r.reshape({-1}).tolist<float>()) v.push_back(f);
    seen.push_back(v);
  }
  for (size_t k = 1; k < seen.size(); ++k) EXPECT_EQ(seen[k], seen[0]) << "threads " << k + 1 << " vs 1";
}

// The thread policy: with two threads sharing one core (as when another process keeps the other
// core busy), a chain of small ops must not wait for the second thread at every op. With workers
// that spin or a static split, each op waits a scheduler time slice for the worker and the chain
// runs a hundred times slower; here the caller takes what the worker has not started.
TEST(ThreadPolicy, TwoThreadsOnOneCoreAreNotMuchSlowerThanOne) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu(), &one);
    if (sched_setaffinity(0, sizeof one, &one) != 0) _exit(3);
    auto chain = [] {
      Tensor a = randn({64, 64}), w = randn({64, 64}), big = randn({1 << 17});
      Tensor img = randn({4, 16, 16, 16}), k = randn({16, 16, 3, 3});
      auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < 300; ++i) {
        Tensor h = ops::relu(ops::matmul(a, w) + 1.0f);
        Tensor s = (big * 2.0f).sum();                                     // parallel at two threads: 128K elements
        Tensor c = ops::conv2d(img, k, {}, Conv2dParams{{1, 1}, {1, 1}});  // 4.7 MFLOP: in pieces
        (void)h;
        (void)s;
        (void)c;
      }
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    set_num_threads(1);
    chain();
    double one_thread = chain();
    set_num_threads(2);
    chain();
    double two_threads = chain();
    // A generous bound: the failure this guards against is 10-100x.
    _exit(two_threads <= 3.0 * one_thread + 0.05 ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "two threads pinned to one core ran the op chain far slower than one";
}

}  // namespace
}  // namespace tessera
