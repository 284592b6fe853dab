// tessera._tessera._dist: the MPI process group (tessera::dist) for Python; tessera/distributed.py
// gives it torch.distributed's names.
#include <nanobind/nanobind.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "tessera/dist/ddp.h"
#include "tessera/dist/process_group.h"
#include "tessera/tessera.h"

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
  nb::module_ d = m.def_submodule("_dist", "The MPI process group (the C++ side).");
  using Release = nb::call_guard<nb::gil_scoped_release>;
  d.def("built_with_mpi", &dist::built_with_mpi);
  d.def(
      "init_process_group", [](const std::string& backend) { dist::init_process_group(backend); },
      nb::arg("backend") = "mpi", Release());
  d.def("is_initialized", &dist::is_initialized);
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
  // The hook DistributedDataParallel puts on each parameter: its gradient averaged over the group.
  d.def(
      "average_gradients_in_backward",
      [](const std::vector<Tensor>& params) { dist::average_gradients_in_backward(params, dist::group()); },
      nb::arg("params"));
  d.def(
      "broadcast_state",
      [](const std::vector<std::pair<std::string, Tensor>>& state) { dist::broadcast_state(state, dist::group()); },
      nb::arg("state"), Release(), "Overwrites every rank's tensors with rank 0's, in place.");
}
