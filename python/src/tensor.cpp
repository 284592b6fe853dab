// The Tensor class and the functional API for Python.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/variant.h>
#include <nanobind/stl/vector.h>

#include "tessera/tessera.h"

namespace nb = nanobind;
using namespace tessera;

namespace {
using OptDims = std::optional<std::variant<int64_t, std::vector<int64_t>>>;

Shape dims_of(const OptDims& d) {
  if (!d) return {};
  if (auto* i = std::get_if<int64_t>(&*d)) return {*i};
  return std::get<std::vector<int64_t>>(*d);
}

// A Python number as a Scalar (bool before int: bool is an int in Python).
std::optional<Scalar> as_scalar(nb::handle h) {
  if (PyBool_Check(h.ptr())) return Scalar(h.ptr() == Py_True);
  if (PyLong_Check(h.ptr())) return Scalar(int64_t(PyLong_AsLongLong(h.ptr())));
  if (PyFloat_Check(h.ptr())) return Scalar(PyFloat_AsDouble(h.ptr()));
  return std::nullopt;
}

// A Tensor, or a Python number made into a 0-d tensor of the dtype promotion gives it.
Tensor as_tensor(nb::handle h, const Tensor& like) {
  if (nb::isinstance<Tensor>(h)) return nb::cast<Tensor>(h);
  if (auto s = as_scalar(h)) return scalar_tensor(*s, ops::result_type(like, *s), like.device());
  throw nb::type_error("expected a tessera.Tensor or a Python number");
}

std::optional<int64_t> opt_int(nb::handle h) {
  if (h.is_none()) return std::nullopt;
  return nb::cast<int64_t>(h);
}

TensorIndex to_index(nb::handle h) {
  if (h.is_none()) return TensorIndex(None);
  if (h.ptr() == Py_Ellipsis) return TensorIndex(Ellipsis_);
  if (PySlice_Check(h.ptr())) {
    int64_t step = 1;
    nb::object st = nb::getattr(h, "step");
    if (!st.is_none()) step = nb::cast<int64_t>(st);
    return TensorIndex(Slice{opt_int(nb::getattr(h, "start")), opt_int(nb::getattr(h, "stop")), step});
  }
  if (nb::isinstance<Tensor>(h)) return TensorIndex(nb::cast<Tensor>(h));
  if (PyBool_Check(h.ptr())) return TensorIndex(full({}, h.ptr() == Py_True, {DType::Bool}));
  if (PyLong_Check(h.ptr())) return TensorIndex(int64_t(PyLong_AsLongLong(h.ptr())));
  if (PyList_Check(h.ptr())) {  // a list of ints (or bools) is an index tensor, as in NumPy
    std::vector<int64_t> v;
    for (nb::handle e : nb::borrow<nb::list>(h)) v.push_back(nb::cast<int64_t>(e));
    return TensorIndex(from_vector(v));
  }
  throw nb::type_error("indices must be integers, slices, None, ..., lists or tessera tensors");
}

std::vector<TensorIndex> to_indices(nb::handle key) {
  std::vector<TensorIndex> idx;
  if (PyTuple_Check(key.ptr())) {
    for (nb::handle h : nb::borrow<nb::tuple>(key)) idx.push_back(to_index(h));
  } else {
    idx.push_back(to_index(key));
  }
  return idx;
}

DType dtype_of_ndarray(const nb::dlpack::dtype& t) {
  using C = nb::dlpack::dtype_code;
  if (t.code == uint8_t(C::Bool)) return DType::Bool;
  if (t.code == uint8_t(C::Float) && t.bits == 32) return DType::Float32;
  if (t.code == uint8_t(C::Float) && t.bits == 64) return DType::Float64;
  if (t.code == uint8_t(C::Float) && t.bits == 16) return DType::Float16;
  if (t.code == uint8_t(C::Bfloat) && t.bits == 16) return DType::BFloat16;
  if (t.code == uint8_t(C::Int) && t.bits == 64) return DType::Int64;
  if (t.code == uint8_t(C::Int) && t.bits == 32) return DType::Int32;
  if (t.code == uint8_t(C::Int) && t.bits == 8) return DType::Int8;
  if (t.code == uint8_t(C::UInt) && t.bits == 8) return DType::UInt8;
  throw nb::type_error("from_numpy: unsupported array dtype");
}
nb::dlpack::dtype ndarray_dtype(DType t) {
  using C = nb::dlpack::dtype_code;
  switch (t) {
    case DType::Bool: return {uint8_t(C::Bool), 8, 1};
    case DType::UInt8: return {uint8_t(C::UInt), 8, 1};
    case DType::Int8: return {uint8_t(C::Int), 8, 1};
    case DType::Int32: return {uint8_t(C::Int), 32, 1};
    case DType::Int64: return {uint8_t(C::Int), 64, 1};
    case DType::Float16: return {uint8_t(C::Float), 16, 1};
    case DType::BFloat16: return {uint8_t(C::Bfloat), 16, 1};
    case DType::Float32: return {uint8_t(C::Float), 32, 1};
    case DType::Float64: return {uint8_t(C::Float), 64, 1};
  }
  return {};
}

// Zero-copy when possible: the tensor keeps the array alive (its deleter drops the reference
// with the GIL held).
Tensor from_numpy(nb::handle obj) {
  nb::ndarray<nb::numpy, nb::device::cpu> a;
  if (!nb::try_cast(obj, a)) throw nb::type_error("from_numpy: expected a numpy array on the CPU");
  DType dt = dtype_of_ndarray(a.dtype());
  Shape shape, strides;
  for (size_t i = 0; i < a.ndim(); ++i) {
    shape.push_back(int64_t(a.shape(i)));
    strides.push_back(int64_t(a.stride(i)));
  }
  for (int64_t s : strides)
    if (s < 0) {  // negative strides (a[::-1]): copy through numpy
      nb::object c = nb::module_::import_("numpy").attr("ascontiguousarray")(obj);
      return from_numpy(c);
    }
  PyObject* owner = obj.ptr();
  Py_XINCREF(owner);
  return from_blob(a.data(), shape, dt,
                   [owner](void*) {
                     nb::gil_scoped_acquire g;
                     Py_XDECREF(owner);
                   },
                   strides);
}

nb::object to_numpy(const Tensor& t) {
  Tensor c = t.detach().cpu();
  // The array holds a Tensor that shares the storage: no copy for any layout numpy can express.
  auto* keep = new Tensor(c);
  nb::capsule owner(keep, [](void* p) noexcept { delete static_cast<Tensor*>(p); });
  std::vector<size_t> shape(c.shape().begin(), c.shape().end());
  std::vector<int64_t> strides(c.strides().begin(), c.strides().end());
  nb::ndarray<nb::numpy> arr(c.data_ptr(), c.dim(), shape.data(), owner, strides.data(), ndarray_dtype(c.dtype()));
  return nb::cast(arr, nb::rv_policy::reference);
}

#define TS_BINOP(py, OP)                                                                                 \
  .def(py, [](const Tensor& a, nb::handle b) { return ops::binary(BinaryOp::OP, a, as_tensor(b, a)); }, \
       nb::is_operator())
#define TS_RBINOP(py, OP)                                                                                \
  .def(py, [](const Tensor& a, nb::handle b) { return ops::binary(BinaryOp::OP, as_tensor(b, a), a); }, \
       nb::is_operator())
}  // namespace

void bind_tensor(nb::module_& m) {
  nb::class_<Tensor>(m, "Tensor", "A strided view of reference-counted storage, as torch.Tensor.")
      .def_prop_ro("shape", [](const Tensor& t) { return nb::tuple(nb::cast(t.shape())); })
      .def("size", [](const Tensor& t, std::optional<int64_t> d) -> nb::object {
            if (d) return nb::cast(t.size(*d));
            return nb::tuple(nb::cast(t.shape()));
          }, nb::arg("dim") = nb::none())
      .def("dim", &Tensor::dim)
      .def_prop_ro("ndim", &Tensor::dim)
      .def("numel", &Tensor::numel)
      .def("stride", [](const Tensor& t) { return nb::tuple(nb::cast(t.strides())); })
      .def_prop_ro("dtype", &Tensor::dtype)
      .def_prop_ro("device", [](const Tensor& t) { return t.device().str(); })
      .def("is_contiguous", &Tensor::is_contiguous)
      .def("__len__", [](const Tensor& t) {
        if (t.dim() == 0) throw nb::type_error("len() of a 0-d tensor");
        return t.size(0);
      })
      .def("__repr__", &Tensor::str)
      .def("item", [](const Tensor& t) -> nb::object {
        nb::gil_scoped_release r;
        Scalar s = t.item();
        nb::gil_scoped_acquire a;
        if (s.is_bool()) return nb::bool_(s.to_bool());
        if (s.is_integral()) return nb::int_(s.to_int());
        return nb::float_(s.to_double());
      })
      .def("tolist", [](const Tensor& t) { return to_numpy(t).attr("tolist")(); })
      .def("numpy", &to_numpy, "The data as a numpy array, sharing memory.")
      .def("__array__", [](const Tensor& t, nb::handle dtype, nb::handle copy) {
            nb::object a = to_numpy(t);
            return dtype.is_none() ? a : a.attr("astype")(dtype);
          }, nb::arg("dtype") = nb::none(), nb::arg("copy") = nb::none())
      .def("to", [](const Tensor& t, DType d) { return t.to(d); }, nb::arg("dtype"))
      .def("float", [](const Tensor& t) { return t.to(DType::Float32); })
      .def("double", [](const Tensor& t) { return t.to(DType::Float64); })
      .def("long", [](const Tensor& t) { return t.to(DType::Int64); })
      .def("int", [](const Tensor& t) { return t.to(DType::Int32); })
      .def("bool", [](const Tensor& t) { return t.to(DType::Bool); })
      .def("contiguous", &Tensor::contiguous)
      .def("clone", &Tensor::clone)
      .def("detach", &Tensor::detach)
      .def("copy_", [](Tensor& t, const Tensor& s) { return t.copy_(s); }, nb::rv_policy::reference_internal)
      .def("fill_", [](Tensor& t, nb::handle v) { return t.fill_(*as_scalar(v)); }, nb::rv_policy::reference_internal)
      .def("zero_", [](Tensor& t) { return t.zero_(); }, nb::rv_policy::reference_internal)
      // views
      .def("view", [](const Tensor& t, nb::args s) { return t.view(s.size() == 1 && !PyLong_Check(s[0].ptr()) ? nb::cast<Shape>(s[0]) : nb::cast<Shape>(s)); })
      .def("reshape", [](const Tensor& t, nb::args s) { return t.reshape(s.size() == 1 && !PyLong_Check(s[0].ptr()) ? nb::cast<Shape>(s[0]) : nb::cast<Shape>(s)); })
      .def("permute", [](const Tensor& t, nb::args s) { return t.permute(s.size() == 1 && !PyLong_Check(s[0].ptr()) ? nb::cast<Shape>(s[0]) : nb::cast<Shape>(s)); })
      .def("expand", [](const Tensor& t, nb::args s) { return t.expand(s.size() == 1 && !PyLong_Check(s[0].ptr()) ? nb::cast<Shape>(s[0]) : nb::cast<Shape>(s)); })
      .def("flatten", &Tensor::flatten, nb::arg("start_dim") = 0, nb::arg("end_dim") = -1)
      .def("transpose", &Tensor::transpose)
      .def("t", &Tensor::t)
      .def_prop_ro("T", [](const Tensor& t) {
        Shape p;
        for (int64_t i = t.dim() - 1; i >= 0; --i) p.push_back(i);
        return t.permute(p);
      })
      .def("squeeze", [](const Tensor& t, std::optional<int64_t> d) { return d ? t.squeeze(*d) : t.squeeze(); },
           nb::arg("dim") = nb::none())
      .def("unsqueeze", &Tensor::unsqueeze)
      .def("narrow", &Tensor::narrow)
      .def("select", &Tensor::select)
      .def("__getitem__", [](const Tensor& t, nb::handle key) { return t.index(to_indices(key)); })
      .def("__setitem__", [](Tensor& t, nb::handle key, nb::handle v) {
        auto idx = to_indices(key);
        if (auto s = as_scalar(v)) t.index_put_(idx, *s);
        else t.index_put_(idx, nb::cast<Tensor>(v));
      })
      // operators
      TS_BINOP("__add__", Add) TS_RBINOP("__radd__", Add) TS_BINOP("__sub__", Sub) TS_RBINOP("__rsub__", Sub)
      TS_BINOP("__mul__", Mul) TS_RBINOP("__rmul__", Mul) TS_BINOP("__truediv__", Div) TS_RBINOP("__rtruediv__", Div)
      TS_BINOP("__pow__", Pow) TS_RBINOP("__rpow__", Pow) TS_BINOP("__eq__", Eq) TS_BINOP("__ne__", Ne)
      TS_BINOP("__lt__", Lt) TS_BINOP("__le__", Le) TS_BINOP("__gt__", Gt) TS_BINOP("__ge__", Ge)
      TS_BINOP("__and__", LogicalAnd) TS_BINOP("__or__", LogicalOr) TS_BINOP("__xor__", LogicalXor)
      .def("__iadd__", [](Tensor& a, nb::handle b) { return ops::binary_(BinaryOp::Add, a, as_tensor(b, a)); }, nb::is_operator(), nb::rv_policy::reference_internal)
      .def("__isub__", [](Tensor& a, nb::handle b) { return ops::binary_(BinaryOp::Sub, a, as_tensor(b, a)); }, nb::is_operator(), nb::rv_policy::reference_internal)
      .def("__imul__", [](Tensor& a, nb::handle b) { return ops::binary_(BinaryOp::Mul, a, as_tensor(b, a)); }, nb::is_operator(), nb::rv_policy::reference_internal)
      .def("__itruediv__", [](Tensor& a, nb::handle b) { return ops::binary_(BinaryOp::Div, a, as_tensor(b, a)); }, nb::is_operator(), nb::rv_policy::reference_internal)
      .def("__matmul__", [](const Tensor& a, const Tensor& b) {
        nb::gil_scoped_release r;
        return ops::matmul(a, b);
      }, nb::is_operator())
      .def("__neg__", [](const Tensor& a) { return ops::neg(a); })
      .def("__abs__", [](const Tensor& a) { return ops::abs(a); })
      .def("__invert__", [](const Tensor& a) { return ops::logical_not(a); })
      .def("__hash__", [](const Tensor& t) { return reinterpret_cast<intptr_t>(t.impl_ptr().get()); })
      .def("__bool__", [](const Tensor& t) {
        if (t.numel() != 1)
          throw nb::value_error("Boolean value of Tensor with more than one value is ambiguous");
        return t.item().to_bool();
      })
      // reductions
      .def("sum", [](const Tensor& t, OptDims d, bool k) { return ops::sum(t, dims_of(d), k); }, nb::arg("dim") = nb::none(), nb::arg("keepdim") = false)
      .def("mean", [](const Tensor& t, OptDims d, bool k) { return ops::mean(t, dims_of(d), k); }, nb::arg("dim") = nb::none(), nb::arg("keepdim") = false)
      .def("prod", [](const Tensor& t, OptDims d, bool k) { return ops::prod(t, dims_of(d), k); }, nb::arg("dim") = nb::none(), nb::arg("keepdim") = false)
      .def("amax", [](const Tensor& t, OptDims d, bool k) { return ops::amax(t, dims_of(d), k); }, nb::arg("dim") = nb::none(), nb::arg("keepdim") = false)
      .def("amin", [](const Tensor& t, OptDims d, bool k) { return ops::amin(t, dims_of(d), k); }, nb::arg("dim") = nb::none(), nb::arg("keepdim") = false)
      .def("max", [](const Tensor& t, std::optional<int64_t> d, bool k) -> nb::object {
        if (!d) return nb::cast(ops::amax(t));
        return nb::cast(ops::max(t, *d, k));
      }, nb::arg("dim") = nb::none(), nb::arg("keepdim") = false)
      .def("min", [](const Tensor& t, std::optional<int64_t> d, bool k) -> nb::object {
        if (!d) return nb::cast(ops::amin(t));
        return nb::cast(ops::min(t, *d, k));
      }, nb::arg("dim") = nb::none(), nb::arg("keepdim") = false)
      .def("argmax", &Tensor::argmax, nb::arg("dim") = nb::none(), nb::arg("keepdim") = false)
      .def("argmin", &Tensor::argmin, nb::arg("dim") = nb::none(), nb::arg("keepdim") = false)
      .def("var", [](const Tensor& t, OptDims d, int64_t c, bool k) { return ops::var(t, dims_of(d), c, k); }, nb::arg("dim") = nb::none(), nb::arg("correction") = 1, nb::arg("keepdim") = false)
      .def("std", [](const Tensor& t, OptDims d, int64_t c, bool k) { return ops::std(t, dims_of(d), c, k); }, nb::arg("dim") = nb::none(), nb::arg("correction") = 1, nb::arg("keepdim") = false)
      .def("norm", [](const Tensor& t, double p, OptDims d, bool k) { return ops::norm(t, p, dims_of(d), k); }, nb::arg("p") = 2.0, nb::arg("dim") = nb::none(), nb::arg("keepdim") = false)
      .def("logsumexp", [](const Tensor& t, OptDims d, bool k) { return ops::logsumexp(t, dims_of(d), k); }, nb::arg("dim"), nb::arg("keepdim") = false)
      .def("all", [](const Tensor& t) { return ops::all(t); })
      .def("any", [](const Tensor& t) { return ops::any(t); })
      .def("cumsum", [](const Tensor& t, int64_t d) { return ops::cumsum(t, d); }, nb::arg("dim"))
      .def("softmax", &Tensor::softmax, nb::arg("dim"))
      .def("log_softmax", &Tensor::log_softmax, nb::arg("dim"))
      .def("clamp", [](const Tensor& t, nb::handle lo, nb::handle hi) {
        return ops::clamp(t, lo.is_none() ? std::nullopt : as_scalar(lo), hi.is_none() ? std::nullopt : as_scalar(hi));
      }, nb::arg("min") = nb::none(), nb::arg("max") = nb::none())
      .def("masked_fill", [](const Tensor& t, const Tensor& m, nb::handle v) { return ops::masked_fill(t, m, *as_scalar(v)); })
      .def("matmul", [](const Tensor& a, const Tensor& b) { return ops::matmul(a, b); })
      // autograd
      .def_prop_rw("requires_grad", &Tensor::requires_grad, [](Tensor& t, bool v) { t.requires_grad_(v); })
      .def("requires_grad_", [](Tensor& t, bool v) { return t.requires_grad_(v); }, nb::arg("requires_grad") = true, nb::rv_policy::reference_internal)
      .def_prop_rw("grad", [](const Tensor& t) -> nb::object {
            Tensor g = t.grad();
            if (!g.defined()) return nb::none();
            return nb::cast(g);
          }, [](Tensor& t, nb::handle g) { t.set_grad(g.is_none() ? Tensor() : nb::cast<Tensor>(g)); },
          nb::for_setter(nb::arg("value").none()))
      .def_prop_ro("is_leaf", &Tensor::is_leaf)
      .def_prop_ro("grad_fn", [](const Tensor& t) -> nb::object {
        auto fn = t.grad_fn();
        if (!fn) return nb::none();
        return nb::str((fn->name() + "Backward").c_str());
      })
      .def("backward", [](const Tensor& t, nb::handle g, bool retain, bool create) {
        Tensor gt = g.is_none() ? Tensor() : nb::cast<Tensor>(g);
        nb::gil_scoped_release r;
        t.backward(gt, retain, create);
      }, nb::arg("gradient") = nb::none(), nb::arg("retain_graph") = false, nb::arg("create_graph") = false)
      .def("retain_grad", &Tensor::retain_grad);

  // Unary methods and functions with PyTorch's names.
  const std::pair<const char*, UnaryOp> unary[] = {
      {"abs", UnaryOp::Abs}, {"neg", UnaryOp::Neg}, {"exp", UnaryOp::Exp}, {"expm1", UnaryOp::Expm1},
      {"log", UnaryOp::Log}, {"log1p", UnaryOp::Log1p}, {"sqrt", UnaryOp::Sqrt}, {"rsqrt", UnaryOp::Rsqrt},
      {"sin", UnaryOp::Sin}, {"cos", UnaryOp::Cos}, {"tanh", UnaryOp::Tanh}, {"sigmoid", UnaryOp::Sigmoid},
      {"relu", UnaryOp::Relu}, {"silu", UnaryOp::Silu}, {"erf", UnaryOp::Erf}, {"floor", UnaryOp::Floor},
      {"ceil", UnaryOp::Ceil}, {"round", UnaryOp::Round}, {"sign", UnaryOp::Sign}, {"reciprocal", UnaryOp::Reciprocal},
      {"square", UnaryOp::Square}};
  nb::object cls = m.attr("Tensor");
  for (auto& [name, op] : unary) {
    UnaryOp o = op;
    auto f = nb::cpp_function([o](const Tensor& t) { return ops::unary(o, t); }, nb::name(name));
    nb::setattr(cls, name, f);
    m.def(name, [o](const Tensor& t) { return ops::unary(o, t); });
    auto fi = nb::cpp_function([o](Tensor& t) { return ops::unary_(o, t); }, nb::name((std::string(name) + "_").c_str()),
                               nb::rv_policy::reference_internal);
    nb::setattr(cls, (std::string(name) + "_").c_str(), fi);
  }

  // Factories (the Python layer adds tensor() and the keyword conveniences).
  m.def("from_numpy", &from_numpy, nb::arg("array"), "A tensor sharing the array's memory.");
  m.def("_empty", [](const Shape& s, DType d) { return empty(s, {d}); });
  m.def("_zeros", [](const Shape& s, DType d) { return zeros(s, {d}); });
  m.def("_ones", [](const Shape& s, DType d) { return ones(s, {d}); });
  m.def("_full", [](const Shape& s, nb::handle v, DType d) { return full(s, *as_scalar(v), {d}); });
  m.def("_rand", [](const Shape& s, DType d) { return rand(s, {d}); });
  m.def("_randn", [](const Shape& s, DType d) { return randn(s, {d}); });
  m.def("_randint", [](int64_t lo, int64_t hi, const Shape& s, DType d) { return randint(lo, hi, s, {d}); });
  m.def("_arange", [](double a, double b, double st, DType d) { return arange(a, b, st, {d}); });
  m.def("_linspace", [](double a, double b, int64_t n, DType d) { return linspace(a, b, n, {d}); });
  m.def("eye", [](int64_t n, std::optional<int64_t> mm, DType d) { return eye(n, mm, {d}); }, nb::arg("n"), nb::arg("m") = nb::none(), nb::arg("dtype") = DType::Float32);

  // Functional ops.
  m.def("matmul", [](const Tensor& a, const Tensor& b) {
    nb::gil_scoped_release r;
    return ops::matmul(a, b);
  });
  m.def("cat", &ops::cat, nb::arg("tensors"), nb::arg("dim") = 0);
  m.def("stack", &ops::stack, nb::arg("tensors"), nb::arg("dim") = 0);
  m.def("where", [](const Tensor& c, nb::handle a, nb::handle b) {
    Tensor ref = nb::isinstance<Tensor>(a) ? nb::cast<Tensor>(a) : nb::cast<Tensor>(b);
    return ops::where(c, as_tensor(a, ref), as_tensor(b, ref));
  });
  m.def("maximum", &ops::maximum);
  m.def("minimum", &ops::minimum);
  m.def("softmax", &ops::softmax, nb::arg("input"), nb::arg("dim"));
  m.def("log_softmax", &ops::log_softmax, nb::arg("input"), nb::arg("dim"));
  m.def("gelu", &ops::gelu, nb::arg("input"), nb::arg("approximate") = "none");
  m.def("linear", &ops::linear, nb::arg("input"), nb::arg("weight"), nb::arg("bias") = Tensor());
  m.def("conv2d", [](const Tensor& x, const Tensor& w, std::optional<Tensor> b, int64_t stride, int64_t padding,
                     int64_t dilation, int64_t groups) {
    nb::gil_scoped_release r;
    return ops::conv2d(x, w, b.value_or(Tensor()), {{stride, stride}, {padding, padding}, {dilation, dilation}, groups});
  }, nb::arg("input"), nb::arg("weight"), nb::arg("bias") = nb::none(), nb::arg("stride") = 1, nb::arg("padding") = 0,
     nb::arg("dilation") = 1, nb::arg("groups") = 1);
  m.def("max_pool2d", [](const Tensor& x, int64_t k, std::optional<int64_t> s, int64_t p) {
    return ops::max_pool2d(x, {.kernel_size = {k}, .stride = s ? Shape{*s} : Shape{}, .padding = {p}});
  }, nb::arg("input"), nb::arg("kernel_size"), nb::arg("stride") = nb::none(), nb::arg("padding") = 0);
  m.def("cross_entropy", [](const Tensor& x, const Tensor& t, const std::string& reduction, double smoothing) {
    return nn::functional::cross_entropy(x, t, {.reduction = reduction, .label_smoothing = smoothing});
  }, nb::arg("input"), nb::arg("target"), nb::arg("reduction") = "mean", nb::arg("label_smoothing") = 0.0);
  m.def("mse_loss", &nn::functional::mse_loss, nb::arg("input"), nb::arg("target"), nb::arg("reduction") = "mean");
  m.def("grad", [](const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs, std::optional<std::vector<Tensor>> gos,
                   bool retain, bool create, bool unused) {
    nb::gil_scoped_release r;
    return autograd::grad(outputs, inputs, gos.value_or(std::vector<Tensor>{}), retain, create, unused);
  }, nb::arg("outputs"), nb::arg("inputs"), nb::arg("grad_outputs") = nb::none(), nb::arg("retain_graph") = false,
     nb::arg("create_graph") = false, nb::arg("allow_unused") = false);
}
