#include <gtest/gtest.h>

#include <cmath>

#include "tessera/tessera.h"

using namespace tessera;

TEST(DType, SizesAndNames) {
  EXPECT_EQ(dtype_size(DType::Float16), 2u);
  EXPECT_EQ(dtype_size(DType::Int64), 8u);
  EXPECT_EQ(dtype_name(DType::BFloat16), "bfloat16");
  EXPECT_EQ(dtype_from_name("double"), DType::Float64);
  EXPECT_THROW(dtype_from_name("float128"), DTypeError);
}

TEST(DType, PromotionFollowsPyTorch) {
  EXPECT_EQ(promote_types(DType::Int32, DType::Float16), DType::Float16);
  EXPECT_EQ(promote_types(DType::Float16, DType::BFloat16), DType::Float32);
  EXPECT_EQ(promote_types(DType::Bool, DType::UInt8), DType::UInt8);
  EXPECT_EQ(promote_types(DType::Int64, DType::Float32), DType::Float32);
  EXPECT_EQ(promote_types(DType::Float32, DType::Float64), DType::Float64);
  EXPECT_EQ(promote_types(DType::Int8, DType::Int64), DType::Int64);
  // Zero-dim tensors and scalars raise the category only.
  Tensor i32 = ones({2}, {DType::Int32});
  EXPECT_EQ(ops::result_type(i32, scalar_tensor(int64_t(5))), DType::Int32);
  EXPECT_EQ(ops::result_type(i32, scalar_tensor(2.5, DType::Float64)), DType::Float64);
  EXPECT_EQ(ops::result_type(i32, Scalar(2.5)), DType::Float32);
  EXPECT_EQ(ops::result_type(ones({2}, {DType::Float16}), Scalar(2.5)), DType::Float16);
  EXPECT_EQ((i32 + 1.5).dtype(), DType::Float32);
  EXPECT_EQ((i32 / i32).dtype(), DType::Float32);  // true division
}

TEST(Half, RoundTripsAndRoundsToNearestEven) {
  EXPECT_EQ(float(Half(1.0f)), 1.0f);
  EXPECT_EQ(Half(1.0f).bits, 0x3c00);
  EXPECT_EQ(float(Half(65504.0f)), 65504.0f);
  EXPECT_TRUE(std::isinf(float(Half(70000.0f))));
  EXPECT_TRUE(std::isnan(float(Half(NAN))));
  EXPECT_EQ(float(Half(5.960464477539063e-08f)), 5.960464477539063e-08f);  // smallest subnormal
  EXPECT_EQ(float(Half(1.0f + 1.0f / 2048)), 1.0f);                        // tie rounds to even
  EXPECT_EQ(float(BFloat16(1.0f)), 1.0f);
  EXPECT_EQ(float(BFloat16(1.0f + 1.0f / 256)), 1.0f);  // tie to even
  EXPECT_EQ(float(BFloat16(3.0f)), 3.0f);
}

TEST(Device, ParsesAndPrints) {
  EXPECT_EQ(Device::parse("cuda:1"), Device::cuda(1));
  EXPECT_EQ(Device::cpu().str(), "cpu");
  EXPECT_THROW(Device::parse("tpu"), DeviceError);
  EXPECT_THROW(Device::parse("cuda:x"), DeviceError);
}

TEST(Generator, SeedingReproducesStreams) {
  manual_seed(42);
  Tensor a = randn({100});
  manual_seed(42);
  Tensor b = randn({100});
  EXPECT_TRUE(ops::equal(a, b));
  Tensor c = randn({100});
  EXPECT_FALSE(ops::equal(a, c));
  set_num_threads(1);
  manual_seed(7);
  Tensor s1 = rand({100000});
  set_num_threads(2);
  manual_seed(7);
  Tensor s2 = rand({100000});
  EXPECT_TRUE(ops::equal(s1, s2)) << "the stream must not depend on the thread count";
}
