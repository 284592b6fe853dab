// gather and scatter on CUDA. Indices are checked on the device first and an out-of-range one
// raises IndexError (naming it) before any element moves, as on the CPU; scatter with
// accumulate adds through atomics (every dtype; integers wrap, bool ORs).
#include "tessera/backend/cuda/cuda_backend.h"
#include "tessera/backend/cuda/launch.cuh"
#include "tessera/backend/dispatch.h"

namespace tessera::cuda {

namespace {
__global__ void check_indices_kernel(math::OffsetCalculator<1> calc, const char* index, uint32_t n, int64_t size,
                                     int* bad) {
  for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
    int64_t v = *reinterpret_cast<const int64_t*>(index + calc.get(i).v[0]);
    if (v < -size || v >= size) *bad = 1;
  }
}

// Throws IndexError naming the first out-of-range index (read on the host: the error path only).
void check_indices(const Tensor& index, int64_t size, const char* op, int64_t dim) {
  if (index.numel() == 0) return;
  OpDevice g(index);
  cudaStream_t st = stream_of(index);
  Tensor flag = new_tensor({1}, DType::Int32, index);
  check(cudaMemsetAsync(flag.data_ptr(), 0, sizeof(int), st), op, "cudaMemsetAsync");
  auto plan = plan_of<1>({&index}, true);
  math::for_each_32bit(plan, [&](const math::StridedPlan<1>& p) {
    check_indices_kernel<<<blocks_for(p.numel, kBlock, 1, index.device().index), kBlock, 0, st>>>(
        math::OffsetCalculator<1>(p), static_cast<const char*>(index.data_ptr()) + p.base[0], uint32_t(p.numel), size,
        static_cast<int*>(flag.data_ptr()));
    check_launch(op, index);
  });
  int bad = 0;
  check(cudaMemcpyAsync(&bad, flag.data_ptr(), sizeof(int), cudaMemcpyDeviceToHost, st), op, "cudaMemcpyAsync");
  check(cudaStreamSynchronize(st), op, "cudaStreamSynchronize", describe(index));
  if (!bad) return;
  for (int64_t v : index.cpu().contiguous().tolist<int64_t>())
    TS_CHECK_INDEX(v >= -size && v < size, op, ": index ", v, " is out of bounds for dimension ", dim, " with size ",
                   size);
}

// `t` restricted to `shape` with the stride of `dim` set to 0: offsets walk every coordinate but
// the indexed one, which the kernels add as index * dim_stride.
Tensor strided_except(const Tensor& t, const Shape& shape, int64_t dim) {
  Shape st = t.strides();
  st[size_t(dim)] = 0;
  return Tensor(t.storage(), shape, st, t.storage_offset(), t.dtype());
}

template <class U>
__global__ void gather_kernel(math::OffsetCalculator<3> calc, Ptrs<3> p, uint32_t n, int64_t size, int64_t sd) {
  for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
    auto o = calc.get(i);
    int64_t k = *reinterpret_cast<const int64_t*>(p.p[1] + o.v[1]);
    if (k < 0) k += size;
    *reinterpret_cast<U*>(p.p[0] + o.v[0]) = *reinterpret_cast<const U*>(p.p[2] + o.v[2] + k * sd);
  }
}

template <class T, bool Accumulate>
__global__ void scatter_kernel(math::OffsetCalculator<3> calc, Ptrs<3> p, uint32_t n, int64_t size, int64_t sd) {
  for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
    auto o = calc.get(i);
    int64_t k = *reinterpret_cast<const int64_t*>(p.p[1] + o.v[1]);
    if (k < 0) k += size;
    T* d = reinterpret_cast<T*>(p.p[0] + o.v[0] + k * sd);
    T v = *reinterpret_cast<const T*>(p.p[2] + o.v[2]);
    if constexpr (Accumulate) atomic_add(d, v);
    else *d = v;
  }
}

// Runs kernel over the 32-bit pieces of the plan of (a, index, b).
template <class Launch>
void over_pieces(const char* op, const Tensor& a, const Tensor& index, const Tensor& b, const Launch& launch) {
  auto plan = plan_of<3>({&a, &index, &b}, true);
  const Tensor* ts[3] = {&a, &index, &b};
  math::for_each_32bit(plan, [&](const math::StridedPlan<3>& piece) {
    Ptrs<3> p;
    for (int k = 0; k < 3; ++k) p.p[k] = static_cast<char*>(ts[k]->data_ptr()) + piece.base[k];
    launch(math::OffsetCalculator<3>(piece), p, uint32_t(piece.numel),
           blocks_for(piece.numel, kBlock, 1, a.device().index));
    check_launch(op, a);
  });
}
}  // namespace

void CudaBackend::gather(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index) {
  int64_t size = in.size(dim);
  check_indices(index, size, "gather", dim);
  Tensor src = strided_except(in, index.shape(), dim);
  int64_t sd = in.stride(dim) * int64_t(in.element_size());
  OpDevice g(out);
  cudaStream_t st = stream_of(out);
  auto run = [&](auto tag) {
    using U = typename decltype(tag)::type;
    over_pieces("gather", out, index, src, [&](const auto& calc, const Ptrs<3>& p, uint32_t n, unsigned blocks) {
      gather_kernel<U><<<blocks, kBlock, 0, st>>>(calc, p, n, size, sd);
    });
  };
  switch (in.element_size()) {
    case 1: return run(TypeTag<uint8_t>{});
    case 2: return run(TypeTag<uint16_t>{});
    case 4: return run(TypeTag<uint32_t>{});
    default: return run(TypeTag<uint64_t>{});
  }
}

void CudaBackend::scatter(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, bool accumulate) {
  int64_t size = self.size(dim);
  const char* op = accumulate ? "scatter_add" : "scatter";
  check_indices(index, size, op, dim);
  Tensor dst = strided_except(self, index.shape(), dim);
  int64_t sd = self.stride(dim) * int64_t(self.element_size());
  OpDevice g(self);
  cudaStream_t st = stream_of(self);
  dispatch_all(self.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    over_pieces(op, dst, index, src, [&](const auto& calc, const Ptrs<3>& p, uint32_t n, unsigned blocks) {
      if (accumulate) scatter_kernel<T, true><<<blocks, kBlock, 0, st>>>(calc, p, n, size, sd);
      else scatter_kernel<T, false><<<blocks, kBlock, 0, st>>>(calc, p, n, size, sd);
    });
  });
}

}  // namespace tessera::cuda
