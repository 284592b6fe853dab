// Copy with dtype conversion, fill, arange, where, clamp and fma on CUDA, through the generic
// launcher over the shared functors (math/convert.h, math/binary.h).
#include "tessera/backend/cuda/cuda_backend.h"
#include "tessera/backend/cuda/launch.cuh"
#include "tessera/backend/dispatch.h"

namespace tessera::cuda {

namespace {
template <class D, class S>
struct ConvertFn {
  __device__ __forceinline__ D operator()(S v) const { return math::convert<D>(v); }
};
template <class T>
struct IdentityFn {
  __device__ __forceinline__ T operator()(T v) const { return v; }
};
template <class T>
struct FillFn {
  T value;
  __device__ __forceinline__ T operator()() const { return value; }
};


template <class T>
__global__ void arange_kernel(char* out, int64_t stride, int64_t n, double start, double step, bool integral) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    T* o = reinterpret_cast<T*>(out) + i * stride;
    if (integral) *o = T(int64_t(start) + i * int64_t(step));
    else *o = math::convert<T>(start + double(i) * step);
  }
}
}  // namespace

void CudaBackend::copy(const Tensor& dst, const Tensor& src) {
  if (dst.numel() == 0) return;
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous()) {
    if (dst.data_ptr() == src.data_ptr()) return;
    OpDevice g(dst);
    check(cudaMemcpyAsync(dst.data_ptr(), src.data_ptr(), size_t(dst.numel()) * dst.element_size(),
                          cudaMemcpyDeviceToDevice, stream_of(dst)),
          "copy", "cudaMemcpyAsync", describe(dst));
    return;
  }
  if (dst.dtype() == src.dtype()) {
    switch (dst.element_size()) {
      case 1: return launch_elementwise<IdentityFn<uint8_t>, uint8_t, uint8_t>("copy", dst, {&src}, {});
      case 2: return launch_elementwise<IdentityFn<uint16_t>, uint16_t, uint16_t>("copy", dst, {&src}, {});
      case 4: return launch_elementwise<IdentityFn<uint32_t>, uint32_t, uint32_t>("copy", dst, {&src}, {});
      default: return launch_elementwise<IdentityFn<uint64_t>, uint64_t, uint64_t>("copy", dst, {&src}, {});
    }
  }
  dispatch_all(dst.dtype(), [&](auto dt) {
    using D = typename decltype(dt)::type;
    dispatch_all(src.dtype(), [&](auto stag) {
      using S = typename decltype(stag)::type;
      if constexpr (!std::is_same_v<D, S>) launch_elementwise<ConvertFn<D, S>, D, S>("copy", dst, {&src}, {});
    });
  });
}

void CudaBackend::fill(const Tensor& dst, const Scalar& v) {
  dispatch_all(dst.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_elementwise<FillFn<T>, T>("fill", dst, {}, FillFn<T>{scalar_as<T>(v)});
  });
}

void CudaBackend::arange(const Tensor& out, double start, double step) {
  int64_t n = out.numel();
  if (n == 0) return;
  OpDevice g(out);
  int64_t stride = out.dim() ? out.stride(0) : 1;
  bool integral = is_integral(out.dtype());
  dispatch_all(out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    arange_kernel<T><<<blocks_for(n, kBlock, 1, out.device().index), kBlock, 0, stream_of(out)>>>(
        static_cast<char*>(out.data_ptr()), stride, n, start, step, integral);
  });
  check_launch("arange", out);
}

void CudaBackend::where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  dispatch_all(out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_elementwise<math::WhereFn, T, bool, T, T>("where", out, {&cond, &a, &b}, {});
  });
}

void CudaBackend::clamp(const Tensor& out, const Tensor& in, std::optional<Scalar> lo, std::optional<Scalar> hi) {
  dispatch_all(in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_elementwise<math::ClampFn<T>, T, T>("clamp", out, {&in}, clamp_fn<T>(lo, hi));
  });
}

void CudaBackend::fma(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& c) {
  dispatch_floating(out.dtype(), "fma", [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_elementwise<math::FmaFn, T, T, T, T>("fma", out, {&a, &b, &c}, {});
  });
}

}  // namespace tessera::cuda
