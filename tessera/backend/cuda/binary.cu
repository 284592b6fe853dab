// Binary ops on CUDA: the shared functors of math/binary.h through the generic launcher.
#include "tessera/backend/cuda/cuda_backend.h"
#include "tessera/backend/cuda/launch.cuh"
#include "tessera/backend/dispatch.h"
#include "tessera/backend/math/binary.h"

namespace tessera::cuda {

void CudaBackend::binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  dispatch_all(a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    math::dispatch_binary(op, [&](auto fn) {
      using Fn = decltype(fn);
      if constexpr (!math::binary_supports<Fn, T>) {
        throw DTypeError(detail::str("cuda binary: ", op_name(op), " is not defined for ", a.dtype()));
      } else {
        using O = decltype(fn(T(), T()));
        launch_elementwise<Fn, O, T, T>(op_name(op), out, {&a, &b}, fn);
      }
    });
  });
}

}  // namespace tessera::cuda
