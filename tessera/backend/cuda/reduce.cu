// Reductions and arg-reductions on CUDA: policies over the shared combine functors
// (math/reduce.h), run by the engine of reduce.cuh.
#include "tessera/backend/cuda/cuda_backend.h"
#include "tessera/backend/cuda/reduce.cuh"
#include "tessera/backend/dispatch.h"

namespace tessera::cuda {

namespace {
// Folds values of T with Op (accumulating in Op::acc) and writes them as O.
template <class Op, class T, class O>
struct ValuePolicy {
  using acc = typename Op::acc;
  static __device__ __forceinline__ acc identity() { return Op::identity(); }
  static __device__ __forceinline__ acc combine(acc a, acc b) { return Op::combine(a, b); }
  __device__ __forceinline__ acc step(acc a, const char* p, uint32_t) const {
    return Op::reduce(a, acc(*reinterpret_cast<const T*>(p)));
  }
  __device__ __forceinline__ void finish(char* out, acc a) const { *reinterpret_cast<O*>(out) = math::convert<O>(a); }
};

template <class T, bool IsMax>
struct ArgPolicy {
  using M = math::opmath_t<T>;
  using Op = math::ArgOp<M, IsMax>;
  using acc = typename Op::acc;
  static __device__ __forceinline__ acc identity() { return Op::identity(); }
  static __device__ __forceinline__ acc combine(acc a, acc b) { return Op::combine(a, b); }
  __device__ __forceinline__ acc step(acc a, const char* p, uint32_t r) const {
    return Op::reduce(a, M(*reinterpret_cast<const T*>(p)), int64_t(r));
  }
  __device__ __forceinline__ void finish(char* out, acc a) const { *reinterpret_cast<int64_t*>(out) = a.index; }
};

template <class P>
void reduce_into(const char* op, const Tensor& out, const Tensor& in, const P& pol) {
  math::StridedPlan<2> kept;
  math::StridedPlan<1> red;
  reduction_plans(out, in, kept, red);
  run_reduction(op, out, pol, kept, red, static_cast<const char*>(in.data_ptr()), static_cast<char*>(out.data_ptr()));
}
}  // namespace

void CudaBackend::reduce(ReduceOp op, const Tensor& out, const Tensor& in) {
  static const char* names[] = {"sum", "prod", "amax", "amin", "any", "all"};
  static_assert(std::size(names) == kNumReduceOps);
  const char* name = names[int(op)];
  dispatch_all(in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    math::dispatch_reduce<T>(op, [&](auto r) {
      using R = decltype(r);
      using A = typename R::acc;
      if constexpr (std::is_same_v<A, bool>) {
        reduce_into(name, out, in, ValuePolicy<R, T, bool>{});
      } else if constexpr (std::is_same_v<R, math::MaxOp<A>> || std::is_same_v<R, math::MinOp<A>>) {
        reduce_into(name, out, in, ValuePolicy<R, T, T>{});
      } else if (out.dtype() == in.dtype()) {
        reduce_into(name, out, in, ValuePolicy<R, T, T>{});
      } else {  // another output dtype: through the accumulator's dtype, then converted
        Tensor tmp = new_tensor(out.shape(), dtype_v<A>, out);
        reduce_into(name, tmp, in, ValuePolicy<R, T, A>{});
        copy(out, tmp);
      }
    });
  });
}

void CudaBackend::arg_reduce(bool is_max, const Tensor& out, const Tensor& in, int64_t dim) {
  const char* name = is_max ? "argmax" : "argmin";
  TS_CHECK_INDEX(in.size(dim) > 0, name, ": cannot reduce over a zero-size dimension (shape ", in.shape(), ")");
  dispatch_all(in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (is_max) reduce_into(name, out, in, ArgPolicy<T, true>{});
    else reduce_into(name, out, in, ArgPolicy<T, false>{});
  });
}

}  // namespace tessera::cuda
