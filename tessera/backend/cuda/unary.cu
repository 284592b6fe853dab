// Unary ops on CUDA: the shared functors of math/unary.h through the generic launcher.
#include "tessera/backend/cuda/cuda_backend.h"
#include "tessera/backend/cuda/launch.cuh"
#include "tessera/backend/dispatch.h"
#include "tessera/backend/math/unary.h"

namespace tessera::cuda {

void CudaBackend::unary(UnaryOp op, const Tensor& out, const Tensor& in) {
  dispatch_all(in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    math::dispatch_unary(op, [&](auto fn) {
      using Fn = decltype(fn);
      if constexpr (std::is_same_v<Fn, math::LogicalNotFn>) {
        launch_elementwise<Fn, bool, T>(op_name(op), out, {&in}, fn);
      } else if constexpr (Fn::template supports<T>) {
        launch_elementwise<Fn, T, T>(op_name(op), out, {&in}, fn);
      } else {
        throw DTypeError(detail::str("cuda unary: ", op_name(op), " is not defined for ", in.dtype()));
      }
    });
  });
}

}  // namespace tessera::cuda
