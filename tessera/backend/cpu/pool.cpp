// Max and average 2-D pooling and their backward passes on NCHW planes.
#include <limits>

#include "tessera/backend/cpu/cpu_backend.h"
#include "tessera/backend/cpu/loops.h"

namespace tessera::cpu {

void CpuBackend::max_pool2d(const Tensor& out, const Tensor& indices, const Tensor& x, const Pool2dParams& p) {
  int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3), OH = out.size(2), OW = out.size(3);
  if (out.numel() == 0) return;
  dispatch_all(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using M = opmath_t<T>;
    const T* xp = static_cast<const T*>(x.data_ptr());
    T* op = static_cast<T*>(out.data_ptr());
    int64_t* ip = static_cast<int64_t*>(indices.data_ptr());
    parallel_for(planes, 1, [&](int64_t b, int64_t e) {
      for (int64_t pl = b; pl < e; ++pl) {
        const T* in = xp + pl * H * W;
        for (int64_t oh = 0; oh < OH; ++oh)
          for (int64_t ow = 0; ow < OW; ++ow) {
            M best = std::numeric_limits<M>::lowest();
            if constexpr (std::is_floating_point_v<M>) best = -std::numeric_limits<M>::infinity();
            int64_t bi = -1;
            for (int64_t kh = 0; kh < p.kernel[0]; ++kh) {
              int64_t ih = oh * p.stride[0] - p.padding[0] + kh * p.dilation[0];
              if (ih < 0 || ih >= H) continue;
              for (int64_t kw = 0; kw < p.kernel[1]; ++kw) {
                int64_t iw = ow * p.stride[1] - p.padding[1] + kw * p.dilation[1];
                if (iw < 0 || iw >= W) continue;
                M v = M(in[ih * W + iw]);
                if (bi < 0 || v > best || (v != v && best == best)) {
                  best = v;
                  bi = ih * W + iw;
                }
              }
            }
            op[(pl * OH + oh) * OW + ow] = T(best);
            ip[(pl * OH + oh) * OW + ow] = bi;
          }
      }
    });
  });
}

void CpuBackend::max_pool2d_backward(const Tensor& grad_x, const Tensor& grad_out, const Tensor& indices) {
  int64_t planes = grad_x.size(0) * grad_x.size(1), HW = grad_x.size(2) * grad_x.size(3),
          OHW = grad_out.size(2) * grad_out.size(3);
  fill(grad_x, 0);
  dispatch_floating(grad_x.dtype(), "max_pool2d_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* gx = static_cast<T*>(grad_x.data_ptr());
    const T* gy = static_cast<const T*>(grad_out.data_ptr());
    const int64_t* ip = static_cast<const int64_t*>(indices.data_ptr());
    parallel_for(planes, 1, [&](int64_t b, int64_t e) {
      for (int64_t pl = b; pl < e; ++pl)
        for (int64_t i = 0; i < OHW; ++i) {
          int64_t k = ip[pl * OHW + i];
          if (k >= 0 && k < HW) gx[pl * HW + k] = T(opmath_t<T>(gx[pl * HW + k]) + opmath_t<T>(gy[pl * OHW + i]));
        }
    });
  });
}

namespace {
// The window of output (oh, ow) clipped to the input, and PyTorch's divisor for it.
struct AvgWindow {
  int64_t h0, h1, w0, w1, divisor;
  AvgWindow(int64_t oh, int64_t ow, int64_t H, int64_t W, const Pool2dParams& p) {
    h0 = oh * p.stride[0] - p.padding[0];
    w0 = ow * p.stride[1] - p.padding[1];
    h1 = std::min(h0 + p.kernel[0], H + p.padding[0]);
    w1 = std::min(w0 + p.kernel[1], W + p.padding[1]);
    int64_t padded = (h1 - h0) * (w1 - w0);
    h0 = std::max<int64_t>(h0, 0);
    w0 = std::max<int64_t>(w0, 0);
    h1 = std::min(h1, H);
    w1 = std::min(w1, W);
    divisor = p.count_include_pad ? padded : (h1 - h0) * (w1 - w0);
    if (divisor <= 0) divisor = 1;
  }
};
}  // namespace

void CpuBackend::avg_pool2d(const Tensor& out, const Tensor& x, const Pool2dParams& p) {
  int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3), OH = out.size(2), OW = out.size(3);
  if (out.numel() == 0) return;
  dispatch_floating(x.dtype(), "avg_pool2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using M = opmath_t<T>;
    const T* xp = static_cast<const T*>(x.data_ptr());
    T* op = static_cast<T*>(out.data_ptr());
    parallel_for(planes, 1, [&](int64_t b, int64_t e) {
      for (int64_t pl = b; pl < e; ++pl)
        for (int64_t oh = 0; oh < OH; ++oh)
          for (int64_t ow = 0; ow < OW; ++ow) {
            AvgWindow wd(oh, ow, H, W, p);
            M s = 0;
            for (int64_t ih = wd.h0; ih < wd.h1; ++ih)
              for (int64_t iw = wd.w0; iw < wd.w1; ++iw) s += M(xp[(pl * H + ih) * W + iw]);
            op[(pl * OH + oh) * OW + ow] = T(s / M(wd.divisor));
          }
    });
  });
}

void CpuBackend::avg_pool2d_backward(const Tensor& grad_x, const Tensor& grad_out, const Pool2dParams& p) {
  int64_t planes = grad_x.size(0) * grad_x.size(1), H = grad_x.size(2), W = grad_x.size(3), OH = grad_out.size(2),
          OW = grad_out.size(3);
  fill(grad_x, 0);
  dispatch_floating(grad_x.dtype(), "avg_pool2d_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using M = opmath_t<T>;
    T* gx = static_cast<T*>(grad_x.data_ptr());
    const T* gy = static_cast<const T*>(grad_out.data_ptr());
    parallel_for(planes, 1, [&](int64_t b, int64_t e) {
      for (int64_t pl = b; pl < e; ++pl)
        for (int64_t oh = 0; oh < OH; ++oh)
          for (int64_t ow = 0; ow < OW; ++ow) {
            AvgWindow wd(oh, ow, H, W, p);
            M g = M(gy[(pl * OH + oh) * OW + ow]) / M(wd.divisor);
            for (int64_t ih = wd.h0; ih < wd.h1; ++ih)
              for (int64_t iw = wd.w0; iw < wd.w1; ++iw) {
                T& d = gx[(pl * H + ih) * W + iw];
                d = T(M(d) + g);
              }
          }
    });
  });
}

}  // namespace tessera::cpu
