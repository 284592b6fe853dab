#pragma once
// The Backend contract: the primitive ops every device implements. tessera/ops builds the
// whole user-facing API (shape rules, broadcasting, promotion, composite ops) on these, so a
// new device implements this class and passes tests/backend/conformance_test.cpp.
// See README.md in this folder for each op's exact contract.
#include <optional>
#include <string>

#include "tessera/backend/math/ops.h"
#include "tessera/core/generator.h"
#include "tessera/core/tensor.h"

namespace tessera {

const char* op_name(UnaryOp op);
const char* op_name(BinaryOp op);

// Convolution geometry for 2-D spatial data (NCHW input, OIHW weight).
struct Conv2dParams {
  int64_t stride[2] = {1, 1};
  int64_t padding[2] = {0, 0};
  int64_t dilation[2] = {1, 1};
  int64_t groups = 1;
};
struct Pool2dParams {
  int64_t kernel[2] = {1, 1};
  int64_t stride[2] = {1, 1};
  int64_t padding[2] = {0, 0};
  int64_t dilation[2] = {1, 1};
  bool count_include_pad = true;  // avg pool only
};

// One layer and direction of a recurrent network with PyTorch's semantics and layouts: gates
// (i, f, g, o) for LSTM and (r, z, n) for GRU, h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh) per
// gate, GRU's n gate with r applied to (h W_hn^T + b_hn).
enum class RnnCell { Tanh, Relu, LSTM, GRU };
struct RnnArgs {
  RnnCell cell = RnnCell::Tanh;
  bool reverse = false;    // run the sequence from its last step to its first
  Tensor x;                // [T, N, I]
  Tensor h0, c0;           // [N, H] (c0: LSTM only)
  Tensor w_ih, w_hh;       // [G*H, I], [G*H, H]
  Tensor b_ih, b_hh;       // [G*H] each, or both undefined
};
// What rnn_backward writes: gradients of the forward inputs, each allocated by the caller with
// the input's shape, or undefined where none is needed.
struct RnnGrads {
  Tensor x, h0, c0, w_ih, w_hh, b_ih, b_hh;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  virtual std::string name() const = 0;
  // Blocks until queued work is done (a no-op on synchronous devices).
  virtual void synchronize() {}

  // --- memory: `out`/`dst` tensors are allocated by the caller on this backend's device ---
  // Storage of at least nbytes on `device` (of this backend's type), 64-byte aligned.
  virtual Storage allocate(size_t nbytes, Device device) = 0;
  // dst = src between this device and the host (or another device of this type): one of them
  // on this backend's device; both contiguous, one dtype, one size. non_blocking may return
  // before the copy completes where the host memory is pinned. The default refuses.
  virtual void transfer(const Tensor& dst, const Tensor& src, bool non_blocking);
  // dst = src, same shape, any strides, converting dtype.
  virtual void copy(const Tensor& dst, const Tensor& src) = 0;
  virtual void fill(const Tensor& dst, const Scalar& v) = 0;
  // out[i] = start + i * step for a 1-D out.
  virtual void arange(const Tensor& out, double start, double step) = 0;

  // --- elementwise: all operands have out's shape (broadcast views have stride 0) ---------
  // in.dtype == out.dtype (LogicalNot: out is bool).
  virtual void unary(UnaryOp op, const Tensor& out, const Tensor& in) = 0;
  // a.dtype == b.dtype; out has that dtype, or bool for comparisons and logical ops.
  virtual void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) = 0;
  // out = cond ? a : b; cond bool, a/b/out of one dtype.
  virtual void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) = 0;
  virtual void clamp(const Tensor& out, const Tensor& in, std::optional<Scalar> lo, std::optional<Scalar> hi) = 0;
  // out = a * b + c in one pass (a, b, c broadcast views of out's shape and dtype).
  virtual void fma(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& c) = 0;

  // --- reductions: out has in's rank with size 1 on the reduced dims --------------------------
  // Sum/Prod accumulate in out's dtype's accumulation type; Max/Min propagate NaN.
  virtual void reduce(ReduceOp op, const Tensor& out, const Tensor& in) = 0;
  // out (int64, size 1 along dim) = index of the first max (or min) along dim; NaN counts as max.
  virtual void arg_reduce(bool is_max, const Tensor& out, const Tensor& in, int64_t dim) = 0;
  virtual void cumsum(const Tensor& out, const Tensor& in, int64_t dim) = 0;
  // Softmax (or log-softmax) along dim; out has in's shape and dtype.
  virtual void softmax(const Tensor& out, const Tensor& in, int64_t dim, bool log) = 0;
  // Per-channel moments of a contiguous x viewed as [A, C, B]: mean[c] and the biased var[c]
  // over A*B values, accumulated in double (mean, var: [C], float dtype of x).
  virtual void moments(const Tensor& mean, const Tensor& var, const Tensor& x, int64_t A, int64_t C, int64_t B) = 0;
  // Row-wise layer norm of a contiguous x [M, N]: out = (x - mean) * rstd * weight + bias, with
  // mean and rstd ([M]) returned for the backward pass. weight/bias ([N]) may be undefined.
  virtual void layer_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x,
                          const Tensor& weight, const Tensor& bias, double eps) = 0;
  // Stable sort along dim; NaN sorts as the largest value. indices are int64.
  virtual void sort(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t dim, bool descending) = 0;
  virtual void topk(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k, int64_t dim,
                    bool largest) = 0;

  // --- indexing: index tensors are int64; the backend throws IndexError on an out-of-range index
  // out = in gathered along dim; out.shape == index.shape.
  virtual void gather(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index) = 0;
  // self[... index ...] = src (or += src when accumulate), along dim; index.shape == src.shape.
  virtual void scatter(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, bool accumulate) = 0;
  // The coordinates of the non-zero elements: a new int64 tensor of shape [count, in.dim()].
  virtual Tensor nonzero(const Tensor& in) = 0;

  // --- dense linear algebra and neural-network primitives -------------------------------------
  // out[b] = a[b] @ b[b]: a [B,M,K], b [B,K,N], out [B,M,N] contiguous; a, b any strides.
  virtual void matmul(const Tensor& out, const Tensor& a, const Tensor& b) = 0;
  // x [N,C,H,W], w [O,C/groups,KH,KW], bias [O] or undefined, out [N,O,OH,OW] (all contiguous).
  virtual void conv2d(const Tensor& out, const Tensor& x, const Tensor& w, const Tensor& bias,
                      const Conv2dParams& p) = 0;
  // The gradient of conv2d with respect to x (also conv_transpose2d's forward).
  virtual void conv2d_backward_input(const Tensor& grad_x, const Tensor& grad_out, const Tensor& w,
                                     const Conv2dParams& p) = 0;
  // The gradients with respect to w and (when defined) bias.
  virtual void conv2d_backward_weight(const Tensor& grad_w, const Tensor& grad_bias, const Tensor& x,
                                      const Tensor& grad_out, const Conv2dParams& p) = 0;
  // Max pooling; indices (int64) hold the flat h*W+w position of each max in its input plane.
  virtual void max_pool2d(const Tensor& out, const Tensor& indices, const Tensor& x, const Pool2dParams& p) = 0;
  virtual void max_pool2d_backward(const Tensor& grad_x, const Tensor& grad_out, const Tensor& indices) = 0;
  virtual void avg_pool2d(const Tensor& out, const Tensor& x, const Pool2dParams& p) = 0;
  virtual void avg_pool2d_backward(const Tensor& grad_x, const Tensor& grad_out, const Pool2dParams& p) = 0;

  // --- random numbers (out contiguous; the stream depends only on the generator state) -----
  virtual void uniform(const Tensor& out, double lo, double hi, Generator& g) = 0;
  virtual void normal(const Tensor& out, double mean, double std, Generator& g) = 0;
  // out[i] = uniform() < p[i]; p has out's shape (any strides), out any dtype.
  virtual void bernoulli(const Tensor& out, const Tensor& p, Generator& g) = 0;
  // Integers uniform in [lo, hi).
  virtual void randint(const Tensor& out, int64_t lo, int64_t hi, Generator& g) = 0;

  // Whether conv2d (and its backward passes) and max_pool2d (and its backward) take and produce
  // channels-last tensors ([N, H, W, C] in memory) of this dtype; otherwise the ops layer hands
  // them contiguous [N, C, H, W] tensors, as the contract says elsewhere.
  virtual bool channels_last(DType dt) const { return false; }

  // --- optional fused kernels: a backend without one returns false, and the ops layer runs the
  // op as the primitive ops it is made of (with the same results up to rounding). ---------
  // Batch norm's backward pass (training mode) for contiguous g and x viewed as [A, C, B] (NCHW:
  // A = N, B = H*W; channels last: A = N*H*W, B = 1), mean and rstd [C] the batch statistics,
  // weight [C] or undefined (1): gb[c] = sum of g, gw[c] = sum of g * (x - mean) * rstd (sums in
  // double), gx = rstd * weight * (g - gb / n - (x - mean) * rstd * gw / n) with n = A * B. All
  // of one floating dtype; gx has x's layout.
  virtual bool batch_norm_backward(const Tensor& gx, const Tensor& gw, const Tensor& gb, const Tensor& g,
                                   const Tensor& x, const Tensor& mean, const Tensor& rstd, const Tensor& weight,
                                   int64_t A, int64_t C, int64_t B) {
    return false;
  }
  // A recurrent layer over the whole sequence: y [T, N, H], hn and cn [N, H] (cn: LSTM), all
  // contiguous, as are the operands. With workspace non-null (training) the backend stores in it
  // what rnn_backward needs; the result is tied to these shapes and this backend.
  virtual bool rnn_forward(const RnnArgs& a, const Tensor& y, const Tensor& hn, const Tensor& cn, Tensor* workspace) {
    return false;
  }
  // The gradients of rnn_forward given those of its outputs (undefined: zero), from the forward's
  // operands, outputs and workspace.
  virtual bool rnn_backward(const RnnArgs& a, const Tensor& y, const Tensor& hn, const Tensor& cn,
                            const Tensor& workspace, const Tensor& gy, const Tensor& ghn, const Tensor& gcn,
                            const RnnGrads& grads) {
    return false;
  }
};

// Declares every op of the contract in a backend class: TESSERA_BACKEND_OPS(override) (or
// `final`); the class then defines each of them (stub/stub_backend.cpp is the list to copy).
#define TESSERA_BACKEND_OPS(spec)                                                                                   \
  void transfer(const Tensor& dst, const Tensor& src, bool non_blocking) spec;                                     \
  void copy(const Tensor& dst, const Tensor& src) spec;                                                            \
  void fill(const Tensor& dst, const Scalar& v) spec;                                                              \
  void arange(const Tensor& out, double start, double step) spec;                                                  \
  void unary(UnaryOp op, const Tensor& out, const Tensor& in) spec;                                                \
  void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) spec;                              \
  void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) spec;                        \
  void clamp(const Tensor& out, const Tensor& in, std::optional<Scalar> lo, std::optional<Scalar> hi) spec;       \
  void fma(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& c) spec;                             \
  void reduce(ReduceOp op, const Tensor& out, const Tensor& in) spec;                                              \
  void arg_reduce(bool is_max, const Tensor& out, const Tensor& in, int64_t dim) spec;                             \
  void cumsum(const Tensor& out, const Tensor& in, int64_t dim) spec;                                              \
  void softmax(const Tensor& out, const Tensor& in, int64_t dim, bool log) spec;                                   \
  void moments(const Tensor& mean, const Tensor& var, const Tensor& x, int64_t A, int64_t C, int64_t B) spec;      \
  void layer_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& weight, \
                  const Tensor& bias, double eps) spec;                                                            \
  void sort(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t dim, bool descending) spec;    \
  void topk(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k, int64_t dim, bool largest)  \
      spec;                                                                                                        \
  void gather(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index) spec;                         \
  void scatter(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, bool accumulate) spec;     \
  Tensor nonzero(const Tensor& in) spec;                                                                           \
  void matmul(const Tensor& out, const Tensor& a, const Tensor& b) spec;                                           \
  void conv2d(const Tensor& out, const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p) spec;\
  void conv2d_backward_input(const Tensor& grad_x, const Tensor& grad_out, const Tensor& w, const Conv2dParams& p) \
      spec;                                                                                                        \
  void conv2d_backward_weight(const Tensor& grad_w, const Tensor& grad_bias, const Tensor& x,                     \
                              const Tensor& grad_out, const Conv2dParams& p) spec;                                 \
  void max_pool2d(const Tensor& out, const Tensor& indices, const Tensor& x, const Pool2dParams& p) spec;          \
  void max_pool2d_backward(const Tensor& grad_x, const Tensor& grad_out, const Tensor& indices) spec;              \
  void avg_pool2d(const Tensor& out, const Tensor& x, const Pool2dParams& p) spec;                                 \
  void avg_pool2d_backward(const Tensor& grad_x, const Tensor& grad_out, const Pool2dParams& p) spec;              \
  void uniform(const Tensor& out, double lo, double hi, Generator& g) spec;                                        \
  void normal(const Tensor& out, double mean, double std, Generator& g) spec;                                      \
  void bernoulli(const Tensor& out, const Tensor& p, Generator& g) spec;                                           \
  void randint(const Tensor& out, int64_t lo, int64_t hi, Generator& g) spec;

// The backend for a device; throws DeviceError when that device is not available.
Backend& backend_for(Device d);
// Registers a backend for a device type (the CPU backend registers itself).
void register_backend(DeviceType type, Backend* backend);
bool is_available(DeviceType type);

// The CPU allocator keeps freed blocks of 1 MiB and more for reuse (256 MiB at most by default).
void cpu_empty_cache();
size_t cpu_cached_bytes();
void set_cpu_cache_limit(size_t bytes);

// Whether the ops layer uses the backends' optional fused kernels (default on). Off, every op
// runs as the primitive ops it is made of: for comparing the two, and for debugging.
void set_fused_kernels_enabled(bool on);
bool fused_kernels_enabled();

// Whether float32 3x3 convolutions of stride 1 on the CPU may use oneDNN's Winograd kernels where
// they are faster (cpu::winograd_suits: at least 32 channels, enough output positions; default
// on). They take about half the time there and round differently: errors of about 1e-6 of the
// terms' magnitudes instead of 1e-7 (as cuDNN's Winograd algorithms, which PyTorch uses by default
// on GPUs). Off: direct convolution everywhere. (The inference session always runs direct ones.)
void set_cpu_winograd_enabled(bool on);
bool cpu_winograd_enabled();
// Whether this CPU has oneDNN's Winograd kernels at all (they need AVX-512; elsewhere every
// convolution is direct, whatever the switch says).
bool cpu_winograd_available();

// Threads used by CPU kernels (elementwise loops and oneDNN), the calling thread included.
// Defaults to the cores available.
void set_num_threads(int n);
int get_num_threads();

}  // namespace tessera
