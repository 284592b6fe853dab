// Binary ops on CUDA: the shared functors of math/binary.h through the generic launcher.
#include "tessera/backend/cuda/cuda_backend.h"
#include "tessera/backend/cuda/launch.cuh"
#include "tessera/backend/dispatch.h"

namespace tessera::cuda {

void CudaBackend::binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  dispatch_binary_kernel(op, a.dtype(), "cuda", [&](auto t, auto fn, auto o) {
    using T = typename decltype(t)::type;
    launch_elementwise<decltype(fn), typename decltype(o)::type, T, T>(op_name(op), out, {&a, &b}, fn);
  });
}

}  // namespace tessera::cuda
