#pragma once
// Data-parallel training (torch.nn.parallel.DistributedDataParallel): every process holds a
// replica of the model and trains on its own shard of each batch; the gradients are averaged
// across processes during backward, so every replica takes the same optimizer step.
//
//   dist::init_process_group("mpi");
//   auto model = std::make_shared<dist::DistributedDataParallel>(zoo::lenet5(1, 10));
//   // a DataLoader with {.num_replicas = dist::get_world_size(), .rank = dist::get_rank()}
//   train::fit(*model, loader, {...});          // mpirun -np 4 ./train
#include <atomic>
#include <functional>
#include <memory>

#include "tessera/dist/process_group.h"
#include "tessera/nn/module.h"

namespace tessera::dist {

// Whether backward averages gradients now (off inside no_sync: gradient accumulation), and, with
// find_unused_parameters, what finds the parameters a forward's outputs do not depend on.
struct GradSync {
  std::atomic<bool> enabled{true};
  // Called after each forward with its outputs (set by average_gradients_in_backward when
  // unused parameters are looked for; empty otherwise).
  std::function<void(const std::vector<Tensor>&)> prepare_for_backward;
};
// Puts on each parameter that requires grad a hook that makes its accumulated gradient the
// average over pg of every rank's accumulated gradient (what DistributedDataParallel does;
// Python's wrapper uses it too). While the returned switch is off, gradients stay local and
// accumulate; the next backward with it on averages everything accumulated since.
// bucket_cap_mb > 0: gradients are gathered in buckets of about that size (parameters in reverse
// order, as backward produces them) and each full bucket is averaged on a communication thread
// while backward goes on (PyTorch's bucket_cap_mb, default 25); the last gradient of the
// backward waits for every bucket and writes the averages. Every parameter must then get a
// gradient in every synced backward (an error names the problem otherwise). 0: each gradient
// is averaged when it arrives, on the calling thread.
// find_unused_parameters (with buckets): after each forward, prepare_for_backward walks the
// graph from the outputs; parameters it does not reach count as ready with no gradient, and a
// parameter no rank used keeps its .grad as it was (PyTorch's find_unused_parameters).
std::shared_ptr<GradSync> average_gradients_in_backward(const std::vector<Tensor>& params, ProcessGroup& pg,
                                                        double bucket_cap_mb = 0, bool find_unused_parameters = false);
// Overwrites every rank's tensors (a state_dict's, CPU) with rank 0's, in place.
void broadcast_state(const nn::StateDict& state, ProcessGroup& pg);

class DistributedDataParallel : public nn::Module {
 public:
  // Copies rank 0's parameters and buffers to every rank, then averages each parameter's gradient
  // across the group as backward produces it (every rank must run the same model on a batch, so
  // the gradients arrive in the same order; every parameter must get a gradient).
  explicit DistributedDataParallel(std::shared_ptr<nn::Module> module, ProcessGroup* pg = nullptr,
                                   double bucket_cap_mb = 25, bool find_unused_parameters = false);
  Tensor forward(const Tensor& x) override;
  nn::Module& module() { return *module_; }
  // Gradient accumulation (PyTorch's no_sync()): while the guard lives, backward passes keep
  // their gradients local; the first backward after it averages all that was accumulated.
  //   { auto guard = ddp.no_sync(); loss1.backward(); }  loss2.backward();  opt.step();
  class NoSyncGuard {
   public:
    explicit NoSyncGuard(std::shared_ptr<GradSync> s) : s_(std::move(s)), was_(s_->enabled.exchange(false)) {}
    ~NoSyncGuard() { s_->enabled = was_; }
    NoSyncGuard(const NoSyncGuard&) = delete;
    NoSyncGuard& operator=(const NoSyncGuard&) = delete;

   private:
    std::shared_ptr<GradSync> s_;
    bool was_;
  };
  [[nodiscard]] NoSyncGuard no_sync() { return NoSyncGuard(sync_); }
  const std::shared_ptr<GradSync>& sync_switch() const { return sync_; }

 private:
  std::shared_ptr<nn::Module> module_;
  ProcessGroup* pg_;
  std::shared_ptr<GradSync> sync_;
};

}  // namespace tessera::dist
