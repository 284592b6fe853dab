#include "tessera/ops/autocast.h"

#include <algorithm>
#include <array>
#include <unordered_map>

#include "tessera/autograd/autograd.h"
#include "tessera/core/error.h"

namespace tessera {

namespace {

constexpr int kDevices = 2;  // DeviceType::CPU, DeviceType::CUDA

struct State {
  bool enabled[kDevices] = {false, false};
  DType dtype[kDevices] = {DType::BFloat16, DType::Float16};
  bool cache_enabled = true;
  int depth = 0;       // enabled guards alive
  bool nested = false;  // inside an autocast op: its own ops are not cast again
  // Casts of parameters: original impl -> (original, cast). The original is held so that its
  // address is not reused while the entry lives.
  std::unordered_map<const void*, std::pair<Tensor, Tensor>> cache;
};
thread_local State g_state;
thread_local bool g_any = false;  // any device enabled

void refresh_any() { g_any = g_state.enabled[0] || g_state.enabled[1]; }

int idx(DeviceType d) { return d == DeviceType::CUDA ? 1 : 0; }

// torch.autocast's lists for the ops tessera has (aten/src/ATen/autocast_mode.cpp).
struct Lists {
  std::vector<std::string> lower, fp32_both, fp32_cuda, promote, fp32_cpu_lower_cuda;
};
const Lists& lists() {
  static const Lists l{
      // Both devices: the matrix engines' ops.
      {"conv1d", "conv2d", "conv_transpose2d", "linear", "matmul"},
      // Both devices: losses and ops that need float32's range.
      {"binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "kl_div",
       "l1_loss", "mse_loss", "nll_loss", "prod", "smooth_l1_loss"},
      // CUDA only (on the CPU they run in bfloat16, as in PyTorch).
      {"cumsum", "exp", "expm1", "group_norm", "layer_norm", "log", "log1p", "log_softmax", "logsumexp", "pow",
       "reciprocal", "rsqrt", "softmax", "softplus", "sum"},
      {"cat", "stack"},
      // Recurrent layers: PyTorch runs them in the low type on both devices; tessera's fused CPU
      // kernel is float32, so on the CPU they run in float32 (cuDNN-style low precision on CUDA).
      {"rnn"},
  };
  return l;
}

bool in(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

bool eligible(const Tensor& t) {
  return t.defined() && t.is_floating_point() && t.dtype() != DType::Float64;
}

Tensor cast_to(const Tensor& t, DType to, bool cacheable) {
  if (t.dtype() == to) return t;
  bool use_cache = cacheable && g_state.cache_enabled && t.is_leaf() && t.requires_grad();
  if (use_cache) {
    auto it = g_state.cache.find(t.impl_ptr().get());
    if (it != g_state.cache.end() && it->second.second.dtype() == to) return it->second.second;
  }
  Tensor r = t.to(to);
  if (use_cache) g_state.cache[t.impl_ptr().get()] = {t, r};
  return r;
}

}  // namespace

AutocastGuard::AutocastGuard(DeviceType device, std::optional<DType> dtype, bool enabled, bool cache_enabled)
    : device_(device),
      prev_enabled_(g_state.enabled[idx(device)]),
      prev_cache_(g_state.cache_enabled),
      prev_dtype_(g_state.dtype[idx(device)]) {
  DType d = dtype.value_or(prev_dtype_);
  TS_CHECK_DTYPE(d == DType::BFloat16 || d == DType::Float16, "autocast: the low-precision type must be bfloat16 "
                 "or float16, got ", d);
  g_state.enabled[idx(device)] = enabled;
  g_state.dtype[idx(device)] = d;
  g_state.cache_enabled = cache_enabled;
  if (enabled) ++g_state.depth;
  refresh_any();
}

AutocastGuard::~AutocastGuard() {
  if (g_state.enabled[idx(device_)] && --g_state.depth == 0) g_state.cache.clear();
  g_state.enabled[idx(device_)] = prev_enabled_;
  g_state.dtype[idx(device_)] = prev_dtype_;
  g_state.cache_enabled = prev_cache_;
  refresh_any();
}

bool is_autocast_enabled(DeviceType device) { return g_state.enabled[idx(device)]; }
void set_autocast_enabled(DeviceType device, bool on) {
  g_state.enabled[idx(device)] = on;
  refresh_any();
  if (!g_any && g_state.depth == 0) g_state.cache.clear();
}
DType autocast_dtype(DeviceType device) { return g_state.dtype[idx(device)]; }
void set_autocast_dtype(DeviceType device, DType dtype) {
  TS_CHECK_DTYPE(dtype == DType::BFloat16 || dtype == DType::Float16,
                 "set_autocast_dtype: the low-precision type must be bfloat16 or float16, got ", dtype);
  g_state.dtype[idx(device)] = dtype;
}
void clear_autocast_cache() { g_state.cache.clear(); }
size_t autocast_cache_size() { return g_state.cache.size(); }

namespace {
CastPolicy policy_of(DeviceType device, const std::string& op) {
  const Lists& l = lists();
  bool cuda = device == DeviceType::CUDA;
  if (in(l.lower, op)) return CastPolicy::LowerPrecision;
  if (in(l.fp32_both, op) || (cuda && in(l.fp32_cuda, op))) return CastPolicy::Float32;
  if (in(l.promote, op)) return CastPolicy::Promote;
  if (in(l.fp32_cpu_lower_cuda, op)) return cuda ? CastPolicy::LowerPrecision : CastPolicy::Float32;
  return CastPolicy::None;
}
}  // namespace

CastPolicy autocast_policy(DeviceType device, const std::string& op) {
  // One table per device, built once: the ops look their policy up on every call under autocast.
  static const auto tables = [] {
    std::array<std::unordered_map<std::string, CastPolicy>, kDevices> t;
    const Lists& l = lists();
    for (DeviceType d : {DeviceType::CPU, DeviceType::CUDA})
      for (const auto* v : {&l.lower, &l.fp32_both, &l.fp32_cuda, &l.promote, &l.fp32_cpu_lower_cuda})
        for (const auto& op : *v) t[size_t(idx(d))][op] = policy_of(d, op);
    return t;
  }();
  const auto& t = tables[size_t(idx(device))];
  auto it = t.find(op);
  return it == t.end() ? CastPolicy::None : it->second;
}

std::vector<std::string> autocast_ops(DeviceType device, CastPolicy policy) {
  std::vector<std::string> out;
  const Lists& l = lists();
  for (const auto* v : {&l.lower, &l.fp32_both, &l.fp32_cuda, &l.promote, &l.fp32_cpu_lower_cuda})
    for (const auto& op : *v)
      if (policy_of(device, op) == policy && !in(out, op)) out.push_back(op);
  std::sort(out.begin(), out.end());
  return out;
}

namespace autocast {

bool active() { return g_any && !g_state.nested; }

namespace {
// The device the op runs on (its first defined operand's), or nothing when autocast is off there.
std::optional<DeviceType> device_of(const Tensor* const* args, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (args[i] && args[i]->defined()) {
      DeviceType d = args[i]->device().type;
      return g_state.enabled[idx(d)] ? std::optional<DeviceType>(d) : std::nullopt;
    }
  return std::nullopt;
}

// The type operands are cast to, or nothing.
std::optional<DType> target(CastPolicy p, DeviceType d, const Tensor* const* args, size_t n) {
  switch (p) {
    case CastPolicy::LowerPrecision: return g_state.dtype[idx(d)];
    case CastPolicy::Float32: return DType::Float32;
    case CastPolicy::Promote: {
      std::optional<DType> widest;
      for (size_t i = 0; i < n; ++i)
        if (args[i] && eligible(*args[i]))
          widest = widest ? promote_types(*widest, args[i]->dtype()) : args[i]->dtype();
      return widest;
    }
    case CastPolicy::None: break;
  }
  return std::nullopt;
}
}  // namespace

Operands::Operands(const char* op, std::initializer_list<const Tensor*> args) {
  TS_CHECK(args.size() <= kMax, "autocast: too many operands for ", op);
  size_t n = 0;
  for (const Tensor* a : args) orig_[n++] = a;
  if (!active()) return;
  auto dev = device_of(orig_, n);
  if (!dev) return;
  CastPolicy p = autocast_policy(*dev, op);
  auto to = target(p, *dev, orig_, n);
  g_state.nested = true;
  nested_set_ = true;
  if (!to) return;
  for (size_t i = 0; i < n; ++i) {
    const Tensor& t = *orig_[i];
    storage_[i] = eligible(t) && t.device().type == *dev ? cast_to(t, *to, p == CastPolicy::LowerPrecision) : t;
  }
  cast_ = storage_;
}

Operands::~Operands() {
  if (nested_set_) g_state.nested = false;
}

std::vector<Tensor> cast_list(const char* op, const std::vector<Tensor>& xs) {
  if (!active() || xs.empty()) return {};
  std::vector<const Tensor*> ptrs;
  for (const Tensor& t : xs) ptrs.push_back(&t);
  auto dev = device_of(ptrs.data(), ptrs.size());
  if (!dev) return {};
  CastPolicy p = autocast_policy(*dev, op);
  auto to = target(p, *dev, ptrs.data(), ptrs.size());
  if (!to) return {};
  bool any = false;
  for (const Tensor& t : xs) any = any || (eligible(t) && t.dtype() != *to);
  if (!any) return {};
  std::vector<Tensor> out;
  for (const Tensor& t : xs) out.push_back(eligible(t) && t.device().type == *dev ? cast_to(t, *to, false) : t);
  return out;
}

}  // namespace autocast
}  // namespace tessera
