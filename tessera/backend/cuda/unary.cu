// Unary ops on CUDA: the shared functors of math/unary.h through the generic launcher.
#include "tessera/backend/cuda/cuda_backend.h"
#include "tessera/backend/cuda/launch.cuh"
#include "tessera/backend/dispatch.h"

namespace tessera::cuda {

void CudaBackend::unary(UnaryOp op, const Tensor& out, const Tensor& in) {
  dispatch_unary_kernel(op, in.dtype(), "cuda", [&](auto t, auto fn, auto o) {
    using T = typename decltype(t)::type;
    launch_elementwise<decltype(fn), typename decltype(o)::type, T>(op_name(op), out, {&in}, fn);
  });
}

}  // namespace tessera::cuda
