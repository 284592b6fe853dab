#include "tessera/backend/backend.h"

#include <array>

#include "tessera/cuda.h"

namespace tessera {

namespace {
std::array<Backend*, 2>& registry() {
  static std::array<Backend*, 2> r{};
  return r;
}
}  // namespace

Backend* make_cpu_backend();  // in cpu/cpu_backend.cpp

void register_backend(DeviceType type, Backend* backend) { registry()[size_t(type)] = backend; }

Backend& backend_for(Device d) {
  static bool cpu_ready = (register_backend(DeviceType::CPU, make_cpu_backend()), true);
  (void)cpu_ready;
  Backend* b = registry()[size_t(d.type)];
  if (!b && d.is_cuda())
    throw DeviceError(detail::str("device ", d, " is not available: ",
                                  cuda::is_available() ? "the CUDA kernels are not part of this version of tessera yet"
                                                       : cuda::unavailable_reason()));
  TS_CHECK_DEVICE(b != nullptr, "device ", d, " is not available: this build of tessera has no such backend");
  return *b;
}

bool is_available(DeviceType type) {
  try {
    backend_for(Device{type, 0});
    return true;
  } catch (const DeviceError&) {
    return false;
  }
}

const char* op_name(UnaryOp op) {
  static const char* names[] = {"abs",  "neg",  "exp",     "expm1",      "log",   "log1p", "sqrt",
                                "rsqrt", "sin", "cos",     "tanh",       "sigmoid", "relu", "gelu",
                                "gelu_tanh", "silu", "erf", "floor", "ceil", "round", "sign",
                                "reciprocal", "square", "logical_not"};
  return names[int(op)];
}
const char* op_name(BinaryOp op) {
  static const char* names[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum", "atan2", "fmod", "eq",
                                "ne",  "lt",  "le",  "gt",  "ge",  "logical_and", "logical_or", "logical_xor"};
  return names[int(op)];
}

}  // namespace tessera
