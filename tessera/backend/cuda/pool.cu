// Max and average 2-D pooling and their backward passes on CUDA, with the window geometry of
// math/pool.h. Max-pool backward adds through atomics; average-pool backward gathers, for each
// input pixel, from the outputs whose windows cover it (deterministic).
#include <limits>

#include "tessera/backend/cuda/cuda_backend.h"
#include "tessera/backend/cuda/launch.cuh"
#include "tessera/backend/dispatch.h"
#include "tessera/backend/math/pool.h"

namespace tessera::cuda {

namespace {
struct Geometry {
  int64_t planes, H, W, OH, OW;
  int64_t kernel[2], stride[2], padding[2], dilation[2];
  bool count_include_pad;
};
Geometry geometry(const Tensor& x, const Tensor& y, const Pool2dParams& p) {
  Geometry g{x.size(0) * x.size(1), x.size(2), x.size(3), y.size(2), y.size(3), {}, {}, {}, {}, p.count_include_pad};
  for (int i = 0; i < 2; ++i) {
    g.kernel[i] = p.kernel[i];
    g.stride[i] = p.stride[i];
    g.padding[i] = p.padding[i];
    g.dilation[i] = p.dilation[i];
  }
  return g;
}

#define TS_GRID_STRIDE(i, n) \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); i += int64_t(blockDim.x) * gridDim.x)

template <class T>
__global__ void max_pool_kernel(T* out, int64_t* indices, const T* x, Geometry g) {
  using M = math::opmath_t<T>;
  TS_GRID_STRIDE(e, g.planes * g.OH * g.OW) {
    int64_t ow = e % g.OW, oh = (e / g.OW) % g.OH, pl = e / (g.OW * g.OH);
    math::TapRange rh = math::tap_range(oh, g.H, g.kernel[0], g.stride[0], g.padding[0], g.dilation[0]);
    math::TapRange rw = math::tap_range(ow, g.W, g.kernel[1], g.stride[1], g.padding[1], g.dilation[1]);
    if (rh.lo >= rh.hi || rw.lo >= rw.hi) {  // a window entirely in the padding
      out[e] = T(-std::numeric_limits<M>::infinity());
      indices[e] = -1;
      continue;
    }
    const T* in = x + pl * g.H * g.W;
    int64_t bi = (rh.start + rh.lo * g.dilation[0]) * g.W + rw.start + rw.lo * g.dilation[1];
    M best = M(in[bi]);
    for (int64_t kh = rh.lo; kh < rh.hi; ++kh) {
      int64_t row = (rh.start + kh * g.dilation[0]) * g.W + rw.start;
      for (int64_t kw = rw.lo; kw < rw.hi; ++kw) {
        int64_t at = row + kw * g.dilation[1];
        M v = M(in[at]);
        bool take = math::max_pool_takes(v, best);
        best = take ? v : best;
        bi = take ? at : bi;
      }
    }
    out[e] = T(best);
    indices[e] = bi;
  }
}

template <class T>
__global__ void max_pool_backward_kernel(T* gx, const T* gy, const int64_t* indices, int64_t planes, int64_t HW,
                                         int64_t OHW) {
  TS_GRID_STRIDE(e, planes * OHW) {
    int64_t k = indices[e];
    if (k >= 0 && k < HW) atomic_add(gx + (e / OHW) * HW + k, gy[e]);
  }
}

template <class T>
__global__ void avg_pool_kernel(T* out, const T* x, Geometry g) {
  using M = math::opmath_t<T>;
  TS_GRID_STRIDE(e, g.planes * g.OH * g.OW) {
    int64_t ow = e % g.OW, oh = (e / g.OW) % g.OH, pl = e / (g.OW * g.OH);
    math::AvgWindow wd = math::avg_window(oh, ow, g.H, g.W, g.kernel, g.stride, g.padding, g.count_include_pad);
    const T* in = x + pl * g.H * g.W;
    M s = 0;
    for (int64_t ih = wd.h0; ih < wd.h1; ++ih)
      for (int64_t iw = wd.w0; iw < wd.w1; ++iw) s += M(in[ih * g.W + iw]);
    out[e] = T(s / M(wd.divisor));
  }
}

// The outputs along one axis whose (unclipped) windows [o * stride - pad, ... + k) hold i.
__device__ __forceinline__ void covering(int64_t i, int64_t k, int64_t stride, int64_t pad, int64_t outs,
                                         int64_t& lo, int64_t& hi) {
  int64_t num = i + pad - k + 1;
  lo = num <= 0 ? 0 : (num + stride - 1) / stride;
  hi = (i + pad) / stride + 1;
  if (hi > outs) hi = outs;
}

template <class T>
__global__ void avg_pool_backward_kernel(T* gx, const T* gy, Geometry g) {
  using M = math::opmath_t<T>;
  TS_GRID_STRIDE(e, g.planes * g.H * g.W) {
    int64_t iw = e % g.W, ih = (e / g.W) % g.H, pl = e / (g.W * g.H);
    int64_t oh0, oh1, ow0, ow1;
    covering(ih, g.kernel[0], g.stride[0], g.padding[0], g.OH, oh0, oh1);
    covering(iw, g.kernel[1], g.stride[1], g.padding[1], g.OW, ow0, ow1);
    const T* go = gy + pl * g.OH * g.OW;
    M s = 0;
    for (int64_t oh = oh0; oh < oh1; ++oh)
      for (int64_t ow = ow0; ow < ow1; ++ow) {
        math::AvgWindow wd = math::avg_window(oh, ow, g.H, g.W, g.kernel, g.stride, g.padding, g.count_include_pad);
        if (ih >= wd.h0 && ih < wd.h1 && iw >= wd.w0 && iw < wd.w1) s += M(go[oh * g.OW + ow]) / M(wd.divisor);
      }
    gx[e] = T(s);
  }
}
#undef TS_GRID_STRIDE
}  // namespace

void CudaBackend::max_pool2d(const Tensor& out, const Tensor& indices, const Tensor& x, const Pool2dParams& p) {
  if (out.numel() == 0) return;
  Geometry g = geometry(x, out, p);
  OpDevice dev(x);
  dispatch_all(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    max_pool_kernel<T><<<blocks_for(out.numel(), kBlock, 1, x.device().index), kBlock, 0, stream_of(x)>>>(
        static_cast<T*>(out.data_ptr()), static_cast<int64_t*>(indices.data_ptr()), static_cast<const T*>(x.data_ptr()),
        g);
  });
  check_launch("max_pool2d", x);
}

void CudaBackend::max_pool2d_backward(const Tensor& grad_x, const Tensor& grad_out, const Tensor& indices) {
  fill(grad_x, 0);
  if (grad_out.numel() == 0) return;
  int64_t planes = grad_x.size(0) * grad_x.size(1), HW = grad_x.size(2) * grad_x.size(3),
          OHW = grad_out.size(2) * grad_out.size(3);
  OpDevice dev(grad_x);
  dispatch_floating(grad_x.dtype(), "max_pool2d_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    max_pool_backward_kernel<T><<<blocks_for(grad_out.numel(), kBlock, 1, grad_x.device().index), kBlock, 0,
                                   stream_of(grad_x)>>>(static_cast<T*>(grad_x.data_ptr()),
                                                        static_cast<const T*>(grad_out.data_ptr()),
                                                        static_cast<const int64_t*>(indices.data_ptr()), planes, HW,
                                                        OHW);
  });
  check_launch("max_pool2d_backward", grad_x);
}

void CudaBackend::avg_pool2d(const Tensor& out, const Tensor& x, const Pool2dParams& p) {
  if (out.numel() == 0) return;
  Geometry g = geometry(x, out, p);
  OpDevice dev(x);
  dispatch_floating(x.dtype(), "avg_pool2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    avg_pool_kernel<T><<<blocks_for(out.numel(), kBlock, 1, x.device().index), kBlock, 0, stream_of(x)>>>(
        static_cast<T*>(out.data_ptr()), static_cast<const T*>(x.data_ptr()), g);
  });
  check_launch("avg_pool2d", x);
}

void CudaBackend::avg_pool2d_backward(const Tensor& grad_x, const Tensor& grad_out, const Pool2dParams& p) {
  if (grad_x.numel() == 0) return;
  Geometry g = geometry(grad_x, grad_out, p);
  OpDevice dev(grad_x);
  dispatch_floating(grad_x.dtype(), "avg_pool2d_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    avg_pool_backward_kernel<T><<<blocks_for(grad_x.numel(), kBlock, 1, grad_x.device().index), kBlock, 0,
                                   stream_of(grad_x)>>>(static_cast<T*>(grad_x.data_ptr()),
                                                        static_cast<const T*>(grad_out.data_ptr()), g);
  });
  check_launch("avg_pool2d_backward", grad_x);
}

}  // namespace tessera::cuda
