// Fused recurrent layers on oneDNN's RNN primitives (float32): LSTM, GRU (oneDNN's
// "linear-before-reset" GRU is PyTorch's), and the tanh/relu RNN. The batch is cut into pieces
// (fixed by the sizes) that run on the pool, each one primitive; the weight gradients of the
// pieces are summed in order, so results do not depend on the thread count.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#if defined(__AVX__)
#include <immintrin.h>
#endif

#include "tessera/backend/cpu/cpu_backend.h"
#include "tessera/backend/cpu/dnnl_util.h"
#include "tessera/backend/cpu/loops.h"
#include "tessera/backend/math/unary.h"

namespace tessera::cpu {

namespace {

using dnnl::memory;
using tag = memory::format_tag;
constexpr auto f32 = memory::data_type::f32;

int64_t gates_of(RnnCell c) { return c == RnnCell::LSTM ? 4 : c == RnnCell::GRU ? 3 : 1; }
// oneDNN's GRU gate order is (u, r, o) = PyTorch's (z, r, n): oneDNN gate g is PyTorch gate
// kGruGate[g]. LSTM (i, f, g, o) and the plain RNN keep PyTorch's order.
constexpr int64_t kGruGate[3] = {1, 0, 2};
int64_t torch_gate(RnnCell c, int64_t g) { return c == RnnCell::GRU ? kGruGate[g] : g; }

struct Dims {
  int64_t T, N, I, H, G;
};

Dims dims_of(const RnnArgs& a) {
  return {a.x.size(0), a.x.size(1), a.x.size(2), a.h0.size(1), gates_of(a.cell)};
}

// Batch pieces: at least 32 sequences each, at most 4, fixed by the sizes.
Pieces pieces_of(const Dims& d) {
  double flops = 2.0 * double(d.T) * double(d.N) * double(d.G * d.H) * double(d.I + d.H);
  int64_t count = flops < 4e6 ? 1 : std::clamp<int64_t>(d.N / 32, 1, 4);
  return {d.N, count};
}

// The weights as oneDNN wants them ([1, 1, in, G, H], gates in oneDNN's order) from PyTorch's
// [G*H, in]; and the bias [1, 1, G', H] (LBR GRU: four, the last is b_hn).
std::vector<float> layer_weights(RnnCell c, const Tensor& w, int64_t in, int64_t G, int64_t H) {
  const float* src = static_cast<const float*>(w.data_ptr());
  std::vector<float> out(size_t(in * G * H));
  for (int64_t g = 0; g < G; ++g) {
    int64_t tg = torch_gate(c, g);
    for (int64_t h = 0; h < H; ++h) {
      const float* row = src + (tg * H + h) * in;
      for (int64_t i = 0; i < in; ++i) out[size_t((i * G + g) * H + h)] = row[i];
    }
  }
  return out;
}

std::vector<float> bias_of(const RnnArgs& a, int64_t G, int64_t H) {
  int64_t bg = a.cell == RnnCell::GRU ? 4 : G;
  std::vector<float> b(size_t(bg * H), 0.f);
  if (!a.b_ih.defined()) return b;
  const float* bi = static_cast<const float*>(a.b_ih.data_ptr());
  const float* bh = static_cast<const float*>(a.b_hh.data_ptr());
  for (int64_t g = 0; g < G; ++g) {
    int64_t tg = torch_gate(a.cell, g);
    for (int64_t h = 0; h < H; ++h) {
      float v = bi[tg * H + h];
      // GRU's n gate keeps b_hn apart (it is scaled by r); every other gate sums the two.
      if (!(a.cell == RnnCell::GRU && g == 2)) v += bh[tg * H + h];
      b[size_t(g * H + h)] = v;
    }
  }
  if (a.cell == RnnCell::GRU)
    for (int64_t h = 0; h < H; ++h) b[size_t(3 * H + h)] = bh[2 * H + h];
  return b;
}

memory::desc weights_md(int64_t in, int64_t G, int64_t H, memory::format_tag t = tag::ldigo) {
  return {{1, 1, in, G, H}, f32, t};
}
memory::desc bias_md(RnnCell c, int64_t G, int64_t H) { return {{1, 1, c == RnnCell::GRU ? 4 : G, H}, f32, tag::ldgo}; }
// A batch slice of a [T, N, C] tensor, and of an [N, C] state as [1, 1, n, C].
memory::desc seq_md(int64_t T, int64_t N, int64_t n, int64_t C) { return {{T, n, C}, f32, {N * C, C, 1}}; }
memory::desc state_md(int64_t N, int64_t n, int64_t C) { return {{1, 1, n, C}, f32, {N * C, N * C, C, 1}}; }

dnnl::rnn_direction direction(bool reverse) {
  return reverse ? dnnl::rnn_direction::unidirectional_right2left : dnnl::rnn_direction::unidirectional_left2right;
}

// The forward (and, for training, backward) primitives of one piece size.
struct RnnPrims {
  dnnl::primitive fwd;
  memory::desc fwd_pad, fwd_wl, fwd_wi, workspace;
  dnnl::primitive bwd;
  memory::desc bwd_pad, bwd_wl, bwd_wi, diff_wl, diff_wi;
  // The layouts the primitives want each operand in.
  memory::desc src_layer, src_iter, src_iter_c, dst_layer, dst_iter, dst_iter_c;
  memory::desc diff_src_layer, diff_src_iter, diff_src_iter_c, diff_dst_layer, diff_dst_iter, diff_dst_iter_c;
};

template <class Fwd, class Bwd>
std::shared_ptr<RnnPrims> make_prims(const RnnArgs& a, const Dims& d, int64_t n, bool training) {
  static PrimitiveCache<RnnPrims> cache;
  std::ostringstream key;
  key << int(a.cell) << ',' << a.reverse << ',' << training << ',' << d.T << ',' << n << ',' << d.I << ',' << d.H;
  return cache.get(key.str(), [&] {
    DnnlSerial serial;
    auto& eng = dnnl_engine();
    const auto& attr = dnnl_attr();
    auto any3 = [](memory::dims v) { return memory::desc(v, f32, tag::any); };
    memory::desc sl = any3({d.T, n, d.I}), si = any3({1, 1, n, d.H}), dl = any3({d.T, n, d.H}),
                 di = any3({1, 1, n, d.H});
    memory::desc wl = any3({1, 1, d.I, d.G, d.H}), wi = any3({1, 1, d.H, d.G, d.H}), b = bias_md(a.cell, d.G, d.H);
    auto prop = training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
    RnnPrims p;
    typename Fwd::primitive_desc fpd;
    if constexpr (std::is_same_v<Fwd, dnnl::lstm_forward>) {
      fpd = typename Fwd::primitive_desc(
          typename Fwd::desc(prop, direction(a.reverse), sl, si, si, wl, wi, b, dl, di, di), attr, eng);
    } else if constexpr (std::is_same_v<Fwd, dnnl::vanilla_rnn_forward>) {
      auto act = a.cell == RnnCell::Relu ? dnnl::algorithm::eltwise_relu : dnnl::algorithm::eltwise_tanh;
      fpd = typename Fwd::primitive_desc(
          typename Fwd::desc(prop, act, direction(a.reverse), sl, si, wl, wi, b, dl, di), attr, eng);
    } else {
      fpd = typename Fwd::primitive_desc(typename Fwd::desc(prop, direction(a.reverse), sl, si, wl, wi, b, dl, di),
                                         attr, eng);
    }
    p.fwd = Fwd(fpd);
    p.fwd_pad = fpd.scratchpad_desc();
    p.fwd_wl = fpd.weights_layer_desc();
    p.fwd_wi = fpd.weights_iter_desc();
    p.workspace = fpd.workspace_desc();
    p.src_layer = fpd.src_layer_desc();
    p.src_iter = fpd.src_iter_desc();
    p.dst_layer = fpd.dst_layer_desc();
    p.dst_iter = fpd.dst_iter_desc();
    if constexpr (std::is_same_v<Fwd, dnnl::lstm_forward>) {
      p.src_iter_c = fpd.src_iter_c_desc();
      p.dst_iter_c = fpd.dst_iter_c_desc();
    }
    if (training) {
      typename Bwd::primitive_desc bpd;
      auto bprop = dnnl::prop_kind::backward;
      if constexpr (std::is_same_v<Bwd, dnnl::lstm_backward>) {
        bpd = typename Bwd::primitive_desc(typename Bwd::desc(bprop, direction(a.reverse), sl, si, si, wl, wi, b, dl,
                                                              di, di, sl, si, si, wl, wi, b, dl, di, di),
                                           attr, eng, fpd);
      } else if constexpr (std::is_same_v<Bwd, dnnl::vanilla_rnn_backward>) {
        auto act = a.cell == RnnCell::Relu ? dnnl::algorithm::eltwise_relu : dnnl::algorithm::eltwise_tanh;
        bpd = typename Bwd::primitive_desc(
            typename Bwd::desc(bprop, act, direction(a.reverse), sl, si, wl, wi, b, dl, di, sl, si, wl, wi, b, dl, di),
            attr, eng, fpd);
      } else {
        bpd = typename Bwd::primitive_desc(
            typename Bwd::desc(bprop, direction(a.reverse), sl, si, wl, wi, b, dl, di, sl, si, wl, wi, b, dl, di), attr,
            eng, fpd);
      }
      p.bwd = Bwd(bpd);
      p.bwd_pad = bpd.scratchpad_desc();
      p.bwd_wl = bpd.weights_layer_desc();
      p.bwd_wi = bpd.weights_iter_desc();
      p.diff_wl = bpd.diff_weights_layer_desc();
      p.diff_wi = bpd.diff_weights_iter_desc();
      p.diff_src_layer = bpd.diff_src_layer_desc();
      p.diff_src_iter = bpd.diff_src_iter_desc();
      p.diff_dst_layer = bpd.diff_dst_layer_desc();
      p.diff_dst_iter = bpd.diff_dst_iter_desc();
      if constexpr (std::is_same_v<Bwd, dnnl::lstm_backward>) {
        p.diff_src_iter_c = bpd.diff_src_iter_c_desc();
        p.diff_dst_iter_c = bpd.diff_dst_iter_c_desc();
      }
    }
    return p;
  });
}

std::shared_ptr<RnnPrims> prims_for(const RnnArgs& a, const Dims& d, int64_t n, bool training) {
  switch (a.cell) {
    case RnnCell::LSTM: return make_prims<dnnl::lstm_forward, dnnl::lstm_backward>(a, d, n, training);
    case RnnCell::GRU: return make_prims<dnnl::lbr_gru_forward, dnnl::lbr_gru_backward>(a, d, n, training);
    default: return make_prims<dnnl::vanilla_rnn_forward, dnnl::vanilla_rnn_backward>(a, d, n, training);
  }
}

// The primitives of each batch piece and where each piece's workspace starts in the layer's one
// workspace buffer (64-byte aligned; none without training).
struct PiecePrims {
  std::vector<std::shared_ptr<RnnPrims>> prims;
  std::vector<size_t> ws_at;
  size_t ws_bytes = 0;
};
PiecePrims piece_prims(const RnnArgs& a, const Dims& d, const Pieces& pieces, bool training) {
  PiecePrims r;
  for (int64_t c = 0; c < pieces.count; ++c) {
    r.prims.push_back(prims_for(a, d, pieces.size(c), training));
    r.ws_at.push_back(r.ws_bytes);
    if (training) r.ws_bytes += (r.prims.back()->workspace.get_size() + 63) / 64 * 64;
  }
  return r;
}

bool supported(const RnnArgs& a) {
  auto f = [](const Tensor& t) { return !t.defined() || (t.dtype() == DType::Float32 && t.is_contiguous()); };
  return a.x.dtype() == DType::Float32 && f(a.x) && f(a.h0) && f(a.c0) && f(a.w_ih) && f(a.w_hh) && f(a.b_ih) &&
         f(a.b_hh) && a.x.dim() == 3 && a.x.size(0) > 0 && a.x.size(1) > 0;
}

// The weights in the layouts `wl` and `wi`, reordered once for every piece.
struct PackedWeights {
  Storage layer, iter;
  PackedWeights(const RnnArgs& a, const Dims& d, const memory::desc& wl, const memory::desc& wi) {
    std::vector<float> l = layer_weights(a.cell, a.w_ih, d.I, d.G, d.H), i = layer_weights(a.cell, a.w_hh, d.H, d.G, d.H);
    layer = dnnl_scratch(wl.get_size());
    iter = dnnl_scratch(wi.get_size());
    dnnl_reorder(weights_md(d.I, d.G, d.H), l.data(), wl, layer->data());
    dnnl_reorder(weights_md(d.H, d.G, d.H), i.data(), wi, iter->data());
  }
};

char* at(const Tensor& t, int64_t offset_elems) {
  return static_cast<char*>(t.data_ptr()) + offset_elems * int64_t(sizeof(float));
}

// --- A few sequences at inference: the cell by hand ---------------------------------------------
// With a batch of one to four sequences every step is a matrix-vector product, and oneDNN's
// primitive spends more on its per-step bookkeeping than on arithmetic (0.13 ms for 49 steps of
// a 64-unit LSTM). Here the weights are used transposed ([in, G*H], rows padded to 16 floats;
// packed once and cached, see transposed()), the input projections are made in blocks of
// steps as the steps need them (and by a helper thread from the other end, see
// small_batch_forward), each step is h·W_hh^T as broadcast multiply-adds on register blocks,
// and the gates use the vectorizing exp and tanh (the LSTM's on whole vectors, lstm_vectors).
// The steps themselves run on one thread: a step is far too short to share.
constexpr int64_t kSmallBatch = 4;
// The machine's float vector (AVX-512: 16 lanes, 32 registers; AVX: 8 lanes, 16 registers;
// otherwise 4 lanes), so that the register blocks below fit the register file: 512-bit vectors
// on an AVX2 machine are pairs of registers, and a 4x4 block of them spilled to the stack on
// every multiply-add (an AMD EPYC's 49-step LSTM took 10 times as long).
#if defined(__AVX512F__)
constexpr int kLanes = 16, kRegs = 32;
#elif defined(__AVX__)
constexpr int kLanes = 8, kRegs = 16;
#else
constexpr int kLanes = 4, kRegs = 16;
#endif
using vf = float __attribute__((vector_size(kLanes * 4)));
// Register blocks: rows x vectors of accumulators, leaving room for the weight vectors.
constexpr int kBlockRows = 4, kBlockVecs = kRegs >= 32 ? 4 : 2, kRowVecs = 8;

// The transposed weights are stored in panels of 16 columns: column c of row k of a [K, Rp]
// matrix at (c / 16)·K·16 + k·16 + c % 16, so that a block reads its columns as a few
// sequential streams (rows of a plain [K, Rp] layout are Rp floats apart, and 1 KiB strides
// fall into a few L1 sets, which a 64-row walk thrashes).
constexpr int64_t kPanel = 16;
static_assert(kPanel % kLanes == 0);
inline const float* panel_at(const float* wt, int64_t K, int64_t col) {
  return wt + (col / kPanel) * K * kPanel + col % kPanel;
}

// M rows of out[., kLanes·B) = init + v[M, K] · wt[K, col0 + kLanes·B): M×B accumulators in
// registers.
template <int M, int B>
void gemm_block(float* out, int64_t ldo, const float* init, const float* v, int64_t ldv, int64_t K, const float* wt,
                int64_t col0) {
  vf acc[M][B];
  const float* wb[B];
  for (int b = 0; b < B; ++b) wb[b] = panel_at(wt, K, col0 + b * kLanes);
  for (int m = 0; m < M; ++m)
    for (int b = 0; b < B; ++b) acc[m][b] = reinterpret_cast<const vf*>(init)[b];
  for (int64_t k = 0; k < K; ++k) {
    vf wk[B];
    for (int b = 0; b < B; ++b) wk[b] = *reinterpret_cast<const vf*>(wb[b] + k * kPanel);
    for (int m = 0; m < M; ++m) {
      float vk = v[m * ldv + k];
      for (int b = 0; b < B; ++b) acc[m][b] += vk * wk[b];
    }
  }
  for (int m = 0; m < M; ++m)
    for (int b = 0; b < B; ++b) reinterpret_cast<vf*>(out + m * ldo)[b] = acc[m][b];
}

// out[rows, Rp) (leading dim ldo) = init[Rp) + v[rows, K) (leading dim ldv) · wt[K, Rp) (in
// panels); Rp, ldo a multiple of 16, out, init and wt 64-byte aligned. backwards: the single-row
// blocks in reverse order (the same sums, each column's in the same order).
void gemm_t(float* out, int64_t ldo, const float* init, const float* v, int64_t ldv, int64_t rows, int64_t K,
            const float* wt, int64_t Rp, bool backwards = false) {
  constexpr int MR = kBlockRows, NB = kBlockVecs, RB = kRowVecs;
  const int64_t nv = Rp / kLanes;
  int64_t r = 0;
  for (; r + MR <= rows; r += MR) {
    int64_t j = 0;
    for (; j + NB <= nv; j += NB)
      gemm_block<MR, NB>(out + r * ldo + j * kLanes, ldo, init + j * kLanes, v + r * ldv, ldv, K, wt, j * kLanes);
    for (; j < nv; ++j)
      gemm_block<MR, 1>(out + r * ldo + j * kLanes, ldo, init + j * kLanes, v + r * ldv, ldv, K, wt, j * kLanes);
  }
  for (; r < rows; ++r) {
    const int64_t full = nv / RB;
    for (int64_t q = 0; q < full; ++q) {
      int64_t j = (backwards ? full - 1 - q : q) * RB;
      gemm_block<1, RB>(out + r * ldo + j * kLanes, ldo, init + j * kLanes, v + r * ldv, ldv, K, wt, j * kLanes);
    }
    for (int64_t j = full * RB; j < nv; ++j)
      gemm_block<1, 1>(out + r * ldo + j * kLanes, ldo, init + j * kLanes, v + r * ldv, ldv, K, wt, j * kLanes);
  }
}

// A weight [R, in] transposed to [in, Rp] in panels (zero columns past R). Small weights are packed once
// per thread and reused while their values are unchanged: each use compares the weight with a
// copy taken at packing (a sequential read, far cheaper than the strided transpose), so writes
// through any path (optimizers, numpy views, load_state_dict) and weights rebuilt at every call
// (an ONNX LSTM's gate reshuffle) are both handled. Larger ones are packed into `local` per call.
struct AlignedFloats {
  std::unique_ptr<float, decltype(&std::free)> p{nullptr, &std::free};
  int64_t n = 0;
  float* resize(int64_t count) {
    if (count != n) {
      p.reset(static_cast<float*>(std::aligned_alloc(64, size_t((count * 4 + 63) / 64 * 64))));
      TS_CHECK(p != nullptr, "rnn: out of memory packing weights (", count, " floats)");
      n = count;
    }
    return p.get();
  }
};
struct PackedTranspose {
  int64_t R = 0, in = 0;
  std::vector<float> copy;
  AlignedFloats packed;
};

void transpose_into(const float* src, int64_t R, int64_t in, int64_t Rp, float* out) {
  std::fill(out, out + in * Rp, 0.0f);
  for (int64_t r = 0; r < R; ++r) {  // a panel's 16 rows of src land in one [in, 16] panel
    float* panel = out + (r / kPanel) * in * kPanel + r % kPanel;
    for (int64_t k = 0; k < in; ++k) panel[k * kPanel] = src[r * in + k];
  }
}

const float* transposed(const Tensor& w, int64_t R, int64_t in, int64_t Rp, AlignedFloats& local) {
  constexpr size_t kEntries = 16;
  constexpr int64_t kLargest = int64_t(1) << 18;  // floats: 1 MiB (so at most 32 MiB per thread)
  const float* src = static_cast<const float*>(w.data_ptr());
  if (R * in > kLargest) {
    float* out = local.resize(in * Rp);
    transpose_into(src, R, in, Rp, out);
    return out;
  }
  thread_local std::vector<PackedTranspose> cache(kEntries);
  thread_local size_t next = 0;
  const size_t bytes = size_t(R * in) * sizeof(float);
  for (auto& e : cache)
    if (e.R == R && e.in == in && std::memcmp(e.copy.data(), src, bytes) == 0) return e.packed.p.get();
  PackedTranspose& e = cache[next];
  next = (next + 1) % kEntries;
  e.R = R;
  e.in = in;
  e.copy.assign(src, src + R * in);
  float* out = e.packed.resize(in * Rp);
  transpose_into(src, R, in, Rp, out);
  return out;
}

constexpr math::SigmoidFn sigmoidf{};

// The LSTM cell on whole vectors (its gates were a quarter of a 64-unit LSTM's time at batch 1):
// exp with fast_expf's polynomial (math::expf_mantissa), 1/d as the CPU's reciprocal estimate
// and one Newton step (about 1 ulp, against a division's 3.5-cycle issue rate), and tanh(x) as
// 2 sigmoid(2x) - 1 (within 1.2e-7 of tanh: the odd polynomial the scalar tanh keeps for small
// |x| matters for relative error, which a cell's outputs do not need).
using vi = int32_t __attribute__((vector_size(kLanes * 4)));
inline vf splat(float v) { return vf{} + v; }
inline vf load(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof(vf));
  return v;
}
inline void store(float* p, vf v) { std::memcpy(p, &v, sizeof(vf)); }
inline vf vexp(vf x) {
  // Clamped so that 2^n stays a normal float (NaN passes through the selects).
  x = x < splat(-87.0f) ? splat(-87.0f) : x;
  x = x > splat(88.0f) ? splat(88.0f) : x;
  const vf magic = splat(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer
  vf n = (x * 1.44269504088896341f + magic) - magic;
  vf p = math::expf_mantissa(x, n);
  vi e = (__builtin_convertvector(n, vi) + 127) << 23;
  vf two_n;
  std::memcpy(&two_n, &e, sizeof(vf));
  return p * two_n;
}
inline vf vrecip(vf d) {
#if defined(__AVX512F__)
  // (the zero-masked form: the plain one trips GCC 12's -Wmaybe-uninitialized)
  vf r = vf(_mm512_maskz_rcp14_ps(__mmask16(0xFFFF), __m512(d)));
#elif defined(__AVX__)
  vf r = vf(_mm256_rcp_ps(__m256(d)));
#else
  return 1.0f / d;
#endif
#if defined(__AVX512F__) || defined(__AVX__)
  return r * (2.0f - d * r);
#endif
}
inline vf vsigmoid(vf x) { return vrecip(1.0f + vexp(-x)); }
inline vf vtanh(vf x) { return 2.0f * vsigmoid(x + x) - 1.0f; }

// The whole vectors of an LSTM step's units (j < H rounded down to kLanes); returns where the
// remainder starts.
int64_t lstm_vectors(int64_t H, const float* __restrict xg, const float* __restrict gh, float* __restrict h,
                     float* __restrict c) {
  int64_t j = 0;
  for (; j + kLanes <= H; j += kLanes) {
    vf i = vsigmoid(load(xg + j) + load(gh + j)), f = vsigmoid(load(xg + H + j) + load(gh + H + j));
    vf g = vtanh(load(xg + 2 * H + j) + load(gh + 2 * H + j)), o = vsigmoid(load(xg + 3 * H + j) + load(gh + 3 * H + j));
    vf cj = f * load(c + j) + i * g;
    store(c + j, cj);
    store(h + j, o * vtanh(cj));
  }
  return j;
}

// One step of one sequence: gates from the input projection xg and the recurrent part gh (both
// with their biases, PyTorch's gate order); h and c updated in place. The loops are vector
// loops (`omp simd`: the switch and the exp's integer steps kept GCC from vectorizing them).
void cell_step(RnnCell cell, int64_t H, const float* __restrict xg, const float* __restrict gh, float* __restrict h,
               float* __restrict c) {
  switch (cell) {
    case RnnCell::Tanh:
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) h[j] = math::fast_tanhf(xg[j] + gh[j]);
      break;
    case RnnCell::Relu:
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) h[j] = std::max(xg[j] + gh[j], 0.0f);
      break;
    case RnnCell::LSTM:  // i, f, g, o
#pragma omp simd
      for (int64_t j = lstm_vectors(H, xg, gh, h, c); j < H; ++j) {
        float i = sigmoidf(xg[j] + gh[j]), f = sigmoidf(xg[H + j] + gh[H + j]);
        float g = math::fast_tanhf(xg[2 * H + j] + gh[2 * H + j]), o = sigmoidf(xg[3 * H + j] + gh[3 * H + j]);
        float cj = f * c[j] + i * g;
        c[j] = cj;
        h[j] = o * math::fast_tanhf(cj);
      }
      break;
    case RnnCell::GRU:  // r, z, n; gh's n part holds b_hn, scaled by r
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        float r = sigmoidf(xg[j] + gh[j]), z = sigmoidf(xg[H + j] + gh[H + j]);
        float n = math::fast_tanhf(xg[2 * H + j] + r * gh[2 * H + j]);
        h[j] = n + z * (h[j] - n);
      }
      break;
  }
}

void small_batch_forward(const RnnArgs& a, const Dims& d, const Tensor& y, const Tensor& hn, const Tensor& cn) {
  const int64_t T = d.T, N = d.N, I = d.I, H = d.H, R = d.G * d.H, Rp = (R + 15) / 16 * 16, Hp = (H + 15) / 16 * 16;
  const bool lstm = a.cell == RnnCell::LSTM;
  AlignedFloats local_ih, local_hh;
  const float* wih = transposed(a.w_ih, R, I, Rp, local_ih);
  const float* whh = transposed(a.w_hh, R, H, Rp, local_hh);
  // Scratch: the two biases [Rp], the input projections [T, N, Rp], the recurrent parts
  // [N, Rp], then h and c [N, Hp].
  int64_t o_bh = Rp, o_xg = 2 * Rp, o_gh = o_xg + T * N * Rp, o_h = o_gh + N * Rp, o_c = o_h + N * Hp,
          total = o_c + N * Hp;
  Storage scratch = dnnl_scratch(size_t(total) * sizeof(float));
  float* s = static_cast<float*>(scratch->data());
  std::fill(s, s + o_xg, 0.0f);
  std::fill(s + o_h, s + total, 0.0f);
  if (a.b_ih.defined()) {
    std::copy_n(static_cast<const float*>(a.b_ih.data_ptr()), R, s);
    std::copy_n(static_cast<const float*>(a.b_hh.data_ptr()), R, s + o_bh);
  }
  // The input projections in blocks of 4 rows (fixed by the sizes: a block's bits do not depend
  // on the thread that makes it), each made when a step first needs it. With more threads,
  // helpers make them meanwhile from the other end, the steps' last first (taking blocks in turn
  // from one counter), and stop where they meet a block the steps claimed: the projections (half
  // the arithmetic of a 64-unit LSTM) overlap the steps instead of preceding them, and a helper
  // that never gets a core (another process on it) leaves the steps to make every block
  // themselves, as on one thread. Splitting the projections alone over two threads was slower
  // than one below 4 MFLOP.
  const float* x = static_cast<const float*>(a.x.data_ptr());
  const int64_t rows = T * N, blocks = (rows + 3) / 4;
  std::vector<std::atomic<uint8_t>> state(static_cast<size_t>(blocks));  // 0 open, 1 claimed, 2 made
  auto claim = [&](int64_t b) {
    uint8_t open = 0;
    return state[size_t(b)].compare_exchange_strong(open, 1, std::memory_order_acquire);
  };
  auto project = [&](int64_t b) {
    int64_t r0 = b * 4, r1 = std::min(rows, r0 + 4);
    gemm_t(s + o_xg + r0 * Rp, Rp, s, x + r0 * I, I, r1 - r0, I, wih, Rp);
    state[size_t(b)].store(2, std::memory_order_release);
  };
  auto ensure = [&](int64_t b) {
    if (state[size_t(b)].load(std::memory_order_acquire) == 2) return;
    if (claim(b)) return project(b);
    for (int spins = 1; state[size_t(b)].load(std::memory_order_acquire) != 2; ++spins)  // the helper's, in work
      if (spins % 1024 == 0) std::this_thread::yield();
  };
  float *h = s + o_h, *c = s + o_c, *gh = s + o_gh;
  for (int64_t n = 0; n < N; ++n) {
    std::copy_n(static_cast<const float*>(a.h0.data_ptr()) + n * H, H, h + n * Hp);
    if (lstm) std::copy_n(static_cast<const float*>(a.c0.data_ptr()) + n * H, H, c + n * Hp);
  }
  float* out = static_cast<float*>(y.data_ptr());
  auto steps = [&] {
    for (int64_t step = 0; step < T; ++step) {
      int64_t t = a.reverse ? T - 1 - step : step;
      for (int64_t b = t * N / 4; b <= ((t + 1) * N - 1) / 4; ++b) ensure(b);
      // (odd steps walk the weight's column blocks backwards: the blocks the last step read last,
      // still in L1, come first; a 64-unit LSTM's 64 KiB recurrent weight does not fit L1)
      gemm_t(gh, Rp, s + o_bh, h, Hp, N, H, whh, Rp, step & 1);
      for (int64_t n = 0; n < N; ++n) {
        cell_step(a.cell, H, s + o_xg + (t * N + n) * Rp, gh + n * Rp, h + n * Hp, c + n * Hp);
        std::copy_n(h + n * Hp, H, out + (t * N + n) * H);
      }
    }
  };
  std::atomic<int64_t> next{0};  // the helpers' next block, counted from the steps' far end
  auto helper = [&] {
    for (int64_t k; (k = next.fetch_add(1, std::memory_order_relaxed)) < blocks;) {
      int64_t b = a.reverse ? k : blocks - 1 - k;
      if (!claim(b)) return;  // the steps got here: the rest is theirs
      project(b);
    }
  };
  // One helper per 4 blocks at most, one per other pool thread.
  const double flops = 2.0 * double(rows) * double(I) * double(Rp);
  const int64_t chunks = std::min<int64_t>(pool_threads(), 1 + blocks / 4);
  if (chunks > 1 && !in_parallel_region() && flops >= 1e6)
    parallel_chunks(chunks, [&](int64_t chunk) { chunk == 0 ? steps() : helper(); });  // (the caller takes chunk 0)
  else
    steps();
  for (int64_t n = 0; n < N; ++n) {
    std::copy_n(h + n * Hp, H, static_cast<float*>(hn.data_ptr()) + n * H);
    if (lstm) std::copy_n(c + n * Hp, H, static_cast<float*>(cn.data_ptr()) + n * H);
  }
}

}  // namespace

bool CpuBackend::rnn_forward(const RnnArgs& a, const Tensor& y, const Tensor& hn, const Tensor& cn, Tensor* workspace) {
  if (!supported(a)) return false;
  Dims d = dims_of(a);
  bool training = workspace != nullptr;
  if (!training && d.N <= kSmallBatch) {
    small_batch_forward(a, d, y, hn, cn);
    return true;
  }
  Pieces pieces = pieces_of(d);
  // (named references, not a structured binding: clang before 16 cannot capture those in lambdas)
  PiecePrims pieces_prims = piece_prims(a, d, pieces, training);
  const auto& prims = pieces_prims.prims;
  const auto& ws_at = pieces_prims.ws_at;
  const size_t ws_bytes = pieces_prims.ws_bytes;
  PackedWeights w(a, d, prims[0]->fwd_wl, prims[0]->fwd_wi);
  std::vector<float> bias = bias_of(a, d.G, d.H);
  if (training) *workspace = Tensor(allocate(std::max<size_t>(ws_bytes, 1)), {int64_t(ws_bytes)}, {1}, 0, DType::UInt8);
  bool lstm = a.cell == RnnCell::LSTM;
  parallel_chunks(pieces.count, [&](int64_t c) {
    int64_t n0 = pieces.begin(c), n = pieces.size(c);
    const RnnPrims& p = *prims[size_t(c)];
    memory::desc bmd = bias_md(a.cell, d.G, d.H);
    std::vector<DnnlArg> args{
        {DNNL_ARG_SRC_LAYER, at(a.x, n0 * d.I), seq_md(d.T, d.N, n, d.I), p.src_layer},
        {DNNL_ARG_SRC_ITER, at(a.h0, n0 * d.H), state_md(d.N, n, d.H), p.src_iter},
        {DNNL_ARG_WEIGHTS_LAYER, w.layer->data(), p.fwd_wl, p.fwd_wl},
        {DNNL_ARG_WEIGHTS_ITER, w.iter->data(), p.fwd_wi, p.fwd_wi},
        {DNNL_ARG_BIAS, bias.data(), bmd, bmd},
        {DNNL_ARG_DST_LAYER, at(y, n0 * d.H), seq_md(d.T, d.N, n, d.H), p.dst_layer, true},
        {DNNL_ARG_DST_ITER, at(hn, n0 * d.H), state_md(d.N, n, d.H), p.dst_iter, true}};
    if (lstm) {
      args.push_back({DNNL_ARG_SRC_ITER_C, at(a.c0, n0 * d.H), state_md(d.N, n, d.H), p.src_iter_c});
      args.push_back({DNNL_ARG_DST_ITER_C, at(cn, n0 * d.H), state_md(d.N, n, d.H), p.dst_iter_c, true});
    }
    if (training)
      args.push_back({DNNL_ARG_WORKSPACE, static_cast<char*>(workspace->data_ptr()) + ws_at[size_t(c)], p.workspace,
                      p.workspace, true});
    dnnl_run(p.fwd, p.fwd_pad, args);
  });
  return true;
}

bool CpuBackend::rnn_backward(const RnnArgs& a, const Tensor& y, const Tensor& hn, const Tensor& cn,
                              const Tensor& workspace, const Tensor& gy, const Tensor& ghn, const Tensor& gcn,
                              const RnnGrads& g) {
  if (!supported(a)) return false;
  Dims d = dims_of(a);
  Pieces pieces = pieces_of(d);
  bool lstm = a.cell == RnnCell::LSTM;
  PiecePrims pieces_prims = piece_prims(a, d, pieces, true);
  const auto& prims = pieces_prims.prims;
  const auto& ws_at = pieces_prims.ws_at;
  const size_t ws_bytes = pieces_prims.ws_bytes;
  TS_CHECK(size_t(workspace.numel()) >= ws_bytes, "rnn backward: the workspace does not match the forward's shapes");
  PackedWeights w(a, d, prims[0]->bwd_wl, prims[0]->bwd_wi);
  std::vector<float> bias = bias_of(a, d.G, d.H);
  // Zeros for the output gradients nobody sent; scratch for the gradients nobody wants.
  auto scratch = [&](const Tensor& like, bool zero) {
    Tensor t(allocate(size_t(like.numel()) * sizeof(float)), like.shape(), like.strides(), 0, DType::Float32);
    if (zero) fill(t, 0);
    return t;
  };
  auto given = [&](const Tensor& t, const Tensor& like) { return t.defined() ? t : scratch(like, true); };
  Tensor gy_ = given(gy, y), ghn_ = given(ghn, hn), gcn_ = lstm ? given(gcn, cn) : Tensor();
  Tensor dx = g.x.defined() ? g.x : scratch(a.x, false), dh0 = g.h0.defined() ? g.h0 : scratch(a.h0, false);
  Tensor dc0 = lstm ? (g.c0.defined() ? g.c0 : scratch(a.c0, false)) : Tensor();
  // Per piece: its partial weight and bias gradients (oneDNN accumulates into them: zeroed).
  memory::desc dwl = prims[0]->diff_wl, dwi = prims[0]->diff_wi, bmd = bias_md(a.cell, d.G, d.H);
  int64_t nl = int64_t(dwl.get_size() / 4), ni = int64_t(dwi.get_size() / 4), nb = int64_t(bmd.get_size() / 4);
  int64_t stride = nl + ni + nb;
  Storage partial = dnnl_scratch(size_t(pieces.count * stride) * sizeof(float));
  float* part = static_cast<float*>(partial->data());
  std::memset(part, 0, size_t(pieces.count * stride) * sizeof(float));
  for (auto& p : prims)
    TS_CHECK(p->diff_wl == dwl && p->diff_wi == dwi, "rnn backward: the batch pieces chose different weight layouts");
  parallel_chunks(pieces.count, [&](int64_t c) {
    int64_t n0 = pieces.begin(c), n = pieces.size(c);
    const RnnPrims& p = *prims[size_t(c)];
    float* pw = part + c * stride;
    std::vector<DnnlArg> args{
        {DNNL_ARG_SRC_LAYER, at(a.x, n0 * d.I), seq_md(d.T, d.N, n, d.I), p.src_layer},
        {DNNL_ARG_SRC_ITER, at(a.h0, n0 * d.H), state_md(d.N, n, d.H), p.src_iter},
        {DNNL_ARG_WEIGHTS_LAYER, w.layer->data(), p.bwd_wl, p.bwd_wl},
        {DNNL_ARG_WEIGHTS_ITER, w.iter->data(), p.bwd_wi, p.bwd_wi},
        {DNNL_ARG_BIAS, bias.data(), bmd, bmd},
        {DNNL_ARG_DST_LAYER, at(y, n0 * d.H), seq_md(d.T, d.N, n, d.H), p.dst_layer},
        {DNNL_ARG_DST_ITER, at(hn, n0 * d.H), state_md(d.N, n, d.H), p.dst_iter},
        {DNNL_ARG_DIFF_DST_LAYER, at(gy_, n0 * d.H), seq_md(d.T, d.N, n, d.H), p.diff_dst_layer},
        {DNNL_ARG_DIFF_DST_ITER, at(ghn_, n0 * d.H), state_md(d.N, n, d.H), p.diff_dst_iter},
        {DNNL_ARG_WORKSPACE, static_cast<char*>(workspace.data_ptr()) + ws_at[size_t(c)], p.workspace, p.workspace},
        {DNNL_ARG_DIFF_SRC_LAYER, at(dx, n0 * d.I), seq_md(d.T, d.N, n, d.I), p.diff_src_layer, true},
        {DNNL_ARG_DIFF_SRC_ITER, at(dh0, n0 * d.H), state_md(d.N, n, d.H), p.diff_src_iter, true},
        {DNNL_ARG_DIFF_WEIGHTS_LAYER, pw, dwl, dwl, true},
        {DNNL_ARG_DIFF_WEIGHTS_ITER, pw + nl, dwi, dwi, true},
        {DNNL_ARG_DIFF_BIAS, pw + nl + ni, bmd, bmd, true}};
    if (lstm) {
      args.push_back({DNNL_ARG_SRC_ITER_C, at(a.c0, n0 * d.H), state_md(d.N, n, d.H), p.src_iter_c});
      args.push_back({DNNL_ARG_DST_ITER_C, at(cn, n0 * d.H), state_md(d.N, n, d.H), p.dst_iter_c});
      args.push_back({DNNL_ARG_DIFF_DST_ITER_C, at(gcn_, n0 * d.H), state_md(d.N, n, d.H), p.diff_dst_iter_c});
      args.push_back({DNNL_ARG_DIFF_SRC_ITER_C, at(dc0, n0 * d.H), state_md(d.N, n, d.H), p.diff_src_iter_c, true});
    }
    dnnl_run(p.bwd, p.bwd_pad, args);
  });
  for (int64_t c = 1; c < pieces.count; ++c)
    for (int64_t i = 0; i < stride; ++i) part[i] += part[c * stride + i];
  // Back to PyTorch's layouts: [G*H, in] per weight, gates in PyTorch's order.
  auto unpack = [&](const float* src, const memory::desc& md, int64_t in, const Tensor& out) {
    if (!out.defined()) return;
    std::vector<float> plain(size_t(in * d.G * d.H));
    dnnl_reorder(md, src, weights_md(in, d.G, d.H), plain.data());
    float* o = static_cast<float*>(out.data_ptr());
    for (int64_t gi = 0; gi < d.G; ++gi) {
      int64_t tg = torch_gate(a.cell, gi);
      for (int64_t h = 0; h < d.H; ++h)
        for (int64_t i = 0; i < in; ++i) o[(tg * d.H + h) * in + i] = plain[size_t((i * d.G + gi) * d.H + h)];
    }
  };
  unpack(part, dwl, d.I, g.w_ih);
  unpack(part + nl, dwi, d.H, g.w_hh);
  const float* db = part + nl + ni;
  for (const Tensor* bt : {&g.b_ih, &g.b_hh}) {
    if (!bt->defined()) continue;
    float* o = static_cast<float*>(bt->data_ptr());
    for (int64_t gi = 0; gi < d.G; ++gi) {
      int64_t tg = torch_gate(a.cell, gi);
      // b_hn's gradient is the fourth LBR-GRU bias's; every other bias shares its gate's.
      const float* src = db + ((a.cell == RnnCell::GRU && gi == 2 && bt == &g.b_hh) ? 3 : gi) * d.H;
      for (int64_t h = 0; h < d.H; ++h) o[tg * d.H + h] = src[h];
    }
  }
  return true;
}

}  // namespace tessera::cpu
