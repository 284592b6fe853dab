// tessera._amp: autocast's state and GradScaler (see python/tessera/amp.py).
#include <nanobind/nanobind.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <memory>
#include <vector>

#include "common.h"
#include "tessera/tessera.h"

namespace nb = nanobind;
using namespace tessera;

namespace {

DeviceType device_type(const std::string& s) {
  if (s == "cpu") return DeviceType::CPU;
  if (s == "cuda") return DeviceType::CUDA;
  throw ValueError("autocast: device_type must be 'cpu' or 'cuda', got '" + s + "'");
}

// The guards of the autocast regions this thread is in, innermost last.
thread_local std::vector<std::unique_ptr<AutocastGuard>> g_guards;

const char* policy_name(CastPolicy p) {
  switch (p) {
    case CastPolicy::LowerPrecision: return "lower_precision";
    case CastPolicy::Float32: return "float32";
    case CastPolicy::Promote: return "promote";
    case CastPolicy::None: break;
  }
  return "none";
}

}  // namespace

void bind_amp(nb::module_& m) {
  nb::module_ a = m.def_submodule("_amp", "Autocast's state and GradScaler (see tessera.amp).");
  a.def(
      "push",
      [](const std::string& dev, std::optional<DType> dtype, bool enabled, bool cache) {
        g_guards.push_back(std::make_unique<AutocastGuard>(device_type(dev), dtype, enabled, cache));
      },
      nb::arg("device_type"), nb::arg("dtype") = nb::none(), nb::arg("enabled") = true,
      nb::arg("cache_enabled") = true, "Enters an autocast region (tessera.autocast.__enter__).");
  a.def(
      "pop",
      [] {
        if (g_guards.empty()) throw ValueError("autocast: exit without a matching enter");
        g_guards.pop_back();
      },
      "Leaves the innermost autocast region.");
  a.def("is_enabled", [](const std::string& d) { return is_autocast_enabled(device_type(d)); },
        nb::arg("device_type") = "cpu");
  a.def("get_dtype", [](const std::string& d) { return autocast_dtype(device_type(d)); }, nb::arg("device_type"));
  a.def("set_dtype", [](const std::string& d, DType t) { set_autocast_dtype(device_type(d), t); },
        nb::arg("device_type"), nb::arg("dtype"));
  a.def("clear_cache", &clear_autocast_cache);
  a.def("cache_size", &autocast_cache_size);
  a.def("policy", [](const std::string& d, const std::string& op) { return policy_name(autocast_policy(device_type(d), op)); },
        nb::arg("device_type"), nb::arg("op"));
  a.def(
      "ops",
      [](const std::string& d, const std::string& policy) {
        for (CastPolicy p : {CastPolicy::LowerPrecision, CastPolicy::Float32, CastPolicy::Promote})
          if (policy == policy_name(p)) return autocast_ops(device_type(d), p);
        throw ValueError("autocast ops: policy must be 'lower_precision', 'float32' or 'promote', got '" + policy + "'");
      },
      nb::arg("device_type"), nb::arg("policy"));

  nb::class_<optim::GradScaler>(a, "GradScaler", "Loss scaling for float16 training (torch.amp.GradScaler).")
      .def(
          "__init__",
          [](optim::GradScaler* self, double init_scale, double growth_factor, double backoff_factor,
             int64_t growth_interval, bool enabled) {
            new (self) optim::GradScaler({init_scale, growth_factor, backoff_factor, growth_interval, enabled});
          },
          nb::arg("init_scale") = 65536.0, nb::arg("growth_factor") = 2.0, nb::arg("backoff_factor") = 0.5,
          nb::arg("growth_interval") = 2000, nb::arg("enabled") = true)
      .def("scale", &optim::GradScaler::scale, nb::arg("outputs"), "outputs * the scale.")
      .def("unscale_", &optim::GradScaler::unscale_, nb::arg("optimizer"),
           "Divides the optimizer's gradients by the scale in place (before clipping them).")
      .def("step", &optim::GradScaler::step, nb::arg("optimizer"),
           "Unscales if needed and steps unless a gradient is inf or NaN; returns whether it stepped.")
      .def("update", &optim::GradScaler::update, nb::arg("new_scale") = nb::none(),
           "Adapts the scale after the step (or sets it to new_scale).")
      .def("get_scale", &optim::GradScaler::get_scale)
      .def("is_enabled", &optim::GradScaler::is_enabled)
      .def("get_growth_factor", [](const optim::GradScaler& s) { return s.options().growth_factor; })
      .def("get_backoff_factor", [](const optim::GradScaler& s) { return s.options().backoff_factor; })
      .def("get_growth_interval", [](const optim::GradScaler& s) { return s.options().growth_interval; })
      .def("state_dict", &optim::GradScaler::state_dict)
      .def("load_state_dict", &optim::GradScaler::load_state_dict, nb::arg("state_dict"));
}
