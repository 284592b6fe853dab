#pragma once
// Collective communication between the processes of a job (torch.distributed's vocabulary).
// The MPI backend runs CPU tensors over the processes `mpirun -np N program` starts (a program
// started without mpirun is a group of one); the gloo backend over TCP between processes that
// meet at a rendezvous (torchrun's environment variables, a tcp:// address or a shared folder).
//
//   auto pg = dist::init_process_group("mpi");
//   dist::all_reduce(grad, dist::ReduceOp::Avg);
#include <chrono>
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
  // Point to point: send blocks until t is sent (over gloo: until the receiver has taken it, so
  // receive in the order of the sends; the group's timeout bounds the wait); recv fills t (the
  // sender's shape and dtype) from rank src. tag pairs a send with its recv.
  virtual void send(const Tensor& t, int dst, int tag = 0) = 0;
  virtual void recv(Tensor& t, int src, int tag = 0) = 0;
  // out becomes the reduction over ranks of their inputs[rank()] (inputs: one tensor per rank,
  // each of out's shape and dtype), as torch.distributed.reduce_scatter.
  virtual void reduce_scatter(Tensor& out, const std::vector<Tensor>& inputs, ReduceOp op = ReduceOp::Sum);
};

// Starts (once per process) and returns the default group, as torch.distributed's:
//  - "mpi": the processes mpirun started (init_method, world_size and rank are not used);
//  - "gloo": TCP between processes that meet at init_method: "env://" (or empty: MASTER_ADDR,
//    MASTER_PORT, RANK and WORLD_SIZE as torchrun and `tessera run` set them),
//    "tcp://host:port" (rank 0 serves the rendezvous there) or "file:///folder" (a folder every
//    process sees); world_size and rank (-1: from the environment) say who this process is.
// Any process that is not there within timeout makes the others throw, naming what is missing.
// Throws naming what is missing when tessera was built without MPI or gloo.
std::shared_ptr<ProcessGroup> init_process_group(const std::string& backend = "mpi",
                                                 const std::string& init_method = "", int world_size = -1,
                                                 int rank = -1,
                                                 std::chrono::milliseconds timeout = std::chrono::minutes(30));
// Ends the default group (a later init_process_group starts a new one).
void destroy_process_group();
bool is_initialized();
// The default group (init_process_group first).
ProcessGroup& group();
int get_rank();        // 0 when no group was started
int get_world_size();  // 1 when no group was started
bool built_with_mpi();
bool built_with_gloo();

// t (any layout; its own storage, views of it follow) becomes root's t on every rank of pg.
void broadcast_in_place(ProcessGroup& pg, const Tensor& t, int root);

// Shorthands on the default group.
void all_reduce(Tensor& t, ReduceOp op = ReduceOp::Sum);
void broadcast(Tensor& t, int root = 0);
void barrier();
void send(const Tensor& t, int dst, int tag = 0);
void recv(Tensor& t, int src, int tag = 0);

}  // namespace tessera::dist
