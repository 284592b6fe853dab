// 2-D convolution on CUDA through cuDNN 9's convolution API, planned by conv_plan.h: the
// algorithm of each configuration is searched once (cudnnFind*Ex, like cudnn.benchmark) or taken
// from cuDNN's heuristic, and cached; workspaces come from the caching allocator; batches that
// exceed cuDNN's int dims run in chunks.
#include <cudnn.h>

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
Choice first_success(const Perf* perf, int n, const Call& c) {
  for (int i = 0; i < n; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS) return {int(perf[i].algo), perf[i].mathType, perf[i].memory};
  throw DeviceError(detail::str(c.op, ": cuDNN has no algorithm for input ", describe(c.x), " and weight ",
                                describe(c.w)));
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

AlgoCache<Choice>& cache(int pass) {
  static AlgoCache<Choice> caches[3];  // forward, backward data, backward filter
  return caches[pass];
}

// Narrows an NCHW tensor to the samples [n0, n0 + n) (a contiguous block).
const char* sample_ptr(const Tensor& t, int64_t n0) {
  return static_cast<const char*>(t.data_ptr()) + n0 * t.stride(0) * int64_t(t.element_size());
}
char* sample_ptr_mut(const Tensor& t, int64_t n0) { return const_cast<char*>(sample_ptr(t, n0)); }
}  // namespace

void CudaBackend::conv2d(const Tensor& out, const Tensor& x, const Tensor& w, const Tensor& bias,
                         const Conv2dParams& p) {
  Call c{"conv2d", x, w};
  ConvPlan plan = plan_conv(x.shape(), w.shape(), out.shape(), p, x.dtype(), cudnn_allow_tf32());
  if (out.numel() == 0) return;
  OpDevice dev(x);
  cudaStream_t st = stream_of(x);
  cudnnHandle_t h = handle(x.device().index, st, c);
  int64_t n0 = 0;
  for (int64_t n : plan.chunks) {
    ConvPlan pc = plan.for_batch(n);
    Descriptors d(pc, c);
    Scalars s(pc);
    const void* xp = sample_ptr(x, n0);
    void* yp = sample_ptr_mut(out, n0);
    Choice ch = cache(0).get(pc.key + (cudnn_benchmark() ? "|find" : "|heur"), [&] {
      constexpr int kMax = 16;
      cudnnConvolutionFwdAlgoPerf_t perf[kMax];
      int found = 0;
      if (cudnn_benchmark()) {
        size_t bytes = 0;
        Tensor ws = search_workspace(out, bytes);
        check_dnn(cudnnFindConvolutionForwardAlgorithmEx(h, d.x, xp, d.w, w.data_ptr(), d.conv, d.y, yp, kMax, &found,
                                                         perf, ws.data_ptr(), bytes),
                  "cudnnFindConvolutionForwardAlgorithmEx", c);
      } else {
        check_dnn(cudnnGetConvolutionForwardAlgorithm_v7(h, d.x, d.w, d.conv, d.y, kMax, &found, perf),
                  "cudnnGetConvolutionForwardAlgorithm_v7", c);
      }
      return first_success(perf, found, c);
    });
    d.math(ch.math, c);
    size_t ws_bytes = 0;
    auto algo = cudnnConvolutionFwdAlgo_t(ch.algo);
    check_dnn(cudnnGetConvolutionForwardWorkspaceSize(h, d.x, d.w, d.conv, d.y, algo, &ws_bytes),
              "cudnnGetConvolutionForwardWorkspaceSize", c);
    Tensor ws = scratch(out, ws_bytes);
    check_dnn(cudnnConvolutionForward(h, s.one, d.x, xp, d.w, w.data_ptr(), d.conv, algo, ws.data_ptr(), ws_bytes,
                                      s.zero, d.y, yp),
              "cudnnConvolutionForward", c);
    if (bias.defined())
      check_dnn(cudnnAddTensor(h, s.one, d.bias, bias.data_ptr(), s.one, d.y, yp), "cudnnAddTensor", c);
    n0 += n;
  }
}

void CudaBackend::conv2d_backward_input(const Tensor& grad_x, const Tensor& grad_out, const Tensor& w,
                                        const Conv2dParams& p) {
  Call c{"conv2d_backward_input", grad_x, w};
  ConvPlan plan = plan_conv(grad_x.shape(), w.shape(), grad_out.shape(), p, grad_x.dtype(), cudnn_allow_tf32());
  if (grad_x.numel() == 0) return;
  if (grad_out.numel() == 0) return fill(grad_x, 0);
  OpDevice dev(grad_x);
  cudaStream_t st = stream_of(grad_x);
  cudnnHandle_t h = handle(grad_x.device().index, st, c);
  int64_t n0 = 0;
  for (int64_t n : plan.chunks) {
    ConvPlan pc = plan.for_batch(n);
    Descriptors d(pc, c);
    Scalars s(pc);
    const void* dy = sample_ptr(grad_out, n0);
    void* dx = sample_ptr_mut(grad_x, n0);
    Choice ch = cache(1).get(pc.key + (cudnn_benchmark() ? "|find" : "|heur"), [&] {
      constexpr int kMax = 16;
      cudnnConvolutionBwdDataAlgoPerf_t perf[kMax];
      int found = 0;
      if (cudnn_benchmark()) {
        size_t bytes = 0;
        Tensor ws = search_workspace(grad_x, bytes);
        check_dnn(cudnnFindConvolutionBackwardDataAlgorithmEx(h, d.w, w.data_ptr(), d.y, dy, d.conv, d.x, dx, kMax,
                                                              &found, perf, ws.data_ptr(), bytes),
                  "cudnnFindConvolutionBackwardDataAlgorithmEx", c);
      } else {
        check_dnn(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.w, d.y, d.conv, d.x, kMax, &found, perf),
                  "cudnnGetConvolutionBackwardDataAlgorithm_v7", c);
      }
      return first_success(perf, found, c);
    });
    d.math(ch.math, c);
    size_t ws_bytes = 0;
    auto algo = cudnnConvolutionBwdDataAlgo_t(ch.algo);
    check_dnn(cudnnGetConvolutionBackwardDataWorkspaceSize(h, d.w, d.y, d.conv, d.x, algo, &ws_bytes),
              "cudnnGetConvolutionBackwardDataWorkspaceSize", c);
    Tensor ws = scratch(grad_x, ws_bytes);
    check_dnn(cudnnConvolutionBackwardData(h, s.one, d.w, w.data_ptr(), d.y, dy, d.conv, algo, ws.data_ptr(), ws_bytes,
                                           s.zero, d.x, dx),
              "cudnnConvolutionBackwardData", c);
    n0 += n;
  }
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
  OpDevice dev(x);
  cudaStream_t st = stream_of(x);
  cudnnHandle_t h = handle(x.device().index, st, c);
  int64_t n0 = 0;
  for (int64_t n : plan.chunks) {
    ConvPlan pc = plan.for_batch(n);
    Descriptors d(pc, c);
    Scalars s(pc);
    const void* xp = sample_ptr(x, n0);
    const void* dy = sample_ptr(grad_out, n0);
    const void* beta = n0 == 0 ? s.zero : s.one;  // later chunks add to the first's gradient
    Choice ch = cache(2).get(pc.key + (cudnn_benchmark() ? "|find" : "|heur"), [&] {
      constexpr int kMax = 16;
      cudnnConvolutionBwdFilterAlgoPerf_t perf[kMax];
      int found = 0;
      if (cudnn_benchmark()) {
        size_t bytes = 0;
        Tensor ws = search_workspace(grad_w, bytes);
        Tensor probe = new_tensor(grad_w.shape(), grad_w.dtype(), grad_w);  // the search overwrites its output
        check_dnn(cudnnFindConvolutionBackwardFilterAlgorithmEx(h, d.x, xp, d.y, dy, d.conv, d.w, probe.data_ptr(),
                                                                kMax, &found, perf, ws.data_ptr(), bytes),
                  "cudnnFindConvolutionBackwardFilterAlgorithmEx", c);
      } else {
        check_dnn(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, d.x, d.y, d.conv, d.w, kMax, &found, perf),
                  "cudnnGetConvolutionBackwardFilterAlgorithm_v7", c);
      }
      return first_success(perf, found, c);
    });
    d.math(ch.math, c);
    size_t ws_bytes = 0;
    auto algo = cudnnConvolutionBwdFilterAlgo_t(ch.algo);
    check_dnn(cudnnGetConvolutionBackwardFilterWorkspaceSize(h, d.x, d.y, d.conv, d.w, algo, &ws_bytes),
              "cudnnGetConvolutionBackwardFilterWorkspaceSize", c);
    Tensor ws = scratch(grad_w, ws_bytes);
    check_dnn(cudnnConvolutionBackwardFilter(h, s.one, d.x, xp, d.y, dy, d.conv, algo, ws.data_ptr(), ws_bytes, beta,
                                             d.w, grad_w.data_ptr()),
              "cudnnConvolutionBackwardFilter", c);
    if (grad_bias.defined())
      check_dnn(cudnnConvolutionBackwardBias(h, s.one, d.y, dy, beta, d.bias, grad_bias.data_ptr()),
                "cudnnConvolutionBackwardBias", c);
    n0 += n;
  }
}

}  // namespace tessera::cuda
