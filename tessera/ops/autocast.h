#pragma once
// Automatic mixed precision with torch.autocast's semantics. Inside an AutocastGuard for a
// device type, the ops that gain from it (convolutions, matmul, linear) run in the low-precision
// type (bfloat16 on the CPU, float16 on CUDA by default) on operands cast to it, the ops that need
// range or precision (losses, and on CUDA softmax, norms, exp/log and sums) run in float32, and
// cat/stack take the widest operand type; every other op runs in its inputs' type. Casts are
// recorded by autograd, so gradients reach the float32 parameters in float32. float64 operands
// are never cast.
//
//   {
//     tessera::AutocastGuard amp(DeviceType::CPU);            // bfloat16
//     Tensor loss = nn::functional::cross_entropy(model(x), y);  // logits bfloat16, loss float32
//   }
//   loss.backward();                                          // outside the guard, as in PyTorch
#include <optional>
#include <string>
#include <vector>

#include "tessera/core/tensor.h"

namespace tessera {

// Turns autocast on (or off: enabled=false inside an enabled region) for ops on `device` until
// the guard goes out of scope, restoring the previous state. dtype: BFloat16 or Float16
// (default: the device's, see autocast_dtype). cache_enabled: within the outermost guard a leaf
// tensor that requires grad (a parameter) is cast once and the cast reused, as in PyTorch; the
// cache is dropped when the outermost enabled guard ends.
class AutocastGuard {
 public:
  explicit AutocastGuard(DeviceType device, std::optional<DType> dtype = std::nullopt, bool enabled = true,
                         bool cache_enabled = true);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  DeviceType device_;
  bool prev_enabled_, prev_cache_;
  DType prev_dtype_;
};

bool is_autocast_enabled(DeviceType device);
void set_autocast_enabled(DeviceType device, bool on);
// The low-precision type for `device` (default BFloat16 on the CPU, Float16 on CUDA).
DType autocast_dtype(DeviceType device);
void set_autocast_dtype(DeviceType device, DType dtype);
// Drops the cached casts of parameters (done when the outermost guard ends).
void clear_autocast_cache();
// How many casts the cache holds (diagnostics and tests).
size_t autocast_cache_size();

// What autocast does to an op's floating operands.
enum class CastPolicy {
  None,            // runs in its inputs' type
  LowerPrecision,  // float32/float16/bfloat16 operands cast to the autocast type
  Float32,         // float16/bfloat16 operands cast to float32
  Promote,         // operands cast to the widest floating type among them
};
// The policy of op `op` (an ops:: or nn::functional name, e.g. "conv2d", "cross_entropy") on
// `device`.
CastPolicy autocast_policy(DeviceType device, const std::string& op);
// The ops with a policy other than None on `device`, sorted.
std::vector<std::string> autocast_ops(DeviceType device, CastPolicy policy);

namespace autocast {

// Whether any device has autocast on in this thread (one thread-local read: the ops' fast path).
bool active();

// An op's operands as the op should see them: under autocast for the operands' device, cast per
// the op's policy; otherwise the operands themselves. While it lives, the ops this op is made of
// are not cast again (as PyTorch's autocast dispatch key is excluded below an autocast op).
//   autocast::Operands c("linear", {&x, &w, &b});   const Tensor& xc = c[0];
class Operands {
 public:
  Operands(const char* op, std::initializer_list<const Tensor*> args);
  ~Operands();
  Operands(const Operands&) = delete;
  Operands& operator=(const Operands&) = delete;
  const Tensor& operator[](size_t i) const { return cast_ ? cast_[i] : *orig_[i]; }

 private:
  static constexpr size_t kMax = 8;
  const Tensor* orig_[kMax]{};
  Tensor* cast_ = nullptr;
  Tensor storage_[kMax];
  bool nested_set_ = false;
};

// For ops on a list of tensors (cat, stack): the list cast per the op's policy, or empty when
// nothing is to be cast (use the original list).
std::vector<Tensor> cast_list(const char* op, const std::vector<Tensor>& xs);

}  // namespace autocast
}  // namespace tessera
