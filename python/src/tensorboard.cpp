// tessera._tessera._tensorboard: the C++ TensorBoard event writer. tessera/utils/tensorboard.py
// wraps it in torch.utils.tensorboard's SummaryWriter signature (numbers, numpy arrays, None steps).
#include <nanobind/nanobind.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "tessera/log/summary_writer.h"
#include "tessera/tessera.h"

namespace nb = nanobind;
using namespace tessera;

void bind_tensorboard(nb::module_& m) {
  nb::module_ t = m.def_submodule("_tensorboard", "TensorBoard event files (the C++ writer).");
  using W = log::SummaryWriter;
  nb::class_<W>(t, "SummaryWriter", "Writes TensorBoard event files into log_dir.")
      .def(
          "__init__",
          [](W* self, const std::string& log_dir, const std::string& comment, std::optional<int64_t> purge_step,
             int64_t max_queue, double flush_secs, const std::string& filename_suffix) {
            new (self) W(log_dir, {.comment = comment,
                                   .filename_suffix = filename_suffix,
                                   .max_queue = max_queue,
                                   .flush_secs = flush_secs,
                                   .purge_step = purge_step});
          },
          nb::arg("log_dir") = "", nb::arg("comment") = "", nb::arg("purge_step") = nb::none(),
          nb::arg("max_queue") = 10, nb::arg("flush_secs") = 120.0, nb::arg("filename_suffix") = "")
      .def("add_scalar", &W::add_scalar, nb::arg("tag"), nb::arg("value"), nb::arg("step") = 0,
           nb::arg("walltime") = nb::none(), nb::call_guard<nb::gil_scoped_release>(), "One scalar at a step.")
      .def("add_scalars", &W::add_scalars, nb::arg("main_tag"), nb::arg("values"), nb::arg("step") = 0,
           nb::arg("walltime") = nb::none(), nb::call_guard<nb::gil_scoped_release>(),
           "Several scalars in one chart, one run each (log_dir/main_tag_key).")
      .def("add_histogram", &W::add_histogram, nb::arg("tag"), nb::arg("values"), nb::arg("step") = 0,
           nb::arg("bins") = log::kTensorflowBins, nb::arg("walltime") = nb::none(),
           nb::call_guard<nb::gil_scoped_release>(), "A histogram of a tensor's values (bins 0: TensorFlow's).")
      .def("add_image", &W::add_image, nb::arg("tag"), nb::arg("img"), nb::arg("step") = 0,
           nb::arg("dataformats") = "CHW", nb::arg("walltime") = nb::none(), nb::call_guard<nb::gil_scoped_release>(),
           "An image (CHW, HWC or HW; floats in [0, 1] or uint8) as a PNG.")
      .def("add_images", &W::add_images, nb::arg("tag"), nb::arg("imgs"), nb::arg("step") = 0,
           nb::arg("dataformats") = "NCHW", nb::arg("walltime") = nb::none(), nb::call_guard<nb::gil_scoped_release>(),
           "A batch of images tiled into one, eight to a row.")
      .def("add_text", &W::add_text, nb::arg("tag"), nb::arg("text"), nb::arg("step") = 0,
           nb::arg("walltime") = nb::none(), nb::call_guard<nb::gil_scoped_release>(), "Text (markdown) at a step.")
      .def("add_graph",
           nb::overload_cast<const std::vector<Tensor>&, const std::vector<std::pair<std::string, Tensor>>&,
                             const std::vector<std::pair<std::string, Tensor>>&>(&W::add_graph),
           nb::arg("outputs"), nb::arg("parameters"), nb::arg("inputs"), nb::call_guard<nb::gil_scoped_release>(),
           "The graph of ops autograd recorded for outputs, back to the named parameters and inputs.")
      .def("flush", &W::flush, nb::call_guard<nb::gil_scoped_release>(), "Writes pending events to the file.")
      .def("close", &W::close, nb::call_guard<nb::gil_scoped_release>(), "Flushes and closes the file.")
      .def_prop_ro("log_dir", &W::log_dir, "The folder written into.")
      .def_prop_ro("file_path", &W::file_path, "The event file's path.");
}
