// examples/data_parallel.cpp: data-parallel training over MPI. Run with
//   OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpiexec -n 2 build/examples/example_data_parallel
// (the two variables only when running as root). Each process trains on its shard of every
// epoch; gradients are averaged, so both replicas stay identical.
#include <cstdio>

#include "tessera/data/loader.h"
#include "tessera/dist/ddp.h"
#include "tessera/tessera.h"
#include "tessera/train/trainer.h"
#include "tessera/zoo/zoo.h"

using namespace tessera;

int main() {
  dist::init_process_group("mpi");
  int rank = dist::get_rank(), world = dist::get_world_size();

  manual_seed(0);  // the same data on every rank; the loader picks this rank's shard
  Tensor x = randn({1024, 2}), y = (x.select(1, 0) * x.select(1, 1) > 0.0).to(DType::Int64);
  auto data = std::make_shared<data::TensorDataset>(x, y);
  data::DataLoader loader(data, {.batch_size = 32, .shuffle = true, .seed = 1, .num_workers = 1,
                                 .num_replicas = world, .rank = rank});

  auto model = std::make_shared<dist::DistributedDataParallel>(zoo::mlp(2, {32, 32}, 2));
  optim::SGD opt(model->parameters(), {.lr = 0.1, .momentum = 0.9});
  train::History h = train::fit(*model, loader, {.epochs = 10, .optimizer = &opt});

  // Metrics are per shard; average them for the whole picture.
  Tensor acc = scalar_tensor(h.epochs.back().at("accuracy"), DType::Float64).reshape({1}).contiguous();
  dist::all_reduce(acc, dist::ReduceOp::Avg);
  if (rank == 0)
    std::printf("%d processes, %lld examples each per epoch: training accuracy %.3f\n", world,
                (long long)loader.examples(), acc.item<double>());
  return acc.item<double>() > 0.9 ? 0 : 1;
}
