#include "tessera/optim/grad_scaler.h"

#include <cmath>

#include "tessera/autograd/autograd.h"
#include "tessera/core/error.h"
#include "tessera/ops/ops.h"

namespace tessera::optim {

GradScaler::GradScaler(GradScalerOptions o) : o_(o), scale_(o.init_scale) {
  TS_CHECK_VALUE(o_.init_scale > 0 && std::isfinite(o_.init_scale), "GradScaler: init_scale must be positive and "
                 "finite, got ", o_.init_scale);
  TS_CHECK_VALUE(o_.growth_factor > 1.0, "GradScaler: growth_factor should be > 1, got ", o_.growth_factor);
  TS_CHECK_VALUE(o_.backoff_factor > 0 && o_.backoff_factor < 1.0, "GradScaler: backoff_factor should be in "
                 "(0, 1), got ", o_.backoff_factor);
  TS_CHECK_VALUE(o_.growth_interval > 0, "GradScaler: growth_interval must be positive, got ", o_.growth_interval);
}

Tensor GradScaler::scale(const Tensor& loss) const {
  if (!o_.enabled) return loss;
  TS_CHECK_DTYPE(loss.defined() && loss.is_floating_point(), "GradScaler.scale: expected a floating-point loss, got ",
                 loss.defined() ? dtype_name(loss.dtype()) : std::string("an undefined tensor"));
  return loss * scale_;
}

void GradScaler::unscale_(Optimizer& opt) {
  if (!o_.enabled) return;
  PerOptimizer& st = per_opt_[&opt];
  TS_CHECK(st.stage == Stage::Ready, st.stage == Stage::Unscaled
                                         ? "GradScaler.unscale_: already called on this optimizer since the last update()"
                                         : "GradScaler.unscale_: called after step(); call update() first");
  autograd::NoGradGuard ng;
  double inv = 1.0 / scale_;
  bool found = false;
  for (ParamGroup& g : opt.param_groups())
    for (Tensor& p : g.params) {
      Tensor grad = p.grad();
      if (!grad.defined()) continue;
      // The check on the scaled gradient: an overflow stays inf after the division.
      if (!found) found = !ops::isfinite(grad).all().item<bool>();
      grad.mul_(inv);
    }
  st.found_inf = found;
  st.stage = Stage::Unscaled;
}

bool GradScaler::step(Optimizer& opt) {
  if (!o_.enabled) {
    opt.step();
    return true;
  }
  PerOptimizer& st = per_opt_[&opt];
  TS_CHECK(st.stage != Stage::Stepped, "GradScaler.step: already called on this optimizer since the last update()");
  if (st.stage == Stage::Ready) unscale_(opt);
  st.stage = Stage::Stepped;
  if (st.found_inf) return false;
  opt.step();
  return true;
}

void GradScaler::update(std::optional<double> new_scale) {
  if (!o_.enabled) return;
  if (new_scale) {
    TS_CHECK_VALUE(*new_scale > 0 && std::isfinite(*new_scale), "GradScaler.update: new_scale must be positive and "
                   "finite, got ", *new_scale);
    scale_ = *new_scale;
  } else {
    bool any = false, inf = false;
    for (auto& [opt, st] : per_opt_)
      if (st.stage != Stage::Ready) {
        any = true;
        inf = inf || st.found_inf;
      }
    TS_CHECK(any, "GradScaler.update: no inf checks were recorded; call step() (or unscale_()) first");
    if (inf) {
      scale_ *= o_.backoff_factor;
      growth_tracker_ = 0;
    } else if (++growth_tracker_ == o_.growth_interval) {
      scale_ *= o_.growth_factor;
      growth_tracker_ = 0;
    }
  }
  per_opt_.clear();
}

std::map<std::string, double> GradScaler::state_dict() const {
  if (!o_.enabled) return {};
  return {{"scale", scale_},
          {"growth_factor", o_.growth_factor},
          {"backoff_factor", o_.backoff_factor},
          {"growth_interval", double(o_.growth_interval)},
          {"_growth_tracker", double(growth_tracker_)}};
}

void GradScaler::load_state_dict(const std::map<std::string, double>& s) {
  TS_CHECK_VALUE(o_.enabled, "GradScaler.load_state_dict: this scaler is disabled");
  TS_CHECK_VALUE(!s.empty(), "GradScaler.load_state_dict: the state is empty (saved from a disabled scaler?)");
  auto get = [&](const char* k) {
    auto it = s.find(k);
    TS_CHECK_VALUE(it != s.end(), "GradScaler.load_state_dict: missing key '", k, "'");
    return it->second;
  };
  scale_ = get("scale");
  o_.growth_factor = get("growth_factor");
  o_.backoff_factor = get("backoff_factor");
  o_.growth_interval = int64_t(get("growth_interval"));
  growth_tracker_ = int64_t(get("_growth_tracker"));
}

}  // namespace tessera::optim
