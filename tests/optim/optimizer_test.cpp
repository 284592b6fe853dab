// Each optimizer against its update formula (PyTorch's documentation) computed independently in
// double, over several steps; schedules against their closed forms; a small network learns.
#include <gtest/gtest.h>

#include <cmath>

#include "../devices.h"
#include "tessera/tessera.h"

using namespace tessera;

namespace {
// Parameters, gradients and optimizer state live on the case's device.
using tessera::testing::case_device;
Tensor on(const Tensor& t) { return t.to(case_device()); }
// A fixed "gradient" sequence for a 3-element parameter: g_t = c * p + t (makes it depend on p).
std::vector<double> grad_of(const std::vector<double>& p, int t) {
  return {0.5 * p[0] + t, -0.3 * p[1] + 0.1 * t, 0.2 * p[2] - 1};
}
// Runs the optimizer for n steps on p0 with grads from grad_of, returns p.
template <class O>
std::vector<double> run(O& opt, Tensor& p, int n) {
  for (int t = 1; t <= n; ++t) {
    p.set_grad(on(from_vector(grad_of(p.to_vector(), t))));
    opt.step();
  }
  return p.to_vector();
}
void expect_near(const std::vector<double>& a, const std::vector<double>& b, double tol) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], tol) << i;
}
const std::vector<double> p0 = {1.0, -2.0, 0.5};
Tensor param(const std::vector<double>& v) { return on(from_vector(v)).requires_grad_(); }

class Optimizers : public tessera::testing::DeviceTest {};
class Training : public tessera::testing::DeviceTest {};
}  // namespace

TEST_P(Optimizers, SGDWithMomentumNesterovAndWeightDecay) {
  for (bool nesterov : {false, true}) {
    Tensor p = param(p0);
    optim::SGD opt({p}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01, .nesterov = nesterov});
    std::vector<double> q = p0, buf(3);
    for (int t = 1; t <= 5; ++t) {
      auto g = grad_of(q, t);
      for (int i = 0; i < 3; ++i) {
        double gi = g[size_t(i)] + 0.01 * q[size_t(i)];
        buf[size_t(i)] = t == 1 ? gi : 0.9 * buf[size_t(i)] + gi;
        double step = nesterov ? gi + 0.9 * buf[size_t(i)] : buf[size_t(i)];
        q[size_t(i)] -= 0.1 * step;
      }
    }
    expect_near(run(opt, p, 5), q, 1e-5);
  }
  Tensor p = param(p0);
  optim::SGD plain({p}, {.lr = 0.5});
  expect_near(run(plain, p, 1), {1.0 - 0.5 * 1.5, -2.0 - 0.5 * 0.7, 0.5 - 0.5 * -0.9}, 1e-6);
}

TEST_P(Optimizers, AdamAdamWAmsgrad) {
  for (int variant = 0; variant < 3; ++variant) {  // Adam+L2, AdamW, Adam amsgrad
    Tensor p = param(p0);
    optim::AdamConfig o{.lr = 0.05, .beta1 = 0.8, .beta2 = 0.95, .eps = 1e-6, .weight_decay = variant == 2 ? 0 : 0.1,
                         .amsgrad = variant == 2};
    std::unique_ptr<optim::Optimizer> opt = variant == 1 ? std::unique_ptr<optim::Optimizer>(new optim::AdamW({p}, o))
                                                         : std::unique_ptr<optim::Optimizer>(new optim::Adam({p}, o));
    std::vector<double> q = p0, m(3), v(3), vmax(3);
    for (int t = 1; t <= 6; ++t) {
      auto g = grad_of(q, t);
      for (size_t i = 0; i < 3; ++i) {
        double gi = g[i];
        if (variant == 0) gi += 0.1 * q[i];
        if (variant == 1) q[i] *= 1 - 0.05 * 0.1;
        m[i] = 0.8 * m[i] + 0.2 * gi;
        v[i] = 0.95 * v[i] + 0.05 * gi * gi;
        vmax[i] = std::max(vmax[i], v[i]);
        double mh = m[i] / (1 - std::pow(0.8, t)), vh = (variant == 2 ? vmax[i] : v[i]) / (1 - std::pow(0.95, t));
        q[i] -= 0.05 * mh / (std::sqrt(vh) + 1e-6);
      }
    }
    expect_near(run(*opt, p, 6), q, 1e-5);
  }
}

TEST_P(Optimizers, RMSpropAndAdagrad) {
  for (bool centered : {false, true}) {
    Tensor p = param(p0);
    optim::RMSprop opt({p}, {.lr = 0.01, .alpha = 0.9, .eps = 1e-8, .momentum = 0.5, .centered = centered});
    std::vector<double> q = p0, sq(3), ga(3), buf(3);
    for (int t = 1; t <= 5; ++t) {
      auto g = grad_of(q, t);
      for (size_t i = 0; i < 3; ++i) {
        sq[i] = 0.9 * sq[i] + 0.1 * g[i] * g[i];
        ga[i] = 0.9 * ga[i] + 0.1 * g[i];
        double avg = std::sqrt(centered ? sq[i] - ga[i] * ga[i] : sq[i]) + 1e-8;
        buf[i] = 0.5 * buf[i] + g[i] / avg;
        q[i] -= 0.01 * buf[i];
      }
    }
    expect_near(run(opt, p, 5), q, 1e-5);
  }
  Tensor p = param(p0);
  optim::Adagrad opt({p}, {.lr = 0.1, .lr_decay = 0.01, .initial_accumulator_value = 0.1});
  std::vector<double> q = p0, s(3, 0.1);
  for (int t = 1; t <= 5; ++t) {
    auto g = grad_of(q, t);
    for (size_t i = 0; i < 3; ++i) {
      s[i] += g[i] * g[i];
      q[i] -= 0.1 / (1 + (t - 1) * 0.01) * g[i] / (std::sqrt(s[i]) + 1e-10);
    }
  }
  expect_near(run(opt, p, 5), q, 1e-5);
}

TEST_P(Optimizers, Adadelta) {
  Tensor p = param(p0);
  optim::Adadelta opt({p}, {.lr = 0.5, .rho = 0.8, .eps = 1e-4, .weight_decay = 0.01});
  std::vector<double> q = p0, sq(3), acc(3);
  for (int t = 1; t <= 5; ++t) {
    auto g = grad_of(q, t);
    for (size_t i = 0; i < 3; ++i) {
      double gi = g[i] + 0.01 * q[i];
      sq[i] = 0.8 * sq[i] + 0.2 * gi * gi;
      double d = std::sqrt(acc[i] + 1e-4) / std::sqrt(sq[i] + 1e-4) * gi;
      acc[i] = 0.8 * acc[i] + 0.2 * d * d;
      q[i] -= 0.5 * d;
    }
  }
  expect_near(run(opt, p, 5), q, 1e-5);
  EXPECT_THROW(optim::Adadelta({p}, {.rho = 1.5}), ValueError);
}

// replace_param moves a parameter's place and state to another tensor: two optimizers, one
// switched to a copy of the parameter halfway, take the same steps.
TEST_P(Optimizers, ReplaceParamKeepsTheState) {
  Tensor a = param(p0), b = param(p0);
  optim::SGD one({a}, {.lr = 0.1, .momentum = 0.9}), two({b}, {.lr = 0.1, .momentum = 0.9});
  run(one, a, 3);
  run(two, b, 3);
  Tensor c = param(b.to_vector());
  EXPECT_TRUE(two.replace_param(b, c));
  EXPECT_FALSE(two.replace_param(b, c));  // b is no longer one of its parameters
  EXPECT_TRUE(two.param_groups()[0].params[0].is_same(c));
  expect_near(run(two, c, 3), run(one, a, 3), 1e-12);  // the momentum came along
  EXPECT_THROW(two.replace_param(c, param({1.0, 2.0})), ShapeError);
}

TEST_P(Optimizers, ParamGroupsStateDictAndErrors) {
  Tensor a = param({1.0}), b = param({1.0});
  optim::SGD opt({optim::ParamGroup{{a}, {{"lr", 0.5}}}, optim::ParamGroup{{b}, {}}}, {.lr = 0.1, .momentum = 0.9});
  a.set_grad(ones({1}, f64()));
  b.set_grad(ones({1}, f64()));
  opt.step();
  EXPECT_NEAR(a.item<double>(), 0.5, 1e-12);
  EXPECT_NEAR(b.item<double>(), 0.9, 1e-12);
  optim::OptimizerState st = opt.state_dict();
  EXPECT_EQ(st.groups[0].at("lr"), 0.5);
  EXPECT_EQ(st.state[0].count("momentum_buffer"), 1u);
  // A restored optimizer continues exactly like the original.
  Tensor a2 = a.detach().clone().requires_grad_(), b2 = b.detach().clone().requires_grad_();
  optim::SGD opt2({optim::ParamGroup{{a2}, {}}, optim::ParamGroup{{b2}, {}}}, {.lr = 0.1, .momentum = 0.9});
  opt2.load_state_dict(st);
  for (Tensor* t : {&a, &b, &a2, &b2}) t->set_grad(ones({1}, f64()));
  opt.step();
  opt2.step();
  EXPECT_DOUBLE_EQ(a.item<double>(), a2.item<double>());
  EXPECT_DOUBLE_EQ(b.item<double>(), b2.item<double>());
  opt.zero_grad();
  EXPECT_FALSE(a.grad().defined());
  EXPECT_THROW(optim::SGD({a, a}, {}), ValueError);
  EXPECT_THROW(optim::Adam({a}, {.beta1 = 1.0}), ValueError);
  EXPECT_THROW(optim::SGD({a * 2}, {}), Error);  // not a leaf
  EXPECT_THROW(optim::SGD(std::vector<optim::ParamGroup>{optim::ParamGroup{{b}, {{"lr", -1}}}}), ValueError);
}

TEST(Schedulers, FollowTheirClosedForms) {
  Tensor p = ones({1}).requires_grad_();
  optim::SGD opt({p}, {.lr = 1.0});
  optim::StepLR step(opt, 2, 0.5);
  std::vector<double> lrs;
  for (int e = 0; e < 5; ++e) {
    lrs.push_back(opt.lr());
    step.step();
  }
  EXPECT_EQ(lrs, (std::vector<double>{1, 1, 0.5, 0.5, 0.25}));
  optim::SGD o2({ones({1}).requires_grad_()}, {.lr = 0.1});
  optim::CosineAnnealingLR cos(o2, 10, 0.0);
  for (int e = 0; e < 5; ++e) cos.step();
  EXPECT_NEAR(o2.lr(), 0.05, 1e-12);
  optim::SGD o3({ones({1}).requires_grad_()}, {.lr = 0.1});
  optim::MultiStepLR ms(o3, {1, 3}, 0.1);
  ms.step();
  EXPECT_NEAR(o3.lr(), 0.01, 1e-12);
  ms.step();
  ms.step();
  EXPECT_NEAR(o3.lr(), 0.001, 1e-12);
  optim::SGD o4({ones({1}).requires_grad_()}, {.lr = 0.1});
  optim::OneCycleLR oc(o4, 1.0, 100);
  EXPECT_NEAR(o4.lr(), 1.0 / 25, 1e-12);
  for (int i = 0; i < 29; ++i) oc.step();
  EXPECT_NEAR(o4.lr(), 1.0, 1e-12);  // the peak at pct_start * total - 1
  for (int i = 0; i < 70; ++i) oc.step();
  EXPECT_NEAR(o4.lr(), 1.0 / 25 / 1e4, 1e-12);
  EXPECT_THROW(oc.step(), ValueError);
  optim::SGD o5({ones({1}).requires_grad_()}, {.lr = 0.3});
  optim::LinearWarmup warm(o5, 3, 0.5);
  EXPECT_NEAR(o5.lr(), 0.15, 1e-12);
  for (int i = 0; i < 5; ++i) warm.step();
  EXPECT_NEAR(o5.lr(), 0.3, 1e-12);
  optim::SGD o6({ones({1}).requires_grad_()}, {.lr = 1.0});
  optim::ReduceLROnPlateau plateau(o6, {.patience = 2});
  for (double loss : {1.0, 0.9, 0.9, 0.9, 0.9}) plateau.step(loss);
  EXPECT_NEAR(o6.lr(), 0.1, 1e-12);
  optim::SGD o7({ones({1}).requires_grad_()}, {.lr = 1.0});
  optim::ExponentialLR ex(o7, 0.5);
  ex.step();
  ex.step();
  EXPECT_NEAR(o7.lr(), 0.25, 1e-12);
}

TEST_P(Optimizers, GradientClipping) {
  Tensor a = zeros({2}, {DType::Float32, case_device()}).requires_grad_(), b = zeros({1}, {DType::Float32, case_device()}).requires_grad_();
  a.set_grad(on(tensor({3., 0.})));
  b.set_grad(on(tensor({4.})));
  double n = optim::clip_grad_norm_({a, b}, 1.0);
  EXPECT_NEAR(n, 5.0, 1e-6);
  EXPECT_NEAR(a.grad().to_vector()[0], 0.6, 1e-5);
  EXPECT_NEAR(b.grad().to_vector()[0], 0.8, 1e-5);
  optim::clip_grad_value_({a, b}, 0.7);
  EXPECT_NEAR(b.grad().to_vector()[0], 0.7, 1e-7);
}

TEST_P(Training, TwoSpiralsReach100PercentTrainingAccuracy) {
  // Two interleaved spirals: not linearly separable; an MLP must fit them exactly.
  manual_seed(0);
  int64_t n = 200;
  std::vector<double> xs, labels;
  for (int64_t i = 0; i < n; ++i) {
    double r = 0.2 + 3.0 * double(i) / double(n), th = 1.75 * double(i) / double(n) * 2 * M_PI;
    for (int s = 0; s < 2; ++s) {
      double sign = s == 0 ? 1 : -1;
      xs.push_back(sign * r * std::cos(th));
      xs.push_back(sign * r * std::sin(th));
      labels.push_back(s);
    }
  }
  Tensor x = on(from_vector(xs, Shape{2 * n, 2}).to(DType::Float32));
  Tensor y = on(from_vector(labels).to(DType::Int64));
  nn::Sequential net(nn::Linear(2, 64), nn::Tanh(), nn::Linear(64, 64), nn::Tanh(), nn::Linear(64, 2));
  net.to(case_device());
  optim::Adam opt(net.parameters(), {.lr = 0.01});
  double acc = 0;
  for (int step = 0; step < 1500 && acc < 1.0; ++step) {
    Tensor logits = net(x);
    Tensor loss = nn::functional::cross_entropy(logits, y);
    opt.zero_grad();
    loss.backward();
    opt.step();
    if (step % 50 == 49) {
      autograd::NoGradGuard ng;
      acc = (net(x).argmax(1) == y).to(DType::Float32).mean().item<double>();
    }
  }
  EXPECT_EQ(acc, 1.0);
}

INSTANTIATE_TEST_SUITE_P(Devices, Optimizers, ::testing::ValuesIn(tessera::testing::test_devices()),
                         tessera::testing::device_param_name);
INSTANTIATE_TEST_SUITE_P(Devices, Training, ::testing::ValuesIn(tessera::testing::test_devices()),
                         tessera::testing::device_param_name);

// GradScaler: scaling, unscaling, skipped steps on inf/NaN, the scale's growth and backoff, state.
TEST(GradScaler, ScalesUnscalesSkipsAndAdaptsTheScale) {
  Tensor w = tensor({1.0f, 2.0f}).requires_grad_();
  optim::SGD opt({w}, {.lr = 0.1});
  optim::GradScaler scaler({.init_scale = 1024, .growth_interval = 2});
  Tensor loss = (w * w).sum();
  Tensor scaled = scaler.scale(loss);
  EXPECT_DOUBLE_EQ(scaled.item<double>(), 1024 * 5.0);
  scaled.backward();
  EXPECT_TRUE(ops::allclose(w.grad(), tensor({2048.0f, 4096.0f})));
  scaler.unscale_(opt);  // the true gradients, e.g. for clipping
  EXPECT_TRUE(ops::allclose(w.grad(), tensor({2.0f, 4.0f})));
  EXPECT_THROW(scaler.unscale_(opt), Error);  // twice in one iteration
  EXPECT_TRUE(scaler.step(opt));
  EXPECT_TRUE(ops::allclose(w.detach(), tensor({0.8f, 1.6f})));
  scaler.update();
  EXPECT_EQ(scaler.get_scale(), 1024);  // one good step of two
  // A second good step: the scale grows.
  opt.zero_grad();
  scaler.scale((w * w).sum()).backward();
  EXPECT_TRUE(scaler.step(opt));
  scaler.update();
  EXPECT_EQ(scaler.get_scale(), 2048);
  // An overflow: the step is skipped, the parameters are unchanged, the scale backs off.
  Tensor before = w.detach().clone();
  opt.zero_grad();
  scaler.scale((w * std::numeric_limits<float>::infinity()).sum()).backward();
  EXPECT_FALSE(scaler.step(opt));
  EXPECT_TRUE(ops::equal(w.detach(), before));
  scaler.update();
  EXPECT_EQ(scaler.get_scale(), 1024);
  // NaN too.
  opt.zero_grad();
  scaler.scale((w * std::numeric_limits<float>::quiet_NaN()).sum()).backward();
  EXPECT_FALSE(scaler.step(opt));
  scaler.update();
  EXPECT_EQ(scaler.get_scale(), 512);
  // State round trip, explicit scale, errors.
  optim::GradScaler other;
  other.load_state_dict(scaler.state_dict());
  EXPECT_EQ(other.get_scale(), 512);
  other.update(8.0);
  EXPECT_EQ(other.get_scale(), 8.0);
  EXPECT_THROW(scaler.update(), Error);  // no step since the last update
  EXPECT_THROW(optim::GradScaler({.growth_factor = 0.5}), ValueError);
  EXPECT_THROW(other.load_state_dict({}), ValueError);
  // Disabled: a pass-through.
  optim::GradScaler off({.enabled = false});
  opt.zero_grad();
  Tensor l = (w * w).sum();
  EXPECT_TRUE(ops::equal(off.scale(l), l));
  off.scale(l).backward();
  EXPECT_TRUE(off.step(opt));
  off.update();
  EXPECT_EQ(off.get_scale(), 1.0);
}

TEST(LBFGS, MinimizesRosenbrockWithAndWithoutLineSearch) {
  for (const char* ls : {"", "strong_wolfe"}) {
    Tensor w = from_vector(std::vector<double>{-1.5, 2.0}).requires_grad_();
    optim::LBFGS opt({w}, {.lr = *ls ? 1.0 : 0.1, .max_iter = 20, .line_search_fn = ls});
    auto rosenbrock = [&] {
      opt.zero_grad();
      Tensor a = w.select(0, 0), b = w.select(0, 1);
      Tensor loss = ops::square(1.0 - a) + 100.0 * ops::square(b - a * a);
      loss.backward();
      return loss;
    };
    double first = opt.step(rosenbrock).item<double>(), last = first;
    for (int i = 0; i < 20; ++i) last = opt.step(rosenbrock).item<double>();
    EXPECT_LT(last, first * 1e-2) << ls;
    if (*ls) {
      EXPECT_LT(last, 1e-6);
    }
    EXPECT_THROW(opt.step(), ValueError);  // the plain step needs a closure
  }
  Tensor w = ones({1}).requires_grad_();
  EXPECT_THROW(optim::LBFGS({w}, {.line_search_fn = "backtracking"}), ValueError);
}

// LibTorch's option builders: the same trajectories as the designated-initializer aggregates,
// getters that read what the setters wrote, AdamW's own default, conversions both ways.
TEST(OptionBuilders, MatchTheAggregates) {
  auto both = [](auto make_builder, auto make_config) {
    Tensor p1 = from_vector(std::vector<double>{1, -2, 3}), p2 = p1.clone();
    auto a = make_builder(std::vector<Tensor>{p1});
    auto b = make_config(std::vector<Tensor>{p2});
    EXPECT_EQ(run(a, p1, 5), run(b, p2, 5));
  };
  both([](auto p) { return optim::SGD(p, optim::SGDOptions(0.1).momentum(0.9).nesterov(true).weight_decay(0.01)); },
       [](auto p) { return optim::SGD(p, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true}); });
  both([](auto p) { return optim::Adam(p, optim::AdamOptions(0.05).betas({0.8, 0.95}).eps(1e-6).amsgrad(true)); },
       [](auto p) { return optim::Adam(p, {.lr = 0.05, .beta1 = 0.8, .beta2 = 0.95, .eps = 1e-6, .amsgrad = true}); });
  both([](auto p) { return optim::AdamW(p, optim::AdamWOptions(0.05)); },
       [](auto p) { return optim::AdamW(p, {.lr = 0.05, .weight_decay = 1e-2}); });
  both([](auto p) { return optim::RMSprop(p, optim::RMSpropOptions(0.01).alpha(0.9).momentum(0.5).centered(true)); },
       [](auto p) { return optim::RMSprop(p, {.lr = 0.01, .alpha = 0.9, .momentum = 0.5, .centered = true}); });
  both([](auto p) { return optim::Adagrad(p, optim::AdagradOptions(0.1).lr_decay(0.01).initial_accumulator_value(0.1)); },
       [](auto p) { return optim::Adagrad(p, {.lr = 0.1, .lr_decay = 0.01, .initial_accumulator_value = 0.1}); });
  both([](auto p) { return optim::Adadelta(p, optim::AdadeltaOptions(0.5).rho(0.8)); },
       [](auto p) { return optim::Adadelta(p, {.lr = 0.5, .rho = 0.8}); });
  optim::SGDOptions o(0.01);
  o.momentum(0.5).dampening(0.1);
  EXPECT_EQ(o.lr(), 0.01);
  EXPECT_EQ(o.momentum(), 0.5);
  EXPECT_EQ(o.dampening(), 0.1);
  EXPECT_FALSE(o.nesterov());
  EXPECT_EQ(optim::AdamWOptions().weight_decay(), 1e-2);
  EXPECT_EQ(optim::AdamOptions().betas(), (std::tuple<double, double>{0.9, 0.999}));
  optim::SGDOptions from_config = optim::SGDConfig{.lr = 0.3, .momentum = 0.2};
  EXPECT_EQ(from_config.momentum(), 0.2);
  const optim::SGDConfig& back = o;
  EXPECT_EQ(back.dampening, 0.1);
  auto l = optim::LBFGSOptions(0.5).max_iter(7).max_eval(9).history_size(3).line_search_fn("strong_wolfe");
  EXPECT_EQ(l.max_eval(), std::optional<int64_t>(9));
  EXPECT_EQ(l.config().line_search_fn, "strong_wolfe");
}
