#pragma once
// How a batched matmul maps onto one strided-batched cuBLAS(Lt) GEMM (host-only planning, tested
// without a GPU by replaying plans through a reference column-major GEMM).
//
// tessera's out[b] = a[b] @ b[b] (row-major, out contiguous) is cuBLAS's column-major
// C = op(A) op(B) with C = out^T, A = tessera's b and B = tessera's a. An operand whose strides
// neither transposition describes (no unit stride, or a leading dimension too small) is copied
// contiguous first: copy_a / copy_b name tessera's a / b.
#include <cstdint>

namespace tessera::cuda {

struct GemmPlan {
  int64_t m = 0, n = 0, k = 0, batch = 1;
  bool trans_a = false, trans_b = false;  // op(X) = X^T where set
  int64_t lda = 1, ldb = 1, ldc = 1;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;  // elements between batches (0: one matrix for all)
  bool copy_a = false, copy_b = false;               // tessera's a / b must be made contiguous first
};

// a: [B, M, K] and b: [B, K, N] sizes and element strides (a stride-0 batch broadcasts).
GemmPlan plan_gemm(const int64_t a_sizes[3], const int64_t a_strides[3], const int64_t b_sizes[3],
                   const int64_t b_strides[3]);

}  // namespace tessera::cuda
