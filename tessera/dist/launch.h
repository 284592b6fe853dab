#pragma once
// The launcher behind `tessera run` and `python -m tessera.distributed.run` (torchrun's
// behaviour): starts nproc_per_node copies of a program on this machine with the environment
// init_process_group("gloo") reads, forwards SIGINT/SIGTERM to them, and when one fails ends the
// others (SIGTERM, then SIGKILL after a grace period) and reports its status.
#include <string>
#include <vector>

namespace tessera::dist {

struct LaunchOptions {
  int nproc_per_node = 1;
  int nnodes = 1;
  int node_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;  // 0: a free port, the launcher serving the rendezvous (one node only)
  double grace_seconds = 5;  // between SIGTERM and SIGKILL for the others when one fails
};

// Runs argv (argv[0] found on PATH) as ranks node_rank * nproc_per_node + i with MASTER_ADDR,
// MASTER_PORT, WORLD_SIZE, RANK, LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK set; returns 0 when
// every one exits 0, else the first failure's exit status (128 + signal for a killed one).
int launch(const std::vector<std::string>& argv, const LaunchOptions& options = {});

}  // namespace tessera::dist
