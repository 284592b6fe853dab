#include <gtest/gtest.h>

#include <cmath>

#include "tessera/tessera.h"

using namespace tessera;

TEST(Tensor, FactoriesMakeTheRightValues) {
  EXPECT_EQ(zeros({2, 3}).to_vector(), std::vector<double>(6, 0));
  EXPECT_EQ(full({2}, 7, {DType::Int32}).tolist<int32_t>(), (std::vector<int32_t>{7, 7}));
  EXPECT_EQ(arange(5).tolist<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(arange(1, 2, 0.25, {DType::Float64}).to_vector(), (std::vector<double>{1, 1.25, 1.5, 1.75}));
  EXPECT_EQ(arange(3, 0, -1).tolist<int64_t>(), (std::vector<int64_t>{3, 2, 1}));
  EXPECT_EQ(eye(2, 3).to_vector(), (std::vector<double>{1, 0, 0, 0, 1, 0}));
  EXPECT_EQ(tensor({{1., 2.}, {3., 4.}}).shape(), (Shape{2, 2}));
  EXPECT_EQ(ones_like(empty({3}, {DType::Int8})).dtype(), DType::Int8);
  Tensor r = randint(0, 3, {1000});
  EXPECT_GE(r.min().item<int64_t>(), 0);
  EXPECT_LE(r.max().item<int64_t>(), 2);
}

TEST(Tensor, FromBlobSharesMemoryAndRunsTheDeleter) {
  static bool deleted = false;
  float* data = new float[4]{1, 2, 3, 4};
  {
    Tensor t = from_blob(data, {2, 2}, DType::Float32, [](void* p) {
      delete[] static_cast<float*>(p);
      deleted = true;
    });
    data[3] = 10;
    EXPECT_EQ(t[1][1].item<float>(), 10);
  }
  EXPECT_TRUE(deleted);
}

TEST(Tensor, ItemAndDataPtrCheckTheirArguments) {
  EXPECT_THROW(ones({2}).item(), ValueError);
  EXPECT_THROW(ones({2}).data_ptr<double>(), DTypeError);
  EXPECT_EQ(full({}, 3.5).item<double>(), 3.5);
  EXPECT_THROW(Tensor().dim(), Error);
}

TEST(Tensor, PrintsLikePyTorch) {
  EXPECT_EQ(tensor({1., 2.5}).str(), "tensor([1.0000, 2.5000])");
  EXPECT_EQ(tensor({{1., 2.}, {3., 4.}}).str(), "tensor([[1., 2.],\n        [3., 4.]])");
  EXPECT_EQ(arange(3).str(), "tensor([0, 1, 2])");
  EXPECT_EQ(full({}, 2, {DType::Float64}).str(), "tensor(2., dtype=float64)");
  EXPECT_EQ((arange(3) > 0).str(), "tensor([False,  True,  True])");
  EXPECT_EQ(tensor({1e-5, 1.})  .str(), "tensor([1.0000e-05, 1.0000e+00])");
  EXPECT_EQ(zeros({0, 3}).str(), "tensor([], size=(0, 3))");
  std::string big = arange(2000).str();
  EXPECT_EQ(big, "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])");
}

TEST(Tensor, EqualityAndAllclose) {
  Tensor a = tensor({1., 2., 3.});
  EXPECT_TRUE(ops::equal(a, a.clone()));
  EXPECT_FALSE(ops::equal(a, tensor({1., 2.})));
  EXPECT_TRUE(ops::allclose(a, a + 1e-9));
  EXPECT_FALSE(ops::allclose(a, a + 1e-3));
  Tensor n = tensor({NAN});
  EXPECT_FALSE(ops::allclose(n, n));
  EXPECT_TRUE(ops::allclose(n, n, 1e-5, 1e-8, true));
}

TEST(Tensor, ToDeviceWithoutCudaFailsClearly) {
  if (is_available(DeviceType::CUDA)) GTEST_SKIP() << "a CUDA backend is present";
  try {
    ones({2}).to(Device::cuda());
    FAIL();
  } catch (const DeviceError& e) {
    EXPECT_NE(std::string(e.what()).find("cuda:0 is not available"), std::string::npos) << e.what();
  }
}
