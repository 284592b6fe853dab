// Tensors on CUDA: transfers both ways (any layout and dtype, pinned and non_blocking), copy_ and
// gradients across devices, errors naming both devices, streams, the math switches, the same
// random bits as the CPU, and out-of-memory recovery. These run where a GPU answers; the device
// plumbing also runs under the emulation harness (TESSERA_EMULATE_CUDA=1, a ctest entry of its
// own); without either they skip and say why.
#include <gtest/gtest.h>

#include "../devices.h"
#include "tessera/tessera.h"

using namespace tessera;

namespace {

#define REQUIRE_CUDA() TS_SKIP_IF_UNAVAILABLE(Device::cuda(0))
#define REQUIRE_REAL_GPU()                                                                   \
  REQUIRE_CUDA();                                                                            \
  if (cuda::is_emulated()) GTEST_SKIP() << "needs a real GPU (this is the emulated device)"

TEST(CudaTensors, TransfersKeepValuesLayoutsAndDtypes) {
  REQUIRE_CUDA();
  manual_seed(3);
  for (DType dt : {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16, DType::Int64, DType::Int32,
                   DType::Int8, DType::UInt8, DType::Bool}) {
    Tensor x = (randn({5, 7}) * 10).to(dt);
    Tensor g = x.to(Device::cuda(0));
    EXPECT_TRUE(g.device().is_cuda());
    EXPECT_EQ(g.dtype(), dt);
    EXPECT_TRUE(ops::equal(g.cpu(), x)) << dtype_name(dt);
    // A transposed and a sliced view travel as their values.
    EXPECT_TRUE(ops::equal(x.t().cuda().cpu(), x.t())) << dtype_name(dt);
    EXPECT_TRUE(ops::equal(g.t().cpu(), x.t())) << dtype_name(dt);
    EXPECT_TRUE(ops::equal(g.slice(1, 1, 6, 2).cpu(), x.slice(1, 1, 6, 2))) << dtype_name(dt);
  }
  Tensor empty_t = zeros({0, 3}).cuda();
  EXPECT_EQ(empty_t.cpu().shape(), (Shape{0, 3}));
  EXPECT_EQ(scalar_tensor(2.5).cuda().item<double>(), 2.5);
  EXPECT_EQ(ones({2}).cuda().to(Device::cuda(0)).device(), Device::cuda(0));
}

TEST(CudaTensors, PinnedMemoryAndNonBlockingCopies) {
  REQUIRE_CUDA();
  Tensor x = arange(1000, {DType::Float32});
  EXPECT_FALSE(x.is_pinned());
  Tensor p = x.pin_memory();
  EXPECT_TRUE(p.is_pinned());
  EXPECT_TRUE(p.device().is_cpu());
  EXPECT_TRUE(ops::equal(p, x));
  Tensor g = p.to(Device::cuda(0), /*non_blocking=*/true);
  Tensor back = empty({1000}, {DType::Float32}).pin_memory();
  back.copy_(g);  // synchronous: values are there on return
  EXPECT_TRUE(ops::equal(back, x));
  Tensor nb = g.to(Device::cpu(), /*non_blocking=*/true);
  cuda::synchronize();
  EXPECT_TRUE(ops::equal(nb, x));
  EXPECT_THROW(g.pin_memory(), DeviceError);
}

TEST(CudaTensors, CopyAndGradientsCrossDevices) {
  REQUIRE_CUDA();
  Tensor dst = zeros({3}).cuda();
  dst.copy_(tensor({1., 2., 3.}));  // a CPU source is moved first
  EXPECT_EQ(dst.cpu().tolist<float>(), (std::vector<float>{1, 2, 3}));
  Tensor host = tensor({1., 2., 3.}, {DType::Float64}).requires_grad_();
  Tensor on_gpu = host.to(Device::cuda(0));
  (on_gpu * on_gpu).sum().backward();
  ASSERT_TRUE(host.grad().defined());
  EXPECT_TRUE(host.grad().device().is_cpu());
  EXPECT_EQ(host.grad().tolist<double>(), (std::vector<double>{2, 4, 6}));
  Tensor leaf = ones({2}, {DType::Float32, Device::cuda(0)}).requires_grad_();
  (leaf.cpu() * 3).sum().backward();
  EXPECT_TRUE(leaf.grad().device().is_cuda());
  EXPECT_EQ(leaf.grad().cpu().tolist<float>(), (std::vector<float>{3, 3}));
}

TEST(CudaTensors, OpsOnTwoDevicesNameBoth) {
  REQUIRE_CUDA();
  Tensor a = ones({2}), b = ones({2}).cuda();
  for (auto f : std::vector<std::function<Tensor()>>{[&] { return a + b; }, [&] { return ops::matmul(a, b); },
                                                     [&] { return ops::where(a > 0, a, b); }}) {
    try {
      f();
      ADD_FAILURE() << "expected DeviceError";
    } catch (const DeviceError& e) {
      std::string m = e.what();
      EXPECT_NE(m.find("cpu"), std::string::npos) << m;
      EXPECT_NE(m.find("cuda:0"), std::string::npos) << m;
    }
  }
  EXPECT_THROW(ones({1}).to(Device::cuda(7)), DeviceError);
  // As in PyTorch, a 0-d CPU tensor acts as a scalar next to CUDA tensors (not in place into it).
  Tensor scaled = b * scalar_tensor(3.0);
  EXPECT_TRUE(scaled.device().is_cuda());
  EXPECT_EQ(scaled.cpu().tolist<float>(), (std::vector<float>{3, 3}));
  EXPECT_TRUE(ops::where(b > 0.5, b, scalar_tensor(0.0)).device().is_cuda());
  Tensor s = scalar_tensor(1.0, DType::Float32);
  EXPECT_THROW(s.add_(b.sum()), DeviceError);
}

TEST(CudaTensors, RandomTensorsAreTheCpusBitForBit) {
  REQUIRE_CUDA();
  for (DType dt : {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16}) {
    manual_seed(11);
    Tensor c = randn({1000}, {dt}), cu = rand({333}, {dt});
    manual_seed(11);
    Tensor g = randn({1000}, {dt, Device::cuda(0)}), gu = rand({333}, {dt, Device::cuda(0)});
    EXPECT_TRUE(ops::equal(g.cpu(), c)) << dtype_name(dt);
    EXPECT_TRUE(ops::equal(gu.cpu(), cu)) << dtype_name(dt);
  }
  manual_seed(5);
  Tensor ci = randint(-3, 9, {500}, {DType::Int64});
  Tensor cb = bernoulli(full({20, 30}, 0.3, {DType::Float64}).t());
  manual_seed(5);
  Tensor gi = randint(-3, 9, {500}, {DType::Int64, Device::cuda(0)});
  Tensor gb = bernoulli(full({20, 30}, 0.3, {DType::Float64, Device::cuda(0)}).t());
  EXPECT_TRUE(ops::equal(gi.cpu(), ci));
  EXPECT_TRUE(ops::equal(gb.cpu(), cb));
}

TEST(CudaTensors, StreamsAndSwitches) {
  REQUIRE_CUDA();
  cuda::Stream def = cuda::current_stream();
  EXPECT_EQ(def.id, StreamId(0));
  cuda::Stream s = cuda::create_stream();
  {
    cuda::StreamGuard g(s);
    EXPECT_EQ(cuda::current_stream(), s);
    Tensor x = (arange(10, {DType::Float32, Device::cuda(0)}) * 2).sum();
    cuda::synchronize_stream(s);
    EXPECT_EQ(x.item<float>(), 90.0f);
  }
  EXPECT_EQ(cuda::current_stream(), def);
  EXPECT_FALSE(cuda::matmul_allow_tf32());
  EXPECT_TRUE(cuda::cudnn_allow_tf32());
  cuda::set_matmul_allow_tf32(true);
  EXPECT_TRUE(cuda::matmul_allow_tf32());
  cuda::set_matmul_allow_tf32(false);
}

TEST(CudaTensors, OutOfMemoryIsAnErrorAndTheDeviceStaysUsable) {
  REQUIRE_REAL_GPU();
  int64_t too_many = int64_t(cuda::get_device_properties(0).total_memory / 4) * 2;  // floats: twice the card
  try {
    empty({too_many}, {DType::Float32, Device::cuda(0)});
    FAIL() << "expected OutOfMemoryError";
  } catch (const OutOfMemoryError& e) {
    EXPECT_NE(std::string(e.what()).find("out of memory"), std::string::npos) << e.what();
  }
  Tensor ok = ones({1 << 20}, {DType::Float32, Device::cuda(0)});
  EXPECT_EQ(ok.sum().item<double>(), double(1 << 20));
}

TEST(CudaTensors, KernelErrorsNameTheOp) {
  REQUIRE_CUDA();
  Tensor x = ones({4}).cuda();
  try {
    ops::gather(x, 0, tensor_int64({0, 9}, DType::Int64).cuda());
    FAIL() << "expected IndexError";
  } catch (const IndexError& e) {
    EXPECT_NE(std::string(e.what()).find("index 9 is out of bounds"), std::string::npos) << e.what();
  }
  EXPECT_EQ(x.sum().item<float>(), 4.0f);  // the device is still usable
}

}  // namespace
