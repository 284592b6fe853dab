#pragma once
// A sharded optimizer (ZeRO stage 1, torch.distributed.optim.ZeroRedundancyOptimizer): each rank
// keeps the optimizer state of about 1/N of the parameters (by size) and updates only those;
// after each step every parameter is broadcast from the rank that owns it, so all replicas stay
// equal and the result is the unsharded optimizer's. Gradients must already be the same on every
// rank (DistributedDataParallel).
//
//   dist::ZeroRedundancyOptimizer opt(ddp.parameters(), [](std::vector<Tensor> p) {
//     return std::make_shared<optim::Adam>(std::move(p), optim::AdamConfig{.lr = 1e-3});
//   });
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "tessera/dist/process_group.h"
#include "tessera/optim/optimizer.h"

namespace tessera::dist {

class ZeroRedundancyOptimizer {
 public:
  using Factory = std::function<std::shared_ptr<optim::Optimizer>(std::vector<Tensor>)>;
  // make builds the local optimizer over the parameters this rank owns (one parameter group).
  ZeroRedundancyOptimizer(std::vector<Tensor> params, const Factory& make, ProcessGroup* pg = nullptr);
  void step();
  void zero_grad(bool set_to_none = true);
  // The rank that owns parameter i (in the order given), and what this rank owns.
  int owner(size_t i) const { return owner_[i]; }
  const std::vector<size_t>& owned() const { return mine_; }
  // This rank's optimizer over the parameters it owns (null when it owns none).
  const std::shared_ptr<optim::Optimizer>& local() const { return local_; }
  // Gathers every rank's shard (a collective: every rank calls it); afterwards state_dict()
  // returns what the unsharded optimizer's state_dict() would, on every rank.
  void consolidate_state_dict();
  optim::OptimizerState state_dict() const;
  // A full state (an unsharded optimizer's, or state_dict()'s): each rank takes its shard.
  void load_state_dict(const optim::OptimizerState& s);

 private:
  std::vector<Tensor> params_;
  std::vector<int> owner_;
  std::vector<size_t> mine_;
  std::shared_ptr<optim::Optimizer> local_;
  ProcessGroup* pg_;
  std::optional<optim::OptimizerState> consolidated_;
};

}  // namespace tessera::dist
