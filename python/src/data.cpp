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
Tensor item_tensor(nb::handle h, const char* what, int64_t index) {
  if (nb::isinstance<Tensor>(h)) return nb::cast<Tensor>(h);
  Scalar s;
  if (nb::try_cast(h, s)) {
    DType d = s.is_bool() ? DType::Bool : s.is_integral() ? DType::Int64 : DType::Float32;
    return scalar_tensor(s, d);
  }
  if (nb::hasattr(h, "__array_interface__")) return tessera::py::from_numpy(h);
  throw DTypeError(std::string("Dataset[") + std::to_string(index) + "]: the " + what +
                   " must be a tessera.Tensor, a numpy array or a number, got " +
                   tessera::py::py_type_name(h));
}

}  // namespace tessera::py

namespace {
using tessera::py::PyRef;

bool finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing();
#else
  return _Py_IsFinalizing();
#endif
}

// A Python dataset as a data::Dataset. It owns its object, or borrows it from a DataLoader that
// owns it where Python's garbage collector can see the reference (tp_traverse below).
class PyDataset : public data::Dataset {
 public:
  // collate (optional, borrowed like a non-owned dataset): PyTorch's collate_fn, called with the
  // list of a batch's items; it returns (inputs, targets).
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
    nb::object it = item(index);
    return {tessera::py::item_tensor(it[0], "input", index), tessera::py::item_tensor(it[1], "target", index)};
  }
  // A whole batch under one GIL acquisition: per-item acquisitions by several workers cost more
  // than the items. Items that are numbers, or arrays/tensors of one shape and dtype exporting
  // their memory (numpy, tessera), are copied straight into the batch; anything else goes
  // through tensors and stack.
  data::Batch get_batch(const std::vector<int64_t>& indices) const override {
    nb::gil_scoped_acquire g;
    if (collate_) return collated(indices);
    std::vector<nb::object> items;
    items.reserve(indices.size());
    for (int64_t i : indices) items.push_back(item(i));
    Tensor x = column(items, 0), y = column(items, 1);
    if (x.defined() && y.defined()) return {x, y};
    return data::Dataset::get_batch(indices);  // the general path (it validates and converts each item)
  }

 private:
  data::Batch collated(const std::vector<int64_t>& indices) const {
    nb::list items;
    for (int64_t i : indices) items.append(obj_[nb::int_(i)]);
    nb::object r = collate_(items);
    if (!(nb::isinstance<nb::tuple>(r) || nb::isinstance<nb::list>(r)) || nb::len(r) != 2)
      throw ValueError("collate_fn must return (inputs, targets), got " + tessera::py::py_str(nb::repr(r)).substr(0, 80));
    auto part = [](nb::handle h, const char* what) {
      if (nb::isinstance<Tensor>(h)) return nb::cast<Tensor>(h);
      if (nb::hasattr(h, "__array_interface__")) return tessera::py::from_numpy(h).clone();
      throw DTypeError(std::string("collate_fn must return tensors or numpy arrays; its ") + what + " is a " +
                       tessera::py::py_type_name(h));
    };
    return {part(r[0], "inputs"), part(r[1], "targets")};
  }

  // dataset[index], checked to be an (input, target) pair. Needs the GIL.
  nb::object item(int64_t index) const {
    nb::object it = obj_[nb::int_(index)];
    if (!(nb::isinstance<nb::tuple>(it) || nb::isinstance<nb::list>(it)) || nb::len(it) != 2)
      throw ValueError("Dataset[" + std::to_string(index) + "] must return an (input, target) pair, got " +
                       tessera::py::py_str(nb::repr(it)).substr(0, 80));
    return it;
  }

  // Element k of every item as one batch tensor, or undefined when the items need the general path.
  static Tensor column(const std::vector<nb::object>& items, int k) {
    const int64_t n = int64_t(items.size());
    Scalar s;
    if (nb::try_cast(items[0][k], s)) {  // numbers: int64, float32 or bool, as tessera.tensor makes them
      DType dt = s.is_bool() ? DType::Bool : s.is_integral() ? DType::Int64 : DType::Float32;
      std::vector<Scalar> v(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        if (!nb::try_cast(items[size_t(i)][k], v[size_t(i)])) return Tensor();
        Scalar& e = v[size_t(i)];
        if ((e.is_bool() ? DType::Bool : e.is_integral() ? DType::Int64 : DType::Float32) != dt) return Tensor();
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
      PyObject* o = nb::object(items[size_t(i)][k]).ptr();
      if (nb::isinstance<nb::str>(nb::handle(o)) || !PyObject_CheckBuffer(o)) return Tensor();
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

// A C++ dataset is borrowed (whoever holds it also holds the Python object alive through
// keep_alive, which Python's shutdown sees); a Python one is wrapped.
std::shared_ptr<const data::Dataset> as_dataset(nb::handle d, bool owning = true) {
  data::Dataset* c = nullptr;
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
        data::Example e = ds.get(i);
        return std::make_pair(e.input, e.target);
      });
  nb::class_<data::TensorDataset, data::Dataset>(d, "TensorDataset", "Rows of an input tensor and a target tensor.")
      .def(nb::init<Tensor, Tensor>(), nb::arg("inputs"), nb::arg("targets"))
      .def_prop_ro("tensors", [](const data::TensorDataset& t) { return std::make_pair(t.inputs(), t.targets()); });
  nb::class_<data::Subset, data::Dataset>(d, "Subset", "The examples of dataset at indices.")
      .def(
          "__init__",
          [](data::Subset* self, nb::handle base, std::vector<int64_t> idx) {
            new (self) data::Subset(as_dataset(base), std::move(idx));
          },
          nb::arg("dataset"), nb::arg("indices"), nb::keep_alive<1, 2>());
  nb::class_<data::ConcatDataset, data::Dataset>(d, "ConcatDataset", "Datasets one after another.")
      .def(
          "__init__",
          [](data::ConcatDataset* self, nb::iterable parts) {
            std::vector<std::shared_ptr<const data::Dataset>> v;
            for (nb::handle p : parts) v.push_back(as_dataset(p));
            new (self) data::ConcatDataset(std::move(v));
          },
          nb::arg("datasets"), nb::keep_alive<1, 2>());
  d.def(
      "random_split",
      [](nb::handle base, std::vector<int64_t> sizes, uint64_t seed) {
        nb::list out;
        for (auto& p : data::random_split(as_dataset(base), sizes, seed)) {
          nb::object o = nb::cast(std::shared_ptr<data::Dataset>(p));
          nb::detail::keep_alive(o.ptr(), base.ptr());
          out.append(o);
        }
        return out;
      },
      nb::arg("dataset"), nb::arg("lengths"), nb::arg("seed") = 0,
      "Disjoint random subsets of the given lengths (which must sum to len(dataset)).");

  nb::class_<PyLoader>(d, "DataLoader", nb::type_slots(loader_slots),
                       "Batches of a dataset, shuffled with a seed, built ahead by worker threads. Each iteration is "
                       "one epoch of (inputs, targets) batches.")
      .def(
          "__init__",
          [](PyLoader* self, nb::handle dataset, int64_t batch_size, bool shuffle, uint64_t seed, bool drop_last,
             int num_workers, int prefetch, std::optional<nb::object> transform, std::optional<nb::object> collate_fn,
             int64_t num_replicas, int64_t rank, bool pin_memory) {
            data::LoaderOptions o{.batch_size = batch_size,
                                  .shuffle = shuffle,
                                  .seed = seed,
                                  .drop_last = drop_last,
                                  .num_workers = num_workers,
                                  .prefetch = prefetch,
                                  .pin_memory = pin_memory,
                                  .num_replicas = num_replicas,
                                  .rank = rank};
            std::vector<nb::object> refs{nb::borrow(dataset)};
            if (transform) {
              nb::handle f = *transform;  // owned by refs
              refs.push_back(*transform);
              o.collate = [f](data::Batch b) {
                nb::gil_scoped_acquire g;
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
          nb::arg("dataset"), nb::arg("batch_size") = 1, nb::arg("shuffle") = false, nb::arg("seed") = 0,
          nb::arg("drop_last") = false, nb::arg("num_workers") = 2, nb::arg("prefetch") = 4,
          nb::arg("transform") = nb::none(), nb::arg("collate_fn") = nb::none(), nb::arg("num_replicas") = 1,
          nb::arg("rank") = 0, nb::arg("pin_memory") = false)
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
             return std::make_pair(b->input, b->target);
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
