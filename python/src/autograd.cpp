// tessera.autograd's C++ part: custom functions (torch.autograd.Function), the functional API
// (jacobian, hessian, vjp, jvp, vhp, hvp), gradcheck and anomaly mode.
#include <nanobind/nanobind.h>
#include <nanobind/stl/function.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "common.h"
#include "python.h"

namespace nb = nanobind;
using namespace tessera;
using tessera::py::PyRef;
using tessera::py::tensors_of;

namespace {

std::string type_name_of(nb::handle cls) { return nb::cast<std::string>(cls.attr("__name__")); }

// Elements of a forward's or backward's result: a tensor alone, or a tuple/list.
std::vector<nb::object> items_of(nb::handle r) {
  std::vector<nb::object> out;
  if (nb::isinstance<nb::tuple>(r) || nb::isinstance<nb::list>(r)) {
    for (nb::handle h : r) out.push_back(nb::borrow(h));
  } else {
    out.push_back(nb::borrow(r));
  }
  return out;
}

// cls.apply(*args): cls.forward(ctx, *args) run without recording, cls.backward(ctx, *grads)
// recorded as the outputs' grad_fn (named after cls).
nb::object function_apply(nb::handle cls, nb::tuple args) {
  const std::string name = type_name_of(cls);
  std::vector<Tensor> inputs;
  std::vector<size_t> pos;
  for (size_t i = 0; i < args.size(); ++i)
    if (nb::isinstance<Tensor>(args[i])) {
      inputs.push_back(nb::cast<Tensor>(args[i]));
      pos.push_back(i);
    }
  auto ctx = std::make_shared<autograd::AutogradContext>();
  nb::object ctx_obj = nb::cast(ctx);
  const bool record = autograd::needs_grad(inputs);
  nb::list needs;
  for (size_t i = 0; i < args.size(); ++i)
    needs.append(record && nb::isinstance<Tensor>(args[i]) && nb::cast<Tensor>(args[i]).requires_grad());
  nb::setattr(ctx_obj, "needs_input_grad", nb::tuple(needs));

  nb::object result;
  std::vector<size_t> slots;  // positions of the tensors in forward's result
  bool single = false;
  auto forward = [&](autograd::AutogradContext&) {
    result = cls.attr("forward")(ctx_obj, *args);
    std::vector<Tensor> outs;
    if (nb::isinstance<Tensor>(result)) {
      single = true;
      outs.push_back(nb::cast<Tensor>(result));
      return outs;
    }
    if (!nb::isinstance<nb::tuple>(result) && !nb::isinstance<nb::list>(result))
      throw DTypeError(name + ".forward must return a tensor or a tuple of them, got a " +
                       tessera::py::py_type_name(result));
    std::vector<nb::object> items = items_of(result);
    for (size_t k = 0; k < items.size(); ++k)
      if (nb::isinstance<Tensor>(items[k])) {
        outs.push_back(nb::cast<Tensor>(items[k]));
        slots.push_back(k);
      }
    return outs;
  };
  // The class is held weakly: its methods' globals (a module holding the outputs, say) would
  // otherwise make a cycle through C++ that Python's collector cannot see.
  PyRef cls_ref(nb::module_::import_("weakref").attr("ref")(cls)), ctx_ref(ctx_obj);
  const size_t nargs = args.size();
  std::vector<bool> is_tensor(nargs);
  for (size_t p : pos) is_tensor[p] = true;
  auto backward = [cls_ref, ctx_ref, pos, nargs, is_tensor, name](autograd::AutogradContext&,
                                                                  const std::vector<Tensor>& grads) {
    nb::gil_scoped_acquire gil;
    nb::list gl;
    for (const Tensor& g : grads) gl.append(g.defined() ? nb::cast(g) : nb::none());
    nb::object c = cls_ref.get()();
    if (c.is_none()) throw Error(name + ": the Function class no longer exists, so its backward cannot run");
    nb::object r = c.attr("backward")(ctx_ref.get(), *gl);
    std::vector<nb::object> items = items_of(r);
    // Trailing Nones beyond the arguments are allowed, as in PyTorch.
    while (items.size() > nargs && items.back().is_none()) items.pop_back();
    if (items.size() != nargs)
      throw ValueError(name + ".backward returned an incorrect number of gradients (expected " +
                       std::to_string(nargs) + ", got " + std::to_string(items.size()) + ")");
    for (size_t k = 0; k < nargs; ++k) {
      if (items[k].is_none()) continue;
      if (!is_tensor[k])
        throw ValueError(name + ".backward returned a gradient different than None at position " +
                         std::to_string(k) + ", but the corresponding forward input was not a tensor");
      if (!nb::isinstance<Tensor>(items[k]))
        throw DTypeError(name + ".backward returned a " + tessera::py::py_type_name(items[k]) + " at position " +
                         std::to_string(k) + "; gradients are tensors or None");
    }
    std::vector<Tensor> per_input;
    for (size_t p : pos) per_input.push_back(items[p].is_none() ? Tensor() : nb::cast<Tensor>(items[p]));
    return per_input;
  };
  std::vector<Tensor> outs = autograd::apply_function(name, inputs, ctx, forward, backward);
  if (single) return nb::cast(outs[0]);
  std::vector<nb::object> items = items_of(result);
  for (size_t k = 0; k < slots.size(); ++k) items[slots[k]] = nb::cast(outs[k]);
  nb::list l;
  for (auto& o : items) l.append(o);
  return nb::tuple(l);
}

// A Python function of tensors as a TensorFunction (called with the GIL held: these APIs run
// on the caller's thread).
autograd::TensorFunction as_function(nb::handle f, const char* op) {
  return [f, op](const std::vector<Tensor>& xs) {
    nb::gil_scoped_acquire g;
    nb::list l;
    for (const Tensor& x : xs) l.append(x);
    nb::object r = f(*l);
    return tensors_of(r, op, "the function's outputs");
  };
}

}  // namespace

void bind_autograd(nb::module_& m) {
  nb::module_ a = m.def_submodule("_autograd", "tessera.autograd's C++ part");
  nb::class_<autograd::AutogradContext>(
      a, "FunctionCtx", nb::dynamic_attr(),
      "What a custom Function's forward and backward get as ctx: save_for_backward, saved_tensors, "
      "needs_input_grad, mark_dirty, mark_non_differentiable, set_materialize_grads, and any attribute you set.")
      .def("save_for_backward", [](autograd::AutogradContext& c, nb::args ts) {
             std::vector<Tensor> v;
             for (nb::handle h : ts) {
               if (!h.is_none() && !nb::isinstance<Tensor>(h))
                 throw DTypeError("save_for_backward: expected tensors or None, got a " + tessera::py::py_type_name(h));
               v.push_back(h.is_none() ? Tensor() : nb::cast<Tensor>(h));
             }
             c.save_for_backward(std::move(v));
           }, "Tensors backward needs (inputs or outputs), checked for in-place changes when read back.")
      .def_prop_ro("saved_tensors", [](const autograd::AutogradContext& c) {
             nb::list l;
             for (const Tensor& t : c.get_saved_variables()) l.append(t.defined() ? nb::cast(t) : nb::none());
             return nb::tuple(l);
           }, "The tensors given to save_for_backward.")
      .def("mark_dirty", [](autograd::AutogradContext& c, nb::args ts) {
             c.mark_dirty(tensors_of(ts, "mark_dirty", "its arguments"));
           }, "Inputs that forward modified in place (and returns).")
      .def("mark_non_differentiable", [](autograd::AutogradContext& c, nb::args ts) {
             c.mark_non_differentiable(tensors_of(ts, "mark_non_differentiable", "its arguments"));
           }, "Outputs that get no gradient.")
      .def("set_materialize_grads", &autograd::AutogradContext::set_materialize_grads, nb::arg("value"),
           "Whether missing output gradients reach backward as zeros (default) or None.");
  a.def("function_apply", &function_apply, nb::arg("cls"), nb::arg("args"),
        "cls.forward(ctx, *args) without recording; cls.backward as the outputs' grad_fn.");

  // The functional API: func(*inputs) with the inputs (and v) as a tensor or a sequence of them.
  using O = autograd::functional::Options;
  auto with_v = [&a](const char* name, auto fn, const char* doc) {
    a.def(name, [name, fn](nb::handle f, nb::handle in, nb::handle v, bool cg, bool strict) {
          return fn(as_function(f, name), tensors_of(in, name, "inputs"), tensors_of(v, name, "v"), O{cg, strict});
        }, nb::arg("func"), nb::arg("inputs"), nb::arg("v"), nb::arg("create_graph"), nb::arg("strict"), doc);
  };
  auto without_v = [&a](const char* name, auto fn, const char* doc) {
    a.def(name, [name, fn](nb::handle f, nb::handle in, bool cg, bool strict) {
          return fn(as_function(f, name), tensors_of(in, name, "inputs"), O{cg, strict});
        }, nb::arg("func"), nb::arg("inputs"), nb::arg("create_graph"), nb::arg("strict"), doc);
  };
  with_v("vjp", &autograd::functional::vjp, "(outputs, v^T J).");
  with_v("jvp", &autograd::functional::jvp, "(outputs, J v).");
  with_v("vhp", &autograd::functional::vhp, "(output, v^T H).");
  with_v("hvp", &autograd::functional::hvp, "(output, H v).");
  without_v("jacobian", &autograd::functional::jacobian, "J[i][j] = d outputs[i] / d inputs[j].");
  without_v("hessian", &autograd::functional::hessian, "H[i][j] = d^2 f / d inputs[i] d inputs[j].");
  a.def("gradcheck", [](nb::handle f, nb::handle in, double eps, double atol, double rtol, bool raise, bool second) {
          autograd::GradcheckOptions o{eps, atol, rtol, raise};
          auto fn = as_function(f, second ? "gradgradcheck" : "gradcheck");
          auto xs = tensors_of(in, "gradcheck", "inputs");
          return second ? autograd::gradgradcheck(fn, xs, o) : autograd::gradcheck(fn, xs, o);
        }, nb::arg("func"), nb::arg("inputs"), nb::arg("eps"), nb::arg("atol"), nb::arg("rtol"),
        nb::arg("raise_exception"), nb::arg("second_order"),
        "Analytical against finite-difference gradients (second_order: of the gradients).");
  a.def("set_detect_anomaly", &autograd::set_detect_anomaly, nb::arg("mode"),
        "Anomaly mode: nodes remember where they were created, and NaN/Inf gradients raise.");
  a.def("is_anomaly_enabled", &autograd::is_anomaly_enabled, "Whether anomaly mode is on.");
}
