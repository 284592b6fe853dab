#pragma once
// What the binding files share: type casters for Python numbers (Scalar) and PyTorch's
// "int or (int, int)" arguments, and the conversion of a tensor-or-number operand.
#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/variant.h>
#include <nanobind/stl/vector.h>

#include <optional>
#include <variant>
#include <vector>

#include "tessera/tessera.h"

namespace tessera::py {

// An int or an (int, int) pair, as PyTorch's kernel_size/stride/padding arguments.
struct IntPair {
  int64_t h = 0, w = 0;
};
// A tensor, or a Python number that takes the dtype type promotion gives it beside another tensor.
using Operand = std::variant<Tensor, Scalar>;
// None, an int or a sequence of ints: the dims of a reduction (none means all).
using OptDims = std::optional<std::variant<int64_t, std::vector<int64_t>>>;

inline Shape dims_of(const OptDims& d) {
  if (!d) return {};
  if (auto* i = std::get_if<int64_t>(&*d)) return {*i};
  return std::get<std::vector<int64_t>>(*d);
}

// str(obj) for error messages ("?" when even that fails; any Python error is cleared).
inline std::string py_str(nanobind::handle h) {
  PyObject* s = h.ptr() ? PyObject_Str(h.ptr()) : nullptr;
  const char* c = s ? PyUnicode_AsUTF8(s) : nullptr;
  std::string r = c ? c : "?";
  Py_XDECREF(s);
  PyErr_Clear();
  return r;
}
inline std::string py_type_name(nanobind::handle h) { return py_str(nanobind::handle((PyObject*)Py_TYPE(h.ptr())).attr("__name__")); }

// None (no tensors), a tensor, or any iterable of tensors (a list, tuple or generator), as
// PyTorch's `parameters` and tensor-sequence arguments; a TypeError naming op and what otherwise.
inline std::vector<Tensor> tensors_of(nanobind::handle h, const char* op, const char* what = "parameters") {
  std::vector<Tensor> v;
  if (h.is_none()) return v;
  if (nanobind::isinstance<Tensor>(h)) return {nanobind::cast<Tensor>(h)};
  for (nanobind::handle e : nanobind::iter(h)) {
    if (!nanobind::isinstance<Tensor>(e))
      throw DTypeError(std::string(op) + ": " + what + " must be tensors, got a " + py_type_name(e));
    v.push_back(nanobind::cast<Tensor>(e));
  }
  return v;
}

inline Tensor operand(const Operand& v, const Tensor& like) {
  if (auto* t = std::get_if<Tensor>(&v)) return *t;
  const Scalar& s = std::get<Scalar>(v);
  return scalar_tensor(s, ops::result_type(like, s), like.device());
}

// The tensor among two operands (a TypeError when both are numbers).
inline const Tensor& tensor_of(const Operand& a, const Operand& b, const char* op) {
  if (auto* t = std::get_if<Tensor>(&a)) return *t;
  if (auto* t = std::get_if<Tensor>(&b)) return *t;
  throw DTypeError(std::string(op) + ": expected at least one tessera.Tensor, got two numbers");
}

}  // namespace tessera::py

namespace nanobind::detail {

// bool, int and float (and numpy scalars) as tessera::Scalar; tensors are not numbers here.
template <>
struct type_caster<tessera::Scalar> {
  NB_TYPE_CASTER(tessera::Scalar, const_name("bool | int | float"))
  bool from_python(handle src, uint8_t flags, cleanup_list*) noexcept {
    PyObject* o = src.ptr();
    if (PyBool_Check(o)) {
      value = tessera::Scalar(o == Py_True);
      return true;
    }
    if (PyLong_Check(o)) {
      long long v = PyLong_AsLongLong(o);
      if (v == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return false;
      }
      value = tessera::Scalar(int64_t(v));
      return true;
    }
    if (PyFloat_Check(o)) {
      value = tessera::Scalar(PyFloat_AsDouble(o));
      return true;
    }
    if (!(flags & uint8_t(cast_flags::convert)) || nanobind::inst_check(src)) return false;
    PyNumberMethods* nm = Py_TYPE(o)->tp_as_number;  // numpy scalars and other number types
    if (nm && nm->nb_index) {
      long long v = PyLong_AsLongLong(o);
      if (!(v == -1 && PyErr_Occurred())) {
        value = tessera::Scalar(int64_t(v));
        return true;
      }
      PyErr_Clear();
    }
    if (nm && nm->nb_float) {
      double d = PyFloat_AsDouble(o);
      if (!(d == -1.0 && PyErr_Occurred())) {
        value = tessera::Scalar(d);
        return true;
      }
      PyErr_Clear();
    }
    return false;
  }
  static handle from_cpp(const tessera::Scalar& s, rv_policy, cleanup_list*) noexcept {
    if (s.is_bool()) return PyBool_FromLong(s.to_bool());
    if (s.is_integral()) return PyLong_FromLongLong(s.to_int());
    return PyFloat_FromDouble(s.to_double());
  }
};

template <>
struct type_caster<tessera::py::IntPair> {
  NB_TYPE_CASTER(tessera::py::IntPair, const_name("int | tuple[int, int]"))
  bool from_python(handle src, uint8_t, cleanup_list*) noexcept {
    PyObject* o = src.ptr();
    if (PyLong_Check(o) && !PyBool_Check(o)) {
      value.h = value.w = PyLong_AsLongLong(o);
      return !PyErr_Occurred() || (PyErr_Clear(), false);
    }
    if ((PyTuple_Check(o) || PyList_Check(o)) && PySequence_Size(o) == 2) {
      int64_t v[2];
      for (Py_ssize_t i = 0; i < 2; ++i) {
        PyObject* e = PySequence_GetItem(o, i);
        bool ok = e && PyLong_Check(e);
        v[i] = ok ? PyLong_AsLongLong(e) : 0;
        Py_XDECREF(e);
        if (!ok || PyErr_Occurred()) {
          PyErr_Clear();
          return false;
        }
      }
      value.h = v[0];
      value.w = v[1];
      return true;
    }
    return false;
  }
  static handle from_cpp(const tessera::py::IntPair& p, rv_policy, cleanup_list*) noexcept {
    return Py_BuildValue("(LL)", (long long)p.h, (long long)p.w);
  }
};

}  // namespace nanobind::detail
