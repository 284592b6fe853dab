#pragma once
// Optimizers with parameter groups and per-group options, as torch.optim:
//   optim::SGD opt(model.parameters(), {.lr = 0.01, .momentum = 0.9});
//   optim::SGD opt(model.parameters(), optim::SGDOptions(0.01).momentum(0.9));  // LibTorch's spelling
//   optim::Adam opt({{encoder.parameters(), {{"lr", 1e-4}}}, {head.parameters(), {}}}, {.lr = 1e-3});
// Each optimizer's options are an aggregate (XConfig, for designated initializers) and LibTorch's
// builder (XOptions) over it; either converts to the other.
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "tessera/core/arg.h"
#include "tessera/core/tensor.h"

namespace tessera::optim {

// A group of parameters and the options that override the optimizer's defaults for it.
struct ParamGroup {
  std::vector<Tensor> params;
  std::map<std::string, double> options;
};

// What state_dict() returns: each group's options, and each parameter's state (by its position
// across the groups) as named tensors plus the step count.
struct OptimizerState {
  std::vector<std::map<std::string, double>> groups;
  std::vector<std::map<std::string, Tensor>> state;
  std::vector<int64_t> steps;
};

class Optimizer {
 public:
  Optimizer(std::vector<ParamGroup> groups, std::map<std::string, double> defaults, std::string name);
  virtual ~Optimizer() = default;
  // One update of every parameter that has a gradient.
  void step();
  // Clears the gradients (to undefined by default, like PyTorch 2).
  void zero_grad(bool set_to_none = true);
  std::vector<ParamGroup>& param_groups() { return groups_; }
  void add_param_group(ParamGroup g);
  // Puts `now` where `old` is in the groups, with old's state (unpickling a model and its
  // optimizer rebinds the optimizer to the rebuilt model's parameters). Returns false when old is
  // not a parameter of this optimizer; refuses a `now` of another shape or dtype.
  bool replace_param(const Tensor& old, const Tensor& now);
  double lr(size_t group = 0) const;
  void set_lr(double lr, std::optional<size_t> group = std::nullopt);
  OptimizerState state_dict() const;
  void load_state_dict(const OptimizerState& s);
  const std::string& name() const { return name_; }

 protected:
  struct ParamState {
    std::map<std::string, Tensor> buffers;
    int64_t step = 0;
  };
  // Updates p (under no_grad) from its gradient g with the group's options.
  virtual void update(Tensor& p, const Tensor& g, ParamState& st, const std::map<std::string, double>& o) = 0;
  double opt(const std::map<std::string, double>& o, const char* key) const;

 private:
  std::vector<ParamGroup> groups_;
  std::map<std::string, double> defaults_;
  std::map<TensorImpl*, ParamState> state_;
  std::string name_;
};

struct SGDConfig {
  double lr = 1e-3, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
};
// p -= lr * (momentum buffer or gradient), PyTorch's formulation (buf = momentum * buf + (1 - dampening) * g).
class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, SGDConfig o = {});
  SGD(std::vector<ParamGroup> groups, SGDConfig o = {});

 protected:
  void update(Tensor& p, const Tensor& g, ParamState& st, const std::map<std::string, double>& o) override;
};

struct AdamConfig {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  bool amsgrad = false;
};
// Adam (weight_decay adds wd * p to the gradient) and AdamW (decoupled: p *= 1 - lr * wd).
class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, AdamConfig o = {});
  Adam(std::vector<ParamGroup> groups, AdamConfig o = {}, bool decoupled = false);

 protected:
  void update(Tensor& p, const Tensor& g, ParamState& st, const std::map<std::string, double>& o) override;
  bool decoupled_;
};
class AdamW : public Adam {
 public:
  // PyTorch's AdamW default weight decay is 1e-2.
  AdamW(std::vector<Tensor> params, AdamConfig o = {.weight_decay = 1e-2});
  AdamW(std::vector<ParamGroup> groups, AdamConfig o = {.weight_decay = 1e-2});
};

struct RMSpropConfig {
  double lr = 1e-2, alpha = 0.99, eps = 1e-8, weight_decay = 0, momentum = 0;
  bool centered = false;
};
class RMSprop : public Optimizer {
 public:
  RMSprop(std::vector<Tensor> params, RMSpropConfig o = {});
  RMSprop(std::vector<ParamGroup> groups, RMSpropConfig o = {});

 protected:
  void update(Tensor& p, const Tensor& g, ParamState& st, const std::map<std::string, double>& o) override;
};

struct AdagradConfig {
  double lr = 1e-2, lr_decay = 0, weight_decay = 0, initial_accumulator_value = 0, eps = 1e-10;
};
class Adagrad : public Optimizer {
 public:
  Adagrad(std::vector<Tensor> params, AdagradConfig o = {});
  Adagrad(std::vector<ParamGroup> groups, AdagradConfig o = {});

 protected:
  void update(Tensor& p, const Tensor& g, ParamState& st, const std::map<std::string, double>& o) override;
};

struct AdadeltaConfig {
  double lr = 1.0, rho = 0.9, eps = 1e-6, weight_decay = 0;
};
// Adadelta (Zeiler 2012), PyTorch's formulation: the step is the ratio of the running RMS of the
// updates to that of the gradients, times the gradient, scaled by lr.
class Adadelta : public Optimizer {
 public:
  Adadelta(std::vector<Tensor> params, AdadeltaConfig o = {});
  Adadelta(std::vector<ParamGroup> groups, AdadeltaConfig o = {});

 protected:
  void update(Tensor& p, const Tensor& g, ParamState& st, const std::map<std::string, double>& o) override;
};

struct LBFGSConfig {
  double lr = 1;
  int64_t max_iter = 20;
  std::optional<int64_t> max_eval{};  // max_iter * 5 / 4 by default
  double tolerance_grad = 1e-7, tolerance_change = 1e-9;
  int64_t history_size = 100;
  std::string line_search_fn{};  // "" (fixed step lr) or "strong_wolfe"
};
// L-BFGS, PyTorch's algorithm (torch.optim.LBFGS) step for step: step(closure) re-evaluates the
// loss as often as it needs (the closure zeroes the gradients, computes the loss, calls backward
// and returns the loss). One parameter group; the plain step() is refused.
class LBFGS : public Optimizer {
 public:
  using Closure = std::function<Tensor()>;
  LBFGS(std::vector<Tensor> params, LBFGSConfig o = {});
  // Returns the closure's first loss of this step.
  Tensor step(const Closure& closure);
  using Optimizer::step;  // (refused: L-BFGS needs the closure)

 protected:
  void update(Tensor& p, const Tensor& g, ParamState& st, const std::map<std::string, double>& o) override;

 private:
  Tensor flat_grad() const;
  void add_to_params(double step, const Tensor& direction);
  std::pair<double, Tensor> evaluate_at(const Closure& closure, const std::vector<Tensor>& x, double t, const Tensor& d);
  LBFGSConfig o_;
  // The state PyTorch keeps on the first parameter, carried from step to step.
  Tensor d_, prev_flat_grad_;
  double t_ = 0, prev_loss_ = 0, h_diag_ = 1;
  std::vector<Tensor> old_dirs_, old_stps_;
  std::vector<double> ro_, al_;
  int64_t func_evals_ = 0, n_iter_ = 0;
};

// --- LibTorch's option builders --------------------------------------------------------------
// optim::SGDOptions(0.01).momentum(0.9).nesterov(true): each setter returns the builder, each
// getter (no argument) reads; the builder converts to the aggregate the optimizers take, and an
// aggregate converts to the builder.
#define TESSERA_OPTIONS_COMMON(Builder, Config)      \
  Builder(const Config& c) : c_(c) {} /* NOLINT */   \
  operator const Config&() const { return c_; }     \
  const Config& config() const { return c_; }       \
                                                      \
 private:                                             \
  Config c_;                                          \
                                                      \
 public:

class SGDOptions {
 public:
  explicit SGDOptions(double lr) { c_.lr = lr; }
  TESSERA_OPTIONS_COMMON(SGDOptions, SGDConfig)
  TESSERA_ARG(double, lr)
  TESSERA_ARG(double, momentum)
  TESSERA_ARG(double, dampening)
  TESSERA_ARG(double, weight_decay)
  TESSERA_ARG(bool, nesterov)
};

class AdamOptions {
 public:
  explicit AdamOptions(double lr = 1e-3) { c_.lr = lr; }
  TESSERA_OPTIONS_COMMON(AdamOptions, AdamConfig)
  TESSERA_ARG(double, lr)
  TESSERA_ARG(double, eps)
  TESSERA_ARG(double, weight_decay)
  TESSERA_ARG(bool, amsgrad)
  AdamOptions& betas(const std::tuple<double, double>& b) {
    c_.beta1 = std::get<0>(b);
    c_.beta2 = std::get<1>(b);
    return *this;
  }
  std::tuple<double, double> betas() const { return {c_.beta1, c_.beta2}; }
};

// AdamW's: weight decay 1e-2 by default.
class AdamWOptions : public AdamOptions {
 public:
  explicit AdamWOptions(double lr = 1e-3) : AdamOptions(lr) { weight_decay(1e-2); }
};

class RMSpropOptions {
 public:
  explicit RMSpropOptions(double lr = 1e-2) { c_.lr = lr; }
  TESSERA_OPTIONS_COMMON(RMSpropOptions, RMSpropConfig)
  TESSERA_ARG(double, lr)
  TESSERA_ARG(double, alpha)
  TESSERA_ARG(double, eps)
  TESSERA_ARG(double, weight_decay)
  TESSERA_ARG(double, momentum)
  TESSERA_ARG(bool, centered)
};

class AdagradOptions {
 public:
  explicit AdagradOptions(double lr = 1e-2) { c_.lr = lr; }
  TESSERA_OPTIONS_COMMON(AdagradOptions, AdagradConfig)
  TESSERA_ARG(double, lr)
  TESSERA_ARG(double, lr_decay)
  TESSERA_ARG(double, weight_decay)
  TESSERA_ARG(double, initial_accumulator_value)
  TESSERA_ARG(double, eps)
};

class AdadeltaOptions {
 public:
  explicit AdadeltaOptions(double lr = 1.0) { c_.lr = lr; }
  TESSERA_OPTIONS_COMMON(AdadeltaOptions, AdadeltaConfig)
  TESSERA_ARG(double, lr)
  TESSERA_ARG(double, rho)
  TESSERA_ARG(double, eps)
  TESSERA_ARG(double, weight_decay)
};

class LBFGSOptions {
 public:
  explicit LBFGSOptions(double lr = 1) { c_.lr = lr; }
  TESSERA_OPTIONS_COMMON(LBFGSOptions, LBFGSConfig)
  TESSERA_ARG(double, lr)
  TESSERA_ARG(int64_t, max_iter)
  TESSERA_ARG(std::optional<int64_t>, max_eval)
  TESSERA_ARG(double, tolerance_grad)
  TESSERA_ARG(double, tolerance_change)
  TESSERA_ARG(int64_t, history_size)
  TESSERA_ARG(std::string, line_search_fn)
};
#undef TESSERA_OPTIONS_COMMON

// An optimizer by name, as Keras's compile(optimizer="adam") takes it: sgd, adam, adamw, rmsprop,
// adagrad, adadelta (case-insensitive), with PyTorch's defaults unless lr is given.
std::unique_ptr<Optimizer> make_optimizer(const std::string& name, std::vector<Tensor> params,
                                          std::optional<double> lr = std::nullopt);

// Scales all gradients so that their joint p-norm is at most max_norm; returns the norm before.
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0);
// Clamps every gradient element into [-clip, clip].
void clip_grad_value_(const std::vector<Tensor>& params, double clip);

}  // namespace tessera::optim
