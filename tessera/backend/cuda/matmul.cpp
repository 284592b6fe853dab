// Batched matmul on CUDA through cuBLASLt, planned by matmul_plan.h: float32 (TF32 only when
// set_matmul_allow_tf32), float16 and bfloat16 with float32 accumulation, float64. Integer
// dtypes have their own kernel (matmul_int.cu). Descriptors and the heuristic's algorithm are
// cached per shape, layout and alignment.
#include <cublasLt.h>

#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "tessera/backend/cuda/common.cuh"
#include "tessera/backend/cuda/cuda_backend.h"
#include "tessera/backend/cuda/matmul_plan.h"

namespace tessera::cuda {

void matmul_integer(const Tensor& out, const Tensor& a, const Tensor& b);  // matmul_int.cu

namespace {
const char* status_name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "unknown cuBLAS status";
  }
}

struct Context {
  const Tensor& out;
  const Tensor& a;
  const Tensor& b;
};
void check_blas(cublasStatus_t s, const char* what, const Context& c) {
  if (s == CUBLAS_STATUS_SUCCESS) return;
  std::string msg = detail::str("matmul: ", what, " failed: ", status_name(s), " [", describe(c.a), " @ ",
                                describe(c.b), "]");
  if (s == CUBLAS_STATUS_ALLOC_FAILED) throw OutOfMemoryError(msg);
  throw DeviceError(msg);
}

constexpr size_t kWorkspace = size_t(32) << 20;

// One device's handle and the prepared GEMMs.
struct Prepared {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t la = nullptr, lb = nullptr, lc = nullptr;
  cublasLtMatmulAlgo_t algo{};
  ~Prepared() {
    if (op) cublasLtMatmulDescDestroy(op);
    for (auto l : {la, lb, lc})
      if (l) cublasLtMatrixLayoutDestroy(l);
  }
};
struct DeviceState {
  cublasLtHandle_t handle = nullptr;
  std::map<std::tuple<int, int, bool, bool, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                      int64_t, int64_t, uint32_t, uint32_t, uint32_t>,
           std::unique_ptr<Prepared>>
      cache;
};
std::mutex g_mutex;
DeviceState& state(int device, const Context& c) {
  // Never destroyed: cuBLASLt must not be called after the CUDA runtime shut down at exit.
  static auto* states = new std::map<int, DeviceState>;
  DeviceState& s = (*states)[device];
  if (!s.handle) check_blas(cublasLtCreate(&s.handle), "cublasLtCreate", c);
  return s;
}

uint32_t alignment(const void* p) {
  uintptr_t v = reinterpret_cast<uintptr_t>(p);
  uint32_t a = 256;
  while (a > 1 && v % a) a /= 2;
  return a;
}

void layout(cublasLtMatrixLayout_t* l, cudaDataType_t t, int64_t rows, int64_t cols, int64_t ld, int64_t batch,
            int64_t stride, const Context& c) {
  check_blas(cublasLtMatrixLayoutCreate(l, t, uint64_t(rows), uint64_t(cols), ld), "cublasLtMatrixLayoutCreate", c);
  int32_t count = int32_t(batch);
  check_blas(cublasLtMatrixLayoutSetAttribute(*l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)),
             "cublasLtMatrixLayoutSetAttribute", c);
  check_blas(cublasLtMatrixLayoutSetAttribute(*l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)),
             "cublasLtMatrixLayoutSetAttribute", c);
}
}  // namespace

void CudaBackend::matmul(const Tensor& out, const Tensor& a_in, const Tensor& b_in) {
  if (out.numel() == 0) return;
  if (a_in.size(2) == 0) {
    fill(out, 0);
    return;
  }
  if (!is_floating(out.dtype())) {
    TS_CHECK_DTYPE(out.dtype() != DType::Bool, "matmul: not implemented for bool tensors");
    return matmul_integer(out, a_in, b_in);
  }
  Tensor a = a_in, b = b_in;
  Context ctx{out, a_in, b_in};
  GemmPlan p = plan_gemm(a.sizes().data(), a.strides().data(), b.sizes().data(), b.strides().data());
  if (p.copy_a || p.copy_b) {  // a layout no transposition describes: copy it contiguous
    if (p.copy_a) copy(a = new_tensor(a.shape(), a.dtype(), a), a_in);
    if (p.copy_b) copy(b = new_tensor(b.shape(), b.dtype(), b), b_in);
    p = plan_gemm(a.sizes().data(), a.strides().data(), b.sizes().data(), b.strides().data());
  }
  TS_CHECK_VALUE(p.batch <= INT32_MAX, "matmul: a batch of ", p.batch, " matrices is too large for cuBLASLt");
  cudaDataType_t dt;
  cublasComputeType_t compute;
  cudaDataType_t scale;
  switch (out.dtype()) {
    case DType::Float64: dt = CUDA_R_64F, compute = CUBLAS_COMPUTE_64F, scale = CUDA_R_64F; break;
    case DType::Float16: dt = CUDA_R_16F, compute = CUBLAS_COMPUTE_32F, scale = CUDA_R_32F; break;
    case DType::BFloat16: dt = CUDA_R_16BF, compute = CUBLAS_COMPUTE_32F, scale = CUDA_R_32F; break;
    default:
      dt = CUDA_R_32F, scale = CUDA_R_32F;
      compute = matmul_allow_tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  }
  // cuBLAS's A is tessera's b, its B tessera's a (see matmul_plan.h).
  const void* A = b.data_ptr();
  const void* B = a.data_ptr();
  void* C = out.data_ptr();
  uint32_t al_a = alignment(A), al_b = alignment(B), al_c = alignment(C);
  OpDevice device(out);
  int dev = out.device().index;
  std::lock_guard<std::mutex> lock(g_mutex);
  DeviceState& s = state(dev, ctx);
  auto key = std::make_tuple(int(dt), int(compute), p.trans_a, p.trans_b, p.m, p.n, p.k, p.batch, p.lda, p.ldb, p.ldc,
                             p.stride_a, p.stride_b, p.stride_c, al_a, al_b, al_c);
  std::unique_ptr<Prepared>& prep = s.cache[key];
  if (!prep) {
    auto fresh = std::make_unique<Prepared>();
    check_blas(cublasLtMatmulDescCreate(&fresh->op, compute, scale), "cublasLtMatmulDescCreate", ctx);
    cublasOperation_t ta = p.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, tb = p.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    check_blas(cublasLtMatmulDescSetAttribute(fresh->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)),
               "cublasLtMatmulDescSetAttribute", ctx);
    check_blas(cublasLtMatmulDescSetAttribute(fresh->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)),
               "cublasLtMatmulDescSetAttribute", ctx);
    layout(&fresh->la, dt, p.trans_a ? p.k : p.m, p.trans_a ? p.m : p.k, p.lda, p.batch, p.stride_a, ctx);
    layout(&fresh->lb, dt, p.trans_b ? p.n : p.k, p.trans_b ? p.k : p.n, p.ldb, p.batch, p.stride_b, ctx);
    layout(&fresh->lc, dt, p.m, p.n, p.ldc, p.batch, p.stride_c, ctx);
    cublasLtMatmulPreference_t pref = nullptr;
    check_blas(cublasLtMatmulPreferenceCreate(&pref), "cublasLtMatmulPreferenceCreate", ctx);
    size_t ws = kWorkspace;
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a, sizeof(al_a));
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b, sizeof(al_b));
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_c, sizeof(al_c));
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_c, sizeof(al_c));
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(s.handle, fresh->op, fresh->la, fresh->lb, fresh->lc, fresh->lc,
                                                       pref, 1, &result, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    check_blas(st, "cublasLtMatmulAlgoGetHeuristic", ctx);
    TS_CHECK_DTYPE(found > 0, "matmul: cuBLASLt has no algorithm for ", describe(a_in), " @ ", describe(b_in));
    fresh->algo = result.algo;
    prep = std::move(fresh);
  }
  Tensor workspace = scratch(out, kWorkspace);
  double one_d = 1, zero_d = 0;
  float one_f = 1, zero_f = 0;
  const void* alpha = scale == CUDA_R_64F ? static_cast<const void*>(&one_d) : &one_f;
  const void* beta = scale == CUDA_R_64F ? static_cast<const void*>(&zero_d) : &zero_f;
  check_blas(cublasLtMatmul(s.handle, prep->op, alpha, A, prep->la, B, prep->lb, beta, C, prep->lc, C, prep->lc,
                            &prep->algo, workspace.data_ptr(), kWorkspace, stream_of(out)),
             "cublasLtMatmul", ctx);
}

}  // namespace tessera::cuda
