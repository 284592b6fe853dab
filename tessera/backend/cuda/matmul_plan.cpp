#include "tessera/backend/cuda/matmul_plan.h"

#include <algorithm>

namespace tessera::cuda {

namespace {
// X [R, C] with strides (sr, sc) presented as op(Y) = X^T (C x R) in column-major terms.
struct Operand {
  bool ok = false, trans = false;
  int64_t ld = 1;
};
Operand transposed_view(int64_t R, int64_t C, int64_t sr, int64_t sc) {
  Operand o;
  // Y = X^T directly: Y(i, j) = X(j, i) at i * sc + j * sr, so sc must be 1 and ld = sr.
  if (sc == 1 || C == 1) {
    int64_t ld = R == 1 ? std::max<int64_t>(1, C) : sr;
    if (ld >= std::max<int64_t>(1, C)) return {true, false, ld};
  }
  // Y = X (op = transpose): Y(i, j) = X(i, j) at i * sr + j * sc, so sr must be 1 and ld = sc.
  if (sr == 1 || R == 1) {
    int64_t ld = C == 1 ? std::max<int64_t>(1, R) : sc;
    if (ld >= std::max<int64_t>(1, R)) return {true, true, ld};
  }
  return o;
}
}  // namespace

GemmPlan plan_gemm(const int64_t a_sizes[3], const int64_t a_strides[3], const int64_t b_sizes[3],
                   const int64_t b_strides[3]) {
  GemmPlan p;
  int64_t B = a_sizes[0], M = a_sizes[1], K = a_sizes[2], N = b_sizes[2];
  p.m = N;
  p.n = M;
  p.k = K;
  p.batch = B;
  Operand A = transposed_view(K, N, b_strides[1], b_strides[2]);  // cuBLAS's A: tessera's b
  Operand Bv = transposed_view(M, K, a_strides[1], a_strides[2]);  // cuBLAS's B: tessera's a
  p.copy_b = !A.ok;
  p.copy_a = !Bv.ok;
  p.trans_a = A.trans;
  p.lda = A.ld;
  p.trans_b = Bv.trans;
  p.ldb = Bv.ld;
  p.ldc = std::max<int64_t>(1, N);
  p.stride_a = B > 1 ? b_strides[0] : 0;
  p.stride_b = B > 1 ? a_strides[0] : 0;
  p.stride_c = M * N;
  // A negative batch stride cannot be described either.
  if (p.stride_a < 0) p.copy_b = true;
  if (p.stride_b < 0) p.copy_a = true;
  return p;
}

}  // namespace tessera::cuda
