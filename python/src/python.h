#pragma once
// Helpers for C++ objects that hold Python objects (datasets, models, callbacks) and run on
// threads other than the interpreter's.
#include <nanobind/nanobind.h>

#include <memory>

#include "tessera/data/formats.h"
#include "tessera/data/loader.h"
#include "tessera/data/transforms.h"
#include "tessera/tessera.h"
#include "tessera/train/checkpoint.h"
#include "tessera/train/trainer.h"
#include "tessera/zoo/zoo.h"

namespace tessera::py {

// A shared reference to a Python object that can be copied and dropped on any thread (the
// last owner releases it with the GIL held). get() needs the GIL held by the caller.
class PyRef {
 public:
  explicit PyRef(nanobind::object o);
  nanobind::handle get() const { return *p_; }
  // The reference as an opaque shared pointer to the nanobind::object (data::Batch::structure).
  std::shared_ptr<const void> share() const { return p_; }

 private:
  std::shared_ptr<nanobind::object> p_;
};

// An element of a Python dataset's item as a tensor (Tensor, numpy array or number); errors
// name the index and what (input/target) was wrong.
Tensor item_tensor(nanobind::handle h, const char* what, int64_t index);
// A plain Python bool/int/float (not a numpy scalar or array), and the dtype a batch of them takes.
bool is_py_number(nanobind::handle h);
DType number_dtype(const Scalar& s);

// A tensor sharing a numpy array's memory (tensor.cpp).
Tensor from_numpy(nanobind::handle array);

// The C++ loader inside a tessera.data.DataLoader (a TypeError for anything else).
data::DataLoader& loader_of(nanobind::handle loader);

// An optimizer state in torch's layout: {"state": {index: {"step": n, buffer: tensor}},
// "param_groups": [{options, "params": [indices]}]} (group_sizes: parameters per group), and
// back (who names the optimizer in errors) (optim.cpp).
nanobind::dict optimizer_state_to_py(const optim::OptimizerState& st, const std::vector<size_t>& group_sizes);
optim::OptimizerState optimizer_state_from_py(nanobind::dict sd, const std::string& who);

}  // namespace tessera::py
