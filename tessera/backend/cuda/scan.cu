// cumsum and nonzero on CUDA. cumsum scans in the accumulation type (double for floats, int64
// for integers, as on the CPU): the lines are converted into a contiguous buffer, scanned (CUB's
// device scan for one line, a warp per line otherwise), and converted into out. nonzero selects
// the flat indices of non-zero elements with CUB and unravels them.
#include <cub/device/device_scan.cuh>
#include <cub/device/device_select.cuh>
#include <thrust/iterator/counting_iterator.h>

#include "tessera/backend/cuda/cuda_backend.h"
#include "tessera/backend/cuda/launch.cuh"
#include "tessera/backend/dispatch.h"

namespace tessera::cuda {

namespace {
// Inclusive scan of each contiguous line of length n: one warp per line, 32 elements a step.
template <class A>
__global__ void scan_lines_kernel(A* data, int64_t lines, int64_t n) {
  int64_t line = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  int lane = threadIdx.x % 32;
  if (line >= lines) return;  // the whole warp
  A* p = data + line * n;
  A carry = A(0);
  for (int64_t base = 0; base < n; base += 32) {
    int64_t i = base + lane;
    A v = i < n ? p[i] : A(0);
#pragma unroll
    for (int d = 1; d < 32; d <<= 1) {
      A u = shfl_up(v, d);
      if (lane >= d) v = math::wrapping_add(v, u);
    }
    v = math::wrapping_add(v, carry);
    if (i < n) p[i] = v;
    carry = shfl_idx(v, 31);
  }
}

struct Sizes {
  int64_t v[kMaxDims];
};
// Row i of out: the coordinates of flat index flat[i] in a row-major tensor of these sizes.
__global__ void unravel_kernel(int64_t* out, const int64_t* flat, int64_t count, Sizes sizes, int nd) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += int64_t(blockDim.x) * gridDim.x) {
    int64_t lin = flat[i];
    for (int d = nd - 1; d >= 0; --d) {
      out[i * nd + d] = lin % sizes.v[d];
      lin /= sizes.v[d];
    }
  }
}
}  // namespace

void CudaBackend::cumsum(const Tensor& out, const Tensor& in, int64_t dim) {
  if (in.numel() == 0) return;
  int64_t n = in.size(dim), lines = in.numel() / n;
  Shape order;  // dim last
  for (int64_t d = 0; d < in.dim(); ++d)
    if (d != dim) order.push_back(d);
  order.push_back(dim);
  Tensor src = in.permute(order), dst = out.permute(order);
  DType acc = is_floating(out.dtype()) ? DType::Float64 : DType::Int64;
  Tensor buf = new_tensor(src.shape(), acc, in);
  copy(buf, src);
  OpDevice g(in);
  cudaStream_t st = stream_of(in);
  auto scan = [&](auto tag) {
    using A = typename decltype(tag)::type;
    A* p = static_cast<A*>(buf.data_ptr());
    if (lines == 1) {
      size_t bytes = 0;
      check(cub::DeviceScan::InclusiveSum(nullptr, bytes, p, p, n, st), "cumsum", "cub::DeviceScan", describe(in));
      Tensor tmp = scratch(in, bytes);
      check(cub::DeviceScan::InclusiveSum(tmp.data_ptr(), bytes, p, p, n, st), "cumsum", "cub::DeviceScan",
            describe(in));
    } else {
      int64_t blocks = (lines * 32 + kBlock - 1) / kBlock;
      TS_CHECK_VALUE(blocks <= INT32_MAX, "cumsum: too many lines on CUDA (", lines, ")");
      scan_lines_kernel<A><<<unsigned(blocks), kBlock, 0, st>>>(p, lines, n);
      check_launch("cumsum", in);
    }
  };
  if (acc == DType::Float64) scan(TypeTag<double>{});
  else scan(TypeTag<int64_t>{});
  copy(dst, buf);
}

Tensor CudaBackend::nonzero(const Tensor& in) {
  int64_t n = in.numel();
  int nd = int(in.dim());
  OpDevice g(in);
  cudaStream_t st = stream_of(in);
  Tensor flags = new_tensor(in.shape(), DType::Bool, in);
  copy(flags, in);  // to bool: non-zero
  Tensor flat = new_tensor({std::max<int64_t>(n, 1)}, DType::Int64, in), count = new_tensor({1}, DType::Int64, in);
  auto select = [&](void* tmp, size_t& bytes) {
    return cub::DeviceSelect::Flagged(tmp, bytes, thrust::counting_iterator<int64_t>(0),
                                      static_cast<const bool*>(flags.data_ptr()),
                                      static_cast<int64_t*>(flat.data_ptr()), static_cast<int64_t*>(count.data_ptr()),
                                      n, st);
  };
  int64_t found = 0;
  if (n > 0) {
    size_t bytes = 0;
    check(select(nullptr, bytes), "nonzero", "cub::DeviceSelect", describe(in));
    Tensor tmp = scratch(in, bytes);
    check(select(tmp.data_ptr(), bytes), "nonzero", "cub::DeviceSelect", describe(in));
    check(cudaMemcpyAsync(&found, count.data_ptr(), sizeof(int64_t), cudaMemcpyDeviceToHost, st), "nonzero",
          "cudaMemcpyAsync");
    check(cudaStreamSynchronize(st), "nonzero", "cudaStreamSynchronize");
  }
  Tensor out = new_tensor({found, nd}, DType::Int64, in);
  if (found > 0 && nd > 0) {
    Sizes sizes{};
    for (int d = 0; d < nd; ++d) sizes.v[d] = in.size(d);
    unravel_kernel<<<blocks_for(found, kBlock, 1, in.device().index), kBlock, 0, st>>>(
        static_cast<int64_t*>(out.data_ptr()), static_cast<const int64_t*>(flat.data_ptr()), found, sizes, nd);
    check_launch("nonzero", in);
  }
  return out;
}

}  // namespace tessera::cuda
