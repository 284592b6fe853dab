// tessera._tessera._dist: the process groups and the launcher (tessera::dist) for Python;
// tessera/distributed/__init__.py
// gives it torch.distributed's names.
#include <nanobind/nanobind.h>
#include <nanobind/stl/function.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "tessera/dist/ddp.h"
#include "tessera/dist/launch.h"
#include "tessera/dist/process_group.h"
#include "tessera/dist/zero.h"
#include "tessera/tessera.h"
#include "python.h"

namespace nb = nanobind;
using namespace tessera;

namespace {
dist::ReduceOp reduce_op(const std::string& op) {
  if (op == "sum") return dist::ReduceOp::Sum;
  if (op == "avg") return dist::ReduceOp::Avg;
  if (op == "max") return dist::ReduceOp::Max;
  if (op == "min") return dist::ReduceOp::Min;
  throw ValueError("all_reduce: op must be 'sum', 'avg', 'max' or 'min', got '" + op + "'");
}
}  // namespace

void bind_dist(nb::module_& m) {
  nb::module_ d = m.def_submodule("_dist", "The process groups (MPI, gloo) and the launcher (the C++ side).");
  using Release = nb::call_guard<nb::gil_scoped_release>;
  d.def("built_with_mpi", &dist::built_with_mpi);
  d.def("built_with_gloo", &dist::built_with_gloo);
  d.def(
      "init_process_group",
      [](const std::string& backend, const std::string& init_method, int world_size, int rank, double timeout_s) {
        if (!(timeout_s > 0)) throw ValueError("init_process_group: timeout must be positive");
        dist::init_process_group(backend, init_method, world_size, rank,
                                 std::chrono::milliseconds(int64_t(timeout_s * 1000)));
      },
      nb::arg("backend") = "mpi", nb::arg("init_method") = "", nb::arg("world_size") = -1, nb::arg("rank") = -1,
      nb::arg("timeout") = 1800.0, Release());
  d.def("destroy_process_group", &dist::destroy_process_group, Release());
  d.def(
      "launch",
      [](const std::vector<std::string>& argv, int nproc_per_node, int nnodes, int node_rank,
         const std::string& master_addr, int master_port) {
        dist::LaunchOptions o;
        o.nproc_per_node = nproc_per_node;
        o.nnodes = nnodes;
        o.node_rank = node_rank;
        o.master_addr = master_addr;
        o.master_port = master_port;
        return dist::launch(argv, o);
      },
      nb::arg("argv"), nb::arg("nproc_per_node") = 1, nb::arg("nnodes") = 1, nb::arg("node_rank") = 0,
      nb::arg("master_addr") = "127.0.0.1", nb::arg("master_port") = 29500, Release(),
      "Runs argv as the processes of one job (tessera run); returns the exit status to report.");
  d.def("is_initialized", &dist::is_initialized);
  d.def("backend", [] { return dist::group().backend(); });
  d.def("get_rank", &dist::get_rank);
  d.def("get_world_size", &dist::get_world_size);
  d.def(
      "all_reduce", [](Tensor t, const std::string& op) { dist::all_reduce(t, reduce_op(op)); }, nb::arg("tensor"),
      nb::arg("op") = "sum", Release());
  d.def(
      "broadcast", [](Tensor t, int src) { dist::broadcast(t, src); }, nb::arg("tensor"), nb::arg("src") = 0,
      Release());
  d.def(
      "all_gather", [](const Tensor& t) { return dist::group().all_gather(t); }, nb::arg("tensor"), Release());
  d.def("barrier", &dist::barrier, Release());
  d.def(
      "send", [](const Tensor& t, int dst, int tag) { dist::send(t, dst, tag); }, nb::arg("tensor"), nb::arg("dst"),
      nb::arg("tag") = 0, Release());
  d.def(
      "recv", [](Tensor t, int src, int tag) { dist::recv(t, src, tag); }, nb::arg("tensor"), nb::arg("src"),
      nb::arg("tag") = 0, Release());
  d.def(
      "reduce_scatter",
      [](Tensor out, const std::vector<Tensor>& inputs, const std::string& op) {
        dist::group().reduce_scatter(out, inputs, reduce_op(op));
      },
      nb::arg("output"), nb::arg("input_list"), nb::arg("op") = "sum", Release());
  // The hook DistributedDataParallel puts on each parameter: its gradient averaged over the group;
  // the switch it returns is off inside no_sync().
  nb::class_<dist::GradSync>(d, "GradSync")
      .def_prop_rw(
          "enabled", [](const dist::GradSync& s) { return s.enabled.load(); },
          [](dist::GradSync& s, bool on) { s.enabled = on; })
      .def(
          "prepare_for_backward",
          [](dist::GradSync& s, const std::vector<Tensor>& outputs) {
            if (s.prepare_for_backward) s.prepare_for_backward(outputs);
          },
          nb::arg("outputs"), "find_unused_parameters: marks what these outputs do not depend on as ready.");
  d.def(
      "average_gradients_in_backward",
      [](const std::vector<Tensor>& params, double bucket_cap_mb, bool find_unused_parameters) {
        return dist::average_gradients_in_backward(params, dist::group(), bucket_cap_mb, find_unused_parameters);
      },
      nb::arg("params"), nb::arg("bucket_cap_mb") = 25.0, nb::arg("find_unused_parameters") = false);
  nb::class_<dist::ZeroRedundancyOptimizer>(d, "ZeroRedundancyOptimizer")
      .def(
          "__init__",
          [](dist::ZeroRedundancyOptimizer* self, const std::vector<Tensor>& params, nb::callable make) {
            // make(params) -> an optimizer built in Python; the shared_ptr keeps that object alive.
            new (self) dist::ZeroRedundancyOptimizer(params, [&make](std::vector<Tensor> p) {
              return nb::cast<std::shared_ptr<optim::Optimizer>>(make(p));
            });
          },
          nb::arg("params"), nb::arg("make"))
      .def("step", &dist::ZeroRedundancyOptimizer::step, Release())
      .def("zero_grad", &dist::ZeroRedundancyOptimizer::zero_grad, nb::arg("set_to_none") = true)
      .def("owner", &dist::ZeroRedundancyOptimizer::owner, nb::arg("index"))
      .def_prop_ro("owned", [](const dist::ZeroRedundancyOptimizer& z) { return z.owned(); })
      .def_prop_ro("local", [](const dist::ZeroRedundancyOptimizer& z) { return z.local(); })
      .def("consolidate_state_dict", &dist::ZeroRedundancyOptimizer::consolidate_state_dict, Release())
      .def("state_dict",
           [](const dist::ZeroRedundancyOptimizer& z, size_t n) {
             return tessera::py::optimizer_state_to_py(z.state_dict(), {n});
           })
      .def("load_state_dict", [](dist::ZeroRedundancyOptimizer& z, nb::dict sd) {
        z.load_state_dict(tessera::py::optimizer_state_from_py(sd, "ZeroRedundancyOptimizer"));
      });
  d.def(
      "broadcast_state",
      [](const std::vector<std::pair<std::string, Tensor>>& state) { dist::broadcast_state(state, dist::group()); },
      nb::arg("state"), Release(), "Overwrites every rank's tensors with rank 0's, in place.");
}
