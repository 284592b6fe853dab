// 2-D convolution on CUDA through cuDNN 9's convolution API, planned by conv_plan.h: the
// algorithm of each configuration is searched once (cudnnFind*Ex, like cudnn.benchmark) or taken
// from cuDNN's heuristic, and cached; workspaces come from the caching allocator; batches that
// exceed cuDNN's int dims run in chunks.
#include <cudnn.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "tessera/backend/cuda/common.cuh"
#include "tessera/backend/cuda/conv_plan.h"
#include "tessera/backend/cuda/cuda_backend.h"

namespace tessera::cuda {

namespace {
struct Call {
  const char* op;
  const Tensor& x;  // the tensors an error names
  const Tensor& w;
};
void check_dnn(cudnnStatus_t s, const char* what, const Call& c) {
  if (s == CUDNN_STATUS_SUCCESS) return;
  std::string msg = detail::str(c.op, ": ", what, " failed: ", cudnnGetErrorString(s), " [input ", describe(c.x),
                                ", weight ", describe(c.w), "]");
  if (s == CUDNN_STATUS_ALLOC_FAILED) throw OutOfMemoryError(msg);
  throw DeviceError(msg);
}

cudnnDataType_t dnn_type(ConvType t) {
  switch (t) {
    case ConvType::Half: return CUDNN_DATA_HALF;
    case ConvType::BFloat16: return CUDNN_DATA_BFLOAT16;
    case ConvType::Double: return CUDNN_DATA_DOUBLE;
    default: return CUDNN_DATA_FLOAT;
  }
}

// The calling thread's cuDNN handle for a device, bound to the current stream.
cudnnHandle_t handle(int device, cudaStream_t stream, const Call& c) {
  thread_local std::map<int, cudnnHandle_t>* handles = new std::map<int, cudnnHandle_t>;  // kept until exit
  cudnnHandle_t& h = (*handles)[device];
  if (!h) check_dnn(cudnnCreate(&h), "cudnnCreate", c);
  check_dnn(cudnnSetStream(h, stream), "cudnnSetStream", c);
  return h;
}

struct Descriptors {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  Descriptors(const ConvPlan& p, const Call& c) {
    cudnnDataType_t t = dnn_type(p.data);
    check_dnn(cudnnCreateTensorDescriptor(&x), "cudnnCreateTensorDescriptor", c);
    check_dnn(cudnnCreateTensorDescriptor(&y), "cudnnCreateTensorDescriptor", c);
    check_dnn(cudnnCreateTensorDescriptor(&bias), "cudnnCreateTensorDescriptor", c);
    check_dnn(cudnnCreateFilterDescriptor(&w), "cudnnCreateFilterDescriptor", c);
    check_dnn(cudnnCreateConvolutionDescriptor(&conv), "cudnnCreateConvolutionDescriptor", c);
    check_dnn(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, t, p.x[0], p.x[1], p.x[2], p.x[3]),
              "cudnnSetTensor4dDescriptor", c);
    check_dnn(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, t, p.y[0], p.y[1], p.y[2], p.y[3]),
              "cudnnSetTensor4dDescriptor", c);
    check_dnn(cudnnSetTensor4dDescriptor(bias, CUDNN_TENSOR_NCHW, t, 1, p.y[1], 1, 1), "cudnnSetTensor4dDescriptor",
              c);
    check_dnn(cudnnSetFilter4dDescriptor(w, t, CUDNN_TENSOR_NCHW, p.w[0], p.w[1], p.w[2], p.w[3]),
              "cudnnSetFilter4dDescriptor", c);
    check_dnn(cudnnSetConvolution2dDescriptor(conv, p.pad[0], p.pad[1], p.stride[0], p.stride[1], p.dilation[0],
                                              p.dilation[1], CUDNN_CROSS_CORRELATION, dnn_type(p.compute)),
              "cudnnSetConvolution2dDescriptor", c);
    check_dnn(cudnnSetConvolutionGroupCount(conv, p.groups), "cudnnSetConvolutionGroupCount", c);
    math(p.tensor_ops ? CUDNN_TENSOR_OP_MATH : (p.data == ConvType::Double ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH), c);
  }
  void math(cudnnMathType_t m, const Call& c) {
    check_dnn(cudnnSetConvolutionMathType(conv, m), "cudnnSetConvolutionMathType", c);
  }
  ~Descriptors() {
    cudnnDestroyTensorDescriptor(x);
    cudnnDestroyTensorDescriptor(y);
    cudnnDestroyTensorDescriptor(bias);
    cudnnDestroyFilterDescriptor(w);
    cudnnDestroyConvolutionDescriptor(conv);
  }
};

struct Choice {
  int algo = 0;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  size_t workspace = 0;
};

// The largest search workspace the device can give (cuDNN skips algorithms needing more).
Tensor search_workspace(const Tensor& like, size_t& bytes) {
  for (size_t b : {size_t(1) << 30, size_t(256) << 20, size_t(32) << 20}) {
    try {
      bytes = b;
      return scratch(like, b);
    } catch (const OutOfMemoryError&) {
    }
  }
  bytes = 0;
  return scratch(like, 1);
}

// Picks the first result that succeeded (results come fastest first).
template <class Perf>
Choice first_success(const Perf* perf, int n, const Call& c, bool deterministic) {
  for (int i = 0; i < n; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS && (!deterministic || perf[i].determinism == CUDNN_DETERMINISTIC))
      return {int(perf[i].algo), perf[i].mathType, perf[i].memory};
  throw DeviceError(detail::str(c.op, ": cuDNN has no ", deterministic ? "deterministic " : "", "algorithm for input ",
                                describe(c.x), " and weight ", describe(c.w),
                                deterministic ? " (tessera.backends.cudnn.deterministic is on)" : ""));
}

struct Scalars {
  double d1 = 1, d0 = 0;
  float f1 = 1, f0 = 0;
  const void* one;
  const void* zero;
  explicit Scalars(const ConvPlan& p)
      : one(p.compute == ConvType::Double ? static_cast<const void*>(&d1) : &f1),
        zero(p.compute == ConvType::Double ? static_cast<const void*>(&d0) : &f0) {}
};

// The tensors of one call: the input x, the weight w, the output gradient dy (backward passes),
// and what the pass writes (y, dx or dw), all at the chunk's first sample.
struct Buffers {
  const void* x;
  const void* w;
  const void* dy;
  void* out;
};

// What differs between the three passes: cuDNN's search, heuristic, workspace query and call.
struct Forward {
  static constexpr int kPass = 0;
  using Perf = cudnnConvolutionFwdAlgoPerf_t;
  using Algo = cudnnConvolutionFwdAlgo_t;
  static constexpr const char* kName = "cudnnConvolutionForward";
  static cudnnStatus_t find(cudnnHandle_t h, const Descriptors& d, const Buffers& b, int n, int* found, Perf* perf,
                            void* ws, size_t bytes) {
    return cudnnFindConvolutionForwardAlgorithmEx(h, d.x, b.x, d.w, b.w, d.conv, d.y, b.out, n, found, perf, ws, bytes);
  }
  static cudnnStatus_t heuristic(cudnnHandle_t h, const Descriptors& d, int n, int* found, Perf* perf) {
    return cudnnGetConvolutionForwardAlgorithm_v7(h, d.x, d.w, d.conv, d.y, n, found, perf);
  }
  static cudnnStatus_t workspace(cudnnHandle_t h, const Descriptors& d, Algo a, size_t* bytes) {
    return cudnnGetConvolutionForwardWorkspaceSize(h, d.x, d.w, d.conv, d.y, a, bytes);
  }
  static cudnnStatus_t run(cudnnHandle_t h, const Descriptors& d, const Buffers& b, Algo a, void* ws, size_t bytes,
                           const void* one, const void* beta) {
    return cudnnConvolutionForward(h, one, d.x, b.x, d.w, b.w, d.conv, a, ws, bytes, beta, d.y, b.out);
  }
};
struct BackwardData {
  static constexpr int kPass = 1;
  using Perf = cudnnConvolutionBwdDataAlgoPerf_t;
  using Algo = cudnnConvolutionBwdDataAlgo_t;
  static constexpr const char* kName = "cudnnConvolutionBackwardData";
  static cudnnStatus_t find(cudnnHandle_t h, const Descriptors& d, const Buffers& b, int n, int* found, Perf* perf,
                            void* ws, size_t bytes) {
    return cudnnFindConvolutionBackwardDataAlgorithmEx(h, d.w, b.w, d.y, b.dy, d.conv, d.x, b.out, n, found, perf, ws,
                                                       bytes);
  }
  static cudnnStatus_t heuristic(cudnnHandle_t h, const Descriptors& d, int n, int* found, Perf* perf) {
    return cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.w, d.y, d.conv, d.x, n, found, perf);
  }
  static cudnnStatus_t workspace(cudnnHandle_t h, const Descriptors& d, Algo a, size_t* bytes) {
    return cudnnGetConvolutionBackwardDataWorkspaceSize(h, d.w, d.y, d.conv, d.x, a, bytes);
  }
  static cudnnStatus_t run(cudnnHandle_t h, const Descriptors& d, const Buffers& b, Algo a, void* ws, size_t bytes,
                           const void* one, const void* beta) {
    return cudnnConvolutionBackwardData(h, one, d.w, b.w, d.y, b.dy, d.conv, a, ws, bytes, beta, d.x, b.out);
  }
};
struct BackwardFilter {
  static constexpr int kPass = 2;
  using Perf = cudnnConvolutionBwdFilterAlgoPerf_t;
  using Algo = cudnnConvolutionBwdFilterAlgo_t;
  static constexpr const char* kName = "cudnnConvolutionBackwardFilter";
  static cudnnStatus_t find(cudnnHandle_t h, const Descriptors& d, const Buffers& b, int n, int* found, Perf* perf,
                            void* ws, size_t bytes) {
    return cudnnFindConvolutionBackwardFilterAlgorithmEx(h, d.x, b.x, d.y, b.dy, d.conv, d.w, b.out, n, found, perf, ws,
                                                         bytes);
  }
  static cudnnStatus_t heuristic(cudnnHandle_t h, const Descriptors& d, int n, int* found, Perf* perf) {
    return cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, d.x, d.y, d.conv, d.w, n, found, perf);
  }
  static cudnnStatus_t workspace(cudnnHandle_t h, const Descriptors& d, Algo a, size_t* bytes) {
    return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, d.x, d.y, d.conv, d.w, a, bytes);
  }
  static cudnnStatus_t run(cudnnHandle_t h, const Descriptors& d, const Buffers& b, Algo a, void* ws, size_t bytes,
                           const void* one, const void* beta) {
    return cudnnConvolutionBackwardFilter(h, one, d.x, b.x, d.y, b.dy, d.conv, a, ws, bytes, beta, d.w, b.out);
  }
};

// Runs pass P over the plan's batch chunks: the algorithm of each configuration is searched once
// (or taken from the heuristic) and cached; a chunk after the first adds to the output when
// `accumulate` (the weight gradient sums over the batch). `search_out` gives the buffer a search
// may overwrite (the output itself, unless the chunks accumulate into it); `after` runs once per
// chunk (the bias).
template <class P>
void convolve(const Call& c, const ConvPlan& plan, const Tensor& on, bool accumulate,
              const std::function<Buffers(int64_t n0)>& buffers, const std::function<void*()>& search_out,
              const std::function<void(cudnnHandle_t, const Descriptors&, const Scalars&, const Buffers&)>& after) {
  static AlgoCache<Choice> cache;
  OpDevice dev(on);
  cudnnHandle_t h = handle(on.device().index, stream_of(on), c);
  int64_t n0 = 0;
  for (int64_t n : plan.chunks) {
    ConvPlan pc = plan.for_batch(n);
    Descriptors d(pc, c);
    Scalars s(pc);
    Buffers b = buffers(n0);
    const bool det = cudnn_deterministic();
    Choice ch = cache.get(pc.key + (cudnn_benchmark() ? "|find" : "|heur") + (det ? "|det" : ""), [&] {
      constexpr int kMax = 16;
      typename P::Perf perf[kMax];
      int found = 0;
      if (cudnn_benchmark()) {
        size_t bytes = 0;
        Tensor ws = search_workspace(on, bytes);
        Buffers probe = b;
        probe.out = search_out();
        check_dnn(P::find(h, d, probe, kMax, &found, perf, ws.data_ptr(), bytes), "the algorithm search", c);
      } else {
        check_dnn(P::heuristic(h, d, kMax, &found, perf), "the algorithm heuristic", c);
      }
      return first_success(perf, found, c, det);
    });
    d.math(ch.math, c);
    auto algo = typename P::Algo(ch.algo);
    size_t ws_bytes = 0;
    check_dnn(P::workspace(h, d, algo, &ws_bytes), "the workspace query", c);
    Tensor ws = scratch(on, ws_bytes);
    const void* beta = accumulate && n0 > 0 ? s.one : s.zero;
    check_dnn(P::run(h, d, b, algo, ws.data_ptr(), ws_bytes, s.one, beta), P::kName, c);
    if (after) after(h, d, s, b);
    n0 += n;
  }
}

// The address of sample n0 of an NCHW tensor (chunks are contiguous blocks).
void* sample_ptr(const Tensor& t, int64_t n0) {
  return static_cast<char*>(t.data_ptr()) + n0 * t.stride(0) * int64_t(t.element_size());
}
}  // namespace

void CudaBackend::conv2d(const Tensor& out, const Tensor& x, const Tensor& w, const Tensor& bias,
                         const Conv2dParams& p) {
  Call c{"conv2d", x, w};
  ConvPlan plan = plan_conv(x.shape(), w.shape(), out.shape(), p, x.dtype(), cudnn_allow_tf32());
  if (out.numel() == 0) return;
  int64_t at = 0;
  convolve<Forward>(
      c, plan, x, false,
      [&](int64_t n0) {
        at = n0;
        return Buffers{sample_ptr(x, n0), w.data_ptr(), nullptr, sample_ptr(out, n0)};
      },
      [&] { return sample_ptr(out, at); },
      [&](cudnnHandle_t h, const Descriptors& d, const Scalars& s, const Buffers& b) {
        if (bias.defined()) check_dnn(cudnnAddTensor(h, s.one, d.bias, bias.data_ptr(), s.one, d.y, b.out), "cudnnAddTensor", c);
      });
}

void CudaBackend::conv2d_backward_input(const Tensor& grad_x, const Tensor& grad_out, const Tensor& w,
                                        const Conv2dParams& p) {
  Call c{"conv2d_backward_input", grad_x, w};
  ConvPlan plan = plan_conv(grad_x.shape(), w.shape(), grad_out.shape(), p, grad_x.dtype(), cudnn_allow_tf32());
  if (grad_x.numel() == 0) return;
  if (grad_out.numel() == 0) return fill(grad_x, 0);
  int64_t at = 0;
  convolve<BackwardData>(
      c, plan, grad_x, false,
      [&](int64_t n0) {
        at = n0;
        return Buffers{nullptr, w.data_ptr(), sample_ptr(grad_out, n0), sample_ptr(grad_x, n0)};
      },
      [&] { return sample_ptr(grad_x, at); }, {});
}

void CudaBackend::conv2d_backward_weight(const Tensor& grad_w, const Tensor& grad_bias, const Tensor& x,
                                         const Tensor& grad_out, const Conv2dParams& p) {
  Call c{"conv2d_backward_weight", x, grad_w};
  ConvPlan plan = plan_conv(x.shape(), grad_w.shape(), grad_out.shape(), p, x.dtype(), cudnn_allow_tf32());
  if (grad_out.numel() == 0 || x.numel() == 0) {  // nothing contributes
    fill(grad_w, 0);
    if (grad_bias.defined()) fill(grad_bias, 0);
    return;
  }
  Tensor probe;  // a search overwrites its output, and the chunks accumulate into grad_w
  bool first = true;
  convolve<BackwardFilter>(
      c, plan, x, true,
      [&](int64_t n0) { return Buffers{sample_ptr(x, n0), nullptr, sample_ptr(grad_out, n0), grad_w.data_ptr()}; },
      [&] {
        probe = new_tensor(grad_w.shape(), grad_w.dtype(), grad_w);
        return probe.data_ptr();
      },
      [&](cudnnHandle_t h, const Descriptors& d, const Scalars& s, const Buffers& b) {
        if (grad_bias.defined())
          check_dnn(cudnnConvolutionBackwardBias(h, s.one, d.y, b.dy, first ? s.zero : s.one, d.bias,
                                                 grad_bias.data_ptr()),
                    "cudnnConvolutionBackwardBias", c);
        first = false;
      });
}

}  // namespace tessera::cuda
