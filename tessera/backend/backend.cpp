#include "tessera/backend/backend.h"

#include <array>
#include <atomic>

#include "tessera/backend/cuda/cuda.h"

namespace tessera {

namespace {
std::array<Backend*, 2>& registry() {
  static std::array<Backend*, 2> r{};
  return r;
}
}  // namespace

Backend* make_cpu_backend();   // in cpu/cpu_backend.cpp
Backend* make_cuda_backend();  // in cuda/cuda_backend.cpp: null without the CUDA backend or a device

void register_backend(DeviceType type, Backend* backend) { registry()[size_t(type)] = backend; }

Backend& backend_for(Device d) {
  static bool ready = (register_backend(DeviceType::CPU, make_cpu_backend()),
                       register_backend(DeviceType::CUDA, make_cuda_backend()), true);
  (void)ready;
  Backend* b = registry()[size_t(d.type)];
  if (!b && d.is_cuda()) throw DeviceError(detail::str("device ", d, " is not available: ", cuda::unavailable_reason()));
  TS_CHECK_DEVICE(b != nullptr, "device ", d, " is not available: this build of tessera has no such backend");
  if (d.is_cuda())
    TS_CHECK_DEVICE(d.index >= 0 && d.index < cuda::device_count(), "device ", d, " does not exist (",
                    cuda::device_count(), " CUDA device", cuda::device_count() == 1 ? "" : "s", ")");
  return *b;
}

namespace {
std::atomic<bool> g_fused_kernels{true};
std::atomic<bool> g_cpu_winograd{true};
}  // namespace

void set_cpu_winograd_enabled(bool on) { g_cpu_winograd.store(on, std::memory_order_relaxed); }
bool cpu_winograd_enabled() { return g_cpu_winograd.load(std::memory_order_relaxed); }

void set_fused_kernels_enabled(bool on) { g_fused_kernels.store(on, std::memory_order_relaxed); }
bool fused_kernels_enabled() { return g_fused_kernels.load(std::memory_order_relaxed); }

void Backend::transfer(const Tensor& dst, const Tensor& src, bool) {
  throw DeviceError(detail::str("copy from ", src.device(), " to ", dst.device(), " is not supported by the ", name(),
                                " backend"));
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
                                "reciprocal", "square", "logical_not", "bitwise_not"};
  static_assert(std::size(names) == kNumUnaryOps, "op_name: a UnaryOp has no name");
  return names[int(op)];
}
const char* op_name(BinaryOp op) {
  static const char* names[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum", "atan2", "fmod",
                                "bitwise_and", "bitwise_or", "bitwise_xor", "eq", "ne", "lt", "le", "gt", "ge",
                                "logical_and", "logical_or", "logical_xor"};
  static_assert(std::size(names) == kNumBinaryOps, "op_name: a BinaryOp has no name");
  return names[int(op)];
}

}  // namespace tessera
