// The CUDA backend's host-only planning, tested without a GPU: every planned GEMM is replayed
// through a reference column-major GEMM (cuBLAS's semantics) on the raw storage and compared
// with the direct product; conv plans against the shape rules; reduction launch shapes cover
// every element exactly once; the algorithm cache searches once per key. Also the stub backend.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "tessera/backend/cuda/conv_plan.h"
#include "tessera/backend/cuda/matmul_plan.h"
#include "tessera/backend/cuda/reduce_plan.h"
#include "tessera/backend/stub/stub_backend.h"
#include "tessera/tessera.h"
#include "tests/rng.h"

using namespace tessera;
using namespace tessera::cuda;

namespace {

int64_t pick(int64_t lo, int64_t hi) { return tessera::testing::uniform_int(lo, hi); }

// cuBLAS: C(i, j) = sum_l op(A)(i, l) op(B)(l, j), column-major with leading dimensions, per batch.
void reference_gemm(const GemmPlan& p, const double* A, const double* B, double* C) {
  for (int64_t bt = 0; bt < p.batch; ++bt)
    for (int64_t i = 0; i < p.m; ++i)
      for (int64_t j = 0; j < p.n; ++j) {
        double s = 0;
        for (int64_t l = 0; l < p.k; ++l) {
          double a = p.trans_a ? A[bt * p.stride_a + l + i * p.lda] : A[bt * p.stride_a + i + l * p.lda];
          double b = p.trans_b ? B[bt * p.stride_b + j + l * p.ldb] : B[bt * p.stride_b + l + j * p.ldb];
          s += a * b;
        }
        C[bt * p.stride_c + i + j * p.ldc] = s;
      }
}

// A [B, R, C] view of fresh storage with a random layout: row- or column-major inside a padded
// leading dimension, size-1 dims with odd strides, a broadcast (stride-0) batch.
Tensor random_layout(int64_t B, int64_t R, int64_t C, bool& expressible) {
  int kind = int(pick(0, 5));
  int64_t pad = pick(0, 3);
  Shape strides(3);
  if (kind <= 1) {  // row-major, optionally padded
    strides = {R * (C + pad), C + pad, 1};
  } else if (kind <= 3) {  // column-major
    strides = {C * (R + pad), 1, R + pad};
  } else if (kind == 4) {  // neither: a stride-2 walk (needs a copy unless a dim is 1)
    strides = {R * C * 2, C * 2, 2};
  } else {  // broadcast batch
    strides = {0, C, 1};
  }
  if (R == 1) strides[1] = pick(0, 9);
  if (C == 1) strides[2] = pick(0, 9);
  int64_t span = 1;
  for (int d = 0; d < 3; ++d) span += (Shape{B, R, C}[size_t(d)] - 1) * strides[size_t(d)];
  Tensor storage = randn({span}, {DType::Float64});
  expressible = kind != 4 || R == 1 || C == 1;
  return Tensor(storage.storage(), {B, R, C}, strides, 0, DType::Float64);
}

TEST(GemmPlan, ReplaysToTheDirectProductOnRandomLayouts) {
  int planned = 0, copied = 0;
  for (int trial = 0; trial < 600; ++trial) {
    int64_t B = pick(1, 3), M = pick(1, 6), K = pick(1, 6), N = pick(1, 6);
    bool a_ok = false, b_ok = false;
    Tensor a = random_layout(B, M, K, a_ok), b = random_layout(B, K, N, b_ok);
    GemmPlan p = plan_gemm(a.sizes().data(), a.strides().data(), b.sizes().data(), b.strides().data());
    // Only layouts that no transposition describes are copied.
    EXPECT_EQ(p.copy_a, !a_ok) << "trial " << trial;
    EXPECT_EQ(p.copy_b, !b_ok) << "trial " << trial;
    if (p.copy_a || p.copy_b) {
      ++copied;
      if (p.copy_a) a = a.contiguous();
      if (p.copy_b) b = b.contiguous();
      p = plan_gemm(a.sizes().data(), a.strides().data(), b.sizes().data(), b.strides().data());
      ASSERT_FALSE(p.copy_a || p.copy_b);
    }
    ++planned;
    // cuBLAS's constraints on leading dimensions.
    EXPECT_GE(p.lda, std::max<int64_t>(1, p.trans_a ? p.k : p.m));
    EXPECT_GE(p.ldb, std::max<int64_t>(1, p.trans_b ? p.n : p.k));
    EXPECT_EQ(p.ldc, N);
    Tensor out = zeros({B, M, N}, {DType::Float64});
    reference_gemm(p, b.data_ptr<double>(), a.data_ptr<double>(), out.data_ptr<double>());
    Tensor want = ops::matmul(a, b);
    ASSERT_TRUE(ops::allclose(out, want, 1e-12, 1e-12)) << "trial " << trial;
  }
  EXPECT_GT(copied, 0);
  EXPECT_GT(planned - copied, 0);
}

TEST(GemmPlan, TransposedContiguousOperandsNeedNoCopy) {
  Tensor a = randn({4, 6}, {DType::Float64}).t().unsqueeze(0), b = randn({3, 4}, {DType::Float64}).t().unsqueeze(0);
  GemmPlan p = plan_gemm(a.sizes().data(), a.strides().data(), b.sizes().data(), b.strides().data());
  EXPECT_FALSE(p.copy_a || p.copy_b);
  EXPECT_TRUE(p.trans_a);
  EXPECT_TRUE(p.trans_b);
  EXPECT_EQ(p.m, 3);
  EXPECT_EQ(p.n, 6);
  EXPECT_EQ(p.k, 4);
  Tensor base = randn({16}, {DType::Float64});
  Tensor neg(base.storage(), {1, 4, 4}, {16, 4, -1}, 3, DType::Float64);  // a flipped last dim: copied
  GemmPlan q = plan_gemm(neg.sizes().data(), neg.strides().data(), b.sizes().data(), b.strides().data());
  EXPECT_TRUE(q.copy_a);
}

TEST(ConvPlan, DescribesTheConvolutionAndChecksShapes) {
  Conv2dParams p;
  p.stride[0] = 2, p.padding[0] = 1, p.padding[1] = 2, p.dilation[1] = 2, p.groups = 2;
  Shape x{8, 4, 17, 12}, w{6, 2, 3, 3};
  Shape y{8, 6, (17 + 2 - 2 - 1) / 2 + 1, (12 + 4 - 4 - 1) / 1 + 1};
  ConvPlan c = plan_conv(x, w, y, p, DType::Float16, false);
  EXPECT_EQ(c.data, ConvType::Half);
  EXPECT_EQ(c.compute, ConvType::Float);
  EXPECT_TRUE(c.tensor_ops);
  EXPECT_EQ(c.y[2], 9);
  EXPECT_EQ(c.y[3], 12);
  EXPECT_EQ(c.groups, 2);
  EXPECT_EQ(c.pad[1], 2);
  EXPECT_EQ(c.dilation[1], 2);
  EXPECT_EQ(c.chunks, (std::vector<int64_t>{8}));
  EXPECT_FALSE(plan_conv(x, w, y, p, DType::Float32, false).tensor_ops);  // TF32 off
  EXPECT_TRUE(plan_conv(x, w, y, p, DType::Float32, true).tensor_ops);
  ConvPlan d = plan_conv(x, w, y, p, DType::Float64, true);
  EXPECT_EQ(d.compute, ConvType::Double);
  EXPECT_FALSE(d.tensor_ops);
  // Keys tell configurations apart.
  EXPECT_NE(c.key, plan_conv(x, w, y, p, DType::BFloat16, false).key);
  EXPECT_NE(c.key, c.for_batch(4).key);
  EXPECT_EQ(c.key, plan_conv(x, w, y, p, DType::Float16, true).key);  // tf32 is irrelevant to half
  Shape bad_y = y;
  bad_y[3] += 1;
  EXPECT_THROW(plan_conv(x, w, bad_y, p, DType::Float32, true), ShapeError);
  EXPECT_THROW(plan_conv(x, {6, 3, 3, 3}, y, p, DType::Float32, true), ShapeError);
  EXPECT_THROW(plan_conv(x, w, y, p, DType::Int64, true), DTypeError);
}

TEST(ConvPlan, ChunksBatchesBeyondCudnnsIntLimit) {
  Conv2dParams p;
  Shape x{5000, 64, 128, 128}, w{64, 64, 1, 1}, y{5000, 64, 128, 128};  // 5.2e9 elements
  ConvPlan c = plan_conv(x, w, y, p, DType::BFloat16, true);
  int64_t total = 0;
  for (int64_t n : c.chunks) {
    EXPECT_LE(n * 64 * 128 * 128, int64_t(INT32_MAX));
    total += n;
  }
  EXPECT_EQ(total, 5000);
  EXPECT_GT(c.chunks.size(), 1u);
  EXPECT_EQ(c.x[0], c.chunks.front());
}

TEST(ConvPlan, AlgorithmCacheSearchesOncePerKey) {
  AlgoCache<int> cache;
  std::atomic<int> searches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i)
        EXPECT_EQ(cache.get("k" + std::to_string(i % 10), [&] { ++searches; return i % 10; }), i % 10);
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(cache.size(), 10u);
  EXPECT_GE(searches.load(), 10);
  EXPECT_LE(searches.load(), 40);  // racing threads may search the same key, never more than once each
}

TEST(ReducePlan, LaunchShapesCoverEveryElementOnce) {
  for (int trial = 0; trial < 3000; ++trial) {
    int64_t outputs = pick(1, 3) == 1 ? pick(1, 4) : pick(1, 100000);
    int64_t reduced = pick(0, 3) == 0 ? pick(0, 40) : pick(1, 50000000);
    bool along = pick(0, 1);
    int sms = int(pick(1, 200));
    ReduceConfig c = plan_reduce(outputs, reduced, along, sms);
    EXPECT_GE(c.grid_x * c.outputs_per_block, outputs);
    EXPECT_LT((c.grid_x - 1) * c.outputs_per_block, outputs);
    EXPECT_GE(c.splits, 1);
    EXPECT_LE(c.splits, kMaxGridY);
    if (reduced > 0) {
      EXPECT_GE(c.splits * c.chunk, reduced);          // every element in some split
      EXPECT_LT((c.splits - 1) * c.chunk, reduced);    // no empty split
    }
    if (along) {
      EXPECT_TRUE(c.warps_per_output == 1 || c.warps_per_output == kReduceBlock / 32);
    }
    if (c.warps_per_output == kReduceBlock / 32) {
      EXPECT_EQ(c.outputs_per_block, 1);
    }
  }
  // One long reduction spreads over the device; many short ones do not split.
  EXPECT_GT(plan_reduce(1, int64_t(1) << 28, true, 132).splits, 132);
  EXPECT_EQ(plan_reduce(1 << 20, 64, false, 132).splits, 1);
}

TEST(StubBackend, EveryOpSaysItIsNotImplementedOnItsDevice) {
  StubBackend b(Device::cuda(3));
  Tensor t = ones({2});
  Generator g;
  auto expect = [&](const std::function<void()>& f, const std::string& op) {
    try {
      f();
      ADD_FAILURE() << op << ": expected DeviceError";
    } catch (const DeviceError& e) {
      EXPECT_EQ(std::string(e.what()), op + " is not implemented on cuda:3");
    }
  };
  expect([&] { b.allocate(8, Device::cuda(3)); }, "allocate");
  expect([&] { b.copy(t, t); }, "copy");
  expect([&] { b.fill(t, 1); }, "fill");
  expect([&] { b.unary(UnaryOp::Exp, t, t); }, "exp");
  expect([&] { b.binary(BinaryOp::Add, t, t, t); }, "add");
  expect([&] { b.reduce(ReduceOp::Sum, t, t); }, "reduce");
  expect([&] { b.arg_reduce(true, t, t, 0); }, "argmax");
  expect([&] { b.softmax(t, t, 0, true); }, "log_softmax");
  expect([&] { b.sort(t, t, t, 0, false); }, "sort");
  expect([&] { b.nonzero(t); }, "nonzero");
  expect([&] { b.matmul(t, t, t); }, "matmul");
  expect([&] { b.conv2d(t, t, t, {}, {}); }, "conv2d");
  expect([&] { b.max_pool2d(t, t, t, {}); }, "max_pool2d");
  expect([&] { b.normal(t, 0, 1, g); }, "normal");
  expect([&] { b.randint(t, 0, 2, g); }, "randint");
  expect([&] { b.transfer(t, t, false); }, "transfer");
}

}  // namespace
