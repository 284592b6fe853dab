#pragma once
// The devices a device-parameterized suite runs on: the CPU always, and CUDA where a GPU answers
// (or the emulation harness, TESSERA_EMULATE_CUDA=1: see tessera/backend/cuda/cuda.h). A CUDA
// case with neither skips and says why.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tessera/backend/cuda/cuda.h"
#include "tessera/core/device.h"

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
