// L-BFGS with PyTorch's iteration, history update and strong-Wolfe line search (Nocedal & Wright,
// algorithms 3.5/3.6 with cubic interpolation), so that runs match torch.optim.LBFGS step for step.
#include <algorithm>
#include <cmath>

#include "tessera/autograd/autograd.h"
#include "tessera/ops/ops.h"
#include "tessera/optim/optimizer.h"

namespace tessera::optim {

namespace {
using autograd::NoGradGuard;

double dot(const Tensor& a, const Tensor& b) { return ops::sum(a * b).item<double>(); }
double abs_max(const Tensor& a) { return ops::amax(ops::abs(a)).item<double>(); }

// The minimizer of the cubic through (x1, f1, g1) and (x2, f2, g2), clamped to the bounds
// (default: between x1 and x2); their midpoint when the cubic has no minimum.
double cubic_interpolate(double x1, double f1, double g1, double x2, double f2, double g2,
                         std::optional<std::pair<double, double>> bounds = std::nullopt) {
  auto [lo, hi] = bounds ? *bounds : (x1 <= x2 ? std::make_pair(x1, x2) : std::make_pair(x2, x1));
  double d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2);
  double d2_square = d1 * d1 - g1 * g2;
  if (d2_square >= 0) {
    double d2 = std::sqrt(d2_square);
    double min_pos = x1 <= x2 ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
                              : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2));
    return std::min(std::max(min_pos, lo), hi);
  }
  return (lo + hi) / 2;
}

struct LineSearch {
  double f;
  Tensor g;
  double t;
  int64_t evals;
};

// obj(t) = (loss, flat gradient) at x + t d.
template <class Obj>
LineSearch strong_wolfe(const Obj& obj, double t, const Tensor& d, double f, Tensor g, double gtd, double c1 = 1e-4,
                        double c2 = 0.9, double tolerance_change = 1e-9, int64_t max_ls = 25) {
  const double d_norm = abs_max(d);
  g = g.clone();
  auto [f_new, g_new] = obj(t);
  int64_t evals = 1;
  double gtd_new = dot(g_new, d);
  double t_prev = 0, f_prev = f, gtd_prev = gtd;
  Tensor g_prev = g;
  bool done = false;
  int64_t ls_iter = 0;
  std::vector<double> bracket, bracket_f, bracket_gtd;
  std::vector<Tensor> bracket_g;
  while (ls_iter < max_ls) {
    if (f_new > f + c1 * t * gtd || (ls_iter > 1 && f_new >= f_prev)) {
      bracket = {t_prev, t}, bracket_f = {f_prev, f_new}, bracket_g = {g_prev, g_new.clone()},
      bracket_gtd = {gtd_prev, gtd_new};
      break;
    }
    if (std::abs(gtd_new) <= -c2 * gtd) {
      bracket = {t}, bracket_f = {f_new}, bracket_g = {g_new};
      done = true;
      break;
    }
    if (gtd_new >= 0) {
      bracket = {t_prev, t}, bracket_f = {f_prev, f_new}, bracket_g = {g_prev, g_new.clone()},
      bracket_gtd = {gtd_prev, gtd_new};
      break;
    }
    double min_step = t + 0.01 * (t - t_prev), max_step = t * 10, tmp = t;
    t = cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, std::make_pair(min_step, max_step));
    t_prev = tmp, f_prev = f_new, g_prev = g_new.clone(), gtd_prev = gtd_new;
    std::tie(f_new, g_new) = obj(t);
    ++evals;
    gtd_new = dot(g_new, d);
    ++ls_iter;
  }
  if (ls_iter == max_ls) bracket = {0, t}, bracket_f = {f, f_new}, bracket_g = {g, g_new};
  // zoom
  bool insuf_progress = false;
  size_t low = bracket_f.front() <= bracket_f.back() ? 0 : 1, high = 1 - low;
  while (!done && ls_iter < max_ls) {
    if (std::abs(bracket[1] - bracket[0]) * d_norm < tolerance_change) break;
    t = cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1]);
    const double bmax = std::max(bracket[0], bracket[1]), bmin = std::min(bracket[0], bracket[1]);
    const double eps = 0.1 * (bmax - bmin);
    if (std::min(bmax - t, t - bmin) < eps) {
      if (insuf_progress || t >= bmax || t <= bmin) {
        t = std::abs(t - bmax) < std::abs(t - bmin) ? bmax - eps : bmin + eps;
        insuf_progress = false;
      } else {
        insuf_progress = true;
      }
    } else {
      insuf_progress = false;
    }
    std::tie(f_new, g_new) = obj(t);
    ++evals;
    gtd_new = dot(g_new, d);
    ++ls_iter;
    if (f_new > f + c1 * t * gtd || f_new >= bracket_f[low]) {
      bracket[high] = t, bracket_f[high] = f_new, bracket_g[high] = g_new.clone(), bracket_gtd[high] = gtd_new;
      low = bracket_f[0] <= bracket_f[1] ? 0 : 1, high = 1 - low;
    } else {
      if (std::abs(gtd_new) <= -c2 * gtd) {
        done = true;
      } else if (gtd_new * (bracket[high] - bracket[low]) >= 0) {
        bracket[high] = bracket[low], bracket_f[high] = bracket_f[low], bracket_g[high] = bracket_g[low],
        bracket_gtd[high] = bracket_gtd[low];
      }
      bracket[low] = t, bracket_f[low] = f_new, bracket_g[low] = g_new.clone(), bracket_gtd[low] = gtd_new;
    }
  }
  return {bracket_f[low], bracket_g[low], bracket[low], evals};
}
}  // namespace

LBFGS::LBFGS(std::vector<Tensor> params, LBFGSConfig o)
    : Optimizer({ParamGroup{std::move(params), {}}},
                {{"lr", o.lr}, {"tolerance_grad", o.tolerance_grad}, {"tolerance_change", o.tolerance_change}},
                "LBFGS"),
      o_(o) {
  TS_CHECK_VALUE(o_.max_iter > 0, "LBFGS: max_iter must be positive, got ", o_.max_iter);
  TS_CHECK_VALUE(o_.history_size > 0, "LBFGS: history_size must be positive, got ", o_.history_size);
  TS_CHECK_VALUE(o_.line_search_fn.empty() || o_.line_search_fn == "strong_wolfe",
                 "LBFGS: only 'strong_wolfe' is supported as line_search_fn, got '", o_.line_search_fn, "'");
  if (!o_.max_eval) o_.max_eval = o_.max_iter * 5 / 4;
}

void LBFGS::update(Tensor&, const Tensor&, ParamState&, const std::map<std::string, double>&) {
  throw ValueError("LBFGS: step() needs a closure that re-evaluates the model and returns the loss: step(closure)");
}

Tensor LBFGS::flat_grad() const {
  std::vector<Tensor> parts;
  for (const Tensor& p : const_cast<LBFGS*>(this)->param_groups()[0].params) {
    Tensor g = p.grad();
    parts.push_back(g.defined() ? g.reshape({-1}) : zeros({p.numel()}, {p.dtype(), p.device()}));
  }
  return ops::cat(parts, 0);
}

void LBFGS::add_to_params(double step, const Tensor& direction) {
  int64_t offset = 0;
  for (Tensor& p : param_groups()[0].params) {
    Tensor piece = direction.narrow(0, offset, p.numel()).view(p.shape());
    p.add_(piece * step);
    offset += p.numel();
  }
}

std::pair<double, Tensor> LBFGS::evaluate_at(const Closure& closure, const std::vector<Tensor>& x, double t,
                                             const Tensor& d) {
  add_to_params(t, d);
  double loss;
  {
    autograd::EnableGradGuard eg;
    loss = closure().item<double>();
  }
  Tensor g = flat_grad();
  auto& params = param_groups()[0].params;
  for (size_t i = 0; i < params.size(); ++i) params[i].copy_(x[i]);
  return {loss, g};
}

Tensor LBFGS::step(const Closure& closure) {
  TS_CHECK(closure != nullptr, "LBFGS: step needs a closure");
  TS_CHECK_VALUE(param_groups().size() == 1, "LBFGS doesn't support per-parameter options (parameter groups)");
  const auto& opts = param_groups()[0].options;
  const double lr = opts.at("lr"), tolerance_grad = opts.at("tolerance_grad"),
               tolerance_change = opts.at("tolerance_change");
  Tensor orig_loss;
  {
    autograd::EnableGradGuard eg;
    orig_loss = closure();
  }
  TS_CHECK(orig_loss.defined() && orig_loss.numel() == 1, "LBFGS: the closure must return the loss (one element)");
  NoGradGuard ng;
  double loss = orig_loss.item<double>();
  int64_t current_evals = 1;
  ++func_evals_;
  Tensor g = flat_grad();
  if (abs_max(g) <= tolerance_grad) return orig_loss;
  for (int64_t n_iter = 1; n_iter <= o_.max_iter; ++n_iter) {
    ++n_iter_;
    if (n_iter_ == 1) {
      d_ = ops::neg(g);
      old_dirs_.clear(), old_stps_.clear(), ro_.clear();
      h_diag_ = 1;
    } else {
      Tensor y = g - prev_flat_grad_, s = d_ * t_;
      double ys = dot(y, s);
      if (ys > 1e-10) {
        if (int64_t(old_dirs_.size()) == o_.history_size) {
          old_dirs_.erase(old_dirs_.begin()), old_stps_.erase(old_stps_.begin()), ro_.erase(ro_.begin());
        }
        old_dirs_.push_back(y), old_stps_.push_back(s), ro_.push_back(1.0 / ys);
        h_diag_ = ys / dot(y, y);
      }
      const size_t num_old = old_dirs_.size();
      al_.resize(size_t(o_.history_size));
      Tensor q = ops::neg(g);
      for (size_t i = num_old; i-- > 0;) {
        al_[i] = dot(old_stps_[i], q) * ro_[i];
        q = q - old_dirs_[i] * al_[i];
      }
      Tensor r = q * h_diag_;
      for (size_t i = 0; i < num_old; ++i) {
        double be_i = dot(old_dirs_[i], r) * ro_[i];
        r = r + old_stps_[i] * (al_[i] - be_i);
      }
      d_ = r;
    }
    prev_flat_grad_ = g.clone();
    prev_loss_ = loss;
    t_ = n_iter_ == 1 ? std::min(1.0, 1.0 / ops::sum(ops::abs(g)).item<double>()) * lr : lr;
    const double gtd = dot(g, d_);
    if (gtd > -tolerance_change) break;
    int64_t ls_evals = 0;
    bool opt_cond = false;
    if (!o_.line_search_fn.empty()) {
      std::vector<Tensor> x;
      for (const Tensor& p : param_groups()[0].params) x.push_back(p.clone());
      LineSearch ls = strong_wolfe([&](double t) { return evaluate_at(closure, x, t, d_); }, t_, d_, loss, g, gtd);
      loss = ls.f, g = ls.g, t_ = ls.t, ls_evals = ls.evals;
      add_to_params(t_, d_);
      opt_cond = abs_max(g) <= tolerance_grad;
    } else {
      add_to_params(t_, d_);
      if (n_iter != o_.max_iter) {
        {
          autograd::EnableGradGuard eg;
          loss = closure().item<double>();
        }
        g = flat_grad();
        opt_cond = abs_max(g) <= tolerance_grad;
        ls_evals = 1;
      }
    }
    current_evals += ls_evals;
    func_evals_ += ls_evals;
    if (n_iter == o_.max_iter || current_evals >= *o_.max_eval || opt_cond) break;
    if (abs_max(d_ * t_) <= tolerance_change || std::abs(loss - prev_loss_) < tolerance_change) break;
  }
  return orig_loss;
}

}  // namespace tessera::optim
