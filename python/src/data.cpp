// tessera.data for Python: the C++ datasets and DataLoader, and Python datasets (any object with
// __len__ and __getitem__ returning (input, target)) fed through the same C++ worker threads.
// The workers take the GIL only while they call into Python; the loader waits with it released.
#include <nanobind/stl/function.h>

#include <cstring>
#include <nanobind/stl/shared_ptr.h>

#include "common.h"
#include "python.h"

namespace nb = nanobind;
using namespace tessera;

namespace tessera::py {

// A Python object held by C++ code that may drop it on any thread: the reference is released
// with the GIL held.
PyRef::PyRef(nb::object o)
    : p_(new nb::object(std::move(o)), [](nb::object* p) {
        nb::gil_scoped_acquire g;
        delete p;
      }) {}

// An item of a Python dataset as a tensor: tensors as they are, numpy arrays without a copy,
// Python numbers as 0-d tensors (int64 for ints, float32 for floats, as tessera.tensor does).
// A plain Python number (bool, int, float), not a numpy scalar or a one-element array (which
// convert to numbers too but keep their own dtype and shape).
bool is_py_number(nb::handle h) {
  return (PyLong_Check(h.ptr()) || PyFloat_Check(h.ptr())) && !nb::hasattr(h, "__array_interface__");
}

DType number_dtype(const Scalar& s) { return s.is_bool() ? DType::Bool : s.is_integral() ? DType::Int64 : DType::Float32; }

Tensor item_tensor(nb::handle h, const char* what, int64_t index) {
  if (nb::isinstance<Tensor>(h)) return nb::cast<Tensor>(h);
  if (nb::hasattr(h, "__array_interface__")) {
    nb::object a = nb::borrow(h);
    if (!nb::hasattr(h, "__len__"))  // a numpy scalar
      a = nb::module_::import_("numpy").attr("asarray")(h);
    return tessera::py::from_numpy(a);
  }
  Scalar s;
  if (is_py_number(h) && nb::try_cast(h, s)) return scalar_tensor(s, number_dtype(s));
  throw DTypeError(std::string("Dataset[") + std::to_string(index) + "]: the " + what +
                   " must be a tessera.Tensor, a numpy array or a number, got " +
                   tessera::py::py_type_name(h));
}

}  // namespace tessera::py

namespace {
using tessera::py::is_py_number;
using tessera::py::number_dtype;
using tessera::py::PyRef;

bool finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing();
#else
  return _Py_IsFinalizing();
#endif
}

// How a batch of a Python dataset's items is put back together: a tree of tagged tuples,
// ("leaf", k) for Batch::fields[k], ("value", obj) for what is not stacked (a list of strings),
// ("tuple"|"list", [children]), ("namedtuple", type, [children]), ("dict", [(key, child)]).
// PyTorch's default_collate makes the same structure.
nb::object rebuild(nb::handle spec, const std::vector<Tensor>& fields) {
  std::string kind = nb::cast<std::string>(spec[0]);
  if (kind == "leaf") return nb::cast(fields.at(nb::cast<size_t>(spec[1])));
  if (kind == "value") return nb::borrow(spec[1]);
  if (kind == "dict") {
    nb::dict d;
    for (nb::handle kv : spec[1]) d[kv[0]] = rebuild(kv[1], fields);
    return d;
  }
  nb::list out;
  nb::handle children = kind == "namedtuple" ? spec[2] : spec[1];
  for (nb::handle c : children) out.append(rebuild(c, fields));
  if (kind == "list") return out;
  if (kind == "namedtuple") return spec[1](*nb::tuple(out));
  return nb::tuple(out);
}

// A Python dataset as a data::Dataset. It owns its object, or borrows it from a DataLoader that
// owns it where Python's garbage collector can see the reference (tp_traverse below).
class PyDataset : public data::Dataset {
 public:
  // collate (optional, borrowed like a non-owned dataset): PyTorch's collate_fn, called with the
  // list of a batch's items; it returns the batch in any structure.
  PyDataset(nb::handle o, bool owning, nb::handle collate = nb::handle()) : obj_(o), collate_(collate) {
    if (owning) owner_.emplace(nb::borrow(o));
    if (!nb::hasattr(o, "__len__") || !nb::hasattr(o, "__getitem__"))
      throw nb::type_error("DataLoader: the dataset must define __len__ and __getitem__ (a map-style dataset)");
  }
  int64_t size() const override {
    nb::gil_scoped_acquire g;
    return int64_t(nb::len(obj_));
  }
  data::Example get(int64_t index) const override {
    nb::gil_scoped_acquire g;
    nb::object it = obj_[nb::int_(index)];
    if (!is_pair(it))
      throw ValueError("Dataset[" + std::to_string(index) + "] is not an (input, target) pair (got " +
                       tessera::py::py_str(nb::repr(it)).substr(0, 80) + "); only a DataLoader batches other items");
    return {tessera::py::item_tensor(it[0], "input", index), tessera::py::item_tensor(it[1], "target", index)};
  }
  // A whole batch under one GIL acquisition: per-item acquisitions by several workers cost more
  // than the items. Items that are numbers, or arrays/tensors of one shape and dtype exporting
  // their memory (numpy, tessera), are copied straight into the batch; anything else goes
  // through tensors and stack. (input, target) pairs fill Batch::input/target (what the trainer
  // and C++ take); any other structure fills Batch::fields and Batch::structure.
  data::Batch get_batch(const std::vector<int64_t>& indices) const override {
    nb::gil_scoped_acquire g;
    std::vector<nb::object> items;
    items.reserve(indices.size());
    for (int64_t i : indices) items.push_back(obj_[nb::int_(i)]);
    data::Batch b;
    nb::object spec;
    if (collate_) {
      nb::list l;
      for (auto& it : items) l.append(it);
      spec = flatten(collate_(l), b.fields);
    } else {
      std::vector<nb::handle> h(items.begin(), items.end());
      spec = collate(h, indices, b.fields);
    }
    // (input, target) pairs as C++ has them.
    if (nb::cast<std::string>(spec[0]) == "tuple" && nb::len(nb::object(spec[1])) == 2 &&
        nb::cast<std::string>(spec[1][0][0]) == "leaf" && nb::cast<std::string>(spec[1][1][0]) == "leaf") {
      b.input = b.fields.at(0);
      b.target = b.fields.at(1);
      b.fields.clear();
      return b;
    }
    b.structure = tessera::py::PyRef(spec).share();
    return b;
  }

  // default_collate: a list of items as one batch of their structure (items named by position).
  static nb::object collate_list(nb::handle items) {
    std::vector<nb::handle> h;
    for (nb::handle it : items) h.push_back(it);
    if (h.empty()) throw ValueError("default_collate: the batch is empty");
    std::vector<int64_t> idx(h.size());
    for (size_t k = 0; k < idx.size(); ++k) idx[k] = int64_t(k);
    std::vector<Tensor> fields;
    nb::object spec = collate(h, idx, fields);
    return rebuild(spec, fields);
  }

 private:
  static bool is_leaf(nb::handle h) {
    return nb::isinstance<Tensor>(h) || nb::hasattr(h, "__array_interface__") || is_py_number(h);
  }
  static bool is_pair(nb::handle h) {
    return (nb::isinstance<nb::tuple>(h) || nb::isinstance<nb::list>(h)) && nb::len(h) == 2 && is_leaf(h[0]) &&
           is_leaf(h[1]);
  }
  static std::string where(const std::vector<int64_t>& indices, size_t k) {
    return "Dataset[" + std::to_string(indices[k]) + "]";
  }

  // The structure of a batch of items (one node of their common tree), stacking leaves into fields.
  static nb::object collate(const std::vector<nb::handle>& items, const std::vector<int64_t>& indices,
                            std::vector<Tensor>& fields, const std::string& path = "") {
    nb::handle first = items[0];
    auto mismatch = [&](size_t k, const std::string& what) {
      return ValueError("DataLoader: " + where(indices, k) + path + " " + what + " than " + where(indices, 0) + path +
                        " (every item of a batch needs the same structure)");
    };
    if (is_leaf(first)) {
      for (size_t k = 1; k < items.size(); ++k)
        if (!is_leaf(items[k])) throw mismatch(k, "is a " + tessera::py::py_type_name(items[k]) + ", not a tensor, array or number like");
      fields.push_back(stacked(items, indices, path));
      return nb::make_tuple("leaf", fields.size() - 1);
    }
    if (nb::isinstance<nb::str>(first) || nb::isinstance<nb::bytes>(first)) {
      nb::list l;
      for (nb::handle h : items) l.append(h);
      return nb::make_tuple("value", l);
    }
    if (nb::isinstance<nb::dict>(first)) {
      nb::list children;
      for (auto [key, v] : nb::borrow<nb::dict>(first)) {
        std::vector<nb::handle> col;
        for (size_t k = 0; k < items.size(); ++k) {
          if (!nb::isinstance<nb::dict>(items[k]) || !PyDict_Contains(items[k].ptr(), key.ptr()) ||
              nb::len(items[k]) != nb::len(first))
            throw mismatch(k, "has other keys");
          col.push_back(items[k][key]);
        }
        children.append(nb::make_tuple(key, collate(col, indices, fields, path + "[" + tessera::py::py_str(nb::repr(key)) + "]")));
      }
      return nb::make_tuple("dict", children);
    }
    if (nb::isinstance<nb::tuple>(first) || nb::isinstance<nb::list>(first)) {
      const size_t n = nb::len(first);
      for (size_t k = 1; k < items.size(); ++k)
        if (!(nb::isinstance<nb::tuple>(items[k]) || nb::isinstance<nb::list>(items[k])) || nb::len(items[k]) != n)
          throw mismatch(k, "has another length");
      nb::list children;
      for (size_t j = 0; j < n; ++j) {
        std::vector<nb::handle> col;
        for (nb::handle h : items) col.push_back(h[nb::int_(j)]);
        children.append(collate(col, indices, fields, path + "[" + std::to_string(j) + "]"));
      }
      if (nb::hasattr(first, "_fields")) return nb::make_tuple("namedtuple", nb::handle((PyObject*)Py_TYPE(first.ptr())), children);
      return nb::make_tuple(nb::isinstance<nb::tuple>(first) ? "tuple" : "list", children);
    }
    throw DTypeError("DataLoader: " + where(indices, 0) + path + " is a " + tessera::py::py_type_name(first) +
                     "; items must hold tensors, numpy arrays, numbers, strings, and tuples, lists or dicts of them");
  }

  // A collate_fn's result: tensors (and arrays) as they are, other values kept.
  static nb::object flatten(nb::handle r, std::vector<Tensor>& fields) {
    if (nb::isinstance<Tensor>(r) || (nb::hasattr(r, "__array_interface__") && nb::hasattr(r, "__len__"))) {
      fields.push_back(nb::isinstance<Tensor>(r) ? nb::cast<Tensor>(r) : tessera::py::from_numpy(r).clone());
      return nb::make_tuple("leaf", fields.size() - 1);
    }
    if (nb::isinstance<nb::dict>(r)) {
      nb::list children;
      for (auto [key, v] : nb::borrow<nb::dict>(r)) children.append(nb::make_tuple(key, flatten(v, fields)));
      return nb::make_tuple("dict", children);
    }
    if (nb::isinstance<nb::tuple>(r) || nb::isinstance<nb::list>(r)) {
      nb::list children;
      for (nb::handle c : r) children.append(flatten(c, fields));
      if (nb::hasattr(r, "_fields")) return nb::make_tuple("namedtuple", nb::handle((PyObject*)Py_TYPE(r.ptr())), children);
      return nb::make_tuple(nb::isinstance<nb::tuple>(r) ? "tuple" : "list", children);
    }
    return nb::make_tuple("value", r);
  }

  // The leaves of one node stacked along a new first dim: a straight copy for numbers and
  // buffers of one shape and dtype, else tensors and stack (which explains mismatches).
  static Tensor stacked(const std::vector<nb::handle>& items, const std::vector<int64_t>& indices, const std::string& path) {
    Tensor t = column(items);
    if (t.defined()) return t;
    std::vector<Tensor> parts;
    for (size_t k = 0; k < items.size(); ++k) {
      parts.push_back(tessera::py::item_tensor(items[k], ("element" + path).c_str(), indices[k]));
      if (parts[k].shape() != parts[0].shape())
        throw ValueError(tessera::detail::str("DataLoader: cannot stack the batch's items: ", where(indices, k), path,
                                              " has shape ", parts[k].shape(), " but ", where(indices, 0), path,
                                              " has shape ", parts[0].shape()));
    }
    return ops::stack(parts);
  }

  // The items as one batch tensor, or undefined when they need the general path.
  static Tensor column(const std::vector<nb::handle>& items) {
    const int64_t n = int64_t(items.size());
    Scalar s;
    if (is_py_number(items[0]) && nb::try_cast(items[0], s)) {  // int64, float32 or bool, as tessera.tensor makes them
      DType dt = number_dtype(s);
      std::vector<Scalar> v(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        if (!is_py_number(items[size_t(i)]) || !nb::try_cast(items[size_t(i)], v[size_t(i)])) return Tensor();
        if (number_dtype(v[size_t(i)]) != dt) return Tensor();
      }
      Tensor out = empty({n}, {dt});
      for (int64_t i = 0; i < n; ++i) {
        const Scalar& e = v[size_t(i)];
        if (dt == DType::Int64) out.data_ptr<int64_t>()[i] = e.to_int();
        else if (dt == DType::Float32) out.data_ptr<float>()[i] = float(e.to_double());
        else out.data_ptr<bool>()[i] = e.to_bool();
      }
      return out;
    }
    Tensor out;
    size_t bytes = 0;
    for (int64_t i = 0; i < n; ++i) {
      PyObject* o = items[size_t(i)].ptr();
      if (!PyObject_CheckBuffer(o)) return Tensor();
      Py_buffer view;
      if (PyObject_GetBuffer(o, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0) {
        PyErr_Clear();
        return Tensor();
      }
      std::unique_ptr<Py_buffer, void (*)(Py_buffer*)> release(&view, PyBuffer_Release);
      std::optional<DType> dt = buffer_dtype(view);
      if (!dt) return Tensor();
      Shape shape{n};
      for (int d = 0; d < view.ndim; ++d) shape.push_back(int64_t(view.shape[d]));
      if (i == 0) {
        out = empty(shape, {*dt});
        bytes = size_t(view.len);
      } else if (out.shape() != shape || out.dtype() != *dt || size_t(view.len) != bytes) {
        return Tensor();  // mixed shapes or dtypes: the general path explains
      }
      std::memcpy(static_cast<char*>(out.data_ptr()) + size_t(i) * bytes, view.buf, bytes);
    }
    return out;
  }

  static std::optional<DType> buffer_dtype(const Py_buffer& v) {
    std::string f = v.format ? v.format : "B";
    if (!f.empty() && (f[0] == '<' || f[0] == '=' || f[0] == '@')) f = f.substr(1);
    if (f.size() != 1) return std::nullopt;
    switch (f[0]) {
      case '?': return DType::Bool;
      case 'B': return DType::UInt8;
      case 'b': return DType::Int8;
      case 'e': return DType::Float16;
      case 'f': return DType::Float32;
      case 'd': return DType::Float64;
      case 'i': return v.itemsize == 4 ? std::optional<DType>(DType::Int32) : std::nullopt;
      case 'l':
      case 'q': return v.itemsize == 8 ? std::optional<DType>(DType::Int64) : std::nullopt;
      default: return std::nullopt;
    }
  }

  nb::handle obj_, collate_;
  std::optional<PyRef> owner_;
};

// A Python sampler (any iterable of indices with len()) as a data::Sampler: each epoch iterates it.
class PySampler : public data::Sampler {
 public:
  explicit PySampler(nb::handle o) : obj_(o) {}
  int64_t size(int64_t) const override {
    nb::gil_scoped_acquire g;
    return int64_t(nb::len(obj_));
  }
  std::vector<int64_t> indices(int64_t, uint64_t) const override {
    nb::gil_scoped_acquire g;
    std::vector<int64_t> out;
    for (nb::handle h : obj_) out.push_back(index_of(h, "sampler"));
    return out;
  }
  static int64_t index_of(nb::handle h, const char* who) {
    if (PyIndex_Check(h.ptr()) || nb::isinstance<Tensor>(h)) {
      int64_t v;
      if (nb::try_cast(h.attr("__index__")(), v)) return v;
    }
    throw DTypeError(std::string("DataLoader: the ") + who + " gave a " + tessera::py::py_type_name(h) +
                     ", not an integer index");
  }

 private:
  nb::handle obj_;  // owned by the loader's refs
};

// A Python batch sampler (an iterable of lists of indices, with len()).
class PyBatchSampler : public data::BatchSampler {
 public:
  explicit PyBatchSampler(nb::handle o) : obj_(o) {}
  int64_t size(int64_t) const override {
    nb::gil_scoped_acquire g;
    return int64_t(nb::len(obj_));
  }
  std::vector<std::vector<int64_t>> batches(int64_t, uint64_t) const override {
    nb::gil_scoped_acquire g;
    std::vector<std::vector<int64_t>> out;
    for (nb::handle b : obj_) {
      out.emplace_back();
      for (nb::handle h : b) out.back().push_back(PySampler::index_of(h, "batch_sampler"));
    }
    return out;
  }

 private:
  nb::handle obj_;
};

// The C++ sampler behind a tessera sampler (the object itself, or the _sampler a Python wrapper
// in tessera.utils.data holds), else the Python object wrapped.
template <class Base, class Py>
std::shared_ptr<const Base> as_sampler(nb::handle h) {
  nb::handle c = nb::hasattr(h, "_sampler") ? nb::handle(h.attr("_sampler")) : h;
  Base* p = nullptr;
  if (nb::try_cast(c, p) && p) return std::shared_ptr<const Base>(p, [](const Base*) {});  // kept alive by refs
  return std::make_shared<Py>(h);
}

// A C++ dataset is borrowed (whoever holds it also holds the Python object alive through
// keep_alive, which Python's shutdown sees); a Python one is wrapped.
std::shared_ptr<const data::Dataset> as_dataset(nb::handle d, bool owning = true) {
  data::Dataset* c = nullptr;
  if (nb::hasattr(d, "_cpp") && !nb::getattr(d, "_cpp").is_none() && nb::try_cast(nb::getattr(d, "_cpp"), c) && c)
    return std::shared_ptr<const data::Dataset>(c, [](const data::Dataset*) {});  // tessera.data's Subset/ConcatDataset
  if (nb::try_cast(d, c) && c) return std::shared_ptr<const data::Dataset>(c, [](const data::Dataset*) {});
  return std::make_shared<PyDataset>(d, owning);
}

// The C++ DataLoader plus Python's iteration protocol. Each `for` over it is one epoch. It owns
// the Python objects the loader uses (dataset, transform) in `refs`, which tp_traverse shows to
// the garbage collector, so cycles through them are collected and shutdown frees them in order.
class PyLoader {
 public:
  std::vector<nb::object> refs;

  PyLoader(std::shared_ptr<const data::Dataset> ds, data::LoaderOptions o, std::vector<nb::object> r)
      : refs(std::move(r)) {
    loader_ = std::make_unique<data::DataLoader>(std::move(ds), std::move(o));
  }
  ~PyLoader() { shutdown(); }
  // Stops the workers (which may be waiting for the GIL inside a Python dataset) without the GIL.
  void shutdown() {
    if (loader_ && PyGILState_Check() && !finalizing()) {
      nb::gil_scoped_release r;
      loader_.reset();
    }
    loader_.reset();
  }
  data::DataLoader& loader() {
    if (!loader_) throw Error("DataLoader: used after it was cleared");
    return *loader_;
  }
  void start() {
    data::DataLoader& l = loader();
    nb::gil_scoped_release r;
    l.start_epoch(epoch_++);
  }
  void set_epoch(uint64_t e) { epoch_ = e; }
  std::optional<data::Batch> next() {
    data::DataLoader& l = loader();
    data::Batch b;
    bool more;
    {
      nb::gil_scoped_release r;
      more = l.next(b);
    }
    if (!more) return std::nullopt;
    return b;
  }

 private:
  std::unique_ptr<data::DataLoader> loader_;
  uint64_t epoch_ = 0;
};

int loader_traverse(PyObject* self, visitproc visit, void* arg) {
  Py_VISIT(Py_TYPE(self));
  if (!nb::inst_ready(nb::handle(self))) return 0;
  for (auto& o : nb::inst_ptr<PyLoader>(nb::handle(self))->refs) Py_VISIT(o.ptr());
  return 0;
}
int loader_clear(PyObject* self) {
  if (!nb::inst_ready(nb::handle(self))) return 0;
  PyLoader* l = nb::inst_ptr<PyLoader>(nb::handle(self));
  l->shutdown();
  l->refs.clear();
  return 0;
}
PyType_Slot loader_slots[] = {
    {Py_tp_traverse, (void*)loader_traverse}, {Py_tp_clear, (void*)loader_clear}, {0, nullptr}};
}  // namespace

data::DataLoader& tessera::py::loader_of(nb::handle l) {
  PyLoader* p = nullptr;
  if (!nb::try_cast(l, p) || !p) throw nb::type_error("expected a tessera.data.DataLoader");
  return p->loader();
}

void bind_data(nb::module_& m) {
  nb::module_ d = m.def_submodule("data", "tessera.data's C++ part");
  nb::class_<data::Dataset>(d, "CppDataset", "A dataset implemented in C++ (indexable, with len()).")
      .def("__len__", &data::Dataset::size)
      .def("__getitem__", [](const data::Dataset& ds, int64_t i) {
        int64_t n = ds.size();
        if (i < 0) i += n;
        if (i < 0 || i >= n)
          throw nb::index_error(
              ("dataset index " + std::to_string(i) + " out of range for size " + std::to_string(n)).c_str());
        if (auto* td = dynamic_cast<const data::TensorDataset*>(&ds); td && td->tensors().size() != 2) {
          nb::list row;
          for (const Tensor& t : td->tensors()) row.append(t.select(0, i));
          return nb::object(nb::tuple(row));
        }
        data::Example e = ds.get(i);
        return nb::object(nb::make_tuple(e.input, e.target));
      });
  nb::class_<data::TensorDataset, data::Dataset>(
      d, "TensorDataset",
      "Rows of tensors: TensorDataset(*tensors)'s example i is the tuple of every tensor's row i (all share their "
      "first dim); with two tensors, the (input, target) pairs the trainer takes.")
      .def(
          "__init__",
          [](data::TensorDataset* self, nb::args tensors) {
            std::vector<Tensor> v;
            for (size_t k = 0; k < tensors.size(); ++k) {
              if (!nb::isinstance<Tensor>(tensors[k]))
                throw DTypeError("TensorDataset: argument " + std::to_string(k) + " is a " +
                                 tessera::py::py_type_name(tensors[k]) + ", not a tessera.Tensor");
              v.push_back(nb::cast<Tensor>(tensors[k]));
            }
            new (self) data::TensorDataset(std::move(v));
          })
      .def_prop_ro("tensors", [](const data::TensorDataset& t) { return nb::tuple(nb::cast(t.tensors())); });
  nb::class_<data::Subset, data::Dataset>(d, "CppSubset", "The examples of a C++ dataset at indices.")
      .def(
          "__init__",
          [](data::Subset* self, nb::handle base, std::vector<int64_t> idx) {
            new (self) data::Subset(as_dataset(base), std::move(idx));
          },
          nb::arg("dataset"), nb::arg("indices"), nb::keep_alive<1, 2>())
      .def_prop_ro("indices", [](const data::Subset& s) { return s.indices(); });
  nb::class_<data::ConcatDataset, data::Dataset>(d, "CppConcatDataset", "C++ datasets one after another.")
      .def(
          "__init__",
          [](data::ConcatDataset* self, nb::iterable parts) {
            std::vector<std::shared_ptr<const data::Dataset>> v;
            for (nb::handle p : parts) v.push_back(as_dataset(p));
            new (self) data::ConcatDataset(std::move(v));
          },
          nb::arg("datasets"), nb::keep_alive<1, 2>());
  d.def("default_collate", &PyDataset::collate_list, nb::arg("batch"),
        "A list of items as one batch: every leaf (tensor, numpy array, number) stacked along a new first dim, "
        "strings kept as lists, the tuple/list/dict/named-tuple structure kept (torch's default_collate).");
  d.def(
      "random_split_indices",
      [](int64_t n, nb::sequence lengths, std::optional<Generator*> generator, std::optional<uint64_t> seed_arg) {
        uint64_t seed = seed_arg ? *seed_arg : draw_seed(generator && *generator ? **generator : default_generator());
        std::vector<int64_t> sizes;
        bool fractions = false;
        for (nb::handle h : lengths) fractions |= PyFloat_Check(h.ptr()) != 0;
        if (fractions) {
          std::vector<double> f;
          for (nb::handle h : lengths) f.push_back(nb::cast<double>(h));
          sizes = data::split_lengths(f, n);
        } else {
          for (nb::handle h : lengths) sizes.push_back(nb::cast<int64_t>(h));
        }
        return data::random_split_indices(n, sizes, seed);
      },
      nb::arg("n"), nb::arg("lengths"), nb::arg("generator") = nb::none(), nb::arg("seed") = nb::none(),
      "The index lists of random_split: lengths summing to n, or fractions summing to 1.");
  // The samplers' C++ side; tessera.utils.data wraps them in torch's classes.
  auto seed_of = [](std::optional<Generator*> g) { return draw_seed(g && *g ? **g : default_generator()); };
  nb::class_<data::Sampler>(d, "CppSampler", "A sampler implemented in C++.")
      .def("indices", &data::Sampler::indices, nb::arg("n"), nb::arg("epoch"),
           "The indices of an epoch for a dataset of n examples.")
      .def("size", &data::Sampler::size, nb::arg("n"), "How many indices an epoch has for n examples.");
  nb::class_<data::SequentialSampler, data::Sampler>(d, "CppSequentialSampler").def(nb::init<>());
  nb::class_<data::RandomSampler, data::Sampler>(d, "CppRandomSampler")
      .def("__init__",
           [seed_of](data::RandomSampler* self, bool replacement, std::optional<int64_t> num_samples,
                     std::optional<Generator*> g) { new (self) data::RandomSampler(seed_of(g), replacement, num_samples); },
           nb::arg("replacement") = false, nb::arg("num_samples") = nb::none(), nb::arg("generator") = nb::none());
  nb::class_<data::SubsetRandomSampler, data::Sampler>(d, "CppSubsetRandomSampler")
      .def("__init__",
           [seed_of](data::SubsetRandomSampler* self, std::vector<int64_t> idx, std::optional<Generator*> g) {
             new (self) data::SubsetRandomSampler(std::move(idx), seed_of(g));
           },
           nb::arg("indices"), nb::arg("generator") = nb::none());
  nb::class_<data::WeightedRandomSampler, data::Sampler>(d, "CppWeightedRandomSampler")
      .def("__init__",
           [seed_of](data::WeightedRandomSampler* self, std::vector<double> w, int64_t n, bool replacement,
                     std::optional<Generator*> g) { new (self) data::WeightedRandomSampler(std::move(w), n, replacement, seed_of(g)); },
           nb::arg("weights"), nb::arg("num_samples"), nb::arg("replacement") = true, nb::arg("generator") = nb::none());
  nb::class_<data::BatchSampler>(d, "CppBatchSampler")
      .def("__init__",
           [](data::BatchSampler* self, nb::handle sampler, int64_t batch_size, bool drop_last) {
             new (self) data::BatchSampler(as_sampler<data::Sampler, PySampler>(sampler), batch_size, drop_last);
           },
           nb::arg("sampler"), nb::arg("batch_size"), nb::arg("drop_last"), nb::keep_alive<1, 2>())
      .def("batches", &data::BatchSampler::batches, nb::arg("n"), nb::arg("epoch"))
      .def("size", &data::BatchSampler::size, nb::arg("n"));

  nb::class_<PyLoader>(d, "DataLoader", nb::type_slots(loader_slots),
                       "Batches of a dataset, shuffled with a seed, built ahead by worker threads. Each iteration is "
                       "one epoch of (inputs, targets) batches.")
      .def(
          "__init__",
          [](PyLoader* self, nb::handle dataset, int64_t batch_size, std::optional<bool> shuffle, nb::handle sampler,
             nb::handle batch_sampler, int num_workers, std::optional<nb::object> collate_fn, bool pin_memory,
             bool drop_last, double timeout, nb::handle worker_init_fn, nb::handle multiprocessing_context,
             std::optional<Generator*> generator, std::optional<int> prefetch_factor, bool persistent_workers,
             std::optional<uint64_t> seed, std::optional<nb::object> transform, int64_t num_replicas, int64_t rank) {
            (void)persistent_workers;  // threads: workers persist (and start each epoch) in any case
            if (timeout < 0) throw ValueError("DataLoader: timeout must be >= 0, got " + std::to_string(timeout));
            if (!worker_init_fn.is_none())
              throw ValueError("DataLoader: worker_init_fn is not supported (tessera's workers are threads of this "
                               "process, sharing its state; there is nothing per worker to initialize)");
            if (!multiprocessing_context.is_none())
              throw ValueError("DataLoader: multiprocessing_context is not supported (the workers are threads)");
            data::LoaderOptions o{.batch_size = batch_size,
                                  .shuffle = shuffle.value_or(false),
                                  .seed = seed ? *seed : draw_seed(generator && *generator ? **generator : default_generator()),
                                  .drop_last = drop_last,
                                  .num_workers = num_workers,
                                  .prefetch = prefetch_factor.value_or(4),
                                  .pin_memory = pin_memory,
                                  .num_replicas = num_replicas,
                                  .rank = rank};
            std::vector<nb::object> refs{nb::borrow(dataset)};
            if (!sampler.is_none()) {
              refs.push_back(nb::borrow(sampler));
              o.sampler = as_sampler<data::Sampler, PySampler>(sampler);
            }
            if (!batch_sampler.is_none()) {
              refs.push_back(nb::borrow(batch_sampler));
              o.batch_sampler = as_sampler<data::BatchSampler, PyBatchSampler>(batch_sampler);
            }
            if (transform) {
              nb::handle f = *transform;  // owned by refs
              refs.push_back(*transform);
              o.collate = [f](data::Batch b) {
                nb::gil_scoped_acquire g;
                if (!b.input.defined())
                  throw ValueError("DataLoader: transform= takes (inputs, targets) batches, but the dataset's items "
                                   "have another structure; use collate_fn instead");
                nb::object r = f(b.input, b.target);
                auto [x, y] = nb::cast<std::pair<Tensor, Tensor>>(r);
                return data::Batch{x, y};
              };
            }
            std::shared_ptr<const data::Dataset> ds;
            if (collate_fn) {  // the items go to Python as they are, whatever the dataset
              refs.push_back(*collate_fn);
              ds = std::make_shared<PyDataset>(dataset, false, *collate_fn);
            } else {
              ds = as_dataset(dataset, false);
            }
            new (self) PyLoader(std::move(ds), std::move(o), std::move(refs));
          },
          nb::arg("dataset"), nb::arg("batch_size") = 1, nb::arg("shuffle") = nb::none(), nb::arg("sampler") = nb::none(),
          nb::arg("batch_sampler") = nb::none(), nb::arg("num_workers") = 2, nb::arg("collate_fn") = nb::none(),
          nb::arg("pin_memory") = false, nb::arg("drop_last") = false, nb::arg("timeout") = 0.0,
          nb::arg("worker_init_fn") = nb::none(), nb::arg("multiprocessing_context") = nb::none(),
          nb::arg("generator") = nb::none(), nb::kw_only(), nb::arg("prefetch_factor") = nb::none(),
          nb::arg("persistent_workers") = false, nb::arg("seed") = nb::none(), nb::arg("transform") = nb::none(),
          nb::arg("num_replicas") = 1, nb::arg("rank") = 0,
          "torch.utils.data.DataLoader's arguments, in its order; the workers are threads (num_workers=0 builds "
          "batches on the calling thread). shuffle draws its seed from generator (or the default generator, "
          "which manual_seed sets) unless seed= gives it; transform(inputs, targets) runs on each batch; "
          "num_replicas/rank shard the epoch as a DistributedSampler does.")
      .def("__len__", [](PyLoader& l) { return l.loader().num_batches(); })
      .def("__iter__",
           [](nb::handle self) {
             nb::cast<PyLoader&>(self).start();
             return nb::borrow(self);
           })
      .def("__next__",
           [](PyLoader& l) {
             auto b = l.next();
             if (!b) throw nb::stop_iteration();
             if (b->structure) return rebuild(*static_cast<const nb::object*>(b->structure.get()), b->fields);
             if (!b->fields.empty()) return nb::object(nb::cast(b->fields));  // a C++ dataset's fields
             return nb::object(nb::make_tuple(b->input, b->target));
           })
      .def("set_epoch", &PyLoader::set_epoch, nb::arg("epoch"),
           "The epoch the next iteration starts (its shuffle order).")
      .def_prop_ro("batch_size", [](PyLoader& l) { return l.loader().options().batch_size; })
      .def_prop_ro("dataset", [](PyLoader& l) { return l.refs.front(); }, "The dataset this loader batches.");

  d.def("read_idx", &data::read_idx, nb::arg("path"), nb::call_guard<nb::gil_scoped_release>(),
        "An IDX file (MNIST's format, plain or .gz) as a tensor of its own dtype.");
  d.def("load_mnist", &data::load_mnist, nb::arg("root"), nb::arg("train") = true,
        nb::call_guard<nb::gil_scoped_release>(),
        "MNIST or Fashion-MNIST from a directory of IDX files: images float32 [N, 1, 28, 28] in [0, 1], labels int64.");
  d.def("read_cifar", &data::read_cifar, nb::arg("files"), nb::arg("cifar100") = false, nb::arg("coarse") = false,
        nb::call_guard<nb::gil_scoped_release>(),
        "CIFAR-10/100 binary batches: images uint8 [N, 3, 32, 32], labels int64.");
  d.def(
      "read_csv",
      [](const std::string& path, bool header, const std::string& delim, std::optional<std::string> col,
         std::optional<int64_t> idx, bool integer_labels) {
        if (delim.size() != 1) throw ValueError("read_csv: delimiter must be one character, got '" + delim + "'");
        return data::read_csv(path, {header, delim[0], col, idx, integer_labels});
      },
      nb::arg("path"), nb::arg("header") = true, nb::arg("delimiter") = ",", nb::arg("label_column") = nb::none(),
      nb::arg("label_index") = nb::none(), nb::arg("integer_labels") = true,
      "A numeric CSV file: every column but the label becomes a float32 feature.");
  d.def("to_float", &data::to_float, nb::arg("images"), nb::arg("scale") = 1.0 / 255,
        "uint8 images to float32 scaled by scale (1/255 by default).");
  d.def("normalize", &data::normalize, nb::arg("images"), nb::arg("mean"), nb::arg("std"),
        "(x - mean[c]) / std[c] per channel of [N, C, H, W] images.");
  d.def(
      "random_horizontal_flip",
      [](const Tensor& x, double p) { return data::random_horizontal_flip(x, default_generator(), p); },
      nb::arg("images"), nb::arg("p") = 0.5, "Each image flipped left-right with probability p.");
  d.def(
      "random_crop",
      [](const Tensor& x, int64_t size, int64_t padding) {
        return data::random_crop(x, size, padding, default_generator());
      },
      nb::arg("images"), nb::arg("size"), nb::arg("padding") = 0,
      "Zero-pads each side by padding, then takes a random size x size crop of each image.");
}
