// Batched matrix multiplication: oneDNN for float32 (and bfloat16 where the CPU has it), a
// blocked loop for the other dtypes.
#include <algorithm>

#include "tessera/backend/cpu/cpu_backend.h"
#include "tessera/backend/cpu/dnnl_util.h"
#include "tessera/backend/cpu/loops.h"

namespace tessera::cpu {

namespace {

// 3-D dims and element strides of a matmul operand for oneDNN; a stride-0 (broadcast) batch
// becomes a batch of 1, which oneDNN broadcasts.
void md_dims(const Tensor& t, dnnl::memory::dims& dims, dnnl::memory::dims& strides) {
  dims = {t.size(0), t.size(1), t.size(2)};
  strides = {t.stride(0), t.stride(1), t.stride(2)};
  if (t.size(0) > 1 && t.stride(0) == 0) {
    dims[0] = 1;
    strides[0] = t.size(1) * t.size(2);
  }
  for (int i = 1; i < 3; ++i)
    if (dims[i] == 1) strides[i] = 1;  // any stride is fine for a size-1 dim; oneDNN prefers 1
}

bool plain_matrix(const Tensor& t) {  // row- or column-major in the last two dims
  return t.stride(2) == 1 || t.stride(1) == 1 || t.size(1) == 1 || t.size(2) == 1;
}

struct MatmulPrim {
  dnnl::matmul prim;
  dnnl::memory::desc scratchpad;
};

// One operand as oneDNN sees it: dims, strides and the element offset of a piece's corner.
struct Operand {
  dnnl::memory::dims dims, strides;
  char* base;
  int64_t esize;
  bool broadcast_batch;
};

Operand operand(const Tensor& t, bool output) {
  Operand o;
  md_dims(t, o.dims, o.strides);
  if (output) o.strides = {t.stride(0), t.stride(1), t.stride(2)};  // oneDNN takes the output's own strides
  o.base = static_cast<char*>(t.data_ptr());
  o.esize = int64_t(t.element_size());
  o.broadcast_batch = o.dims[0] == 1 && t.size(0) > 1;
  return o;
}

// The piece of an operand at (batch b0, row r0, column c0) of size (bn, rn, cn).
std::pair<dnnl::memory::desc, void*> piece(const Operand& o, dnnl::memory::data_type dt, int64_t b0, int64_t r0,
                                           int64_t c0, int64_t bn, int64_t rn, int64_t cn) {
  if (o.broadcast_batch) b0 = 0, bn = 1;
  dnnl::memory::dims d{bn, rn, cn};
  char* p = o.base + (b0 * o.strides[0] + r0 * o.strides[1] + c0 * o.strides[2]) * o.esize;
  return {dnnl::memory::desc(d, dt, o.strides), p};
}

bool matmul_dnnl(const Tensor& out, const Tensor& a, const Tensor& b) {
  auto dt = dnnl_type(a.dtype());
  if (dt == dnnl::memory::data_type::undef) return false;
  Tensor A = plain_matrix(a) ? a : a.contiguous(), B = plain_matrix(b) ? b : b.contiguous();
  Operand oa = operand(A, false), ob = operand(B, false), oc = operand(out, true);
  int64_t Bn = out.size(0), Mn = out.size(1), Nn = out.size(2), Kn = A.size(2);
  double flops = 2.0 * double(Bn) * double(Mn) * double(Nn) * double(Kn);
  // Cut along the batch when it has enough entries; else along the rows of A or the columns of B,
  // whichever makes the pieces re-read less: row pieces each read all of B, column pieces all of
  // A (a linear layer's [64, 6400] x [6400, 512]: columns, or the 13 MB weight is read 4 times).
  int64_t want = dnnl_pieces(flops, std::max({Bn, Mn, Nn / 16}));
  bool cols_cheaper = Kn * Nn > Mn * Kn && Nn >= 16 * want;
  int axis = Bn >= want ? 0 : (!cols_cheaper && (Mn >= 8 * want || Mn >= Nn / 16)) ? 1 : 2;
  int64_t extent = axis == 0 ? Bn : axis == 1 ? Mn : Nn;
  Pieces pieces{extent, std::max<int64_t>(1, std::min(want, axis == 2 ? extent / 16 : extent))};
  static PrimitiveCache<MatmulPrim> cache;
  auto prim_for = [&](const dnnl::memory::desc& amd, const dnnl::memory::desc& bmd, const dnnl::memory::desc& cmd) {
    return cache.get(dnnl_key(amd) + dnnl_key(bmd) + dnnl_key(cmd), [&] {
      DnnlSerial serial;
      dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(amd, bmd, cmd), dnnl_attr(), dnnl_engine());
      return MatmulPrim{dnnl::matmul(pd), pd.scratchpad_desc()};
    });
  };
  auto run = [&](int64_t c) {
    int64_t lo = pieces.begin(c), n = pieces.size(c);
    int64_t b0 = axis == 0 ? lo : 0, bn = axis == 0 ? n : Bn;
    int64_t m0 = axis == 1 ? lo : 0, mn = axis == 1 ? n : Mn;
    int64_t n0 = axis == 2 ? lo : 0, nn = axis == 2 ? n : Nn;
    auto [amd, ap] = piece(oa, dt, b0, m0, 0, bn, mn, Kn);
    auto [bmd, bp] = piece(ob, dt, b0, 0, n0, bn, Kn, nn);
    auto [cmd, cp] = piece(oc, dt, b0, m0, n0, bn, mn, nn);
    auto mp = prim_for(amd, bmd, cmd);
    dnnl_run(mp->prim, mp->scratchpad,
             {{DNNL_ARG_SRC, ap, amd, amd}, {DNNL_ARG_WEIGHTS, bp, bmd, bmd}, {DNNL_ARG_DST, cp, cmd, cmd, true}});
  };
  parallel_chunks(pieces.count, run);
  return true;
}

// C[b] = A[b] B[b] with an i-k-j loop (vectorizes over j) in blocks that stay in cache.
template <class T>
void matmul_loop(const Tensor& out, const Tensor& a, const Tensor& b) {
  using M = std::conditional_t<std::is_integral_v<T>, int64_t, opmath_t<T>>;
  int64_t Bn = out.size(0), Mn = out.size(1), Kn = a.size(2), Nn = out.size(2);
  const T* A = static_cast<const T*>(a.data_ptr());
  const T* Bp = static_cast<const T*>(b.data_ptr());
  T* C = static_cast<T*>(out.data_ptr());
  int64_t as0 = a.stride(0), as1 = a.stride(1), as2 = a.stride(2);
  int64_t bs0 = b.stride(0), bs1 = b.stride(1), bs2 = b.stride(2);
  parallel_for(Bn * Mn, std::max<int64_t>(1, 65536 / std::max<int64_t>(Kn * Nn, 1)), [&](int64_t lo, int64_t hi) {
    std::vector<M> row(static_cast<size_t>(Nn));
    for (int64_t bm = lo; bm < hi; ++bm) {
      int64_t bi = bm / Mn, i = bm % Mn;
      std::fill(row.begin(), row.end(), M(0));
      for (int64_t k = 0; k < Kn; ++k) {
        M av = M(A[bi * as0 + i * as1 + k * as2]);
        const T* brow = Bp + bi * bs0 + k * bs1;
        if (bs2 == 1)
          for (int64_t j = 0; j < Nn; ++j) row[size_t(j)] += av * M(brow[j]);
        else
          for (int64_t j = 0; j < Nn; ++j) row[size_t(j)] += av * M(brow[j * bs2]);
      }
      T* crow = C + bi * out.stride(0) + i * out.stride(1);
      for (int64_t j = 0; j < Nn; ++j) crow[j * out.stride(2)] = T(row[size_t(j)]);
    }
  });
}

// float32 products of at most kSmallMacs multiply-adds: a direct loop on the calling thread.
// oneDNN's per-call setup (memory objects, scratchpad) costs about 4 us, many times the
// arithmetic of a batch-1 classifier head or a recurrent step.
constexpr int64_t kSmallMacs = 32768, kSmallCols = 4096;
void matmul_small(const Tensor& out, const Tensor& a, const Tensor& b) {
  int64_t Bn = out.size(0), Mn = out.size(1), Kn = a.size(2), Nn = out.size(2);
  const float* A = static_cast<const float*>(a.data_ptr());
  const float* Bp = static_cast<const float*>(b.data_ptr());
  float* C = static_cast<float*>(out.data_ptr());
  int64_t as0 = a.stride(0), as1 = a.stride(1), as2 = a.stride(2), bs0 = b.stride(0), bs1 = b.stride(1),
          bs2 = b.stride(2), cs0 = out.stride(0), cs1 = out.stride(1), cs2 = out.stride(2);
  float row[kSmallCols];
  for (int64_t bi = 0; bi < Bn; ++bi)
    for (int64_t i = 0; i < Mn; ++i) {
      const float* arow = A + bi * as0 + i * as1;
      float* crow = C + bi * cs0 + i * cs1;
      if (bs1 == 1 && as2 == 1) {  // B's columns are contiguous (a transposed weight): dot products
        for (int64_t j = 0; j < Nn; ++j) {
          const float* bcol = Bp + bi * bs0 + j * bs2;
          float acc = 0;
#pragma omp simd reduction(+ : acc)
          for (int64_t k = 0; k < Kn; ++k) acc += arow[k] * bcol[k];
          crow[j * cs2] = acc;
        }
        continue;
      }
      std::fill(row, row + Nn, 0.0f);
      for (int64_t k = 0; k < Kn; ++k) {
        float av = arow[k * as2];
        const float* brow = Bp + bi * bs0 + k * bs1;
        if (bs2 == 1)
          for (int64_t j = 0; j < Nn; ++j) row[j] += av * brow[j];
        else
          for (int64_t j = 0; j < Nn; ++j) row[j] += av * brow[j * bs2];
      }
      for (int64_t j = 0; j < Nn; ++j) crow[j * cs2] = row[j];
    }
}

}  // namespace

void CpuBackend::matmul(const Tensor& out, const Tensor& a, const Tensor& b) {
  if (out.numel() == 0) return;
  if (a.size(2) == 0) {
    fill(out, 0);
    return;
  }
  if (a.dtype() == DType::Float32 && out.size(0) * out.size(1) * out.size(2) * a.size(2) <= kSmallMacs &&
      out.size(2) <= kSmallCols)
    return matmul_small(out, a, b);
  if (widen_bf16(a.dtype())) {
    Tensor o = widened(out, false);
    matmul(o, widened(a), widened(b));
    return copy(out, o);
  }
  if (matmul_dnnl(out, a, b)) return;
  dispatch_all(a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, bool>)
      throw DTypeError("matmul: not implemented for bool tensors");
    else
      matmul_loop<T>(out, a, b);
  });
}

}  // namespace tessera::cpu
