#pragma once
// A backend whose every op throws "<op> is not implemented on <device>": the one to copy when
// adding a device (implement ops one by one; the conformance suite says which still throw).
#include "tessera/backend/backend.h"

namespace tessera {

class StubBackend : public Backend {
 public:
  explicit StubBackend(Device device) : device_(device) {}
  Device device() const override { return device_; }
  std::string name() const override { return "stub"; }
  Storage allocate(size_t nbytes, Device device) override;
  TESSERA_BACKEND_OPS(override)

 protected:
  [[noreturn]] void missing(const char* op) const;

 private:
  Device device_;
};

}  // namespace tessera
