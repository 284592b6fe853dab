// tessera._tessera: the Python module over the C++ core (nanobind). The package tessera/*.py
// adds the pure-Python conveniences (no_grad as a context manager and decorator, tensor()).
#include <nanobind/nanobind.h>

#include <cstring>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "common.h"
#include "tessera/io/onnx.h"
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
void bind_tensorboard(nb::module_& m);  // tensorboard.cpp
void bind_onnx(nb::module_& m);         // onnx.cpp
void bind_dist(nb::module_& m);         // dist.cpp
void bind_amp(nb::module_& m);          // amp.cpp
void bind_autograd(nb::module_& m);     // autograd.cpp
void bind_optim(nb::module_& m);        // optim.cpp

// A C++ message in the words of Python: C++ spellings of the same things become the Python ones.
std::string pythonize(std::string m) {
  static const std::pair<const char*, const char*> words[] = {
      {"retain_graph=true", "retain_graph=True"}, {"create_graph=true", "create_graph=True"},
      {"allow_unused=true", "allow_unused=True"}, {"requires_grad=false", "requires_grad=False"},
      {"wrap the update in a NoGradGuard", "wrap the update in `with tessera.no_grad():`"},
      {"NoGradGuard", "tessera.no_grad()"}, {"EnableGradGuard", "tessera.enable_grad()"},
      {"autograd::DetectAnomalyGuard", "tessera.autograd.detect_anomaly()"},
      {"DetectAnomalyGuard", "tessera.autograd.detect_anomaly()"}, {"AutocastGuard", "tessera.autocast"}};
  for (auto [from, to] : words)
    for (size_t at = m.find(from); at != std::string::npos; at = m.find(from, at + std::strlen(to)))
      m.replace(at, std::strlen(from), to);
  return m;
}

// C++ warnings as Python's UserWarning (so `warnings` filters and pytest.warns see them). A
// warning raised as an error by a filter cannot propagate out of C++ here: it is printed instead.
void python_warning(const std::string& message) {
  if (!Py_IsInitialized()) return;
  PyGILState_STATE g = PyGILState_Ensure();
  if (PyErr_WarnEx(PyExc_UserWarning, pythonize(message).c_str(), 2) != 0) PyErr_WriteUnraisable(nullptr);
  PyGILState_Release(g);
}

NB_MODULE(_tessera, m) {
  m.doc() = "tessera: a deep-learning framework with a C++ core";
  set_warning_handler(&python_warning);

  // C++ errors become the Python exceptions users expect, with the C++ message.
  static PyObject* onnx_error = PyErr_NewExceptionWithDoc(
      "tessera.onnx.OnnxError", "Any problem reading an ONNX file: it names the file and what is wrong.",
      PyExc_ValueError, nullptr);
  m.attr("_OnnxError") = nb::handle(onnx_error);
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const io::OnnxError& e) {
      PyErr_SetString(onnx_error, pythonize(e.what()).c_str());
    } catch (const IndexError& e) {
      PyErr_SetString(PyExc_IndexError, pythonize(e.what()).c_str());
    } catch (const DTypeError& e) {
      PyErr_SetString(PyExc_TypeError, pythonize(e.what()).c_str());
    } catch (const ShapeError& e) {
      PyErr_SetString(PyExc_ValueError, pythonize(e.what()).c_str());
    } catch (const ValueError& e) {
      PyErr_SetString(PyExc_ValueError, pythonize(e.what()).c_str());
    } catch (const IOError& e) {
      PyErr_SetString(PyExc_OSError, pythonize(e.what()).c_str());
    } catch (const Error& e) {
      PyErr_SetString(PyExc_RuntimeError, pythonize(e.what()).c_str());
    }
  });

  nb::enum_<MemoryFormat>(m, "memory_format", "How a 4-D tensor lies in memory, as torch.memory_format.")
      .value("contiguous_format", MemoryFormat::Contiguous)
      .value("channels_last", MemoryFormat::ChannelsLast)
      .value("preserve_format", MemoryFormat::Preserve);
  m.attr("contiguous_format") = MemoryFormat::Contiguous;
  m.attr("channels_last") = MemoryFormat::ChannelsLast;
  m.attr("preserve_format") = MemoryFormat::Preserve;
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
  bind_optim(m);
  bind_autograd(m);
  bind_dlpack(m);
  bind_data(m);
  bind_train(m);
  bind_tensorboard(m);
  bind_onnx(m);
  bind_dist(m);
  bind_amp(m);

  // tessera.cuda: torch.cuda's queries over tessera/cuda.h.
  nb::module_ c = m.def_submodule("cuda", "CUDA devices and their memory (torch.cuda's queries).");
  // (registered after the general translator, so it is tried first)
  nb::exception<OutOfMemoryError>(c, "OutOfMemoryError", PyExc_RuntimeError);
  c.def("is_available", &cuda::is_available, "True when this build has CUDA and a device answers.");
  c.def("device_count", &cuda::device_count, "The number of CUDA devices (0 without CUDA, driver or device).");
  c.def("unavailable_reason", &cuda::unavailable_reason, "Why CUDA is not available ('' when it is).");
  c.def("get_device_name", [](int d) { return cuda::get_device_properties(d).name; }, nb::arg("device") = 0,
        "The device's name.");
  c.def("get_device_properties", [](int d) {
    auto p = cuda::get_device_properties(d);
    nb::dict r;
    r["name"] = p.name;
    r["total_memory"] = p.total_memory;
    r["major"] = p.major;
    r["minor"] = p.minor;
    r["multi_processor_count"] = p.multiprocessors;
    return r;
  }, nb::arg("device") = 0, "name, total_memory, compute capability (major, minor) and multiprocessor count.");
  c.def("current_device", &cuda::current_device, "The current device's index.");
  c.def("set_device", &cuda::set_device, nb::arg("device"), "Makes device current.");
  c.def("synchronize", [](std::optional<int> d) { cuda::synchronize(d.value_or(-1)); }, nb::arg("device") = nb::none(),
        nb::call_guard<nb::gil_scoped_release>(), "Waits for all work on the device.");
  c.def("memory_stats", [](std::optional<int> d) {
    MemoryStats s = cuda::memory_stats(d.value_or(-1));
    nb::dict r;
    r["allocated_bytes"] = s.allocated;
    r["reserved_bytes"] = s.reserved;
    r["peak_allocated_bytes"] = s.peak_allocated;
    r["peak_reserved_bytes"] = s.peak_reserved;
    r["requested_bytes"] = s.requested;
    r["num_allocs"] = s.num_allocs;
    r["num_segments"] = s.num_segments;
    r["num_ooms"] = s.num_ooms;
    return r;
  }, nb::arg("device") = nb::none(), "The caching allocator's statistics for the device.");
  c.def("memory_allocated", [](std::optional<int> d) { return cuda::memory_stats(d.value_or(-1)).allocated; },
        nb::arg("device") = nb::none(), "Bytes in blocks handed out on the device.");
  c.def("memory_reserved", [](std::optional<int> d) { return cuda::memory_stats(d.value_or(-1)).reserved; },
        nb::arg("device") = nb::none(), "Bytes the caching allocator holds on the device.");
  c.def("max_memory_allocated", [](std::optional<int> d) { return cuda::memory_stats(d.value_or(-1)).peak_allocated; },
        nb::arg("device") = nb::none(), "The peak of memory_allocated since the last reset.");
  c.def("max_memory_reserved", [](std::optional<int> d) { return cuda::memory_stats(d.value_or(-1)).peak_reserved; },
        nb::arg("device") = nb::none(), "The peak of memory_reserved since the last reset.");
  c.def("reset_peak_memory_stats", [](std::optional<int> d) { cuda::reset_peak_memory_stats(d.value_or(-1)); },
        nb::arg("device") = nb::none(), "Starts the peaks afresh.");
  c.def("empty_cache", &cuda::empty_cache, "Releases the cached, unused memory of every device.");
  c.def("is_built", &cuda::built_with_cuda, "True when this build of tessera has the CUDA backend.");
  c.def("is_emulated", &cuda::is_emulated,
        "True when cuda:0 is the test emulation (TESSERA_EMULATE_CUDA=1: host memory, CPU kernels), not a GPU.");
  c.def("manual_seed", [](uint64_t s) { manual_seed(s); }, nb::arg("seed"),
        "Seeds the default generator, which every device shares: a seed gives the same numbers on the CPU and "
        "on CUDA.");
  c.def("manual_seed_all", [](uint64_t s) { manual_seed(s); }, nb::arg("seed"), "The same as manual_seed.");
  nb::class_<cuda::Stream>(c, "Stream", "A CUDA stream of one device (torch.cuda.Stream).")
      .def("__init__", [](cuda::Stream* s, std::optional<int> d) { new (s) cuda::Stream(cuda::create_stream(d.value_or(-1))); },
           nb::arg("device") = nb::none(), "A new stream on device (the current device by default).")
      .def_ro("device_index", &cuda::Stream::device, "The stream's device.")
      .def_prop_ro("cuda_stream", [](const cuda::Stream& s) { return uintptr_t(s.id); }, "The cudaStream_t, as an int.")
      .def("synchronize", [](const cuda::Stream& s) { cuda::synchronize_stream(s); },
           nb::call_guard<nb::gil_scoped_release>(), "Waits for the work queued on this stream.")
      .def("__eq__", [](const cuda::Stream& a, const cuda::Stream& b) { return a == b; })
      .def("__repr__", [](const cuda::Stream& s) {
        return "<tessera.cuda.Stream device=cuda:" + std::to_string(s.device) + " cuda_stream=" +
               std::to_string(uintptr_t(s.id)) + ">";
      });
  c.def("current_stream", [](std::optional<int> d) { return cuda::current_stream(d.value_or(-1)); },
        nb::arg("device") = nb::none(), "The calling thread's current stream on the device.");
  c.def("default_stream", [](std::optional<int> d) { return cuda::Stream{cuda::current_stream(d.value_or(-1)).device, 0}; },
        nb::arg("device") = nb::none(), "The device's default stream.");
  c.def("set_stream", &cuda::set_current_stream, nb::arg("stream"), "Makes stream current on its device.");
  // tessera.backends: torch.backends' switches for the math libraries.
  nb::module_ b = m.def_submodule("_backends", "The math libraries' switches (see tessera.backends).");
  b.def("set_matmul_allow_tf32", &cuda::set_matmul_allow_tf32, nb::arg("on"), "float32 matmuls may use TF32.");
  b.def("matmul_allow_tf32", &cuda::matmul_allow_tf32, "Whether float32 matmuls may use TF32 (default False).");
  b.def("set_cudnn_allow_tf32", &cuda::set_cudnn_allow_tf32, nb::arg("on"), "float32 convolutions may use TF32.");
  b.def("cudnn_allow_tf32", &cuda::cudnn_allow_tf32, "Whether float32 convolutions may use TF32 (default True).");
  b.def("set_cudnn_benchmark", &cuda::set_cudnn_benchmark, nb::arg("on"), "cuDNN times algorithms once per shape.");
  b.def("cudnn_benchmark", &cuda::cudnn_benchmark, "Whether cuDNN times algorithms per shape (default True).");
  b.def("set_cudnn_deterministic", &cuda::set_cudnn_deterministic, nb::arg("on"),
        "Convolutions use only algorithms cuDNN reports deterministic.");
  b.def("cudnn_deterministic", &cuda::cudnn_deterministic, "Whether convolutions use deterministic algorithms only.");
  b.def("set_fused_kernels_enabled", &set_fused_kernels_enabled, nb::arg("on"),
        "Whether ops use the backends' fused kernels (recurrent layers on the CPU).");
  b.def("fused_kernels_enabled", &fused_kernels_enabled, "Whether ops use the backends' fused kernels (default True).");
  b.def("set_cpu_winograd_enabled", &set_cpu_winograd_enabled, nb::arg("on"),
        "Whether float32 3x3 convolutions on the CPU may use Winograd kernels.");
  b.def("cpu_winograd_enabled", &cpu_winograd_enabled, "Whether CPU convolutions may use Winograd (default True).");
  b.def("cpu_winograd_available", &cpu_winograd_available,
        "Whether this CPU has oneDNN's Winograd kernels (they need AVX-512).");

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
  m.def(
      "safetensors_bytes",
      [](const std::vector<std::pair<std::string, Tensor>>& tensors, const std::map<std::string, std::string>& md) {
        std::string b = io::safetensors_bytes(tensors, md);
        return nb::bytes(b.data(), b.size());
      },
      nb::arg("tensors"), nb::arg("metadata") = std::map<std::string, std::string>{},
      "The bytes of a safetensors file holding (name, tensor) pairs.");
  m.def(
      "load_safetensors_bytes",
      [](nb::bytes data, const std::string& name) {
        std::map<std::string, std::string> md;
        auto t = io::load_safetensors_bytes(std::string(data.c_str(), data.size()), name, &md);
        return std::make_pair(t, md);
      },
      nb::arg("data"), nb::arg("name") = "<bytes>", "(list of (name, tensor), metadata) from safetensors bytes.");
  m.def("manual_seed", &manual_seed, nb::arg("seed"), "Seeds the default random generator.");
  m.def("initial_seed", [] { return default_generator().seed(); }, "The default generator's seed.");
  m.def("seed", [] {
        uint64_t s = draw_seed(default_generator()) >> 1;
        manual_seed(s);
        return s;
      }, "Seeds the default generator with a fresh number drawn from it, and returns that seed.");
  nb::class_<Generator>(m, "Generator",
                        "A random number generator's state (torch.Generator): pass it as generator= to the data "
                        "API (samplers, random_split, DataLoader).")
      .def(
          "__init__",
          [](Generator* g, nb::handle device) {
            if (!device.is_none() && tessera::py::py_str(device) != "cpu")
              throw ValueError("Generator: device " + tessera::py::py_str(device) + " (generators are shared by every device; "
                               "give 'cpu' or nothing)");
            new (g) Generator();
          },
          nb::arg("device") = nb::none())
      .def(
          "manual_seed",
          [](nb::handle self, uint64_t s) {
            nb::cast<Generator&>(self).manual_seed(s);
            return nb::borrow(self);
          },
          nb::arg("seed"), "Seeds this generator; returns it (so Generator().manual_seed(42) reads as in PyTorch).")
      .def("initial_seed", &Generator::seed, "The seed this generator was given.")
      .def("seed", [](Generator& g) {
        uint64_t s = draw_seed(g) >> 1;
        g.manual_seed(s);
        return s;
      }, "Seeds this generator with a fresh number drawn from it, and returns that seed.")
      .def("get_state", [](const Generator& g) { return std::make_pair(g.seed(), g.offset()); },
           "The state as (seed, offset).")
      .def("set_state", [](Generator& g, std::pair<uint64_t, uint64_t> st) { g.set_state(st.first, st.second); },
           nb::arg("state"), "Restores a state from get_state().")
      .def_prop_ro("device", [](const Generator&) { return nb::module_::import_("tessera").attr("device")("cpu"); });
  m.def("set_num_threads", &set_num_threads, nb::arg("n"), "Sets the number of CPU threads the ops use.");
  m.attr("__version__") = version();
  m.def("get_num_threads", &get_num_threads, "The number of CPU threads the ops use.");
  m.def("is_grad_enabled", &autograd::is_grad_enabled, "Whether autograd records operations.");
  m.def("set_grad_enabled", &autograd::set_grad_enabled, nb::arg("mode"), "Turns autograd recording on or off.");
}
