#include "tessera/optim/optimizer.h"

#include <cctype>

#include <cmath>

#include "tessera/autograd/autograd.h"
#include "tessera/backend/backend.h"
#include "tessera/ops/factory.h"
#include "tessera/ops/ops.h"

namespace tessera::optim {

using autograd::NoGradGuard;

Optimizer::Optimizer(std::vector<ParamGroup> groups, std::map<std::string, double> defaults, std::string name)
    : defaults_(std::move(defaults)), name_(std::move(name)) {
  TS_CHECK_VALUE(!groups.empty(), name_, ": got an empty parameter list");
  for (auto& g : groups) add_param_group(std::move(g));
}

bool Optimizer::replace_param(const Tensor& old, const Tensor& now) {
  for (auto& g : groups_)
    for (Tensor& p : g.params) {
      if (!p.is_same(old)) continue;
      TS_CHECK_SHAPE(now.defined() && now.is_leaf() && now.shape() == old.shape() && now.dtype() == old.dtype(), name_,
                     ": replace_param: the new parameter must be a leaf of the old one's shape ", old.shape(),
                     " and dtype ", old.dtype());
      auto st = state_.find(old.impl_ptr().get());
      if (st != state_.end()) {
        ParamState moved = std::move(st->second);
        state_.erase(st);
        state_[now.impl_ptr().get()] = std::move(moved);
      }
      p = now;
      return true;
    }
  return false;
}

void Optimizer::add_param_group(ParamGroup g) {
  for (auto& [k, v] : g.options)
    TS_CHECK_VALUE(defaults_.count(k), name_, ": unknown option '", k, "' in a parameter group");
  for (auto& [k, v] : defaults_) g.options.emplace(k, v);
  TS_CHECK_VALUE(g.options["lr"] >= 0, name_, ": invalid learning rate ", g.options["lr"]);
  for (size_t i = 0; i < g.params.size(); ++i) {
    const Tensor& p = g.params[i];
    TS_CHECK(p.defined() && p.is_leaf(), name_, ": can't optimize a non-leaf tensor");
    for (size_t j = 0; j < i; ++j)
      TS_CHECK_VALUE(!g.params[j].is_same(p), name_, ": parameter ", i, " appears twice in a parameter group");
    TS_CHECK_DTYPE(p.is_floating_point(), name_, ": parameters must be floating point, got ", p.dtype());
    for (auto& other : groups_)
      for (const Tensor& q : other.params)
        TS_CHECK_VALUE(!q.is_same(p), name_, ": some parameters appear in more than one parameter group");
  }
  groups_.push_back(std::move(g));
}

double Optimizer::opt(const std::map<std::string, double>& o, const char* key) const { return o.at(key); }

void Optimizer::step() {
  NoGradGuard ng;
  for (auto& g : groups_)
    for (Tensor& p : g.params) {
      Tensor grad = p.grad();
      if (!grad.defined()) continue;
      ParamState& st = state_[p.impl_ptr().get()];
      ++st.step;
      update(p, grad, st, g.options);
    }
}

void Optimizer::zero_grad(bool set_to_none) {
  NoGradGuard ng;
  for (auto& g : groups_)
    for (Tensor& p : g.params) {
      if (!p.grad().defined()) continue;
      if (set_to_none) p.set_grad({});
      else p.grad().zero_();
    }
}

double Optimizer::lr(size_t group) const {
  TS_CHECK_INDEX(group < groups_.size(), name_, ": no parameter group ", group);
  return groups_[group].options.at("lr");
}

void Optimizer::set_lr(double lr, std::optional<size_t> group) {
  TS_CHECK_VALUE(lr >= 0, name_, ": invalid learning rate ", lr);
  for (size_t i = 0; i < groups_.size(); ++i)
    if (!group || *group == i) groups_[i].options["lr"] = lr;
}

OptimizerState Optimizer::state_dict() const {
  OptimizerState s;
  for (auto& g : groups_) {
    s.groups.push_back(g.options);
    for (const Tensor& p : g.params) {
      auto it = state_.find(p.impl_ptr().get());
      s.state.push_back(it == state_.end() ? std::map<std::string, Tensor>{} : it->second.buffers);
      s.steps.push_back(it == state_.end() ? 0 : it->second.step);
    }
  }
  return s;
}

void Optimizer::load_state_dict(const OptimizerState& s) {
  size_t n = 0;
  for (auto& g : groups_) n += g.params.size();
  TS_CHECK_VALUE(s.groups.size() == groups_.size(), name_, ": loaded state has ", s.groups.size(),
                 " parameter groups, the optimizer has ", groups_.size());
  TS_CHECK_VALUE(s.state.size() == n && s.steps.size() == n, name_, ": loaded state has ", s.state.size(),
                 " parameters, the optimizer has ", n);
  size_t i = 0;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    groups_[gi].options = s.groups[gi];
    for (const Tensor& p : groups_[gi].params) {
      ParamState st;
      for (auto& [k, t] : s.state[i]) {
        TS_CHECK_SHAPE(t.shape() == p.shape() || t.numel() == 1, name_, ": state '", k, "' of parameter ", i,
                       " has shape ", t.shape(), ", the parameter ", p.shape());
        // On the parameter's device and in its dtype (a checkpoint loads on the CPU), never aliased.
        Tensor c = t.to(p.device()).to(p.dtype());
        st.buffers[k] = c.is_same(t) ? t.clone() : c;
      }
      st.step = s.steps[i];
      state_[p.impl_ptr().get()] = st;
      ++i;
    }
  }
}

namespace {
std::vector<ParamGroup> one_group(std::vector<Tensor> params) { return {ParamGroup{std::move(params), {}}}; }
Tensor& buffer(std::map<std::string, Tensor>& b, const char* key, const Tensor& like, double fill = 0) {
  auto it = b.find(key);
  if (it == b.end()) it = b.emplace(key, full(like.shape(), fill, {like.dtype(), like.device()})).first;
  return it->second;
}
}  // namespace

SGD::SGD(std::vector<Tensor> params, SGDConfig o) : SGD(one_group(std::move(params)), o) {}
SGD::SGD(std::vector<ParamGroup> groups, SGDConfig o)
    : Optimizer(std::move(groups),
                {{"lr", o.lr}, {"momentum", o.momentum}, {"dampening", o.dampening},
                 {"weight_decay", o.weight_decay}, {"nesterov", o.nesterov ? 1.0 : 0.0}},
                "SGD") {
  TS_CHECK_VALUE(o.momentum >= 0 && o.weight_decay >= 0, "SGD: momentum and weight_decay must be non-negative");
  TS_CHECK_VALUE(!o.nesterov || (o.momentum > 0 && o.dampening == 0),
                 "SGD: nesterov momentum requires a momentum and zero dampening");
}

void SGD::update(Tensor& p, const Tensor& grad, ParamState& st, const std::map<std::string, double>& o) {
  double lr = opt(o, "lr"), mom = opt(o, "momentum"), damp = opt(o, "dampening"), wd = opt(o, "weight_decay");
  Tensor g = wd != 0 ? grad + p * wd : grad;
  if (mom != 0) {
    auto it = st.buffers.find("momentum_buffer");
    if (it == st.buffers.end()) {
      it = st.buffers.emplace("momentum_buffer", g.clone()).first;  // first step: buf = g
    } else {
      Tensor& buf = it->second;
      if (damp == 0 && buf.dtype() == g.dtype() && buf.device() == g.device() && !g.requires_grad()) {
        // buf = buf * momentum + g in one pass (the optimizer's largest cost on big layers).
        backend_for(buf.device()).fma(buf, buf, scalar_tensor(mom, buf.dtype(), buf.device()).expand(buf.shape()), g);
        buf.bump_version();
      } else {
        buf.mul_(mom).add_(g, 1 - damp);
      }
    }
    g = opt(o, "nesterov") != 0 ? g + it->second * mom : it->second;
  }
  p.sub_(g, lr);
}

Adam::Adam(std::vector<Tensor> params, AdamConfig o) : Adam(one_group(std::move(params)), o, false) {}
Adam::Adam(std::vector<ParamGroup> groups, AdamConfig o, bool decoupled)
    : Optimizer(std::move(groups),
                {{"lr", o.lr}, {"beta1", o.beta1}, {"beta2", o.beta2}, {"eps", o.eps},
                 {"weight_decay", o.weight_decay}, {"amsgrad", o.amsgrad ? 1.0 : 0.0}},
                decoupled ? "AdamW" : "Adam"),
      decoupled_(decoupled) {
  TS_CHECK_VALUE(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1, name(), ": betas must be in [0, 1), got (",
                 o.beta1, ", ", o.beta2, ")");
  TS_CHECK_VALUE(o.eps >= 0 && o.weight_decay >= 0, name(), ": eps and weight_decay must be non-negative");
}
AdamW::AdamW(std::vector<Tensor> params, AdamConfig o) : AdamW(one_group(std::move(params)), o) {}
AdamW::AdamW(std::vector<ParamGroup> groups, AdamConfig o) : Adam(std::move(groups), o, true) {}

void Adam::update(Tensor& p, const Tensor& grad, ParamState& st, const std::map<std::string, double>& o) {
  double lr = opt(o, "lr"), b1 = opt(o, "beta1"), b2 = opt(o, "beta2"), eps = opt(o, "eps"), wd = opt(o, "weight_decay");
  Tensor g = grad;
  if (wd != 0) {
    if (decoupled_) p.mul_(1 - lr * wd);
    else g = g + p * wd;
  }
  Tensor& m = buffer(st.buffers, "exp_avg", p);
  Tensor& v = buffer(st.buffers, "exp_avg_sq", p);
  m.mul_(b1).add_(g, 1 - b1);
  v.mul_(b2).add_(ops::square(g), 1 - b2);
  double bc1 = 1 - std::pow(b1, double(st.step)), bc2 = 1 - std::pow(b2, double(st.step));
  Tensor denom_src = v;
  if (opt(o, "amsgrad") != 0) {
    Tensor& vmax = buffer(st.buffers, "max_exp_avg_sq", p);
    vmax.copy_(ops::maximum(vmax, v));
    denom_src = vmax;
  }
  Tensor denom = ops::sqrt(denom_src / bc2) + eps;
  p.sub_(m / denom, lr / bc1);
}

RMSprop::RMSprop(std::vector<Tensor> params, RMSpropConfig o) : RMSprop(one_group(std::move(params)), o) {}
RMSprop::RMSprop(std::vector<ParamGroup> groups, RMSpropConfig o)
    : Optimizer(std::move(groups),
                {{"lr", o.lr}, {"alpha", o.alpha}, {"eps", o.eps}, {"weight_decay", o.weight_decay},
                 {"momentum", o.momentum}, {"centered", o.centered ? 1.0 : 0.0}},
                "RMSprop") {
  TS_CHECK_VALUE(o.alpha >= 0 && o.eps >= 0 && o.momentum >= 0, "RMSprop: alpha, eps and momentum must be non-negative");
}

void RMSprop::update(Tensor& p, const Tensor& grad, ParamState& st, const std::map<std::string, double>& o) {
  double lr = opt(o, "lr"), alpha = opt(o, "alpha"), eps = opt(o, "eps"), wd = opt(o, "weight_decay"),
         mom = opt(o, "momentum");
  Tensor g = wd != 0 ? grad + p * wd : grad;
  Tensor& sq = buffer(st.buffers, "square_avg", p);
  sq.mul_(alpha).add_(ops::square(g), 1 - alpha);
  Tensor avg;
  if (opt(o, "centered") != 0) {
    Tensor& ga = buffer(st.buffers, "grad_avg", p);
    ga.mul_(alpha).add_(g, 1 - alpha);
    avg = ops::sqrt(sq - ops::square(ga)) + eps;
  } else {
    avg = ops::sqrt(sq) + eps;
  }
  if (mom > 0) {
    Tensor& buf = buffer(st.buffers, "momentum_buffer", p);
    buf.mul_(mom).add_(g / avg);
    p.sub_(buf, lr);
  } else {
    p.sub_(g / avg, lr);
  }
}

Adadelta::Adadelta(std::vector<Tensor> params, AdadeltaConfig o) : Adadelta(one_group(std::move(params)), o) {}
Adadelta::Adadelta(std::vector<ParamGroup> groups, AdadeltaConfig o)
    : Optimizer(std::move(groups), {{"lr", o.lr}, {"rho", o.rho}, {"eps", o.eps}, {"weight_decay", o.weight_decay}},
                "Adadelta") {
  TS_CHECK_VALUE(o.rho >= 0 && o.rho <= 1, "Adadelta: rho must be in [0, 1], got ", o.rho);
  TS_CHECK_VALUE(o.eps >= 0 && o.weight_decay >= 0, "Adadelta: eps and weight_decay must be non-negative");
}

void Adadelta::update(Tensor& p, const Tensor& grad, ParamState& st, const std::map<std::string, double>& o) {
  double lr = opt(o, "lr"), rho = opt(o, "rho"), eps = opt(o, "eps"), wd = opt(o, "weight_decay");
  Tensor g = wd != 0 ? grad + p * wd : grad;
  Tensor& sq = buffer(st.buffers, "square_avg", p);
  Tensor& acc = buffer(st.buffers, "acc_delta", p);
  sq.mul_(rho).add_(ops::square(g), 1 - rho);
  Tensor delta = ops::sqrt(acc + eps) / ops::sqrt(sq + eps) * g;
  acc.mul_(rho).add_(ops::square(delta), 1 - rho);
  p.sub_(delta, lr);
}

Adagrad::Adagrad(std::vector<Tensor> params, AdagradConfig o) : Adagrad(one_group(std::move(params)), o) {}
Adagrad::Adagrad(std::vector<ParamGroup> groups, AdagradConfig o)
    : Optimizer(std::move(groups),
                {{"lr", o.lr}, {"lr_decay", o.lr_decay}, {"weight_decay", o.weight_decay},
                 {"initial_accumulator_value", o.initial_accumulator_value}, {"eps", o.eps}},
                "Adagrad") {
  TS_CHECK_VALUE(o.lr_decay >= 0 && o.initial_accumulator_value >= 0, "Adagrad: lr_decay and "
                 "initial_accumulator_value must be non-negative");
}

void Adagrad::update(Tensor& p, const Tensor& grad, ParamState& st, const std::map<std::string, double>& o) {
  double lr = opt(o, "lr"), decay = opt(o, "lr_decay"), wd = opt(o, "weight_decay"), eps = opt(o, "eps");
  Tensor g = wd != 0 ? grad + p * wd : grad;
  Tensor& sum = buffer(st.buffers, "sum", p, opt(o, "initial_accumulator_value"));
  sum.add_(ops::square(g));
  double clr = lr / (1 + double(st.step - 1) * decay);
  p.sub_(g / (ops::sqrt(sum) + eps), clr);
}

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type) {
  NoGradGuard ng;
  std::vector<Tensor> grads;
  for (const Tensor& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return 0;
  double total;
  if (std::isinf(norm_type)) {
    total = 0;
    for (const Tensor& g : grads) total = std::max(total, ops::abs(g).max().item<double>());
  } else {
    double acc = 0;
    for (const Tensor& g : grads) acc += std::pow(g.to(DType::Float64).norm(norm_type).item<double>(), norm_type);
    total = std::pow(acc, 1.0 / norm_type);
  }
  double coef = max_norm / (total + 1e-6);
  if (coef < 1)
    for (Tensor g : grads) g.mul_(coef);
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& params, double clip) {
  TS_CHECK_VALUE(clip >= 0, "clip_grad_value_: clip value must be non-negative, got ", clip);
  NoGradGuard ng;
  for (const Tensor& p : params)
    if (p.grad().defined()) {
      Tensor g = p.grad();
      g.clamp_(-clip, clip);
    }
}

std::unique_ptr<Optimizer> make_optimizer(const std::string& name, std::vector<Tensor> params, std::optional<double> lr) {
  std::string n;
  for (char c : name) n += char(std::tolower(static_cast<unsigned char>(c)));
  if (n == "sgd") {
    SGDConfig o;
    if (lr) o.lr = *lr;
    return std::make_unique<SGD>(std::move(params), o);
  }
  if (n == "adam" || n == "adamw") {
    AdamConfig o = n == "adamw" ? AdamConfig{.weight_decay = 1e-2} : AdamConfig{};
    if (lr) o.lr = *lr;
    if (n == "adamw") return std::make_unique<AdamW>(std::move(params), o);
    return std::make_unique<Adam>(std::move(params), o);
  }
  if (n == "rmsprop") {
    RMSpropConfig o;
    if (lr) o.lr = *lr;
    return std::make_unique<RMSprop>(std::move(params), o);
  }
  if (n == "adagrad") {
    AdagradConfig o;
    if (lr) o.lr = *lr;
    return std::make_unique<Adagrad>(std::move(params), o);
  }
  if (n == "adadelta") {
    AdadeltaConfig o;
    if (lr) o.lr = *lr;
    return std::make_unique<Adadelta>(std::move(params), o);
  }
  throw ValueError("unknown optimizer '" + name + "' (known: sgd, adam, adamw, rmsprop, adagrad, adadelta)");
}

}  // namespace tessera::optim
