#include "tessera/dist/process_group.h"

#include <cstring>

#include "tessera/core/error.h"
#include "tessera/ops/ops.h"

#ifdef TESSERA_WITH_MPI
#include <mpi.h>
#endif

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

std::shared_ptr<ProcessGroup> init_process_group(const std::string& backend) {
  TS_CHECK_VALUE(backend == "mpi", "init_process_group: unknown backend '", backend,
                 "' (this build has 'mpi'; NCCL comes with the CUDA kernels)");
  if (default_group) return default_group;
#ifdef TESSERA_WITH_MPI
  default_group = std::make_shared<MpiGroup>();
  return default_group;
#else
  throw Error("init_process_group: tessera was built without MPI (install libopenmpi-dev and reconfigure)");
#endif
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

}  // namespace tessera::dist
