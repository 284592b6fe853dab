// tessera._tessera: the Python module over the C++ core (nanobind). The package tessera/*.py
// adds the pure-Python conveniences (no_grad as a context manager and decorator, tensor()).
#include <nanobind/nanobind.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "tessera/io/safetensors.h"
#include "tessera/tessera.h"

namespace nb = nanobind;
using namespace tessera;

void bind_tensor(nb::module_& m);  // tensor.cpp
void bind_nn(nb::module_& m);      // nn.cpp
void bind_dlpack(nb::module_& m);  // dlpack.cpp
void bind_ops(nb::module_& m);     // ops.cpp
void bind_data(nb::module_& m);    // data.cpp
void bind_train(nb::module_& m);   // train.cpp

NB_MODULE(_tessera, m) {
  m.doc() = "tessera: a deep-learning framework with a C++ core";

  // C++ errors become the Python exceptions users expect, with the C++ message.
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const IndexError& e) {
      PyErr_SetString(PyExc_IndexError, e.what());
    } catch (const DTypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const ShapeError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const IOError& e) {
      PyErr_SetString(PyExc_OSError, e.what());
    } catch (const Error& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
  });

  nb::enum_<DType>(m, "dtype", "Element types, as torch.float32 etc.")
      .value("bool", DType::Bool)
      .value("uint8", DType::UInt8)
      .value("int8", DType::Int8)
      .value("int32", DType::Int32)
      .value("int64", DType::Int64)
      .value("float16", DType::Float16)
      .value("bfloat16", DType::BFloat16)
      .value("float32", DType::Float32)
      .value("float64", DType::Float64)
      .def("__repr__", [](DType t) { return "tessera." + std::string(dtype_name(t)); })
      .def("__str__", [](DType t) { return "tessera." + std::string(dtype_name(t)); });

  bind_tensor(m);
  bind_ops(m);
  bind_nn(m);
  bind_dlpack(m);
  bind_data(m);
  bind_train(m);

  m.def(
      "save_safetensors",
      [](const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
         const std::map<std::string, std::string>& metadata) { io::save_safetensors(path, tensors, metadata); },
      nb::arg("path"), nb::arg("tensors"), nb::arg("metadata") = std::map<std::string, std::string>{},
      "Writes (name, tensor) pairs as a safetensors file, atomically.");
  m.def(
      "load_safetensors",
      [](const std::string& path) {
        std::map<std::string, std::string> md;
        auto t = io::load_safetensors(path, &md);
        return std::make_pair(t, md);
      },
      nb::arg("path"), "(list of (name, tensor), metadata) from a safetensors file; validates it first.");
  m.def("manual_seed", &manual_seed, nb::arg("seed"), "Seeds the default random generator.");
  m.def("set_num_threads", &set_num_threads, nb::arg("n"), "Sets the number of CPU threads the ops use.");
  m.def("get_num_threads", &get_num_threads, "The number of CPU threads the ops use.");
  m.def("is_grad_enabled", &autograd::is_grad_enabled, "Whether autograd records operations.");
  m.def("set_grad_enabled", &autograd::set_grad_enabled, nb::arg("mode"), "Turns autograd recording on or off.");
}
