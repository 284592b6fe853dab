#pragma once
// Collective communication between the processes of a job (torch.distributed's vocabulary).
// The MPI backend runs CPU tensors over the processes `mpirun -np N program` starts; a program
// started without mpirun is a group of one.
//
//   auto pg = dist::init_process_group("mpi");
//   dist::all_reduce(grad, dist::ReduceOp::Avg);
#include <memory>
#include <string>
#include <vector>

#include "tessera/core/tensor.h"

namespace tessera::dist {

enum class ReduceOp { Sum, Avg, Max, Min };

class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend() const = 0;
  // In place on every rank: t becomes the reduction of every rank's t (same shape and dtype
  // everywhere; contiguous CPU tensors).
  virtual void all_reduce(Tensor& t, ReduceOp op = ReduceOp::Sum) = 0;
  // t becomes root's t on every rank.
  virtual void broadcast(Tensor& t, int root = 0) = 0;
  // Every rank's t, in rank order.
  virtual std::vector<Tensor> all_gather(const Tensor& t) = 0;
  virtual void barrier() = 0;
};

// Starts (once per process) and returns the default group. backend: "mpi". Throws naming what is
// missing when tessera was built without MPI.
std::shared_ptr<ProcessGroup> init_process_group(const std::string& backend = "mpi");
bool is_initialized();
// The default group (init_process_group first).
ProcessGroup& group();
int get_rank();        // 0 when no group was started
int get_world_size();  // 1 when no group was started
bool built_with_mpi();

// Shorthands on the default group.
void all_reduce(Tensor& t, ReduceOp op = ReduceOp::Sum);
void broadcast(Tensor& t, int root = 0);
void barrier();

}  // namespace tessera::dist
