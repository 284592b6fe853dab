// tessera.optim's optimizers (their parameter groups as live views), gradient clipping and the LR
// schedulers, bound over the C++ implementations.
#include <nanobind/stl/function.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/shared_ptr.h>

#include <algorithm>

#include "common.h"
#include "python.h"

namespace nb = nanobind;
using namespace tessera;

namespace {
using Release = nb::call_guard<nb::gil_scoped_release>;

// Parameters as PyTorch takes them: an iterable of tensors, or of dicts {"params": [...], "lr": ...}
// (parameter groups with their own options).
std::vector<optim::ParamGroup> param_groups(nb::handle params) {
  std::vector<optim::ParamGroup> groups;
  std::vector<Tensor> plain;
  for (nb::handle item : nb::iter(params)) {
    if (nb::isinstance<Tensor>(item)) {
      plain.push_back(nb::cast<Tensor>(item));
      continue;
    }
    if (!nb::isinstance<nb::dict>(item))
      throw nb::type_error("optimizer params: expected tensors or dicts {'params': [...], option: value}");
    optim::ParamGroup g;
    for (auto [k, v] : nb::borrow<nb::dict>(item)) {
      std::string key = nb::cast<std::string>(k);
      if (key == "params") {
        for (nb::handle p : nb::iter(v)) g.params.push_back(nb::cast<Tensor>(p));
      } else if (key == "betas") {
        auto b = nb::cast<std::pair<double, double>>(v);
        g.options["beta1"] = b.first;
        g.options["beta2"] = b.second;
      } else {
        g.options[key] = nb::cast<double>(v);
      }
    }
    groups.push_back(std::move(g));
  }
  if (!plain.empty()) {
    if (!groups.empty()) throw nb::type_error("optimizer params: mix of tensors and parameter-group dicts");
    groups.push_back({std::move(plain), {}});
  }
  if (groups.empty()) throw ValueError("optimizer got an empty parameter list");
  return groups;
}

// optimizer.param_groups[i] as torch's dict: a live view, so writing g["lr"] (what schedulers and
// hand-written decay loops do) changes the optimizer. Options are numbers (bools as 0/1);
// "betas" reads and writes beta1/beta2; "params" the group's tensors.
struct GroupView {
  optim::Optimizer* opt;
  size_t index;
  optim::ParamGroup& group() const {
    auto& gs = opt->param_groups();
    if (index >= gs.size()) throw nb::index_error("param_groups: the group no longer exists");
    return gs[index];
  }
  std::vector<std::string> keys() const {
    std::vector<std::string> k{"params"};
    const auto& o = group().options;
    for (auto& [name, v] : o)
      if (name != "beta1" && name != "beta2") k.push_back(name);
    if (o.count("beta1") && o.count("beta2")) k.push_back("betas");
    return k;
  }
  nb::object get(const std::string& key) const {
    auto& g = group();
    if (key == "params") return nb::cast(g.params);
    if (key == "betas" && g.options.count("beta1") && g.options.count("beta2"))
      return nb::make_tuple(g.options.at("beta1"), g.options.at("beta2"));
    auto it = g.options.find(key);
    if (it == g.options.end()) throw nb::key_error(key.c_str());
    return nb::cast(it->second);
  }
  void set(const std::string& key, nb::handle v) {
    auto& g = group();
    if (key == "params") {
      std::vector<Tensor> ps;
      for (nb::handle p : nb::iter(v)) ps.push_back(nb::cast<Tensor>(p));
      g.params = std::move(ps);
    } else if (key == "betas") {
      auto b = nb::cast<std::pair<double, double>>(v);
      g.options["beta1"] = b.first;
      g.options["beta2"] = b.second;
    } else {
      double d;
      if (!nb::try_cast(v, d))
        throw DTypeError(opt->name() + ".param_groups: option '" + key + "' must be a number, got a " +
                         tessera::py::py_type_name(v));
      if (key == "lr" && d < 0) throw ValueError(opt->name() + ": invalid learning rate " + std::to_string(d));
      g.options[key] = d;
    }
  }
};

nb::list groups_view(nb::handle self) {
  auto& o = nb::cast<optim::Optimizer&>(self);
  nb::list out;
  for (size_t i = 0; i < o.param_groups().size(); ++i) {
    nb::object v = nb::cast(GroupView{&o, i});
    nb::detail::keep_alive(v.ptr(), self.ptr());
    out.append(v);
  }
  return out;
}

// Adam's and AdamW's constructor (torch's arguments; they differ in the default weight decay).
template <class C>
void adam_init(C&& c, double default_weight_decay) {
  using A = typename std::decay_t<C>::Type;
  c.def(
      "__init__",
      [](A* self, nb::handle params, double lr, std::pair<double, double> betas, double eps, double weight_decay,
         bool amsgrad) {
        new (self) A(param_groups(params), {lr, betas.first, betas.second, eps, weight_decay, amsgrad});
      },
      nb::arg("params"), nb::arg("lr") = 1e-3, nb::arg("betas") = std::make_pair(0.9, 0.999), nb::arg("eps") = 1e-8,
      nb::arg("weight_decay") = default_weight_decay, nb::arg("amsgrad") = false);
}

}  // namespace

namespace tessera::py {
nb::dict optimizer_state_to_py(const optim::OptimizerState& st, const std::vector<size_t>& group_sizes) {
  nb::dict state;
  for (size_t i = 0; i < st.state.size(); ++i) {
    if (st.state[i].empty() && st.steps[i] == 0) continue;
    nb::dict e;
    e["step"] = st.steps[i];
    for (auto& [k, t] : st.state[i]) e[k.c_str()] = t;
    state[nb::int_(i)] = e;
  }
  nb::list groups;
  size_t first = 0;
  for (size_t g = 0; g < st.groups.size(); ++g) {
    nb::dict d;
    for (auto& [k, v] : st.groups[g]) d[k.c_str()] = v;
    nb::list idx;
    size_t count = g < group_sizes.size() ? group_sizes[g] : 0;
    for (size_t i = 0; i < count; ++i) idx.append(first + i);
    first += count;
    d["params"] = idx;
    groups.append(d);
  }
  nb::dict out;
  out["state"] = state;
  out["param_groups"] = groups;
  return out;
}

optim::OptimizerState optimizer_state_from_py(nb::dict sd, const std::string& who) {
  if (!sd.contains("state") || !sd.contains("param_groups"))
    throw ValueError(who + ".load_state_dict: expected a dict with 'state' and 'param_groups'");
  optim::OptimizerState st;
  size_t n = 0;
  for (nb::handle g : nb::iter(sd["param_groups"])) {
    std::map<std::string, double> opts;
    for (auto [k, v] : nb::borrow<nb::dict>(g)) {
      std::string key = nb::cast<std::string>(k);
      if (key != "params") opts[key] = nb::cast<double>(v);
      else n += nb::len(v);
    }
    st.groups.push_back(std::move(opts));
  }
  st.state.resize(n);
  st.steps.resize(n, 0);
  for (auto [k, v] : nb::borrow<nb::dict>(sd["state"])) {
    int64_t i = nb::cast<int64_t>(k);
    if (i < 0 || size_t(i) >= n)
      throw ValueError(who + ".load_state_dict: state for parameter " + std::to_string(i) + " but the groups hold " +
                       std::to_string(n));
    for (auto [name, t] : nb::borrow<nb::dict>(v)) {
      std::string key = nb::cast<std::string>(name);
      if (key == "step") st.steps[size_t(i)] = nb::cast<int64_t>(nb::int_(t));
      else st.state[size_t(i)][key] = nb::cast<Tensor>(t);
    }
  }
  return st;
}
}  // namespace tessera::py

using tessera::py::optimizer_state_from_py;
using tessera::py::optimizer_state_to_py;

void bind_optim(nb::module_& m) {
  // --- tessera.optim -----------------------------------------------------------------------------
  nb::class_<GroupView>(m, "ParamGroup", "One of optimizer.param_groups: a dict-like live view of a group's options.")
      .def("__getitem__", &GroupView::get)
      .def("__setitem__", &GroupView::set)
      .def("__contains__", [](const GroupView& g, const std::string& k) {
        auto ks = g.keys();
        return std::find(ks.begin(), ks.end(), k) != ks.end();
      })
      .def("__len__", [](const GroupView& g) { return g.keys().size(); })
      .def("__iter__", [](const GroupView& g) { return nb::iter(nb::cast(g.keys())); })
      .def("keys", &GroupView::keys, "The group's keys: 'params' and its options.")
      .def("values", [](const GroupView& g) {
        nb::list l;
        for (auto& k : g.keys()) l.append(g.get(k));
        return l;
      }, "The values, in the order of keys().")
      .def("items", [](const GroupView& g) {
        nb::list l;
        for (auto& k : g.keys()) l.append(nb::make_tuple(k, g.get(k)));
        return l;
      }, "(key, value) pairs.")
      .def("get", [](const GroupView& g, const std::string& k, nb::handle dflt) -> nb::object {
        auto ks = g.keys();
        return std::find(ks.begin(), ks.end(), k) != ks.end() ? g.get(k) : nb::borrow(dflt);
      }, nb::arg("key"), nb::arg("default") = nb::none(), "The value of key, or default.")
      .def("setdefault", [](GroupView& g, const std::string& k, nb::handle dflt) -> nb::object {
        auto ks = g.keys();
        if (std::find(ks.begin(), ks.end(), k) == ks.end()) g.set(k, dflt);
        return g.get(k);
      }, nb::arg("key"), nb::arg("default") = nb::none(), "The value of key, set to default first when missing.")
      .def("__repr__", [](const GroupView& g) {
        nb::dict d;
        for (auto& k : g.keys()) d[k.c_str()] = g.get(k);
        return tessera::py::py_str(nb::repr(d));
      });
  nb::class_<optim::Optimizer>(m, "Optimizer", "The base of the C++ optimizers (torch.optim.Optimizer).",
                               nb::dynamic_attr())  // (its constructor's arguments, for pickling)
      .def("step", &optim::Optimizer::step, Release(), "One update of every parameter that has a gradient.")
      .def("_replace_param", &optim::Optimizer::replace_param, nb::arg("old"), nb::arg("new"),
           "Puts new where old is, with old's state (unpickling rebinds to a rebuilt model's parameters).")
      .def("zero_grad", &optim::Optimizer::zero_grad, nb::arg("set_to_none") = true)
      .def_prop_rw(
          "lr", [](const optim::Optimizer& o) { return o.lr(); }, [](optim::Optimizer& o, double v) { o.set_lr(v); },
          "The learning rate (of every group when set).")
      .def_prop_ro("param_groups", &groups_view,
                   "The groups, as torch's list of dicts: each a live view (g['lr'] = 0.01 changes the optimizer).")
      .def(
          "set_lr", [](optim::Optimizer& o, double lr, std::optional<size_t> g) { o.set_lr(lr, g); }, nb::arg("lr"),
          nb::arg("group") = nb::none())
      .def(
          "add_param_group",
          [](optim::Optimizer& o, nb::dict g) {
            nb::list l;
            l.append(g);
            o.add_param_group(param_groups(l).front());
          },
          nb::arg("param_group"))
      .def("state_dict", [](const optim::Optimizer& o) {
        std::vector<size_t> sizes;
        for (auto& g : const_cast<optim::Optimizer&>(o).param_groups()) sizes.push_back(g.params.size());
        return optimizer_state_to_py(o.state_dict(), sizes);
      }, "The optimizer's state (buffers and step counts per parameter) and its groups' options, as torch's.")
      .def("load_state_dict", [](optim::Optimizer& o, nb::dict sd) {
        o.load_state_dict(optimizer_state_from_py(sd, o.name()));
      }, nb::arg("state_dict"), "Restores a state_dict() (shapes and group counts are checked).")
      .def("__repr__", [](const optim::Optimizer& o) { return o.name() + "(lr=" + std::to_string(o.lr()) + ")"; });
  nb::class_<optim::SGD, optim::Optimizer>(
      m, "SGD", "Stochastic gradient descent with momentum, dampening, Nesterov and weight decay (torch.optim.SGD).")
      .def(
          "__init__",
          [](optim::SGD* self, nb::handle params, double lr, double momentum, double dampening, double weight_decay,
             bool nesterov) {
            new (self) optim::SGD(param_groups(params), {lr, momentum, dampening, weight_decay, nesterov});
          },
          nb::arg("params"), nb::arg("lr") = 1e-3, nb::arg("momentum") = 0.0, nb::arg("dampening") = 0.0,
          nb::arg("weight_decay") = 0.0, nb::arg("nesterov") = false);
  adam_init(nb::class_<optim::Adam, optim::Optimizer>(m, "Adam",
                                                      "Adam, with L2 weight decay and amsgrad (torch.optim.Adam)."),
            0.0);
  adam_init(nb::class_<optim::AdamW, optim::Adam>(m, "AdamW", "Adam with decoupled weight decay (torch.optim.AdamW)."),
            1e-2);
  nb::class_<optim::RMSprop, optim::Optimizer>(m, "RMSprop",
                                               "RMSprop, centered and with momentum (torch.optim.RMSprop).")
      .def(
          "__init__",
          [](optim::RMSprop* self, nb::handle params, double lr, double alpha, double eps, double weight_decay,
             double momentum, bool centered) {
            new (self) optim::RMSprop(param_groups(params), {lr, alpha, eps, weight_decay, momentum, centered});
          },
          nb::arg("params"), nb::arg("lr") = 1e-2, nb::arg("alpha") = 0.99, nb::arg("eps") = 1e-8,
          nb::arg("weight_decay") = 0.0, nb::arg("momentum") = 0.0, nb::arg("centered") = false);
  nb::class_<optim::Adagrad, optim::Optimizer>(m, "Adagrad", "Adagrad (torch.optim.Adagrad).")
      .def(
          "__init__",
          [](optim::Adagrad* self, nb::handle params, double lr, double lr_decay, double weight_decay, double init_acc,
             double eps) {
            new (self) optim::Adagrad(param_groups(params), {lr, lr_decay, weight_decay, init_acc, eps});
          },
          nb::arg("params"), nb::arg("lr") = 1e-2, nb::arg("lr_decay") = 0.0, nb::arg("weight_decay") = 0.0,
          nb::arg("initial_accumulator_value") = 0.0, nb::arg("eps") = 1e-10);

  nb::class_<optim::Adadelta, optim::Optimizer>(m, "Adadelta", "Adadelta (torch.optim.Adadelta).")
      .def("__init__", [](optim::Adadelta* self, nb::handle params, double lr, double rho, double eps,
                          double weight_decay) {
        new (self) optim::Adadelta(param_groups(params), {lr, rho, eps, weight_decay});
      }, nb::arg("params"), nb::arg("lr") = 1.0, nb::arg("rho") = 0.9, nb::arg("eps") = 1e-6,
         nb::arg("weight_decay") = 0.0);
  nb::class_<optim::LBFGS, optim::Optimizer>(m, "LBFGS",
                                             "L-BFGS (torch.optim.LBFGS): step(closure) re-evaluates the loss as "
                                             "often as it needs; line_search_fn=None or 'strong_wolfe'.")
      .def("__init__", [](optim::LBFGS* self, nb::handle params, double lr, int64_t max_iter,
                          std::optional<int64_t> max_eval, double tolerance_grad, double tolerance_change,
                          int64_t history_size, std::optional<std::string> line_search_fn) {
        auto groups = param_groups(params);
        if (groups.size() != 1) throw ValueError("LBFGS doesn't support per-parameter options (parameter groups)");
        new (self) optim::LBFGS(groups[0].params, {lr, max_iter, max_eval, tolerance_grad, tolerance_change,
                                                  history_size, line_search_fn.value_or("")});
      }, nb::arg("params"), nb::arg("lr") = 1.0, nb::arg("max_iter") = 20, nb::arg("max_eval") = nb::none(),
         nb::arg("tolerance_grad") = 1e-7, nb::arg("tolerance_change") = 1e-9, nb::arg("history_size") = 100,
         nb::arg("line_search_fn") = nb::none())
      .def("step", [](optim::LBFGS& o, nb::handle closure) {
        if (closure.is_none())
          throw ValueError("LBFGS: step() needs a closure that re-evaluates the model and returns the loss");
        return o.step([closure] {
          nb::object r = closure();
          if (!nb::isinstance<Tensor>(r))
            throw DTypeError("LBFGS: the closure must return the loss tensor, got a " + tessera::py::py_type_name(r));
          return nb::cast<Tensor>(r);
        });
      }, nb::arg("closure") = nb::none(), "One L-BFGS step; returns the closure's first loss.");
  m.def(
      "clip_grad_norm_",
      [](nb::handle p, double max_norm, double norm_type) {
        std::vector<Tensor> v = tessera::py::tensors_of(p, "clip_grad_norm_");
        nb::gil_scoped_release r;
        return optim::clip_grad_norm_(v, max_norm, norm_type);
      },
      nb::arg("parameters"), nb::arg("max_norm"), nb::arg("norm_type") = 2.0,
      "Scales the gradients so that their joint norm is at most max_norm; returns the norm before.");
  m.def("clip_grad_value_", [](nb::handle p, double v) {
          std::vector<Tensor> ts = tessera::py::tensors_of(p, "clip_grad_value_");
          nb::gil_scoped_release r;
          optim::clip_grad_value_(ts, v);
        }, nb::arg("parameters"), nb::arg("clip_value"),
        "Clamps every gradient element into [-clip_value, clip_value].");

  // LR schedulers hold a reference to their optimizer: keep_alive ties its lifetime to theirs.
  nb::class_<optim::LRScheduler>(m, "LRScheduler", "The base of the epoch-indexed LR schedulers.")
      .def("step", &optim::LRScheduler::step)
      .def("get_last_lr", &optim::LRScheduler::get_last_lr)
      .def_prop_ro("last_epoch", &optim::LRScheduler::last_epoch);
  using KA = nb::keep_alive<1, 2>;
  nb::class_<optim::StepLR, optim::LRScheduler>(m, "StepLR", "Multiplies the rate by gamma every step_size epochs.")
      .def(nb::init<optim::Optimizer&, int64_t, double>(), nb::arg("optimizer"), nb::arg("step_size"),
           nb::arg("gamma") = 0.1, KA());
  nb::class_<optim::MultiStepLR, optim::LRScheduler>(m, "MultiStepLR",
                                                     "Multiplies the rate by gamma at each milestone.")
      .def(nb::init<optim::Optimizer&, std::vector<int64_t>, double>(), nb::arg("optimizer"), nb::arg("milestones"),
           nb::arg("gamma") = 0.1, KA());
  nb::class_<optim::ExponentialLR, optim::LRScheduler>(m, "ExponentialLR", "Multiplies the rate by gamma every epoch.")
      .def(nb::init<optim::Optimizer&, double>(), nb::arg("optimizer"), nb::arg("gamma"), KA());
  nb::class_<optim::CosineAnnealingLR, optim::LRScheduler>(m, "CosineAnnealingLR",
                                                           "Cosine from the base rate to eta_min over T_max epochs.")
      .def(nb::init<optim::Optimizer&, int64_t, double>(), nb::arg("optimizer"), nb::arg("T_max"),
           nb::arg("eta_min") = 0.0, KA());
  nb::class_<optim::OneCycleLR, optim::LRScheduler>(m, "OneCycleLR",
                                                    "The one-cycle policy: up to max_lr, then down, over total_steps.")
      .def(nb::init<optim::Optimizer&, double, int64_t, double, double, double>(), nb::arg("optimizer"),
           nb::arg("max_lr"), nb::arg("total_steps"), nb::arg("pct_start") = 0.3, nb::arg("div_factor") = 25.0,
           nb::arg("final_div_factor") = 1e4, KA());
  nb::class_<optim::LinearWarmup, optim::LRScheduler>(
      m, "LinearWarmup", "Scales the rate from start_factor to 1 over warmup_steps, then keeps it.")
      .def(nb::init<optim::Optimizer&, int64_t, double>(), nb::arg("optimizer"), nb::arg("warmup_steps"),
           nb::arg("start_factor") = 1.0 / 3, KA());
  nb::class_<optim::ReduceLROnPlateau>(
      m, "ReduceLROnPlateau", "Multiplies the rate by factor when the metric stops improving for patience epochs.")
      .def(
          "__init__",
          [](optim::ReduceLROnPlateau* self, optim::Optimizer& o, const std::string& mode, double factor,
             int64_t patience, double threshold, int64_t cooldown, double min_lr) {
            if (mode != "min" && mode != "max")
              throw ValueError("ReduceLROnPlateau: mode must be 'min' or 'max', got '" + mode + "'");
            new (self) optim::ReduceLROnPlateau(o, {mode == "max", factor, patience, threshold, cooldown, min_lr});
          },
          nb::arg("optimizer"), nb::arg("mode") = "min", nb::arg("factor") = 0.1, nb::arg("patience") = 10,
          nb::arg("threshold") = 1e-4, nb::arg("cooldown") = 0, nb::arg("min_lr") = 0.0, KA())
      .def("step", &optim::ReduceLROnPlateau::step, nb::arg("metrics"))
      .def("get_last_lr", &optim::ReduceLROnPlateau::get_last_lr);
}
