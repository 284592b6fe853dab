#pragma once
// The iteration plan of N same-shaped tensors (host side), shared by the CPU loops and the CUDA
// launchers: see math/offset_calculator.h.
#include <array>

#include "tessera/backend/math/offset_calculator.h"
#include "tessera/core/tensor.h"

namespace tessera {

static_assert(math::kMaxIterDims == kMaxDims, "the iteration plans must hold every tensor rank");

// The plan of N tensors of operand 0's shape. reorder lets it iterate in operand 0's memory
// order (any elementwise op may); without it the plan keeps the logical row-major order.
template <int N>
math::StridedPlan<N> plan_of(const std::array<const Tensor*, N>& ts, bool reorder = false) {
  const int64_t* strides[N];
  int64_t elem[N];
  for (int k = 0; k < N; ++k) {
    strides[k] = ts[k]->strides().data();
    elem[k] = int64_t(ts[k]->element_size());
  }
  const Shape& shape = ts[0]->shape();
  return math::StridedPlan<N>::make(int(shape.size()), shape.data(), strides, elem, reorder);
}

}  // namespace tessera
