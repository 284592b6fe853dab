// sort and topk on CUDA: every line's elements become the order-preserving keys of
// math/sort_key.h (8-bit keys widened to 16 bits), CUB's radix sort (stable) orders (key, index)
// pairs per line, and the first k of each line are written back: values read from the input
// by index (exact, NaN payloads and -0 included) and the indices.
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_segmented_radix_sort.cuh>

#include "tessera/backend/cuda/cuda_backend.h"
#include "tessera/backend/cuda/launch.cuh"
#include "tessera/backend/dispatch.h"
#include "tessera/backend/math/sort_key.h"

namespace tessera::cuda {

namespace {
template <class T>
using key_t = std::conditional_t<sizeof(T) <= 2, uint16_t, math::sort_key_t<T>>;

// heads: line starts of (values, indices, in), in the lines' row-major order.
template <class T>
__global__ void make_keys_kernel(key_t<T>* keys, int64_t* idx, int* offsets, math::OffsetCalculator64<3> heads,
                                 const char* in, int64_t si, int64_t line0, int64_t lines, int64_t n, bool desc) {
  int64_t total = lines * n;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += int64_t(blockDim.x) * gridDim.x) {
    int64_t l = e / n, i = e - l * n;
    const char* at = in + heads.get(line0 + l).v[2] + i * si;
    keys[e] = key_t<T>(math::sort_key(*reinterpret_cast<const T*>(at), desc));
    idx[e] = i;
    if (i == 0) offsets[l] = int(e);
    if (e == total - 1) offsets[lines] = int(total);
  }
}

template <class T>
__global__ void write_sorted_kernel(math::OffsetCalculator64<3> heads, char* values, char* indices, const char* in,
                                    int64_t sv, int64_t sx, int64_t si, const int64_t* order, int64_t line0,
                                    int64_t lines, int64_t n, int64_t k) {
  int64_t total = lines * k;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += int64_t(blockDim.x) * gridDim.x) {
    int64_t l = e / k, i = e - l * k;
    auto h = heads.get(line0 + l);
    int64_t src = order[l * n + i];
    *reinterpret_cast<T*>(values + h.v[0] + i * sv) = *reinterpret_cast<const T*>(in + h.v[2] + src * si);
    *reinterpret_cast<int64_t*>(indices + h.v[1] + i * sx) = src;
  }
}

template <class T>
void sort_lines(const char* op, const Tensor& values, const Tensor& indices, const Tensor& in, int64_t dim, int64_t k,
                bool descending) {
  using K = key_t<T>;
  int64_t n = in.size(dim), lines = in.numel() / n;
  TS_CHECK_VALUE(n <= INT32_MAX, op, ": lines of more than 2^31 - 1 elements are not supported on CUDA (dimension ",
                 dim, " of ", in.shape(), ")");
  Tensor hv = values.select(dim, 0), hx = indices.select(dim, 0), hi = in.select(dim, 0);
  math::OffsetCalculator64<3> heads(plan_of<3>({&hv, &hx, &hi}, false));
  int64_t sv = values.stride(dim) * int64_t(sizeof(T)), sx = indices.stride(dim) * 8,
          si = in.stride(dim) * int64_t(sizeof(T));
  OpDevice g(in);
  cudaStream_t st = stream_of(in);
  int64_t batch = std::min(lines, std::max<int64_t>(1, INT32_MAX / n));  // CUB counts items in int
  Tensor buf = scratch(in, size_t(batch * n) * sizeof(K) * 2);
  Tensor idx = new_tensor({batch * n * 2}, DType::Int64, in), offs = new_tensor({batch + 1}, DType::Int32, in);
  K* k_in = static_cast<K*>(buf.data_ptr());
  K* k_out = k_in + batch * n;
  int64_t* v_in = static_cast<int64_t*>(idx.data_ptr());
  int64_t* v_out = v_in + batch * n;
  int* off = static_cast<int*>(offs.data_ptr());
  constexpr int bits = int(sizeof(math::sort_key_t<T>) * 8);
  for (int64_t line0 = 0; line0 < lines; line0 += batch) {
    int64_t m = std::min(batch, lines - line0), items = m * n;
    make_keys_kernel<T><<<blocks_for(items, kBlock, 1, in.device().index), kBlock, 0, st>>>(
        k_in, v_in, off, heads, static_cast<const char*>(in.data_ptr()), si, line0, m, n, descending);
    check_launch(op, in);
    size_t bytes = 0;
    auto run = [&](void* tmp) {
      if (m == 1)
        return cub::DeviceRadixSort::SortPairs(tmp, bytes, k_in, k_out, v_in, v_out, items, 0, bits, st);
      return cub::DeviceSegmentedRadixSort::SortPairs(tmp, bytes, k_in, k_out, v_in, v_out, int(items), int(m), off,
                                                      off + 1, 0, bits, st);
    };
    check(run(nullptr), op, "cub radix sort", describe(in));
    Tensor tmp = scratch(in, bytes);
    check(run(tmp.data_ptr()), op, "cub radix sort", describe(in));
    write_sorted_kernel<T><<<blocks_for(m * k, kBlock, 1, in.device().index), kBlock, 0, st>>>(
        heads, static_cast<char*>(values.data_ptr()), static_cast<char*>(indices.data_ptr()),
        static_cast<const char*>(in.data_ptr()), sv, sx, si, v_out, line0, m, n, k);
    check_launch(op, in);
  }
}
}  // namespace

void CudaBackend::sort(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t dim, bool descending) {
  if (in.numel() == 0) return;
  dispatch_all(in.dtype(), [&](auto tag) {
    sort_lines<typename decltype(tag)::type>("sort", values, indices, in, dim, in.size(dim), descending);
  });
}

void CudaBackend::topk(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k, int64_t dim,
                       bool largest) {
  if (values.numel() == 0) return;
  dispatch_all(in.dtype(), [&](auto tag) {
    sort_lines<typename decltype(tag)::type>("topk", values, indices, in, dim, k, largest);
  });
}

}  // namespace tessera::cuda
