#pragma once
// The devices a device-parameterized suite runs on: the CPU always, and CUDA where a GPU answers
// (or the emulation harness, TESSERA_EMULATE_CUDA=1: see tessera/backend/cuda/cuda.h). A CUDA
// case with neither skips and says why.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tessera/backend/cuda/cuda.h"
#include "tessera/core/device.h"
#include "tessera/core/tensor.h"
#include "tessera/ops/factory.h"

namespace tessera::testing {

inline std::vector<Device> test_devices() { return {Device::cpu(), Device::cuda(0)}; }

// Test-name suffixes: "cpu" and "cuda".
inline std::string device_param_name(const ::testing::TestParamInfo<Device>& info) {
  return info.param.is_cpu() ? "cpu" : "cuda";
}

// Why a case on d cannot run here ("" when it can).
inline std::string unavailable(const Device& d) {
  if (d.is_cpu() || cuda::is_available()) return "";
  return "no CUDA device: " + cuda::unavailable_reason();
}

}  // namespace tessera::testing

// In SetUp (or a test body) of a suite parameterized by Device.
#define TS_SKIP_IF_UNAVAILABLE(device)                                               \
  do {                                                                               \
    std::string why_ = ::tessera::testing::unavailable(device);                      \
    if (!why_.empty()) GTEST_SKIP() << why_;                                         \
  } while (0)

namespace tessera::testing {

// The device of the running case, for helpers outside the fixture (leaves, constants).
inline Device& case_device() {
  static Device d = Device::cpu();
  return d;
}
inline Tensor on_case_device(const Tensor& t) { return t.to(case_device()); }

// A suite parameterized by device: skips where the device is unavailable, and sets case_device().
class DeviceTest : public ::testing::TestWithParam<Device> {
 protected:
  void SetUp() override {
    TS_SKIP_IF_UNAVAILABLE(GetParam());
    case_device() = GetParam();
  }
  void TearDown() override { case_device() = Device::cpu(); }
  Device dev() const { return GetParam(); }
  Tensor on(const Tensor& t) const { return t.to(dev()); }
  TensorOptions f32() const { return {DType::Float32, dev()}; }
  TensorOptions f64() const { return {DType::Float64, dev()}; }
};

}  // namespace tessera::testing
