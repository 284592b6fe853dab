#include "tessera/dist/launch.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>

#include "tessera/core/error.h"
#include "tessera/dist/store.h"

namespace tessera::dist {

namespace {

volatile sig_atomic_t g_signal = 0;
void remember(int sig) { g_signal = sig; }

int status_code(int st) { return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 1; }

}  // namespace

int launch(const std::vector<std::string>& argv, const LaunchOptions& o) {
  TS_CHECK_VALUE(!argv.empty() && !argv[0].empty(), "tessera run: no program to run");
  TS_CHECK_VALUE(o.nproc_per_node >= 1 && o.nnodes >= 1 && o.node_rank >= 0 && o.node_rank < o.nnodes,
                 "tessera run: --nproc-per-node ", o.nproc_per_node, ", --nnodes ", o.nnodes, " and --node-rank ",
                 o.node_rank, " do not fit (at least one process, node_rank below nnodes)");
  TS_CHECK_VALUE(o.master_port >= 0 && o.master_port < 65536, "tessera run: --master-port ", o.master_port,
                 " is out of range");
  TS_CHECK_VALUE(o.master_port != 0 || o.nnodes == 1, "tessera run: --master-port 0 (a free port) works on one "
                 "node only: the other nodes must know the port");
  // With --master-port 0 the launcher serves the rendezvous itself on a port it holds from the
  // start (no other process can take it between choosing and listening); rank 0 then only
  // connects to it (TESSERA_DIST_STORE_EXTERNAL).
  std::unique_ptr<TcpStore> store;
  if (o.master_port == 0) store = std::make_unique<TcpStore>(o.master_addr, 0, true, std::chrono::seconds(30));
  int port = store ? store->port() : o.master_port;
  int world = o.nproc_per_node * o.nnodes;
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  struct sigaction sa {}, old_int {}, old_term {};
  sa.sa_handler = remember;
  sigemptyset(&sa.sa_mask);
  g_signal = 0;
  ::sigaction(SIGINT, &sa, &old_int);
  ::sigaction(SIGTERM, &sa, &old_term);
  std::fflush(nullptr);

  std::vector<pid_t> pids;
  for (int i = 0; i < o.nproc_per_node; ++i) {
    pid_t pid = ::fork();
    if (pid == 0) {
      ::sigaction(SIGINT, &old_int, nullptr);
      ::sigaction(SIGTERM, &old_term, nullptr);
      int rank = o.node_rank * o.nproc_per_node + i;
      ::setenv("MASTER_ADDR", o.master_addr.c_str(), 1);
      ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(world).c_str(), 1);
      ::setenv("RANK", std::to_string(rank).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(i).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(o.nproc_per_node).c_str(), 1);
      ::setenv("GROUP_RANK", std::to_string(o.node_rank).c_str(), 1);
      if (store) ::setenv("TESSERA_DIST_STORE_EXTERNAL", "1", 1);
      ::execvp(args[0], args.data());
      std::fprintf(stderr, "tessera run: cannot start '%s': %s\n", args[0], std::strerror(errno));
      ::_exit(127);
    }
    if (pid < 0) {
      for (pid_t p : pids) ::kill(p, SIGKILL);
      for (pid_t p : pids) ::waitpid(p, nullptr, 0);
      ::sigaction(SIGINT, &old_int, nullptr);
      ::sigaction(SIGTERM, &old_term, nullptr);
      throw Error(detail::str("tessera run: fork: ", std::strerror(errno)));
    }
    pids.push_back(pid);
  }

  using Clock = std::chrono::steady_clock;
  std::vector<bool> running(pids.size(), true);
  size_t left = pids.size();
  int result = 0, forwarded = 0;
  bool stopping = false, killed = false;
  Clock::time_point stop_at{};
  auto signal_all = [&](int sig) {
    for (size_t i = 0; i < pids.size(); ++i)
      if (running[i]) ::kill(pids[i], sig);
  };
  while (left > 0) {
    if (g_signal != 0 && g_signal != forwarded) {  // Ctrl-C or a SIGTERM: to every worker
      forwarded = g_signal;
      signal_all(forwarded);
    }
    int st = 0;
    pid_t pid = ::waitpid(-1, &st, WNOHANG);
    if (pid > 0) {
      for (size_t i = 0; i < pids.size(); ++i) {
        if (pids[i] != pid || !running[i]) continue;
        running[i] = false;
        --left;
        int code = status_code(st);
        if (code != 0 && !stopping) {
          result = code;
          stopping = true;
          stop_at = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.grace_seconds));
          std::fprintf(stderr, "tessera run: rank %d (pid %d) %s %d%s\n", o.node_rank * o.nproc_per_node + int(i),
                       int(pid), WIFSIGNALED(st) ? "was killed by signal" : "exited with status",
                       WIFSIGNALED(st) ? WTERMSIG(st) : code,
                       left == 0 ? "" : left == 1 ? "; ending the other process" : "; ending the other processes");
          signal_all(SIGTERM);
        }
      }
      continue;
    }
    if (pid < 0 && errno != EINTR) break;  // no children left
    if (stopping && !killed && Clock::now() >= stop_at) {
      signal_all(SIGKILL);
      killed = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  if (result == 0 && forwarded != 0) result = 128 + forwarded;
  return result;
}

}  // namespace tessera::dist
