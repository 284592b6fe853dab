// CUDA devices and memory. Without a GPU (this machine, CI) the tests check that every entry
// point says why CUDA is unavailable; on a GPU they check the real device and its allocator.
#include <gtest/gtest.h>

#include "tessera/tessera.h"

using namespace tessera;

// These tests are about a real GPU: the emulation harness (TESSERA_EMULATE_CUDA=1) is not one.
#define REQUIRE_GPU()                                                                      \
  if (!cuda::is_available()) GTEST_SKIP() << "no CUDA device: " << cuda::unavailable_reason(); \
  if (cuda::is_emulated()) GTEST_SKIP() << "the emulated CUDA device is not a GPU"

TEST(CudaRuntime, UnavailableSaysWhy) {
  if (cuda::is_available()) GTEST_SKIP() << "a CUDA device is present: " << cuda::get_device_properties(0).name;
  EXPECT_FALSE(cuda::is_emulated());
  EXPECT_EQ(cuda::device_count(), 0);
  std::string why = cuda::unavailable_reason();
  EXPECT_FALSE(why.empty());
  try {
    ones({2}).to(Device::cuda(0));
    FAIL() << "expected DeviceError";
  } catch (const DeviceError& e) {
    EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
  }
  EXPECT_THROW(cuda::memory_stats(0), DeviceError);
  EXPECT_THROW(cuda::set_device(0), DeviceError);
  EXPECT_THROW(cuda::pinned_allocator(), DeviceError);
  EXPECT_NO_THROW(cuda::empty_cache());  // nothing to release
  EXPECT_FALSE(is_available(DeviceType::CUDA));
}

TEST(CudaRuntime, DevicePropertiesAndGuard) {
  REQUIRE_GPU();
  auto p = cuda::get_device_properties(0);
  EXPECT_FALSE(p.name.empty());
  EXPECT_GT(p.total_memory, size_t(1) << 30);
  EXPECT_GE(p.major, 5);
  int before = cuda::current_device();
  {
    cuda::DeviceGuard g(cuda::device_count() - 1);
    EXPECT_EQ(cuda::current_device(), cuda::device_count() - 1);
  }
  EXPECT_EQ(cuda::current_device(), before);
  EXPECT_THROW(cuda::set_device(cuda::device_count()), DeviceError);
  cuda::synchronize();
}

TEST(CudaRuntime, DeviceMemoryThroughTheCachingAllocator) {
  REQUIRE_GPU();
  CachingAllocator& a = cuda::device_allocator(0);
  cuda::empty_cache();
  cuda::reset_peak_memory_stats(0);
  MemoryStats s0 = a.stats();
  void* p = a.allocate(3 << 20);
  void* q = a.allocate(1000);
  EXPECT_EQ(a.stats().allocated, s0.allocated + (3u << 20) + 1024);
  a.free(p);
  void* r = a.allocate(3 << 20);  // served from the cache
  EXPECT_EQ(r, p);
  a.free(q);
  a.free(r);
  EXPECT_EQ(cuda::memory_stats(0).allocated, s0.allocated);
  cuda::empty_cache();
  EXPECT_EQ(cuda::memory_stats(0).reserved, s0.reserved);
}

TEST(CudaRuntime, OutOfMemoryThrowsWithTheStatsAndStaysUsable) {
  REQUIRE_GPU();
  CachingAllocator& a = cuda::device_allocator(0);
  size_t too_much = cuda::get_device_properties(0).total_memory * 2;
  try {
    a.allocate(too_much);
    FAIL() << "expected OutOfMemoryError";
  } catch (const OutOfMemoryError& e) {
    EXPECT_NE(std::string(e.what()).find("cuda:0: out of memory allocating " + std::to_string(too_much)),
              std::string::npos)
        << e.what();
  }
  void* p = a.allocate(1 << 20);
  EXPECT_NE(p, nullptr);
  a.free(p);
}

TEST(CudaRuntime, PinnedHostMemory) {
  REQUIRE_GPU();
  CachingAllocator& a = cuda::pinned_allocator();
  auto* p = static_cast<float*>(a.allocate(1024 * sizeof(float)));
  for (int i = 0; i < 1024; ++i) p[i] = float(i);  // host-accessible
  EXPECT_EQ(p[1023], 1023.0f);
  a.free(p);
}
