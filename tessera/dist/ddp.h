#pragma once
// Data-parallel training (torch.nn.parallel.DistributedDataParallel): every process holds a
// replica of the model and trains on its own shard of each batch; the gradients are averaged
// across processes during backward, so every replica takes the same optimizer step.
//
//   dist::init_process_group("mpi");
//   auto model = std::make_shared<dist::DistributedDataParallel>(zoo::lenet5(1, 10));
//   // a DataLoader with {.num_replicas = dist::get_world_size(), .rank = dist::get_rank()}
//   train::fit(*model, loader, {...});          // mpirun -np 4 ./train
#include <memory>

#include "tessera/dist/process_group.h"
#include "tessera/nn/module.h"

namespace tessera::dist {

// Puts on each parameter that requires grad a hook that replaces its gradient with the gradient
// averaged over pg (what DistributedDataParallel does; Python's wrapper uses it too).
void average_gradients_in_backward(const std::vector<Tensor>& params, ProcessGroup& pg);
// Overwrites every rank's tensors (a state_dict's, CPU) with rank 0's, in place.
void broadcast_state(const nn::StateDict& state, ProcessGroup& pg);

class DistributedDataParallel : public nn::Module {
 public:
  // Copies rank 0's parameters and buffers to every rank, then averages each parameter's gradient
  // across the group as backward produces it (every rank must run the same model on a batch, so
  // the gradients arrive in the same order; every parameter must get a gradient).
  explicit DistributedDataParallel(std::shared_ptr<nn::Module> module, ProcessGroup* pg = nullptr);
  Tensor forward(const Tensor& x) override { return module_->forward(x); }
  nn::Module& module() { return *module_; }

 private:
  std::shared_ptr<nn::Module> module_;
  ProcessGroup* pg_;
};

}  // namespace tessera::dist
