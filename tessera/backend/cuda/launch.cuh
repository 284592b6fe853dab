#pragma once
// Device code shared by the CUDA kernels (.cu files only): the one generic elementwise launcher
// over the shared functors, warp and block combines, atomics on every dtype.
//
// launch_elementwise<F, O, I...>(op, out, {&in...}, f) computes out = f(in...) for any strides:
// the plan (backend/iteration.h) coalesces and orders the dims; pieces that fit 32-bit offsets
// run either a vectorized kernel (every operand contiguous or a broadcast scalar, pointers
// aligned: one 16-byte access per operand per thread and step) or the strided kernel (each
// thread maps its linear index to byte offsets with the OffsetCalculator).
#include <cuda_runtime.h>

#include <array>
#include <tuple>
#include <utility>

#include "tessera/backend/cuda/common.cuh"
#include "tessera/backend/iteration.h"
#include "tessera/backend/math/types.h"

namespace tessera::cuda {

constexpr int kBlock = 256;

template <int N>
struct Ptrs {
  char* p[N];
};

template <class F, class O, class... I>
struct Elementwise {
  static constexpr int N = 1 + int(sizeof...(I));
  // Elements per thread and step in the vectorized kernel: 16 bytes of the widest operand.
  static constexpr int kMaxSize = int(std::max({sizeof(O), sizeof(I)...}));
  static constexpr int V = 16 / kMaxSize > 0 ? 16 / kMaxSize : 1;

  template <size_t... K>
  __device__ __forceinline__ static void at(const F& f, char* const* p, const int32_t* off, std::index_sequence<K...>) {
    *reinterpret_cast<O*>(p[0] + off[0]) = O(f(*reinterpret_cast<const I*>(p[K + 1] + off[K + 1])...));
  }
};

// (No __launch_bounds__ on the elementwise kernels: with it ptxas squeezes them into 32 registers
// for full occupancy and spills; without it they take 32-40 and spill nothing.)
template <class F, class O, class... I>
__global__ void strided_kernel(math::OffsetCalculator<1 + sizeof...(I)> calc, Ptrs<1 + sizeof...(I)> p, uint32_t n, F f) {
  for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
    auto o = calc.get(i);
    Elementwise<F, O, I...>::at(f, p.p, o.v, std::index_sequence_for<I...>{});
  }
}

template <class T, int V>
struct alignas(sizeof(T) * V) Vec {
  T v[V];
};

// Operand k (an input) is a broadcast scalar when bit k of `scalars` is set.
template <class T, int V>
__device__ __forceinline__ Vec<T, V> load_vec(const char* p, int64_t i, bool scalar) {
  Vec<T, V> r;
  if (scalar) {
    T s = *reinterpret_cast<const T*>(p);
#pragma unroll
    for (int j = 0; j < V; ++j) r.v[j] = s;
  } else {
    r = *reinterpret_cast<const Vec<T, V>*>(p + i * int64_t(sizeof(T)));
  }
  return r;
}

// One vector step: each input loaded as one vector into its own variable (a tuple of vectors
// made ptxas spill), f applied lane by lane, the output stored as one vector.
template <class F, class O, class... I>
__device__ __forceinline__ void vec_step(const F& f, char* const* p, unsigned scalars, int64_t i) {
  constexpr int V = Elementwise<F, O, I...>::V;
  using T = std::tuple<I...>;
  Vec<O, V> out;
  if constexpr (sizeof...(I) == 0) {
#pragma unroll
    for (int j = 0; j < V; ++j) out.v[j] = O(f());
  } else if constexpr (sizeof...(I) == 1) {
    auto a = load_vec<std::tuple_element_t<0, T>, V>(p[1], i, scalars & 2);
#pragma unroll
    for (int j = 0; j < V; ++j) out.v[j] = O(f(a.v[j]));
  } else if constexpr (sizeof...(I) == 2) {
    auto a = load_vec<std::tuple_element_t<0, T>, V>(p[1], i, scalars & 2);
    auto b = load_vec<std::tuple_element_t<1, T>, V>(p[2], i, scalars & 4);
#pragma unroll
    for (int j = 0; j < V; ++j) out.v[j] = O(f(a.v[j], b.v[j]));
  } else {
    static_assert(sizeof...(I) == 3, "vec_step: at most three inputs");
    auto a = load_vec<std::tuple_element_t<0, T>, V>(p[1], i, scalars & 2);
    auto b = load_vec<std::tuple_element_t<1, T>, V>(p[2], i, scalars & 4);
    auto c = load_vec<std::tuple_element_t<2, T>, V>(p[3], i, scalars & 8);
#pragma unroll
    for (int j = 0; j < V; ++j) out.v[j] = O(f(a.v[j], b.v[j], c.v[j]));
  }
  *reinterpret_cast<Vec<O, V>*>(p[0] + i * int64_t(sizeof(O))) = out;
}

template <class F, class O, class... I, size_t... K>
__device__ __forceinline__ void scalar_step(const F& f, char* const* p, unsigned scalars, int64_t i,
                                            std::index_sequence<K...>) {
  *reinterpret_cast<O*>(p[0] + i * int64_t(sizeof(O))) =
      O(f(*reinterpret_cast<const I*>(p[K + 1] + ((scalars >> (K + 1)) & 1 ? 0 : i * int64_t(sizeof(I))))...));
}

template <class F, class O, class... I>
__global__ void contiguous_kernel(Ptrs<1 + sizeof...(I)> p, unsigned scalars, int64_t n, F f) {
  constexpr int V = Elementwise<F, O, I...>::V;
  int64_t step = int64_t(blockDim.x) * gridDim.x * V;
  for (int64_t i = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) * V; i < n; i += step) {
    if (i + V <= n) {
      vec_step<F, O, I...>(f, p.p, scalars, i);
    } else {
      for (int64_t j = i; j < n; ++j) scalar_step<F, O, I...>(f, p.p, scalars, j, std::index_sequence_for<I...>{});
    }
  }
}

// out = f(ins...) elementwise; all operands have out's shape (broadcasts as stride-0 views).
template <class F, class O, class... I>
void launch_elementwise(const char* op, const Tensor& out, std::array<const Tensor*, sizeof...(I)> ins, const F& f) {
  using E = Elementwise<F, O, I...>;
  constexpr int N = E::N;
  std::array<const Tensor*, N> ts;
  ts[0] = &out;
  for (int k = 1; k < N; ++k) ts[size_t(k)] = ins[size_t(k - 1)];
  math::StridedPlan<N> plan = plan_of<N>(ts, /*reorder=*/true);
  if (plan.numel == 0) return;
  OpDevice device(out);
  cudaStream_t st = stream_of(out);
  const int64_t sizes[N] = {int64_t(sizeof(O)), int64_t(sizeof(I))...};
  math::for_each_32bit(plan, [&](const math::StridedPlan<N>& piece) {
    Ptrs<N> p;
    for (int k = 0; k < N; ++k) p.p[k] = static_cast<char*>(ts[k]->data_ptr()) + piece.base[k];
    // Vectorizable: one dim (or none) where the output is contiguous and every input is
    // contiguous or a broadcast scalar, with aligned pointers.
    bool vec = piece.ndim <= 1;
    unsigned scalars = 0;
    for (int k = 0; k < N && vec; ++k) {
      int64_t s = piece.ndim ? piece.strides[k][0] : sizes[k];
      if (s == 0 && k > 0) scalars |= 1u << k;
      else vec = s == sizes[k] && reinterpret_cast<uintptr_t>(p.p[k]) % uintptr_t(sizes[k] * E::V) == 0;
    }
    if (vec) {
      contiguous_kernel<F, O, I...><<<blocks_for(piece.numel, kBlock, E::V, out.device().index), kBlock, 0, st>>>(
          p, scalars, piece.numel, f);
    } else {
      strided_kernel<F, O, I...><<<blocks_for(piece.numel, kBlock, 1, out.device().index), kBlock, 0, st>>>(
          math::OffsetCalculator<N>(piece), p, uint32_t(piece.numel), f);
    }
    check_launch(op, out);
  });
}

// Warp-level shuffles of any trivially copyable value (accumulators are structs): f applied to
// each 32-bit word.
template <class A, class F>
__device__ __forceinline__ A shuffle_words(const A& v, const F& f) {
  constexpr int W = int((sizeof(A) + 3) / 4);
  uint32_t w[W] = {};
  memcpy(w, &v, sizeof(A));
#pragma unroll
  for (int i = 0; i < W; ++i) w[i] = f(w[i]);
  A r;
  memcpy(&r, w, sizeof(A));
  return r;
}
struct ShflDown {
  int d;
  __device__ uint32_t operator()(uint32_t w) const { return __shfl_down_sync(0xffffffffu, w, d); }
};
struct ShflUp {
  int d;
  __device__ uint32_t operator()(uint32_t w) const { return __shfl_up_sync(0xffffffffu, w, d); }
};
struct ShflIdx {
  int lane;
  __device__ uint32_t operator()(uint32_t w) const { return __shfl_sync(0xffffffffu, w, lane); }
};
template <class A>
__device__ __forceinline__ A shfl_down(const A& v, int delta) { return shuffle_words(v, ShflDown{delta}); }
template <class A>
__device__ __forceinline__ A shfl_up(const A& v, int delta) { return shuffle_words(v, ShflUp{delta}); }
template <class A>
__device__ __forceinline__ A shfl_idx(const A& v, int lane) { return shuffle_words(v, ShflIdx{lane}); }
// Combines the values of a full warp with Op::combine; every lane gets the result.
template <class Op, class A>
__device__ __forceinline__ A warp_combine(A v) {
#pragma unroll
  for (int d = 16; d > 0; d >>= 1) v = Op::combine(v, shfl_down(v, d));
  return shfl_idx(v, 0);
}
// Combines one value per thread of a 1-D block (blockDim.x a multiple of 32, at most 1024);
// every thread gets the result. `smem` holds at least 32 values of A.
template <class Op, class A>
__device__ __forceinline__ A block_combine(A v, A* smem) {
  int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  v = warp_combine<Op>(v);
  __syncthreads();  // smem may still be read from a previous call
  if (lane == 0) smem[warp] = v;
  __syncthreads();
  v = lane < warps ? smem[lane] : Op::identity();
  return warp_combine<Op>(v);
}

// Atomic a += v for every dtype: native atomics for 32/64-bit numbers, a compare-and-swap on
// the enclosing 32-bit word for the 8- and 16-bit ones. Integers wrap; bool ORs.
template <class T>
__device__ __forceinline__ void atomic_add(T* a, T v) {
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, int32_t>) {
    atomicAdd(a, v);
  } else if constexpr (std::is_same_v<T, int64_t>) {
    atomicAdd(reinterpret_cast<unsigned long long*>(a), static_cast<unsigned long long>(v));
  } else {
    static_assert(sizeof(T) <= 2, "atomic_add: unsupported type");
    uintptr_t addr = reinterpret_cast<uintptr_t>(a);
    unsigned* word = reinterpret_cast<unsigned*>(addr & ~uintptr_t(3));
    unsigned shift = unsigned(addr & 3) * 8, mask = (sizeof(T) == 1 ? 0xffu : 0xffffu) << shift;
    unsigned old = *word, assumed;
    do {
      assumed = old;
      T cur;
      uint16_t bits = uint16_t((assumed & mask) >> shift);
      memcpy(&cur, &bits, sizeof(T));
      T sum;
      if constexpr (std::is_same_v<T, bool>) sum = cur || v;
      else if constexpr (math::is_int_v<T>) sum = T(std::make_unsigned_t<T>(cur) + std::make_unsigned_t<T>(v));
      else sum = T(float(cur) + float(v));
      uint16_t nb = 0;
      memcpy(&nb, &sum, sizeof(T));
      old = atomicCAS(word, assumed, (assumed & ~mask) | ((unsigned(nb) << shift) & mask));
    } while (old != assumed);
  }
}

}  // namespace tessera::cuda
