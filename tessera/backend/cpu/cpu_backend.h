#pragma once
// The CPU backend: OpenMP loops, oneDNN for matmul and convolution. Its ops are spread over the
// files of this folder, one concern each (elementwise.cpp, reduce.cpp, index.cpp, ...).
#include "tessera/backend/backend.h"

namespace tessera::cpu {

class CpuBackend : public Backend {
 public:
  Device device() const override { return Device::cpu(); }
  std::string name() const override { return "cpu"; }
  Storage allocate(size_t nbytes, Device) override { return allocate(nbytes); }
  Storage allocate(size_t nbytes);
  TESSERA_BACKEND_OPS(override)
};

}  // namespace tessera::cpu
