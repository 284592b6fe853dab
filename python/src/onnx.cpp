// tessera._tessera._onnx: ONNX export (tracing a Python callable) and import (OnnxModel, a C++
// module). tessera/onnx.py gives them torch.onnx.export's signature.
#include <nanobind/nanobind.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/variant.h>
#include <nanobind/stl/vector.h>

#include "tessera/io/inference.h"
#include "tessera/io/onnx.h"
#include "tessera/tessera.h"

namespace nb = nanobind;
using namespace tessera;

void bind_onnx(nb::module_& m) {
  nb::module_ o = m.def_submodule("_onnx", "ONNX export and import (the C++ side).");
  o.attr("opset") = io::kOnnxOpset;
  o.attr("max_opset") = io::kOnnxMaxExportOpset;
  o.attr("max_import_opset") = io::kOnnxMaxImportOpset;
  o.attr("max_ir_version") = io::kOnnxMaxIrVersion;
  o.attr("min_import_opset") = io::kOnnxMinImportOpset;
  o.def("operator_names", &io::onnx_operator_names,
        "Every op type the importer runs (ONNX Runtime's as 'com.microsoft.<op type>').");
  o.def("exported_op_names", &io::onnx_exported_op_names, "Every traced tessera op export writes.");
  // The GIL stays held: fn is Python code, and the ops it calls trace on this thread.
  o.def(
      "export",
      [](nb::callable fn, const std::vector<Tensor>& inputs, const std::vector<std::pair<std::string, Tensor>>& params,
         const std::string& path, const std::vector<std::string>& input_names,
         const std::vector<std::string>& output_names, bool dynamic_batch, const std::string& doc_string,
         int64_t opset) {
        io::export_onnx(
            [&](const std::vector<Tensor>& xs) { return nb::cast<std::vector<Tensor>>(fn(xs)); }, inputs, params, path,
            {.input_names = input_names, .output_names = output_names, .dynamic_batch = dynamic_batch,
             .doc_string = doc_string, .opset = opset});
      },
      nb::arg("fn"), nb::arg("inputs"), nb::arg("params"), nb::arg("path"), nb::arg("input_names"),
      nb::arg("output_names"), nb::arg("dynamic_batch"), nb::arg("doc_string"), nb::arg("opset") = io::kOnnxOpset,
      "Runs fn(inputs) -> list of tensors with the tracer on and writes the graph to path.");
  nb::class_<io::StringTensor>(o, "StringTensor", "An ONNX tensor of strings: a shape and row-major values.")
      .def(nb::init<Shape, std::vector<std::string>>(), nb::arg("shape"), nb::arg("values"))
      .def_rw("shape", &io::StringTensor::shape)
      .def_rw("values", &io::StringTensor::values);
  nb::class_<io::OnnxModel, nn::Module>(o, "OnnxModel", "A model read from an ONNX file (a C++ module).")
      .def("run", &io::OnnxModel::run, nb::arg("inputs"), nb::call_guard<nb::gil_scoped_release>(),
           "The graph's outputs for its inputs, in the file's order.")
      .def("run_values", &io::OnnxModel::run_values, nb::arg("inputs"), nb::call_guard<nb::gil_scoped_release>(),
           "run for graphs with sequence inputs or outputs: each value is a tensor or a list of tensors.")
      .def_prop_ro("input_names", &io::OnnxModel::input_names, "The graph's input names.")
      .def_prop_ro("output_names", &io::OnnxModel::output_names, "The graph's output names.")
      .def_prop_ro("input_shapes", &io::OnnxModel::input_shapes, "The file's input shapes (-1: any size).")
      .def_prop_ro("op_types", &io::OnnxModel::op_types, "The ONNX op types the graph uses.");
  nb::class_<io::InferenceSession>(o, "InferenceSession", "A model prepared for inference (see tessera.inference).")
      .def(
          "__init__",
          [](io::InferenceSession* self, const std::string& path, bool fuse, bool profile) {
            nb::gil_scoped_release r;
            new (self) io::InferenceSession(path, {.fuse = fuse, .profile = profile});
          },
          nb::arg("path"), nb::arg("fuse") = true, nb::arg("profile") = false)
      .def(
          "__init__",
          [](io::InferenceSession* self, nb::callable fn, const std::vector<Tensor>& inputs,
             const std::vector<std::pair<std::string, Tensor>>& params, bool fuse, bool profile) {
            // The GIL stays held: fn is Python code, and the ops it calls trace on this thread.
            new (self) io::InferenceSession(
                [&](const std::vector<Tensor>& xs) { return nb::cast<std::vector<Tensor>>(fn(xs)); }, inputs, params,
                {.fuse = fuse, .profile = profile});
          },
          nb::arg("fn"), nb::arg("inputs"), nb::arg("params"), nb::arg("fuse") = true, nb::arg("profile") = false)
      .def("run", &io::InferenceSession::run, nb::arg("inputs"), nb::call_guard<nb::gil_scoped_release>(),
           "The outputs for the inputs (CPU tensors).")
      .def("steps", &io::InferenceSession::steps, "What runs, one entry per step (e.g. 'Conv+BatchNormalization+Relu').")
      .def(
          "profile",
          [](io::InferenceSession& s, bool reset) {
            std::vector<std::tuple<std::string, int64_t, double>> r;
            for (auto& p : s.profile(reset)) r.emplace_back(p.step, p.calls, p.seconds);
            return r;
          },
          nb::arg("reset") = false, "Per step: (what it runs, runs timed, seconds); needs profile=True.");
  o.def("load", &io::load_onnx, nb::arg("path"), nb::call_guard<nb::gil_scoped_release>(),
        "Reads and checks an ONNX file into an OnnxModel.");
  o.def(
      "load_bytes",
      [](nb::bytes data, const std::string& name) {
        std::string bytes(data.c_str(), data.size());
        nb::gil_scoped_release unlocked;
        return io::load_onnx_bytes(bytes, name);
      },
      nb::arg("data"), nb::arg("name"), "Reads and checks a serialized ONNX model into an OnnxModel.");
}
