#include "tessera/dist/process_group.h"

#include <cstring>

#include "tessera/autograd/autograd.h"
#include "tessera/core/error.h"
#include "tessera/ops/ops.h"

#ifdef TESSERA_WITH_MPI
#include <mpi.h>
#endif
#ifdef TESSERA_WITH_GLOO
#include "tessera/dist/gloo_group.h"
#endif
#include <cstdlib>

namespace tessera::dist {

namespace {
std::shared_ptr<ProcessGroup> default_group;

#ifdef TESSERA_WITH_MPI
MPI_Datatype mpi_type(DType t) {
  switch (t) {
    case DType::Float32: return MPI_FLOAT;
    case DType::Float64: return MPI_DOUBLE;
    case DType::Int32: return MPI_INT32_T;
    case DType::Int64: return MPI_INT64_T;
    case DType::UInt8:
    case DType::Bool: return MPI_UINT8_T;
    case DType::Int8: return MPI_INT8_T;
    default: break;
  }
  throw DTypeError(detail::str("dist: ", t, " tensors are not supported by the MPI backend (use float32/64 or ints)"));
}

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw Error(detail::str("dist: ", what, " failed: ", std::string(msg, size_t(len))));
}

void check_tensor(const Tensor& t, const char* op) {
  TS_CHECK_DEVICE(t.device().is_cpu(), "dist.", op, ": the MPI backend takes CPU tensors, got one on ", t.device());
  TS_CHECK_VALUE(t.is_contiguous(), "dist.", op, ": expected a contiguous tensor (call .contiguous())");
}

class MpiGroup : public ProcessGroup {
 public:
  MpiGroup() {
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
      int provided = 0;
      check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread");
      owns_ = true;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  ~MpiGroup() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (owns_ && !finalized) MPI_Finalize();
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "mpi"; }

  void all_reduce(Tensor& t, ReduceOp op) override {
    check_tensor(t, "all_reduce");
    TS_CHECK_DTYPE(op != ReduceOp::Avg || t.is_floating_point(), "dist.all_reduce: Avg needs a floating-point "
                   "tensor, got ", t.dtype());
    MPI_Op m = op == ReduceOp::Max ? MPI_MAX : op == ReduceOp::Min ? MPI_MIN : MPI_SUM;
    TS_CHECK_DTYPE(t.dtype() != DType::Bool || op == ReduceOp::Max || op == ReduceOp::Min,
                   "dist.all_reduce: bool tensors reduce with Max or Min only");
    check(MPI_Allreduce(MPI_IN_PLACE, t.data_ptr(), int(t.numel()), mpi_type(t.dtype()), m, MPI_COMM_WORLD),
          "all_reduce");
    if (op == ReduceOp::Avg) {
      ops::binary_(BinaryOp::Div, t, scalar_tensor(double(size_), t.dtype()));
    }
    t.bump_version();
  }
  void broadcast(Tensor& t, int root) override {
    check_tensor(t, "broadcast");
    TS_CHECK_INDEX(root >= 0 && root < size_, "dist.broadcast: root ", root, " is not a rank of a group of ", size_);
    check(MPI_Bcast(t.data_ptr(), int(t.numel()), mpi_type(t.dtype()), root, MPI_COMM_WORLD), "broadcast");
    t.bump_version();
  }
  std::vector<Tensor> all_gather(const Tensor& t) override {
    check_tensor(t, "all_gather");
    Shape s = t.shape();
    s.insert(s.begin(), size_);
    Tensor out = empty(s, {t.dtype()});
    check(MPI_Allgather(t.data_ptr(), int(t.numel()), mpi_type(t.dtype()), out.data_ptr(), int(t.numel()),
                        mpi_type(t.dtype()), MPI_COMM_WORLD),
          "all_gather");
    return ops::unbind(out, 0);
  }
  void barrier() override { check(MPI_Barrier(MPI_COMM_WORLD), "barrier"); }
  void send(const Tensor& t, int dst, int tag) override {
    check_tensor(t, "send");
    TS_CHECK_INDEX(dst >= 0 && dst < size_ && dst != rank_, "dist.send: destination ", dst, " is not another rank of "
                   "a group of ", size_);
    check(MPI_Send(t.data_ptr(), int(t.numel()), mpi_type(t.dtype()), dst, tag, MPI_COMM_WORLD), "send");
  }
  void recv(Tensor& t, int src, int tag) override {
    check_tensor(t, "recv");
    TS_CHECK_INDEX(src >= 0 && src < size_ && src != rank_, "dist.recv: source ", src, " is not another rank of a "
                   "group of ", size_);
    check(MPI_Recv(t.data_ptr(), int(t.numel()), mpi_type(t.dtype()), src, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
          "recv");
    t.bump_version();
  }

 private:
  int rank_ = 0, size_ = 1;
  bool owns_ = false;
};
#endif
}  // namespace

bool built_with_mpi() {
#ifdef TESSERA_WITH_MPI
  return true;
#else
  return false;
#endif
}

bool built_with_gloo() {
#ifdef TESSERA_WITH_GLOO
  return true;
#else
  return false;
#endif
}

namespace {
#ifdef TESSERA_WITH_GLOO
int env_int(const char* name, int given, const char* what) {
  if (given >= 0) return given;
  const char* v = std::getenv(name);
  TS_CHECK_VALUE(v && *v, "init_process_group: ", what, " is not given and ", name, " is not set");
  size_t used = 0;
  int n = -1;
  try {
    n = std::stoi(v, &used);
  } catch (const std::exception&) {  // (not a number, or out of range: n stays -1)
  }
  TS_CHECK_VALUE(used == std::strlen(v) && n >= 0, "init_process_group: ", name, "='", v,
                 "' is not a non-negative integer");
  return n;
}

std::string env_str(const char* name) {
  const char* v = std::getenv(name);
  TS_CHECK_VALUE(v && *v, "init_process_group: init_method env:// needs ", name, " (torchrun and `tessera run` "
                 "set it)");
  return v;
}

std::shared_ptr<ProcessGroup> gloo_group(const std::string& init_method, int world_size, int rank,
                                         std::chrono::milliseconds timeout) {
  world_size = env_int("WORLD_SIZE", world_size, "world_size");
  rank = env_int("RANK", rank, "rank");
  TS_CHECK_VALUE(rank < world_size, "init_process_group: rank ", rank, " is not in a world of ", world_size);
  std::shared_ptr<Store> store;
  std::string host;
  if (init_method.rfind("file://", 0) == 0) {
    store = std::make_shared<FileStore>(init_method.substr(7), timeout);
  } else {
    int port = 0;
    if (init_method.empty() || init_method == "env://") {
      host = env_str("MASTER_ADDR");
      port = env_int("MASTER_PORT", -1, "the port");
    } else {
      TS_CHECK_VALUE(init_method.rfind("tcp://", 0) == 0, "init_process_group: init_method '", init_method,
                     "' is none of env://, tcp://host:port and file:///folder");
      std::string rest = init_method.substr(6);
      size_t colon = rest.rfind(':');
      TS_CHECK_VALUE(colon != std::string::npos && colon > 0, "init_process_group: '", init_method,
                     "' needs host:port");
      host = rest.substr(0, colon);
      try {
        port = std::stoi(rest.substr(colon + 1));
      } catch (const std::exception&) {
        throw ValueError(detail::str("init_process_group: '", init_method, "' has no port number"));
      }
    }
    // (rank 0 serves the rendezvous, unless the launcher already does: `tessera run --master-port 0`)
    const char* external = std::getenv("TESSERA_DIST_STORE_EXTERNAL");
    bool serve = rank == 0 && !(external && std::string(external) == "1");
    store = std::make_shared<TcpStore>(host, port, serve, timeout);
  }
  // Connections between the processes use the rendezvous host's interface when that is the
  // loopback (every process on this machine), else the machine's name.
  std::string iface = host.rfind("127.", 0) == 0 || host == "localhost" ? "127.0.0.1" : "";
  return std::make_shared<GlooGroup>(store, rank, world_size, timeout, iface);
}
#endif
}  // namespace

std::shared_ptr<ProcessGroup> init_process_group(const std::string& backend, const std::string& init_method,
                                                 int world_size, int rank, std::chrono::milliseconds timeout) {
  TS_CHECK_VALUE(backend == "mpi" || backend == "gloo", "init_process_group: unknown backend '", backend,
                 "' (this build knows 'mpi' and 'gloo'; NCCL comes with the CUDA kernels)");
  if (default_group) {
    TS_CHECK_VALUE(default_group->backend() == backend, "init_process_group: the default group is already '",
                   default_group->backend(), "' (destroy_process_group first)");
    return default_group;
  }
  if (backend == "gloo") {
#ifdef TESSERA_WITH_GLOO
    default_group = gloo_group(init_method, world_size, rank, timeout);
    return default_group;
#else
    throw Error("init_process_group: tessera was built without gloo (install libgloo-dev and reconfigure)");
#endif
  }
#ifdef TESSERA_WITH_MPI
  default_group = std::make_shared<MpiGroup>();
  return default_group;
#else
  throw Error("init_process_group: tessera was built without MPI (install libopenmpi-dev and reconfigure)");
#endif
}

void destroy_process_group() { default_group.reset(); }

void broadcast_in_place(ProcessGroup& pg, const Tensor& t, int root) {
  autograd::NoGradGuard ng;
  Tensor v = t;
  if (v.is_contiguous()) {
    pg.broadcast(v, root);
    return;
  }
  Tensor c = v.contiguous();
  pg.broadcast(c, root);
  v.copy_(c);
}

bool is_initialized() { return default_group != nullptr; }

ProcessGroup& group() {
  TS_CHECK(default_group != nullptr, "dist: no process group; call init_process_group first");
  return *default_group;
}
int get_rank() { return default_group ? default_group->rank() : 0; }
int get_world_size() { return default_group ? default_group->size() : 1; }
void all_reduce(Tensor& t, ReduceOp op) { group().all_reduce(t, op); }
void broadcast(Tensor& t, int root) { group().broadcast(t, root); }
void barrier() { group().barrier(); }
void send(const Tensor& t, int dst, int tag) { group().send(t, dst, tag); }
void recv(Tensor& t, int src, int tag) { group().recv(t, src, tag); }

// Every rank's inputs stacked and reduced, then this rank's part copied out: one all_reduce.
void ProcessGroup::reduce_scatter(Tensor& out, const std::vector<Tensor>& inputs, ReduceOp op) {
  TS_CHECK_VALUE(int(inputs.size()) == size(), "dist.reduce_scatter: ", inputs.size(), " inputs for a group of ",
                 size(), " (one per rank)");
  for (const Tensor& t : inputs)
    TS_CHECK_SHAPE(t.shape() == out.shape() && t.dtype() == out.dtype(), "dist.reduce_scatter: an input of ",
                   t.shape(), " ", t.dtype(), " for an output of ", out.shape(), " ", out.dtype());
  TS_CHECK_VALUE(out.is_contiguous() && out.device().is_cpu(), "dist.reduce_scatter: the output must be a "
                 "contiguous CPU tensor");
  Tensor all = ops::stack(inputs, 0).contiguous();
  all_reduce(all, op);
  autograd::NoGradGuard ng;
  out.copy_(all.select(0, rank()));
}

}  // namespace tessera::dist
