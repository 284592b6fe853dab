// Batched matrix multiplication: oneDNN for float32 (and bfloat16 where the CPU has it), a
// blocked loop for the other dtypes.
#include <sstream>

#include "tessera/backend/cpu/cpu_backend.h"
#include "tessera/backend/cpu/dnnl_util.h"
#include "tessera/backend/cpu/loops.h"

namespace tessera::cpu {

dnnl::engine& dnnl_engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::memory::data_type dnnl_type(DType t) {
  using dt = dnnl::memory::data_type;
  if (t == DType::Float32) return dt::f32;
  if (t == DType::BFloat16 && __builtin_cpu_supports("avx512bw")) return dt::bf16;
  return dt::undef;
}

namespace {

// 3-D dims and byte-free strides for oneDNN; a stride-0 batch becomes a broadcast batch of 1.
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
  dnnl::memory::desc a, b, c;
};

bool matmul_dnnl(const Tensor& out, const Tensor& a, const Tensor& b) {
  auto dt = dnnl_type(a.dtype());
  if (dt == dnnl::memory::data_type::undef) return false;
  Tensor A = plain_matrix(a) ? a : a.contiguous(), B = plain_matrix(b) ? b : b.contiguous();
  dnnl::memory::dims ad, as, bd, bs;
  md_dims(A, ad, as);
  md_dims(B, bd, bs);
  dnnl::memory::dims cd{out.size(0), out.size(1), out.size(2)}, cs{out.stride(0), out.stride(1), out.stride(2)};
  std::ostringstream key;
  key << int(dt);
  for (auto v : {ad, as, bd, bs, cd, cs})
    for (auto x : v) key << ',' << x;
  static PrimitiveCache<MatmulPrim> cache;
  MatmulPrim& mp = cache.get(key.str(), [&] {
    dnnl::memory::desc amd(ad, dt, as), bmd(bd, dt, bs), cmd(cd, dt, cs);
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(amd, bmd, cmd), dnnl_engine());
    return MatmulPrim{dnnl::matmul(pd), amd, bmd, cmd};
  });
  auto& eng = dnnl_engine();
  dnnl::memory am(mp.a, eng, A.data_ptr()), bm(mp.b, eng, B.data_ptr()), cm(mp.c, eng, out.data_ptr());
  dnnl::stream s(eng);
  mp.prim.execute(s, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
  s.wait();
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

}  // namespace

void CpuBackend::matmul(const Tensor& out, const Tensor& a, const Tensor& b) {
  if (out.numel() == 0) return;
  if (a.size(2) == 0) {
    fill(out, 0);
    return;
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
