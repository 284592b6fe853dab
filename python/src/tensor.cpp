// The Tensor class and the functional API for Python.
#include <nanobind/ndarray.h>

#include <cstring>

#include "common.h"
#include "tessera/core/shared_memory.h"
#include "python.h"

namespace nb = nanobind;
using namespace nb::literals;
using namespace tessera;

using tessera::py::Operand;
using tessera::py::operand;

const char* doc_for(const std::string& name);  // docs.cpp

namespace {

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
  if (nb::hasattr(h, "__array_interface__")) {  // numpy: integer scalars index, arrays are index tensors or masks
    nb::object a = nb::module_::import_("numpy").attr("asarray")(h);
    std::string kind = nb::cast<std::string>(a.attr("dtype").attr("kind"));
    if (kind != "i" && kind != "u" && kind != "b")
      throw nb::index_error(("tensors can be indexed by integer or bool numpy arrays, not dtype " +
                             tessera::py::py_str(a.attr("dtype"))).c_str());
    if (kind != "b" && nb::cast<int64_t>(a.attr("ndim")) == 0) return TensorIndex(nb::cast<int64_t>(a.attr("item")()));
    if (kind != "b") a = a.attr("astype")("int64");
    return TensorIndex(tessera::py::from_numpy(a.attr("copy")()));
  }
  if (PyIndex_Check(h.ptr())) return TensorIndex(nb::cast<int64_t>(h.attr("__index__")()));
  if (PyList_Check(h.ptr()) || PyRange_Check(h.ptr())) {
    // a list of ints is an index tensor, a list of bools a mask, as in NumPy and PyTorch
    std::vector<int64_t> v;
    bool all_bool = PyList_Check(h.ptr()) && nb::len(h) > 0;
    for (nb::handle e : h) {
      all_bool &= PyBool_Check(e.ptr()) != 0;
      if (!PyIndex_Check(e.ptr()))
        throw nb::index_error(("a list index holds integers or bools, not " + tessera::py::py_type_name(e)).c_str());
      v.push_back(nb::cast<int64_t>(e.attr("__index__")()));
    }
    if (all_bool) {
      Tensor m = empty({int64_t(v.size())}, {DType::Bool});
      for (size_t i = 0; i < v.size(); ++i) m.data_ptr<bool>()[i] = v[i] != 0;
      return TensorIndex(m);
    }
    return TensorIndex(from_vector(v));
  }
  throw nb::type_error(("indices must be integers, slices, None, ..., lists, ranges, numpy arrays or tessera "
                        "tensors, not " + tessera::py::py_type_name(h)).c_str());
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
    case DType::Bool:
      return {uint8_t(C::Bool), 8, 1};
    case DType::UInt8:
      return {uint8_t(C::UInt), 8, 1};
    case DType::Int8:
      return {uint8_t(C::Int), 8, 1};
    case DType::Int32:
      return {uint8_t(C::Int), 32, 1};
    case DType::Int64:
      return {uint8_t(C::Int), 64, 1};
    case DType::Float16:
      return {uint8_t(C::Float), 16, 1};
    case DType::BFloat16:
      return {uint8_t(C::Bfloat), 16, 1};
    case DType::Float32:
      return {uint8_t(C::Float), 32, 1};
    case DType::Float64:
      return {uint8_t(C::Float), 64, 1};
  }
  return {};
}

}  // namespace

// Zero-copy when possible: the tensor keeps the array alive (its deleter drops the reference
// with the GIL held).
Tensor tessera::py::from_numpy(nb::handle obj) {
  nb::ndarray<nb::numpy, nb::device::cpu> a;
  auto unsupported = [&]() {
    return nb::type_error(("from_numpy: unsupported array dtype " + tessera::py::py_str(obj.attr("dtype")) +
                           " (supported: bool, uint8, int8, int32, int64, float16, float32, float64)")
                              .c_str());
  };
  nb::object copy;  // a read-only array (a view of bytes, say) is copied: tensors are writable
  if (!nb::try_cast(obj, a) && nb::hasattr(obj, "flags") && !nb::cast<bool>(obj.attr("flags").attr("writeable"))) {
    PyErr_Clear();
    copy = obj.attr("copy")();
    obj = copy;
  }
  if (!a.is_valid() && !nb::try_cast(obj, a)) {
    PyErr_Clear();  // the failed import may leave an error set
    if (nb::hasattr(obj, "dtype") && nb::hasattr(obj, "shape")) throw unsupported();
    throw nb::type_error(("from_numpy: expected a numpy array, got " +
                          tessera::py::py_type_name(obj))
                             .c_str());
  }
  DType dt;
  try {
    dt = dtype_of_ndarray(a.dtype());
  } catch (const nb::builtin_exception&) {
    throw unsupported();
  }
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
  return from_blob(
      a.data(), shape, dt,
      [owner](void*) {
        nb::gil_scoped_acquire g;
        Py_XDECREF(owner);
      },
      strides);
}

namespace {
using tessera::py::from_numpy;

nb::object to_numpy(const Tensor& t) {
  if (t.dtype() == DType::BFloat16)
    throw nb::type_error("numpy: numpy has no bfloat16 dtype; convert first, e.g. t.float().numpy()");
  // As in PyTorch: a numpy array shares memory with its tensor, which a GPU tensor cannot.
  if (!t.device().is_cpu())
    throw nb::type_error(("can't convert " + t.device().str() +
                          " device type tensor to numpy. Use Tensor.cpu() to copy the tensor to host memory first.")
                             .c_str());
  Tensor c = t.detach();
  // The array holds a Tensor that shares the storage: no copy for any layout numpy can express.
  auto* keep = new Tensor(c);
  nb::capsule owner(keep, [](void* p) noexcept { delete static_cast<Tensor*>(p); });
  std::vector<size_t> shape(c.shape().begin(), c.shape().end());
  std::vector<int64_t> strides(c.strides().begin(), c.strides().end());
  nb::ndarray<nb::numpy> arr(c.data_ptr(), c.dim(), shape.data(), owner, strides.data(), ndarray_dtype(c.dtype()));
  return nb::cast(arr, nb::rv_policy::reference);
}

// torch's legacy type names (FloatTensor, ...) of each dtype, for Tensor.type().
const std::pair<DType, const char*> kLegacyTypes[] = {
    {DType::Float32, "FloatTensor"}, {DType::Float64, "DoubleTensor"}, {DType::Float16, "HalfTensor"},
    {DType::BFloat16, "BFloat16Tensor"}, {DType::Int64, "LongTensor"}, {DType::Int32, "IntTensor"},
    {DType::Int8, "CharTensor"}, {DType::UInt8, "ByteTensor"}, {DType::Bool, "BoolTensor"}};

std::string legacy_type(const Tensor& t) {
  for (auto& [d, n] : kLegacyTypes)
    if (d == t.dtype()) return std::string(t.device().is_cpu() ? "tessera." : "tessera.cuda.") + n;
  return "tessera.Tensor";
}

// Tensor.type(dtype or name): the tensor in that dtype (and, for 'tessera.cuda.X', on the GPU).
Tensor to_legacy_type(const Tensor& t, nb::handle to) {
  DType d;
  if (nb::try_cast(to, d)) return t.to(d);
  std::string name = tessera::py::py_str(to);
  for (const char* prefix : {"tessera.", "torch."})
    if (name.rfind(prefix, 0) == 0) name = name.substr(std::string(prefix).size());
  bool cuda = name.rfind("cuda.", 0) == 0;
  if (cuda) name = name.substr(5);
  for (auto& [dt, n] : kLegacyTypes)
    if (name == n) return (cuda ? t.to(Device::cuda(0)) : t.cpu()).to(dt);
  throw nb::value_error(("type: unknown type '" + tessera::py::py_str(to) + "' (give a dtype or a name such as "
                         "'tessera.FloatTensor')").c_str());
}

#define TS_BINOP(py, OP)                                                                                 \
  .def(                                                                                                  \
      py, [](const Tensor& a, const Operand& b) { return ops::binary(BinaryOp::OP, a, operand(b, a)); }, \
      nb::is_operator())
#define TS_RBINOP(py, OP)                                                                                \
  .def(                                                                                                  \
      py, [](const Tensor& a, const Operand& b) { return ops::binary(BinaryOp::OP, operand(b, a), a); }, \
      nb::is_operator())
// The buffer protocol (memoryview(t), bytes(t), array.array, any C consumer): a writable view
// of a CPU tensor's memory with its shape and byte strides. The view holds the tensor, so the
// memory stays valid while the buffer is exported.
struct BufferInfo {
  Tensor keep;
  std::vector<Py_ssize_t> shape, strides;
};

const char* buffer_format(DType t) {
  switch (t) {
    case DType::Bool: return "?";
    case DType::UInt8: return "B";
    case DType::Int8: return "b";
    case DType::Int32: return "i";
    case DType::Int64: return "q";
    case DType::Float16: return "e";
    case DType::Float32: return "f";
    case DType::Float64: return "d";
    case DType::BFloat16: return nullptr;  // no struct-module code
  }
  return nullptr;
}

int tensor_getbuffer(PyObject* self, Py_buffer* view, int flags) {
  const Tensor& t = *nb::inst_ptr<Tensor>(nb::handle(self));
  auto fail = [&](const std::string& msg) {
    view->obj = nullptr;
    PyErr_SetString(PyExc_BufferError, msg.c_str());
    return -1;
  };
  if (!t.defined()) return fail("buffer: the tensor is undefined");
  if (t.device().type != DeviceType::CPU) return fail("buffer: only CPU tensors export their memory (this one is on " + t.device().str() + ")");
  const char* fmt = buffer_format(t.dtype());
  if (!fmt) return fail("buffer: " + std::string(dtype_name(t.dtype())) + " has no buffer format code; use .to(tessera.float32) first");
  if ((flags & PyBUF_STRIDES) != PyBUF_STRIDES && !t.is_contiguous())
    return fail("buffer: the tensor is not contiguous and the consumer did not ask for strides; use .contiguous()");
  if ((flags & PyBUF_F_CONTIGUOUS) == PyBUF_F_CONTIGUOUS && t.dim() > 1)
    return fail("buffer: tensors are row-major; a Fortran-contiguous buffer is not available");
  auto* info = new BufferInfo{t, {}, {}};
  Py_ssize_t item = Py_ssize_t(t.element_size());
  for (int64_t d = 0; d < t.dim(); ++d) {
    info->shape.push_back(Py_ssize_t(t.size(d)));
    info->strides.push_back(Py_ssize_t(t.stride(d)) * item);
  }
  view->buf = t.data_ptr();
  view->obj = self;
  Py_INCREF(self);
  view->len = Py_ssize_t(t.numel()) * item;
  view->itemsize = item;
  view->readonly = 0;
  view->format = (flags & PyBUF_FORMAT) ? const_cast<char*>(fmt) : nullptr;
  view->ndim = int(t.dim());
  view->shape = (flags & PyBUF_ND) == PyBUF_ND ? info->shape.data() : nullptr;
  view->strides = (flags & PyBUF_STRIDES) == PyBUF_STRIDES ? info->strides.data() : nullptr;
  view->suboffsets = nullptr;
  view->internal = info;
  return 0;
}

void tensor_releasebuffer(PyObject*, Py_buffer* view) { delete static_cast<BufferInfo*>(view->internal); }

PyType_Slot tensor_slots[] = {{Py_bf_getbuffer, (void*)tensor_getbuffer},
                              {Py_bf_releasebuffer, (void*)tensor_releasebuffer},
                              {0, nullptr}};

// nb::class_<Tensor> whose def/def_prop_* add the docstring of docs.cpp for the name.
struct DocClass {
  nb::class_<Tensor> cls;
  template <class F, class... Extra>
  DocClass& def(const char* name, F&& f, const Extra&... extra) {
    cls.def(name, std::forward<F>(f), extra..., doc_for(name));
    return *this;
  }
  template <class G, class... Extra>
  DocClass& def_prop_ro(const char* name, G&& g, const Extra&... extra) {
    cls.def_prop_ro(name, std::forward<G>(g), extra..., doc_for(name));
    return *this;
  }
  template <class G, class S, class... Extra>
  DocClass& def_prop_rw(const char* name, G&& g, S&& s, const Extra&... extra) {
    cls.def_prop_rw(name, std::forward<G>(g), std::forward<S>(s), extra..., doc_for(name));
    return *this;
  }
};
}  // namespace

void bind_tensor(nb::module_& m) {
  DocClass{nb::class_<Tensor>(m, "Tensor", "A strided view of reference-counted storage, as torch.Tensor.",
                              nb::type_slots(tensor_slots))}
      .def_prop_ro("shape", [](const Tensor& t) { return nb::tuple(nb::cast(t.shape())); })
      // torch's legacy constructor: Tensor(2, 3) (uninitialized float32), Tensor([1, 2]) (float32
      // data), Tensor() (empty), Tensor(t) (the same data).
      .def("__init__",
           [](Tensor* self, nb::args a) {
             if (a.size() == 0) {
               new (self) Tensor(empty({0}, {DType::Float32}));
             } else if (a.size() == 1 && nb::isinstance<Tensor>(a[0])) {
               new (self) Tensor(nb::cast<Tensor>(a[0]));
             } else if (PyLong_Check(a[0].ptr()) || (a.size() == 1 && PyTuple_Check(a[0].ptr()) && PyTuple_Size(a[0].ptr()) > 0 &&
                                                    PyLong_Check(nb::tuple(a[0])[0].ptr()))) {
               nb::handle sizes = a.size() == 1 && PyTuple_Check(a[0].ptr()) ? a[0] : nb::handle(a);
               Shape shape;
               for (nb::handle h : sizes) {
                 if (!PyLong_Check(h.ptr()))
                   throw nb::type_error(("Tensor(*sizes): sizes must be ints, got " + tessera::py::py_type_name(h)).c_str());
                 shape.push_back(nb::cast<int64_t>(h));
               }
               new (self) Tensor(empty(shape, {DType::Float32}));
             } else if (a.size() == 1) {
               nb::object t = nb::module_::import_("tessera").attr("tensor")(a[0], "dtype"_a = DType::Float32);
               new (self) Tensor(nb::cast<Tensor>(t));
             } else {
               throw nb::type_error("Tensor(): expected sizes (ints), one sequence of data or a tensor");
             }
           })
      // pickle / copy.deepcopy: the values (a contiguous host copy), shape, dtype, device and, for a
      // leaf, requires_grad; not the graph or .grad (as PyTorch).
      .def("__getstate__", [](const Tensor& t) {
        Tensor c = t.detach().cpu().contiguous();
        nb::bytes data(static_cast<const char*>(c.data_ptr()), size_t(c.numel()) * c.element_size());
        return nb::make_tuple(data, nb::tuple(nb::cast(t.shape())), std::string(dtype_name(t.dtype())),
                              t.device().str(), t.is_leaf() && t.requires_grad());
      })
      .def("__setstate__", [](Tensor& self, nb::tuple st) {
        if (st.size() != 5) throw ValueError("Tensor.__setstate__: expected a 5-tuple from Tensor.__getstate__");
        nb::bytes data = nb::cast<nb::bytes>(st[0]);
        Shape shape = nb::cast<Shape>(st[1]);
        DType dt = dtype_from_name(nb::cast<std::string>(st[2]));
        Tensor t = empty(shape, {dt});
        if (size_t(data.size()) != size_t(t.numel()) * t.element_size())
          throw ValueError("Tensor.__setstate__: " + std::to_string(data.size()) + " bytes for a " +
                           std::string(dtype_name(dt)) + " tensor of " + std::to_string(t.numel()) + " elements");
        std::memcpy(t.data_ptr(), data.c_str(), data.size());
        Device dev = Device::parse(nb::cast<std::string>(st[3]));
        if (!dev.is_cpu()) t = t.to(dev);
        if (nb::cast<bool>(st[4])) t.requires_grad_(true);
        new (&self) Tensor(std::move(t));
      })
      // Which tensor this is (its implementation's address): the same for every Python handle on
      // it, for as long as it lives (pickling keeps tensors shared between objects shared).
      .def_prop_ro("_impl_id", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.impl_ptr().get()); })
      .def_prop_rw("data", [](const Tensor& t) { return t.detach(); },
                   [](Tensor& t, const Tensor& src) { t.set_data(src); })
      .def("type", [](const Tensor& t, nb::handle to) -> nb::object {
             if (to.is_none()) return nb::str(legacy_type(t).c_str());
             return nb::cast(to_legacy_type(t, to));
           }, nb::arg("dtype") = nb::none())
      .def("__index__", [](const Tensor& t) {
        if (t.numel() != 1 || t.is_floating_point() || t.dtype() == DType::Bool)
          throw nb::type_error("only integer tensors of a single element can be converted to an index");
        return t.item().to_int();
      })
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
      .def("is_contiguous", [](const Tensor& t, MemoryFormat f) { return t.is_contiguous(f); },
           nb::arg("memory_format") = MemoryFormat::Contiguous)
      .def("is_floating_point", &Tensor::is_floating_point)
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
      .def("tolist", [](const Tensor& t) { return to_numpy(t.cpu()).attr("tolist")(); })
      .def("numpy", &to_numpy, "The data as a numpy array, sharing memory.")
      .def("__array__", [](const Tensor& t, nb::handle dtype, nb::handle copy) {
            nb::object a = to_numpy(t);
            return dtype.is_none() ? a : a.attr("astype")(dtype);
          }, nb::arg("dtype") = nb::none(), nb::arg("copy") = nb::none())
      .def("to", [](const Tensor& t, std::optional<std::variant<DType, std::string, Tensor>> a, std::optional<DType> d,
                    bool non_blocking, bool copy, MemoryFormat f) {
        // t.to(dtype), t.to(device), t.to(device, dtype), t.to(other), t.to(memory_format=): PyTorch's forms.
        Tensor r = t;
        if (a) {
          if (auto* dt = std::get_if<DType>(&*a)) d = *dt;
          if (auto* dev = std::get_if<std::string>(&*a)) r = r.to(Device::parse(*dev), non_blocking);
          if (auto* o = std::get_if<Tensor>(&*a)) r = r.to(o->device(), non_blocking), d = o->dtype();
        }
        if (d) r = r.to(*d);
        if (f != MemoryFormat::Preserve) r = r.contiguous(f);
        return copy && r.is_same(t) ? t.clone() : r;
      }, nb::arg("dtype_or_device") = nb::none(), nb::arg("dtype") = nb::none(), nb::arg("non_blocking") = false,
      nb::arg("copy") = false, nb::arg("memory_format") = MemoryFormat::Preserve)
      .def("cpu", &Tensor::cpu)
      .def("pin_memory", &Tensor::pin_memory)
      .def("is_pinned", &Tensor::is_pinned)
      .def("type_as", [](const Tensor& t, const Tensor& o) { return t.to(o.dtype()); }, nb::arg("other"))
      .def("view_as", [](const Tensor& t, const Tensor& o) { return t.view(o.shape()); }, nb::arg("other"))
      .def("reshape_as", [](const Tensor& t, const Tensor& o) { return t.reshape(o.shape()); }, nb::arg("other"))
      .def("expand_as", &Tensor::expand_as, nb::arg("other"))
      .def("element_size", [](const Tensor& t) { return dtype_size(t.dtype()); })
      .def("__float__", [](const Tensor& t) { return t.item().to_double(); })
      .def("__int__", [](const Tensor& t) { return t.item().to_int(); })
      .def("float", [](const Tensor& t) { return t.to(DType::Float32); })
      .def("double", [](const Tensor& t) { return t.to(DType::Float64); })
      .def("long", [](const Tensor& t) { return t.to(DType::Int64); })
      .def("int", [](const Tensor& t) { return t.to(DType::Int32); })
      .def("bool", [](const Tensor& t) { return t.to(DType::Bool); })
      .def("contiguous", [](const Tensor& t, MemoryFormat f) { return t.contiguous(f); },
           nb::arg("memory_format") = MemoryFormat::Contiguous)
      .def("clone", &Tensor::clone)
      .def("detach", &Tensor::detach)
      .def("copy_", [](Tensor& t, const Tensor& s) { return t.copy_(s); }, nb::rv_policy::reference_internal)
      .def("fill_", [](Tensor& t, Scalar v) -> Tensor& { return t.fill_(v); }, nb::arg("value"), nb::rv_policy::reference_internal)
      .def("zero_", [](Tensor& t) { return t.zero_(); }, nb::rv_policy::reference_internal)
      .def("share_memory_", [](Tensor& t) -> Tensor& { return t.share_memory_(); }, nb::rv_policy::reference_internal)
      .def("is_shared", &Tensor::is_shared)
      // (tessera.multiprocessing's pickling of a shared tensor: where its bytes are)
      .def("_shared_location", [](const Tensor& t) {
        if (!t.is_shared()) throw ValueError("_shared_location: the tensor is not in shared memory");
        return nb::make_tuple(t.storage()->shared_name(), t.storage()->nbytes(), t.storage_offset());
      })
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
        if (Scalar s; nb::try_cast(v, s)) t.index_put_(idx, s);
        else t.index_put_(idx, nb::cast<Tensor>(v));
      })
      // operators
      TS_BINOP("__add__", Add) TS_RBINOP("__radd__", Add) TS_BINOP("__sub__", Sub) TS_RBINOP("__rsub__", Sub)
      TS_BINOP("__mul__", Mul) TS_RBINOP("__rmul__", Mul) TS_BINOP("__truediv__", Div) TS_RBINOP("__rtruediv__", Div)
      TS_BINOP("__pow__", Pow) TS_RBINOP("__rpow__", Pow) TS_BINOP("__eq__", Eq) TS_BINOP("__ne__", Ne)
      TS_BINOP("__lt__", Lt) TS_BINOP("__le__", Le) TS_BINOP("__gt__", Gt) TS_BINOP("__ge__", Ge)
      TS_BINOP("__and__", BitwiseAnd) TS_BINOP("__or__", BitwiseOr) TS_BINOP("__xor__", BitwiseXor)
      .def("__iadd__", [](Tensor& a, const Operand& b) -> Tensor& { return ops::binary_(BinaryOp::Add, a, operand(b, a)); }, nb::is_operator(), nb::rv_policy::reference_internal)
      .def("__isub__", [](Tensor& a, const Operand& b) -> Tensor& { return ops::binary_(BinaryOp::Sub, a, operand(b, a)); }, nb::is_operator(), nb::rv_policy::reference_internal)
      .def("__imul__", [](Tensor& a, const Operand& b) -> Tensor& { return ops::binary_(BinaryOp::Mul, a, operand(b, a)); }, nb::is_operator(), nb::rv_policy::reference_internal)
      .def("__itruediv__", [](Tensor& a, const Operand& b) -> Tensor& { return ops::binary_(BinaryOp::Div, a, operand(b, a)); }, nb::is_operator(), nb::rv_policy::reference_internal)
      .def("__matmul__", [](const Tensor& a, const Tensor& b) {
        nb::gil_scoped_release r;
        return ops::matmul(a, b);
      }, nb::is_operator())
      .def("__neg__", [](const Tensor& a) { return ops::neg(a); })
      .def("__abs__", [](const Tensor& a) { return ops::abs(a); })
      .def("__invert__", [](const Tensor& a) { return ops::bitwise_not(a); })
      .def("__hash__", [](const Tensor& t) { return reinterpret_cast<intptr_t>(t.impl_ptr().get()); })
      .def("__bool__", [](const Tensor& t) {
        if (t.numel() != 1)
          throw nb::value_error("Boolean value of Tensor with more than one value is ambiguous");
        return t.item().to_bool();
      })
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

  // Factories (the Python layer adds tensor() and the keyword conveniences).
  m.def("_from_shared", [](const std::string& name, size_t nbytes, int64_t offset, const Shape& shape,
                           const Shape& strides, DType dt) {
    Storage st = open_shared_storage(name, nbytes);
    int64_t last = offset;
    for (size_t d = 0; d < shape.size(); ++d)
      if (shape[d] > 0) last += (shape[d] - 1) * strides[d];
    TS_CHECK_VALUE(shape.size() == strides.size() && offset >= 0 &&
                       (size_t(last) + 1) * dtype_size(dt) <= std::max<size_t>(nbytes, dtype_size(dt)),
                   "_from_shared: shape ", shape, ", strides ", strides, " and offset ", offset, " do not fit ",
                   nbytes, " bytes");
    return Tensor(st, shape, strides, offset, dt);
  });
  m.def("from_numpy", &from_numpy, nb::arg("array"), "A tensor sharing the array's memory.");
  // Factories: the tensor is made on its device directly (no copy through the host).
  auto opts = [](DType d, const std::string& dev) { return TensorOptions{d, Device::parse(dev)}; };
  m.def("_empty", [=](const Shape& s, DType d, const std::string& dev) { return empty(s, opts(d, dev)); });
  m.def("_zeros", [=](const Shape& s, DType d, const std::string& dev) { return zeros(s, opts(d, dev)); });
  m.def("_ones", [=](const Shape& s, DType d, const std::string& dev) { return ones(s, opts(d, dev)); });
  m.def("_full", [=](const Shape& s, Scalar v, DType d, const std::string& dev) { return full(s, v, opts(d, dev)); });
  m.def("_rand", [=](const Shape& s, DType d, const std::string& dev) { return rand(s, opts(d, dev)); });
  m.def("_randn", [=](const Shape& s, DType d, const std::string& dev) { return randn(s, opts(d, dev)); });
  m.def("_randperm", [=](int64_t n, DType d, const std::string& dev, std::optional<Generator*> g) {
    return randperm(n, opts(d, dev), g && *g ? *g : nullptr);
  }, nb::arg("n"), nb::arg("dtype"), nb::arg("device"), nb::arg("generator") = nb::none());
  m.def("_randint", [=](int64_t lo, int64_t hi, const Shape& s, DType d, const std::string& dev) {
    return randint(lo, hi, s, opts(d, dev));
  });
  m.def("_arange", [=](double a, double b, double st, DType d, const std::string& dev) {
    return arange(a, b, st, opts(d, dev));
  });
  m.def("_linspace", [=](double a, double b, int64_t n, DType d, const std::string& dev) {
    return linspace(a, b, n, opts(d, dev));
  });
  m.def(
      "_eye", [=](int64_t n, std::optional<int64_t> mm, DType d, const std::string& dev) { return eye(n, mm, opts(d, dev)); },
      nb::arg("n"), nb::arg("m") = nb::none(), nb::arg("dtype") = DType::Float32, nb::arg("device") = "cpu",
      "The n x m identity matrix.");

  m.def(
      "grad",
      [](const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs, std::optional<std::vector<Tensor>> gos,
         bool retain, bool create, bool unused) {
        nb::gil_scoped_release r;
        std::vector<Tensor> g = autograd::grad(outputs, inputs, gos.value_or(std::vector<Tensor>{}), retain, create,
                                               unused);
        nb::gil_scoped_acquire a;
        nb::list out;  // None for an input the outputs do not use (allow_unused)
        for (const Tensor& t : g) out.append(t.defined() ? nb::cast(t) : nb::none());
        return out;
      },
      nb::arg("outputs"), nb::arg("inputs"), nb::arg("grad_outputs") = nb::none(), nb::arg("retain_graph") = false,
      nb::arg("create_graph") = false, nb::arg("allow_unused") = false,
      "The gradients of outputs with respect to inputs (torch.autograd.grad).");
}
