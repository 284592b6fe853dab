#pragma once
// Loss scaling for float16 training, as torch.amp.GradScaler: the loss is multiplied by a scale
// before backward so that small float16 gradients do not flush to zero; step() divides the
// gradients back, skips the update when any is inf or NaN, and update() lowers the scale after
// such a step and raises it after growth_interval clean ones.
//   optim::GradScaler scaler;
//   {  AutocastGuard amp(DeviceType::CUDA);  loss = ...;  }
//   opt.zero_grad();
//   scaler.scale(loss).backward();
//   scaler.step(opt);      // unscales (unless unscale_ was called), steps unless inf/NaN
//   scaler.update();
#include <map>
#include <optional>
#include <string>

#include "tessera/optim/optimizer.h"

namespace tessera::optim {

struct GradScalerOptions {
  double init_scale = 65536.0;
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  int64_t growth_interval = 2000;
  bool enabled = true;  // false: every method is a pass-through (scale 1, plain steps)
};

class GradScaler {
 public:
  explicit GradScaler(GradScalerOptions o = {});
  // loss * scale (loss itself when disabled).
  Tensor scale(const Tensor& loss) const;
  // Divides the gradients of opt's parameters by the scale, in place, and records whether any
  // is inf or NaN. Once per optimizer between update()s (to clip the true gradients first).
  void unscale_(Optimizer& opt);
  // Unscales (unless done) and runs opt.step() unless a gradient was inf or NaN. Returns whether
  // it stepped.
  bool step(Optimizer& opt);
  // Backs the scale off after a skipped step, grows it after growth_interval good ones; or sets
  // it to new_scale. Forgets this iteration's unscaling.
  void update(std::optional<double> new_scale = std::nullopt);
  double get_scale() const { return o_.enabled ? scale_ : 1.0; }
  bool is_enabled() const { return o_.enabled; }
  const GradScalerOptions& options() const { return o_; }
  // scale, growth_factor, backoff_factor, growth_interval and the growth tracker (PyTorch's keys).
  std::map<std::string, double> state_dict() const;
  void load_state_dict(const std::map<std::string, double>& s);

 private:
  GradScalerOptions o_;
  double scale_;
  int64_t growth_tracker_ = 0;
  enum class Stage { Ready, Unscaled, Stepped };
  struct PerOptimizer {
    Stage stage = Stage::Ready;
    bool found_inf = false;
  };
  std::map<const Optimizer*, PerOptimizer> per_opt_;
};

}  // namespace tessera::optim
