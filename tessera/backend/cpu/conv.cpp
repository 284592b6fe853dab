// 2-D convolution and its two backward passes: oneDNN for float32/bfloat16 (it picks blocked
// layouts; we reorder to and from NCHW), direct loops for float64 and float16.
#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "tessera/backend/cpu/cpu_backend.h"
#include "tessera/backend/cpu/dnnl_util.h"
#include "tessera/backend/cpu/loops.h"

namespace tessera::cpu {

namespace {

using dnnl::memory;
// A weight gradient is summed over at most this many pieces of the batch.
constexpr int64_t kWeightGradPieces = 8;
using tag = memory::format_tag;

struct Geometry {
  int64_t N, C, H, W, O, KH, KW, OH, OW, G;
  memory::dims strides, dilates, pad_l, pad_r;
  double flops;     // of the forward pass (each backward pass does as many)
  std::string key;  // everything but the batch size
};

Geometry geometry(const Shape& xs, const Shape& ws, const Shape& os, const Conv2dParams& p, DType dt) {
  Geometry g{xs[0], xs[1], xs[2], xs[3], ws[0], ws[2], ws[3], os[2], os[3], p.groups, {}, {}, {}, {}, 0, {}};
  g.strides = {p.stride[0], p.stride[1]};
  g.dilates = {p.dilation[0] - 1, p.dilation[1] - 1};
  g.pad_l = {p.padding[0], p.padding[1]};
  // oneDNN wants the right padding that makes the output size exact (floor semantics).
  g.pad_r = {(g.OH - 1) * p.stride[0] + (g.KH - 1) * p.dilation[0] + 1 - g.H - p.padding[0],
             (g.OW - 1) * p.stride[1] + (g.KW - 1) * p.dilation[1] + 1 - g.W - p.padding[1]};
  g.flops =
      2.0 * double(g.N) * double(g.O) * double(g.OH) * double(g.OW) * double(g.C / g.G) * double(g.KH) * double(g.KW);
  // The key's bytes are the numbers themselves: formatting them (an ostringstream) cost more than
  // a small convolution's kernel.
  const int64_t k[] = {int64_t(dt), g.C, g.H, g.W, g.O, g.KH, g.KW, g.G, g.strides[0], g.strides[1], g.dilates[0],
                       g.dilates[1], g.pad_l[0], g.pad_l[1], g.pad_r[0], g.pad_r[1]};
  g.key.assign(reinterpret_cast<const char*>(k), sizeof k);
  return g;
}

// The user's descriptors of a batch of n: NCHW, or NHWC for channels-last tensors; OIHW / GOIHW / x.
bool cl(const Tensor& t) { return t.suggest_memory_format() == MemoryFormat::ChannelsLast; }
memory::desc src_md(const Geometry& g, int64_t n, memory::data_type dt, bool nhwc) {
  return {{n, g.C, g.H, g.W}, dt, nhwc ? tag::nhwc : tag::nchw};
}
memory::desc dst_md(const Geometry& g, int64_t n, memory::data_type dt, bool nhwc) {
  return {{n, g.O, g.OH, g.OW}, dt, nhwc ? tag::nhwc : tag::nchw};
}
memory::desc wei_md(const Geometry& g, memory::data_type dt) {
  if (g.G > 1) return {{g.G, g.O / g.G, g.C / g.G, g.KH, g.KW}, dt, tag::goihw};
  return {{g.O, g.C, g.KH, g.KW}, dt, tag::oihw};
}
memory::desc bias_md(const Geometry& g, memory::data_type dt) { return {{g.O}, dt, tag::x}; }

// The three primitives of one geometry and batch size, created together (the backward ones take
// the forward's hint), single-threaded with a user scratchpad. The weight gradient is computed
// in float32 whatever the data type: a batch cut into pieces sums the pieces' partial gradients.
struct ConvPrims {
  dnnl::convolution_forward::primitive_desc fwd_pd;
  dnnl::convolution_forward fwd;
  dnnl::convolution_backward_data::primitive_desc bwd_data_pd;
  dnnl::convolution_backward_data bwd_data;
  dnnl::convolution_backward_weights::primitive_desc bwd_w_pd;
  dnnl::convolution_backward_weights bwd_w;
};

// The three primitives of algorithm alg on these descriptors (gwei, gbias: the gradients').
ConvPrims make_prims(const Geometry& g, dnnl::algorithm alg, const memory::desc& src, const memory::desc& wei,
                     const memory::desc& bias, const memory::desc& dst, const memory::desc& gwei,
                     const memory::desc& gbias) {
  auto& eng = dnnl_engine();
  const auto& attr = dnnl_attr();
  dnnl::convolution_forward::primitive_desc fpd(
      dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, alg, src, wei, bias, dst, g.strides,
                                      g.dilates, g.pad_l, g.pad_r),
      attr, eng);
  dnnl::convolution_backward_data::primitive_desc dpd(
      dnnl::convolution_backward_data::desc(alg, src, wei, dst, g.strides, g.dilates, g.pad_l, g.pad_r), attr, eng,
      fpd);
  dnnl::convolution_backward_weights::primitive_desc wpd(
      dnnl::convolution_backward_weights::desc(alg, src, gwei, gbias, dst, g.strides, g.dilates, g.pad_l, g.pad_r),
      attr, eng, fpd);
  return ConvPrims{fpd, dnnl::convolution_forward(fpd), dpd, dnnl::convolution_backward_data(dpd), wpd,
                   dnnl::convolution_backward_weights(wpd)};
}

// oneDNN's Winograd kernels where they suit the convolution (winograd_suits): the three primitives
// on blocked layouts (the user's tensors are reordered to and from them), or nothing.
std::optional<ConvPrims> winograd_prims(const Geometry& g, int64_t n, memory::data_type dt) {
  if (dt != memory::data_type::f32 ||
      !winograd_suits(n, g.C, g.O, g.OH, g.OW, g.KH, g.KW, g.strides, g.dilates, g.G))
    return std::nullopt;
  memory::desc src({n, g.C, g.H, g.W}, dt, tag::any), wei({g.O, g.C, g.KH, g.KW}, dt, tag::any),
      dst({n, g.O, g.OH, g.OW}, dt, tag::any), bias({g.O}, dt, tag::x);
  try {
    return make_prims(g, dnnl::algorithm::convolution_winograd, src, wei, bias, dst, wei, bias);
  } catch (const dnnl::error&) {
    // winograd_suits checked that this CPU has the kernels (cpu_winograd_available); oneDNN can
    // still refuse a layer: pads beyond what its kernels take, and the like.
    return std::nullopt;
  }
}

std::shared_ptr<ConvPrims> conv_prims(const Geometry& g, int64_t n, memory::data_type dt, bool user_nhwc) {
  static PrimitiveCache<ConvPrims> cache;
  const bool wino = cpu_winograd_enabled();
  const int64_t more[] = {n, int64_t(user_nhwc), int64_t(wino)};
  std::string key = g.key;
  key.append(reinterpret_cast<const char*>(more), sizeof more);
  return cache.get(key, [&] {
    DnnlSerial serial;
    if (auto w = winograd_prims(g, n, dt)) return std::move(*w);
    memory::dims wd = wei_md(g, dt).dims();
    // Channel counts that are no multiple of 16 waste part of every 16-channel block in oneDNN's
    // blocked layouts; its channels-last kernels (brgemm forward) run such layers 15-30% faster
    // here (50 and 100 channels: the Rosetta CNN). Multiples of 16 and tiny inputs (an image's
    // 3 channels) keep oneDNN's choice, unless the tensors are channels last already: then the
    // kernels take them as they are (no reorders at all).
    bool nhwc = g.G == 1 && (user_nhwc || (g.C >= 16 && (g.C % 16 != 0 || g.O % 16 != 0)));
    tag act = nhwc ? tag::nhwc : tag::any;
    memory::desc src({n, g.C, g.H, g.W}, dt, act), wei(wd, dt, tag::any), dst({n, g.O, g.OH, g.OW}, dt, act),
        bias({g.O}, dt, tag::x);
    memory::desc gwei(wd, memory::data_type::f32, tag::any), gbias({g.O}, memory::data_type::f32, tag::x);
    return make_prims(g, dnnl::algorithm::convolution_direct, src, wei, bias, dst, gwei, gbias);
  });
}

// The batch pieces of a pass and their primitives (at most two sizes: the pieces are near-equal).
struct BatchPlan {
  Pieces pieces;
  std::vector<std::shared_ptr<ConvPrims>> prims;  // per piece
};

BatchPlan batch_plan(const Geometry& g, memory::data_type dt, int64_t count, bool user_nhwc) {
  BatchPlan bp{{g.N, count}, {}};
  std::shared_ptr<ConvPrims> small, large;
  for (int64_t c = 0; c < count; ++c) {
    int64_t n = bp.pieces.size(c);
    auto& slot = n == g.N / count ? small : large;
    if (!slot) slot = conv_prims(g, n, dt, user_nhwc);
    bp.prims.push_back(slot);
  }
  return bp;
}

// Weights in the layout `want` (reordered once for every piece), or the user's own.
struct Weights {
  std::vector<std::pair<memory::desc, Storage>> copies;
  void* user;
  memory::desc user_md;
  void* get(const memory::desc& want) {
    if (want == user_md) return user;
    for (auto& [md, st] : copies)
      if (md == want) return st->data();
    copies.emplace_back(want, dnnl_scratch(want.get_size()));
    dnnl_reorder(user_md, user, want, copies.back().second->data());
    return copies.back().second->data();
  }
};

char* at_batch(const Tensor& t, int64_t n0) {
  return static_cast<char*>(t.data_ptr()) + n0 * (t.numel() / t.size(0)) * int64_t(t.element_size());
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
    int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(OH * OW * Cg * KH * KW, 1));  // ~64K MACs
    parallel_for(N * O, grain, [&](int64_t b, int64_t e) {
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
    int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(O * OH * OW * Cg * KH * KW, 1));
    parallel_for(N, grain, [&](int64_t b, int64_t e) {
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
    int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(N * OH * OW * Cg * KH * KW, 1));
    parallel_for(O, grain, [&](int64_t b, int64_t e) {
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

bool CpuBackend::channels_last(DType dt) const { return dnnl_type(dt) != memory::data_type::undef; }

Tensor CpuBackend::widened(const Tensor& t, bool values) {
  if (!t.defined()) return t;
  bool bcast = t.dim() > 0 && t.size(0) > 1 && t.stride(0) == 0;
  Tensor src = bcast ? t.narrow(0, 0, 1) : t;
  Tensor f(allocate(size_t(src.numel()) * sizeof(float)), src.shape(), contiguous_strides(src.shape()), 0,
           DType::Float32);
  if (values) copy(f, src);
  return bcast ? f.expand(t.shape()) : f;
}

void CpuBackend::conv2d(const Tensor& out, const Tensor& x, const Tensor& w, const Tensor& bias,
                        const Conv2dParams& p) {
  if (out.numel() == 0) return;
  if (widen_bf16(x.dtype())) {
    Tensor o = widened(out, false);
    conv2d(o, widened(x), widened(w), widened(bias), p);
    return copy(out, o);
  }
  auto dt = dnnl_type(x.dtype());
  if (dt != memory::data_type::undef && x.numel() > 0) {
    Geometry g = geometry(x.shape(), w.shape(), out.shape(), p, x.dtype());
    BatchPlan bp = batch_plan(g, dt, dnnl_pieces(g.flops, g.N), cl(x));
    Weights wts{{}, w.data_ptr(), wei_md(g, dt)};
    std::vector<void*> wp;  // the weights each piece reads, reordered before the pieces run
    for (auto& cp : bp.prims) wp.push_back(wts.get(cp->fwd_pd.weights_desc()));
    Tensor zero_bias;
    if (!bias.defined()) {
      zero_bias = Tensor(allocate(size_t(g.O) * out.element_size()), {g.O}, {1}, 0, out.dtype());
      fill(zero_bias, 0);
    }
    const Tensor& b = bias.defined() ? bias : zero_bias;
    parallel_chunks(bp.pieces.count, [&](int64_t c) {
      int64_t n0 = bp.pieces.begin(c), n = bp.pieces.size(c);
      const ConvPrims& cp = *bp.prims[size_t(c)];
      dnnl_run(cp.fwd, cp.fwd_pd.scratchpad_desc(),
               {{DNNL_ARG_SRC, at_batch(x, n0), src_md(g, n, dt, cl(x)), cp.fwd_pd.src_desc()},
                {DNNL_ARG_WEIGHTS, wp[size_t(c)], cp.fwd_pd.weights_desc(), cp.fwd_pd.weights_desc()},
                {DNNL_ARG_BIAS, b.data_ptr(), bias_md(g, dt), cp.fwd_pd.bias_desc()},
                {DNNL_ARG_DST, at_batch(out, n0), dst_md(g, n, dt, cl(out)), cp.fwd_pd.dst_desc(), true}});
    });
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
  if (widen_bf16(grad_x.dtype())) {
    Tensor gx = widened(grad_x, false);
    conv2d_backward_input(gx, widened(grad_out), widened(w), p);
    return copy(grad_x, gx);
  }
  auto dt = dnnl_type(grad_x.dtype());
  if (dt != memory::data_type::undef) {
    Geometry g = geometry(grad_x.shape(), w.shape(), grad_out.shape(), p, grad_x.dtype());
    BatchPlan bp = batch_plan(g, dt, dnnl_pieces(g.flops, g.N), cl(grad_out));
    Weights wts{{}, w.data_ptr(), wei_md(g, dt)};
    std::vector<void*> wp;
    for (auto& cp : bp.prims) wp.push_back(wts.get(cp->bwd_data_pd.weights_desc()));
    parallel_chunks(bp.pieces.count, [&](int64_t c) {
      int64_t n0 = bp.pieces.begin(c), n = bp.pieces.size(c);
      const ConvPrims& cp = *bp.prims[size_t(c)];
      dnnl_run(cp.bwd_data, cp.bwd_data_pd.scratchpad_desc(),
               {{DNNL_ARG_DIFF_DST, at_batch(grad_out, n0), dst_md(g, n, dt, cl(grad_out)), cp.bwd_data_pd.diff_dst_desc()},
                {DNNL_ARG_WEIGHTS, wp[size_t(c)], cp.bwd_data_pd.weights_desc(), cp.bwd_data_pd.weights_desc()},
                {DNNL_ARG_DIFF_SRC, at_batch(grad_x, n0), src_md(g, n, dt, cl(grad_x)), cp.bwd_data_pd.diff_src_desc(),
                 true}});
    });
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
  if (widen_bf16(x.dtype())) {
    Tensor gw = widened(grad_w, false), gb = widened(grad_bias, false);
    conv2d_backward_weight(gw, gb, widened(x), widened(grad_out), p);
    copy(grad_w, gw);
    if (gb.defined()) copy(grad_bias, gb);
    return;
  }
  auto dt = dnnl_type(x.dtype());
  if (dt != memory::data_type::undef) {
    Geometry g = geometry(x.shape(), grad_w.shape(), grad_out.shape(), p, x.dtype());
    // Each piece of the batch computes a partial gradient in float32; the partials are summed in
    // piece order. The pieces depend on the sizes only, so the bits do not depend on the threads.
    BatchPlan bp = batch_plan(g, dt, std::min<int64_t>(g.N, g.flops < 4e6 ? 1 : kWeightGradPieces), cl(x));
    auto f32 = memory::data_type::f32;
    memory::desc gw_want = bp.prims[0]->bwd_w_pd.diff_weights_desc();
    size_t stride = 0;  // floats per piece: its weight gradient (in its layout), then its bias gradient
    for (auto& cp : bp.prims) stride = std::max(stride, cp->bwd_w_pd.diff_weights_desc().get_size() / sizeof(float));
    // Each piece's weight and bias gradients start 64-byte aligned, as the allocator's blocks do
    // (the Winograd kernels store their weight gradient with aligned vector stores).
    const int64_t wn = (int64_t(stride) + 15) / 16 * 16, piece_floats = wn + (g.O + 15) / 16 * 16;
    Storage partial = dnnl_scratch(size_t(bp.pieces.count) * size_t(piece_floats) * sizeof(float));
    float* part = static_cast<float*>(partial->data());
    parallel_chunks(bp.pieces.count, [&](int64_t c) {
      int64_t n0 = bp.pieces.begin(c), n = bp.pieces.size(c);
      const ConvPrims& cp = *bp.prims[size_t(c)];
      float* pw = part + c * piece_floats;
      memory::desc gw = cp.bwd_w_pd.diff_weights_desc();
      dnnl_run(cp.bwd_w, cp.bwd_w_pd.scratchpad_desc(),
               {{DNNL_ARG_SRC, at_batch(x, n0), src_md(g, n, dt, cl(x)), cp.bwd_w_pd.src_desc()},
                {DNNL_ARG_DIFF_DST, at_batch(grad_out, n0), dst_md(g, n, dt, cl(grad_out)), cp.bwd_w_pd.diff_dst_desc()},
                {DNNL_ARG_DIFF_WEIGHTS, pw, gw, gw, true},
                {DNNL_ARG_DIFF_BIAS, pw + wn, bias_md(g, f32), cp.bwd_w_pd.diff_bias_desc(), true}});
      if (gw != gw_want) {  // a piece of another size chose another layout: bring it to the first's
        Storage tmp = dnnl_scratch(gw_want.get_size());
        dnnl_reorder(gw, pw, gw_want, tmp->data());
        std::memcpy(pw, tmp->data(), gw_want.get_size());
      }
    });
    int64_t used = int64_t(gw_want.get_size() / sizeof(float));
    parallel_for(wn + g.O, 16384, [&](int64_t b, int64_t e) {
      for (int64_t c = 1; c < bp.pieces.count; ++c) {
        const float* src = part + c * piece_floats;
        for (int64_t i = b; i < e; ++i)
          if (i < used || i >= wn) part[i] += src[i];
      }
    });
    dnnl_reorder(gw_want, part, wei_md(g, dt), grad_w.data_ptr());
    if (grad_bias.defined()) dnnl_reorder(bias_md(g, f32), part + wn, bias_md(g, dt), grad_bias.data_ptr());
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
