#pragma once
// The CUDA reduction engine (.cu files only): any reduction written as a policy over the shared
// combine functors of math/reduce.h. A policy P gives
//   acc, identity(), combine(a, b)           (static)
//   step(acc, const char* element, uint32_t r) -> acc   (r: the element's reduced index)
//   finish(char* out_at, acc)                (writes the result of one output)
// run_reduction walks `kept` (outputs: input and output byte strides) and `red` (the reduced
// elements: input byte strides) plans, in 32-bit pieces, with the launch shape of
// reduce_plan.h, and a second pass over partial results where the reduced range was split.
#include <vector>

#include "tessera/backend/cuda/launch.cuh"
#include "tessera/backend/cuda/reduce_plan.h"
#include "tessera/backend/math/reduce.h"

namespace tessera::cuda {

struct ReduceGeometry {
  math::OffsetCalculator<2> kept;  // operand 0: the input, operand 1: the output
  math::OffsetCalculator<1> red;
  const char* in;
  char* out;
  uint32_t outputs, reduced;
};

template <class P>
__device__ __forceinline__ typename P::acc reduce_range(const P& pol, const ReduceGeometry& g, const char* in_j,
                                                         uint32_t r, uint32_t end, uint32_t stride) {
  typename P::acc a = P::identity();
  for (; r < end; r += stride) a = pol.step(a, in_j + g.red.get(r).v[0], r);
  return a;
}

// One result: the final value, or the partial of a split.
template <class P>
__device__ __forceinline__ void emit(const P& pol, const ReduceGeometry& g, typename P::acc* partial, uint32_t split,
                                     uint32_t j, int32_t out_off, const typename P::acc& a) {
  if (partial) partial[uint64_t(split) * g.outputs + j] = a;
  else pol.finish(g.out + out_off, a);
}

template <class A>
struct alignas(16) AccStorage {
  unsigned char raw[sizeof(A)];
};

// A warp (warps_per_output == 1) or the whole block per output; blockIdx.y is the split.
template <class P>
__global__ void __launch_bounds__(kReduceBlock)
    reduce_along_kernel(P pol, ReduceGeometry g, int warps_per_output, uint32_t chunk, typename P::acc* partial,
                        uint32_t split_offset) {
  using A = typename P::acc;
  __shared__ AccStorage<A> smem[32];
  uint32_t r0 = blockIdx.y * chunk, r1 = min(g.reduced, r0 + chunk);
  if (warps_per_output == 1) {
    uint32_t lane = threadIdx.x % 32, j = blockIdx.x * (kReduceBlock / 32) + threadIdx.x / 32;
    if (j >= g.outputs) return;  // the whole warp: no block-wide barrier follows
    auto ko = g.kept.get(j);
    A a = warp_combine<P>(reduce_range(pol, g, g.in + ko.v[0], r0 + lane, r1, 32));
    if (lane == 0) emit(pol, g, partial, split_offset + blockIdx.y, j, ko.v[1], a);
  } else {
    uint32_t j = blockIdx.x;
    auto ko = g.kept.get(j);
    A a = block_combine<P>(reduce_range(pol, g, g.in + ko.v[0], r0 + threadIdx.x, r1, blockDim.x),
                           reinterpret_cast<A*>(smem));
    if (threadIdx.x == 0) emit(pol, g, partial, split_offset + blockIdx.y, j, ko.v[1], a);
  }
}

// A thread per output (threadIdx.x), kReduceRows rows of threads (threadIdx.y) sharing it.
template <class P>
__global__ void __launch_bounds__(kReduceBlock)
    reduce_across_kernel(P pol, ReduceGeometry g, uint32_t chunk, typename P::acc* partial, uint32_t split_offset) {
  using A = typename P::acc;
  __shared__ AccStorage<A> smem[kReduceRows][kReduceBlock / kReduceRows];
  uint32_t j = blockIdx.x * (kReduceBlock / kReduceRows) + threadIdx.x;
  uint32_t r0 = blockIdx.y * chunk, r1 = min(g.reduced, r0 + chunk);
  bool active = j < g.outputs;
  A a = P::identity();
  int32_t out_off = 0;
  if (active) {
    auto ko = g.kept.get(j);
    out_off = ko.v[1];
    a = reduce_range(pol, g, g.in + ko.v[0], r0 + threadIdx.y, r1, kReduceRows);
  }
  *reinterpret_cast<A*>(&smem[threadIdx.y][threadIdx.x]) = a;
  __syncthreads();
  if (threadIdx.y == 0 && active) {
    for (int y = 1; y < kReduceRows; ++y) a = P::combine(a, *reinterpret_cast<const A*>(&smem[y][threadIdx.x]));
    emit(pol, g, partial, split_offset + blockIdx.y, j, out_off, a);
  }
}

// Combines each output's partials (none for an empty reduction: the identity) and finishes.
template <class P>
__global__ void reduce_finish_kernel(P pol, ReduceGeometry g, const typename P::acc* partial, uint32_t splits) {
  for (uint32_t j = blockIdx.x * blockDim.x + threadIdx.x; j < g.outputs; j += blockDim.x * gridDim.x) {
    typename P::acc a = P::identity();
    for (uint32_t s = 0; s < splits; ++s) a = P::combine(a, partial[uint64_t(s) * g.outputs + j]);
    pol.finish(g.out + g.kept.get(j).v[1], a);
  }
}

template <class P>
void run_reduction(const char* op, const Tensor& out, const P& pol, const math::StridedPlan<2>& kept,
                   const math::StridedPlan<1>& red, const char* in_base, char* out_base) {
  using A = typename P::acc;
  if (kept.numel == 0) return;
  OpDevice device(out);
  cudaStream_t st = stream_of(out);
  int sms = multiprocessor_count(out.device().index);
  std::vector<math::StridedPlan<1>> red_pieces;
  math::for_each_32bit(red, [&](const math::StridedPlan<1>& p) { red_pieces.push_back(p); });
  math::for_each_32bit(kept, [&](const math::StridedPlan<2>& kp) {
    ReduceGeometry g;
    g.kept = math::OffsetCalculator<2>(kp);
    g.out = out_base + kp.base[1];
    g.outputs = uint32_t(kp.numel);
    // Threads walk the reduced elements when the fastest reduced dim is faster than the fastest
    // kept one (in the input), else they take adjacent outputs.
    auto abs = [](int64_t v) { return v < 0 ? -v : v; };
    std::vector<ReduceConfig> cfgs;
    int64_t total = 0;
    for (const auto& rp : red_pieces) {
      bool along = rp.ndim > 0 && (kp.ndim == 0 || abs(rp.strides[0][0]) < abs(kp.strides[0][0]));
      cfgs.push_back(plan_reduce(kp.numel, rp.numel, along, sms));
      total += cfgs.back().splits;
    }
    bool direct = red_pieces.size() == 1 && cfgs[0].splits == 1;
    Tensor partial_buf;
    A* partial = nullptr;
    if (!direct && total > 0) {
      partial_buf = scratch(out, size_t(total) * size_t(kp.numel) * sizeof(A));
      partial = reinterpret_cast<A*>(partial_buf.data_ptr());
    }
    int64_t split_offset = 0;
    for (size_t i = 0; i < red_pieces.size(); ++i) {
      const auto& rp = red_pieces[i];
      const ReduceConfig& c = cfgs[i];
      g.red = math::OffsetCalculator<1>(rp);
      g.in = in_base + kp.base[0] + rp.base[0];
      g.reduced = uint32_t(rp.numel);
      dim3 grid(unsigned(c.grid_x), unsigned(c.splits));
      if (c.along_reduced)
        reduce_along_kernel<P><<<grid, kReduceBlock, 0, st>>>(pol, g, c.warps_per_output, uint32_t(c.chunk), partial,
                                                              uint32_t(split_offset));
      else
        reduce_across_kernel<P><<<grid, dim3(kReduceBlock / kReduceRows, kReduceRows), 0, st>>>(
            pol, g, uint32_t(c.chunk), partial, uint32_t(split_offset));
      check_launch(op, out);
      split_offset += c.splits;
    }
    if (!direct) {
      reduce_finish_kernel<P><<<blocks_for(kp.numel, kReduceBlock, 1, out.device().index), kReduceBlock, 0, st>>>(
          pol, g, partial, uint32_t(total));
      check_launch(op, out);
    }
  });
}

// The plans of reducing `in` into `out` (in's rank, size 1 on the reduced dims).
inline void reduction_plans(const Tensor& out, const Tensor& in, math::StridedPlan<2>& kept,
                            math::StridedPlan<1>& red) {
  Shape ks, kin, kout, rs, rin;
  for (int64_t d = 0; d < in.dim(); ++d) {
    if (in.size(d) == 1) continue;
    if (out.size(d) == 1) {
      rs.push_back(in.size(d));
      rin.push_back(in.stride(d));
    } else {
      ks.push_back(in.size(d));
      kin.push_back(in.stride(d));
      kout.push_back(out.stride(d));
    }
  }
  const int64_t* kst[2] = {kin.data(), kout.data()};
  const int64_t kel[2] = {int64_t(in.element_size()), int64_t(out.element_size())};
  kept = math::StridedPlan<2>::make(int(ks.size()), ks.data(), kst, kel, true);
  const int64_t* rst[1] = {rin.data()};
  const int64_t rel[1] = {int64_t(in.element_size())};
  red = math::StridedPlan<1>::make(int(rs.size()), rs.data(), rst, rel, true);
}

}  // namespace tessera::cuda
