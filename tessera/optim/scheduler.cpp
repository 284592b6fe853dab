#include "tessera/optim/scheduler.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tessera::optim {

LRScheduler::LRScheduler(Optimizer& opt) : opt_(opt) {
  for (auto& g : opt_.param_groups()) base_.push_back(g.options.at("lr"));
}
void LRScheduler::apply() {
  for (size_t i = 0; i < base_.size(); ++i) opt_.set_lr(lr_at(base_[i], epoch_), i);
}
void LRScheduler::step() {
  ++epoch_;
  apply();
}
void LRScheduler::set_last_epoch(int64_t e) {
  TS_CHECK_VALUE(e >= 0, "LRScheduler: negative epoch ", e);
  epoch_ = e;
  apply();
}
std::vector<double> LRScheduler::get_last_lr() const {
  std::vector<double> r;
  for (size_t i = 0; i < base_.size(); ++i) r.push_back(opt_.lr(i));
  return r;
}

StepLR::StepLR(Optimizer& opt, int64_t step_size, double gamma) : LRScheduler(opt), step_size_(step_size), gamma_(gamma) {
  TS_CHECK_VALUE(step_size > 0, "StepLR: step_size must be positive, got ", step_size);
}
double StepLR::lr_at(double base, int64_t e) const { return base * std::pow(gamma_, double(e / step_size_)); }

MultiStepLR::MultiStepLR(Optimizer& opt, std::vector<int64_t> m, double gamma)
    : LRScheduler(opt), milestones_(std::move(m)), gamma_(gamma) {
  TS_CHECK_VALUE(std::is_sorted(milestones_.begin(), milestones_.end()), "MultiStepLR: milestones must be increasing");
}
double MultiStepLR::lr_at(double base, int64_t e) const {
  int64_t passed = std::upper_bound(milestones_.begin(), milestones_.end(), e) - milestones_.begin();
  return base * std::pow(gamma_, double(passed));
}

ExponentialLR::ExponentialLR(Optimizer& opt, double gamma) : LRScheduler(opt), gamma_(gamma) {}
double ExponentialLR::lr_at(double base, int64_t e) const { return base * std::pow(gamma_, double(e)); }

CosineAnnealingLR::CosineAnnealingLR(Optimizer& opt, int64_t T_max, double eta_min)
    : LRScheduler(opt), T_max_(T_max), eta_min_(eta_min) {
  TS_CHECK_VALUE(T_max > 0, "CosineAnnealingLR: T_max must be positive, got ", T_max);
}
double CosineAnnealingLR::lr_at(double base, int64_t e) const {
  return eta_min_ + (base - eta_min_) * (1 + std::cos(M_PI * double(e) / double(T_max_))) / 2;
}

OneCycleLR::OneCycleLR(Optimizer& opt, double max_lr, int64_t total, double pct, double div, double final_div)
    : LRScheduler(opt), max_lr_(max_lr), initial_(max_lr / div), min_(max_lr / div / final_div), total_(total), pct_(pct) {
  TS_CHECK_VALUE(total > 1, "OneCycleLR: total_steps must be at least 2, got ", total);
  TS_CHECK_VALUE(pct > 0 && pct < 1, "OneCycleLR: pct_start must be in (0, 1), got ", pct);
  apply();
}
double OneCycleLR::lr_at(double, int64_t e) const {
  TS_CHECK_VALUE(e < total_, "OneCycleLR: stepped ", e + 1, " times, more than total_steps (", total_, ")");
  auto cos_anneal = [](double start, double end, double t) { return end + (start - end) / 2 * (1 + std::cos(M_PI * t)); };
  double up_end = pct_ * double(total_) - 1, down_end = double(total_ - 1);
  if (double(e) <= up_end) return cos_anneal(initial_, max_lr_, double(e) / up_end);
  return cos_anneal(max_lr_, min_, (double(e) - up_end) / (down_end - up_end));
}

LinearWarmup::LinearWarmup(Optimizer& opt, int64_t warmup, double start)
    : LRScheduler(opt), warmup_(warmup), start_(start) {
  TS_CHECK_VALUE(warmup > 0 && start > 0 && start <= 1, "LinearWarmup: need warmup_steps > 0 and start_factor in "
                 "(0, 1], got ", warmup, " and ", start);
  apply();
}
double LinearWarmup::lr_at(double base, int64_t e) const {
  return base * (start_ + (1 - start_) * double(std::min(e, warmup_)) / double(warmup_));
}

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& opt, Options o)
    : opt_(opt), o_(o), best_(o.maximize ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity()) {
  TS_CHECK_VALUE(o.factor > 0 && o.factor < 1, "ReduceLROnPlateau: factor must be in (0, 1), got ", o.factor);
}
void ReduceLROnPlateau::step(double metric) {
  bool better = o_.maximize ? metric > best_ * (best_ >= 0 ? 1 + o_.threshold : 1 - o_.threshold)
                            : metric < best_ * (best_ >= 0 ? 1 - o_.threshold : 1 + o_.threshold);
  if (std::isinf(best_)) better = !std::isnan(metric);
  if (better) {
    best_ = metric;
    bad_epochs_ = 0;
  } else {
    ++bad_epochs_;
  }
  if (cooldown_left_ > 0) {
    --cooldown_left_;
    bad_epochs_ = 0;
  }
  if (bad_epochs_ > o_.patience) {
    for (size_t i = 0; i < opt_.param_groups().size(); ++i) opt_.set_lr(std::max(opt_.lr(i) * o_.factor, o_.min_lr), i);
    cooldown_left_ = o_.cooldown;
    bad_epochs_ = 0;
  }
}
std::vector<double> ReduceLROnPlateau::get_last_lr() const {
  std::vector<double> r;
  for (size_t i = 0; i < opt_.param_groups().size(); ++i) r.push_back(opt_.lr(i));
  return r;
}

}  // namespace tessera::optim
