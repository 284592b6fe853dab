// 2-D convolution and its two backward passes: oneDNN for float32/bfloat16 (it picks blocked
// layouts; we reorder to and from NCHW), direct loops for float64 and float16.
#include <sstream>
#include <vector>

#include "tessera/backend/cpu/cpu_backend.h"
#include "tessera/backend/cpu/dnnl_util.h"
#include "tessera/backend/cpu/loops.h"

namespace tessera::cpu {

namespace {

using dnnl::memory;
using tag = memory::format_tag;

struct Geometry {
  int64_t N, C, H, W, O, KH, KW, OH, OW;
  memory::dims strides, dilates, pad_l, pad_r;
  memory::dims src, wei, dst, bias;
  std::string key;
};

Geometry geometry(const Shape& xs, const Shape& ws, const Shape& os, const Conv2dParams& p, DType dt) {
  Geometry g{xs[0], xs[1], xs[2], xs[3], ws[0], ws[2], ws[3], os[2], os[3], {}, {}, {}, {}, {}, {}, {}, {}, {}};
  g.strides = {p.stride[0], p.stride[1]};
  g.dilates = {p.dilation[0] - 1, p.dilation[1] - 1};
  g.pad_l = {p.padding[0], p.padding[1]};
  // oneDNN wants the right padding that makes the output size exact (floor semantics).
  g.pad_r = {(g.OH - 1) * p.stride[0] + (g.KH - 1) * p.dilation[0] + 1 - g.H - p.padding[0],
             (g.OW - 1) * p.stride[1] + (g.KW - 1) * p.dilation[1] + 1 - g.W - p.padding[1]};
  g.src = {g.N, g.C, g.H, g.W};
  g.dst = {g.N, g.O, g.OH, g.OW};
  g.bias = {g.O};
  if (p.groups > 1)
    g.wei = {p.groups, g.O / p.groups, g.C / p.groups, g.KH, g.KW};
  else
    g.wei = {g.O, g.C, g.KH, g.KW};
  std::ostringstream k;
  k << int(dt);
  for (auto v : {g.src, g.wei, g.dst, g.strides, g.dilates, g.pad_l, g.pad_r})
    for (auto x : v) k << ',' << x;
  g.key = k.str();
  return g;
}

// Runs prim with `args`, reordering each user NCHW tensor to the layout the primitive wants
// (inputs before, outputs after).
struct Arg {
  int id;
  const Tensor* t;
  memory::desc want;
  bool output;
};
void run_with_reorders(Backend& be, const dnnl::primitive& prim, const std::vector<Arg>& args,
                       memory::data_type dt) {
  auto& eng = dnnl_engine();
  std::vector<Storage> scratch;  // the blocked copies live in our cached allocator, not fresh pages
  dnnl::stream s(eng);
  std::unordered_map<int, memory> margs;
  std::vector<std::pair<memory, memory>> outputs;  // (primitive's, user's)
  for (const Arg& a : args) {
    const Tensor& t = *a.t;
    memory::dims dims(t.shape().begin(), t.shape().end());
    tag plain = dims.size() == 4 ? tag::nchw : dims.size() == 5 ? tag::goihw : tag::x;
    if (a.want.dims().size() == 5 && dims.size() == 4) {  // grouped weights: view OIHW as GOIHW
      dims = a.want.dims();
      plain = tag::goihw;
    }
    memory user(memory::desc(dims, dt, plain), eng, t.data_ptr());
    if (user.get_desc() == a.want) {
      margs.emplace(a.id, user);
      continue;
    }
    scratch.push_back(be.allocate(a.want.get_size(), Device::cpu()));
    memory mine(a.want, eng, scratch.back()->data());
    if (a.output) outputs.emplace_back(mine, user);
    else dnnl::reorder(user, mine).execute(s, user, mine);
    margs.emplace(a.id, mine);
  }
  prim.execute(s, margs);
  for (auto& [mine, user] : outputs) dnnl::reorder(mine, user).execute(s, mine, user);
  s.wait();
}

struct ConvPrims {
  dnnl::convolution_forward::primitive_desc fwd_pd;
  dnnl::convolution_forward fwd;
  dnnl::convolution_backward_data::primitive_desc bwd_data_pd;
  dnnl::convolution_backward_data bwd_data;
  dnnl::convolution_backward_weights::primitive_desc bwd_w_pd;
  dnnl::convolution_backward_weights bwd_w;
};

ConvPrims& conv_prims(const Geometry& g, memory::data_type dt) {
  static PrimitiveCache<ConvPrims> cache;
  return cache.get(g.key, [&] {
    auto& eng = dnnl_engine();
    memory::desc src(g.src, dt, tag::any), wei(g.wei, dt, tag::any), dst(g.dst, dt, tag::any),
        bias(g.bias, dt, tag::x);
    auto alg = dnnl::algorithm::convolution_direct;
    dnnl::convolution_forward::primitive_desc fpd(
        dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, alg, src, wei, bias, dst, g.strides,
                                        g.dilates, g.pad_l, g.pad_r),
        eng);
    dnnl::convolution_backward_data::primitive_desc dpd(
        dnnl::convolution_backward_data::desc(alg, src, wei, dst, g.strides, g.dilates, g.pad_l, g.pad_r), eng, fpd);
    dnnl::convolution_backward_weights::primitive_desc wpd(
        dnnl::convolution_backward_weights::desc(alg, src, wei, bias, dst, g.strides, g.dilates, g.pad_l, g.pad_r),
        eng, fpd);
    return ConvPrims{fpd, dnnl::convolution_forward(fpd), dpd, dnnl::convolution_backward_data(dpd), wpd,
                     dnnl::convolution_backward_weights(wpd)};
  });
}

// Direct loops for the dtypes oneDNN does not compute in (float64 above all, for gradcheck).
template <class T>
struct DirectConv {
  using M = opmath_t<T>;
  const Conv2dParams& p;
  int64_t N, C, H, W, O, KH, KW, OH, OW, G, Cg, Og;
  DirectConv(const Shape& xs, const Shape& ws, const Shape& os, const Conv2dParams& prm)
      : p(prm), N(xs[0]), C(xs[1]), H(xs[2]), W(xs[3]), O(ws[0]), KH(ws[2]), KW(ws[3]), OH(os[2]), OW(os[3]),
        G(prm.groups), Cg(C / G), Og(O / G) {}
  // Calls f(ih, iw, kh, kw) for every tap of output (oh, ow) inside the input.
  template <class F>
  void taps(int64_t oh, int64_t ow, const F& f) const {
    for (int64_t kh = 0; kh < KH; ++kh) {
      int64_t ih = oh * p.stride[0] - p.padding[0] + kh * p.dilation[0];
      if (ih < 0 || ih >= H) continue;
      for (int64_t kw = 0; kw < KW; ++kw) {
        int64_t iw = ow * p.stride[1] - p.padding[1] + kw * p.dilation[1];
        if (iw >= 0 && iw < W) f(ih, iw, kh, kw);
      }
    }
  }
  void forward(T* out, const T* x, const T* w, const T* bias) const {
    parallel_for(N * O, 1, [&](int64_t b, int64_t e) {
      for (int64_t no = b; no < e; ++no) {
        int64_t n = no / O, o = no % O, g = o / Og;
        for (int64_t oh = 0; oh < OH; ++oh)
          for (int64_t ow = 0; ow < OW; ++ow) {
            M acc = bias ? M(bias[o]) : M(0);
            for (int64_t c = 0; c < Cg; ++c) {
              const T* xp = x + ((n * C + g * Cg + c) * H) * W;
              const T* wp = w + ((o * Cg + c) * KH) * KW;
              taps(oh, ow, [&](int64_t ih, int64_t iw, int64_t kh, int64_t kw) {
                acc += M(xp[ih * W + iw]) * M(wp[kh * KW + kw]);
              });
            }
            out[((n * O + o) * OH + oh) * OW + ow] = T(acc);
          }
      }
    });
  }
  void backward_input(T* gx, const T* gy, const T* w) const {
    parallel_for(N, 1, [&](int64_t b, int64_t e) {
      std::vector<M> acc(size_t(C * H * W));
      for (int64_t n = b; n < e; ++n) {
        std::fill(acc.begin(), acc.end(), M(0));
        for (int64_t o = 0; o < O; ++o) {
          int64_t g = o / Og;
          for (int64_t oh = 0; oh < OH; ++oh)
            for (int64_t ow = 0; ow < OW; ++ow) {
              M go = M(gy[((n * O + o) * OH + oh) * OW + ow]);
              for (int64_t c = 0; c < Cg; ++c) {
                const T* wp = w + ((o * Cg + c) * KH) * KW;
                M* ap = acc.data() + (g * Cg + c) * H * W;
                taps(oh, ow, [&](int64_t ih, int64_t iw, int64_t kh, int64_t kw) {
                  ap[ih * W + iw] += go * M(wp[kh * KW + kw]);
                });
              }
            }
        }
        for (int64_t i = 0; i < C * H * W; ++i) gx[n * C * H * W + i] = T(acc[size_t(i)]);
      }
    });
  }
  void backward_weight(T* gw, T* gb, const T* x, const T* gy) const {
    parallel_for(O, 1, [&](int64_t b, int64_t e) {
      std::vector<M> acc(size_t(Cg * KH * KW));
      for (int64_t o = b; o < e; ++o) {
        int64_t g = o / Og;
        std::fill(acc.begin(), acc.end(), M(0));
        M bacc = 0;
        for (int64_t n = 0; n < N; ++n)
          for (int64_t oh = 0; oh < OH; ++oh)
            for (int64_t ow = 0; ow < OW; ++ow) {
              M go = M(gy[((n * O + o) * OH + oh) * OW + ow]);
              bacc += go;
              for (int64_t c = 0; c < Cg; ++c) {
                const T* xp = x + ((n * C + g * Cg + c) * H) * W;
                M* ap = acc.data() + c * KH * KW;
                taps(oh, ow, [&](int64_t ih, int64_t iw, int64_t kh, int64_t kw) {
                  ap[kh * KW + kw] += go * M(xp[ih * W + iw]);
                });
              }
            }
        for (int64_t i = 0; i < Cg * KH * KW; ++i) gw[o * Cg * KH * KW + i] = T(acc[size_t(i)]);
        if (gb) gb[o] = T(bacc);
      }
    });
  }
};

template <class F>
void direct(DType t, const F& f) {
  dispatch_floating(t, "conv2d", [&](auto tag_) { f(tag_); });
}

}  // namespace

void CpuBackend::conv2d(const Tensor& out, const Tensor& x, const Tensor& w, const Tensor& bias,
                        const Conv2dParams& p) {
  if (out.numel() == 0) return;
  auto dt = dnnl_type(x.dtype());
  if (dt != memory::data_type::undef && x.numel() > 0) {
    Geometry g = geometry(x.shape(), w.shape(), out.shape(), p, x.dtype());
    ConvPrims& cp = conv_prims(g, dt);
    std::vector<Arg> args{{DNNL_ARG_SRC, &x, cp.fwd_pd.src_desc(), false},
                          {DNNL_ARG_WEIGHTS, &w, cp.fwd_pd.weights_desc(), false},
                          {DNNL_ARG_DST, &out, cp.fwd_pd.dst_desc(), true}};
    Tensor zero_bias;
    if (bias.defined()) {
      args.push_back({DNNL_ARG_BIAS, &bias, cp.fwd_pd.bias_desc(), false});
    } else {
      zero_bias = Tensor(allocate(size_t(g.O) * out.element_size()), {g.O}, {1}, 0, out.dtype());
      fill(zero_bias, 0);
      args.push_back({DNNL_ARG_BIAS, &zero_bias, cp.fwd_pd.bias_desc(), false});
    }
    run_with_reorders(*this, cp.fwd, args, dt);
    return;
  }
  direct(x.dtype(), [&](auto tg) {
    using T = typename decltype(tg)::type;
    DirectConv<T>(x.shape(), w.shape(), out.shape(), p)
        .forward(static_cast<T*>(out.data_ptr()), static_cast<const T*>(x.data_ptr()),
                 static_cast<const T*>(w.data_ptr()), bias.defined() ? static_cast<const T*>(bias.data_ptr()) : nullptr);
  });
}

void CpuBackend::conv2d_backward_input(const Tensor& grad_x, const Tensor& grad_out, const Tensor& w,
                                       const Conv2dParams& p) {
  if (grad_x.numel() == 0) return;
  if (grad_out.numel() == 0) return fill(grad_x, 0);
  auto dt = dnnl_type(grad_x.dtype());
  if (dt != memory::data_type::undef) {
    Geometry g = geometry(grad_x.shape(), w.shape(), grad_out.shape(), p, grad_x.dtype());
    ConvPrims& cp = conv_prims(g, dt);
    run_with_reorders(*this, cp.bwd_data,
                      {{DNNL_ARG_DIFF_DST, &grad_out, cp.bwd_data_pd.diff_dst_desc(), false},
                       {DNNL_ARG_WEIGHTS, &w, cp.bwd_data_pd.weights_desc(), false},
                       {DNNL_ARG_DIFF_SRC, &grad_x, cp.bwd_data_pd.diff_src_desc(), true}},
                      dt);
    return;
  }
  direct(grad_x.dtype(), [&](auto tg) {
    using T = typename decltype(tg)::type;
    DirectConv<T>(grad_x.shape(), w.shape(), grad_out.shape(), p)
        .backward_input(static_cast<T*>(grad_x.data_ptr()), static_cast<const T*>(grad_out.data_ptr()),
                        static_cast<const T*>(w.data_ptr()));
  });
}

void CpuBackend::conv2d_backward_weight(const Tensor& grad_w, const Tensor& grad_bias, const Tensor& x,
                                        const Tensor& grad_out, const Conv2dParams& p) {
  if (grad_out.numel() == 0 || x.numel() == 0) {
    fill(grad_w, 0);
    if (grad_bias.defined()) fill(grad_bias, 0);
    return;
  }
  auto dt = dnnl_type(x.dtype());
  if (dt != memory::data_type::undef) {
    Geometry g = geometry(x.shape(), grad_w.shape(), grad_out.shape(), p, x.dtype());
    ConvPrims& cp = conv_prims(g, dt);
    Tensor gb = grad_bias.defined()
                    ? grad_bias
                    : Tensor(allocate(size_t(g.O) * x.element_size()), {g.O}, {1}, 0, x.dtype());
    run_with_reorders(*this, cp.bwd_w,
                      {{DNNL_ARG_SRC, &x, cp.bwd_w_pd.src_desc(), false},
                       {DNNL_ARG_DIFF_DST, &grad_out, cp.bwd_w_pd.diff_dst_desc(), false},
                       {DNNL_ARG_DIFF_WEIGHTS, &grad_w, cp.bwd_w_pd.diff_weights_desc(), true},
                       {DNNL_ARG_DIFF_BIAS, &gb, cp.bwd_w_pd.diff_bias_desc(), true}},
                      dt);
    return;
  }
  direct(x.dtype(), [&](auto tg) {
    using T = typename decltype(tg)::type;
    DirectConv<T>(x.shape(), grad_w.shape(), grad_out.shape(), p)
        .backward_weight(static_cast<T*>(grad_w.data_ptr()),
                         grad_bias.defined() ? static_cast<T*>(grad_bias.data_ptr()) : nullptr,
                         static_cast<const T*>(x.data_ptr()), static_cast<const T*>(grad_out.data_ptr()));
  });
}

}  // namespace tessera::cpu
