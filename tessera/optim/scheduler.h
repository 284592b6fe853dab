#pragma once
// Learning-rate schedules (torch.optim.lr_scheduler). Call step() once per epoch (or per batch
// for OneCycleLR and LinearWarmup, as their step counts say); each sets the learning rate of
// every parameter group from the group's initial rate.
#include <vector>

#include "tessera/optim/optimizer.h"

namespace tessera::optim {

class LRScheduler {
 public:
  explicit LRScheduler(Optimizer& opt);
  virtual ~LRScheduler() = default;
  virtual void step();
  std::vector<double> get_last_lr() const;
  int64_t last_epoch() const { return epoch_; }
  // For checkpoints: the step count; restoring it recomputes the rates.
  void set_last_epoch(int64_t e);

 protected:
  virtual double lr_at(double base_lr, int64_t epoch) const = 0;
  void apply();
  Optimizer& opt_;
  std::vector<double> base_;
  int64_t epoch_ = 0;
};

class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& opt, int64_t step_size, double gamma = 0.1);
 protected:
  double lr_at(double base, int64_t e) const override;
  int64_t step_size_;
  double gamma_;
};

class MultiStepLR : public LRScheduler {
 public:
  MultiStepLR(Optimizer& opt, std::vector<int64_t> milestones, double gamma = 0.1);
 protected:
  double lr_at(double base, int64_t e) const override;
  std::vector<int64_t> milestones_;
  double gamma_;
};

class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(Optimizer& opt, double gamma);
 protected:
  double lr_at(double base, int64_t e) const override;
  double gamma_;
};

class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& opt, int64_t T_max, double eta_min = 0);
 protected:
  double lr_at(double base, int64_t e) const override;
  int64_t T_max_;
  double eta_min_;
};

// Warm-up from max_lr/div_factor to max_lr over pct_start of total_steps, then cosine down to
// initial/final_div_factor (torch's OneCycleLR with anneal_strategy="cos", no momentum cycling).
class OneCycleLR : public LRScheduler {
 public:
  OneCycleLR(Optimizer& opt, double max_lr, int64_t total_steps, double pct_start = 0.3, double div_factor = 25,
             double final_div_factor = 1e4);
 protected:
  double lr_at(double base, int64_t e) const override;
  double max_lr_, initial_, min_;
  int64_t total_;
  double pct_;
};

// Scales the rate linearly from start_factor to 1 over warmup_steps, then keeps it.
class LinearWarmup : public LRScheduler {
 public:
  LinearWarmup(Optimizer& opt, int64_t warmup_steps, double start_factor = 1.0 / 3);
 protected:
  double lr_at(double base, int64_t e) const override;
  int64_t warmup_;
  double start_;
};

// Multiplies the rate by factor when the metric has not improved for patience epochs.
class ReduceLROnPlateau {
 public:
  struct Options {
    bool maximize = false;
    double factor = 0.1;
    int64_t patience = 10;
    double threshold = 1e-4;  // relative improvement needed
    int64_t cooldown = 0;
    double min_lr = 0;
  };
  ReduceLROnPlateau(Optimizer& opt, Options o);
  explicit ReduceLROnPlateau(Optimizer& opt) : ReduceLROnPlateau(opt, Options{}) {}
  void step(double metric);
  std::vector<double> get_last_lr() const;

 private:
  Optimizer& opt_;
  Options o_;
  double best_;
  int64_t bad_epochs_ = 0, cooldown_left_ = 0;
};

}  // namespace tessera::optim
