#pragma once
// Plain reference implementations in double, written independently of the backends: the
// oracle of the conformance suite. Everything here is contiguous and slow on purpose.
#include <vector>

#include "tessera/tessera.h"

namespace tessera::ref {

struct Array {
  Shape shape;
  std::vector<double> v;
  int64_t numel() const { return int64_t(v.size()); }
};

Array of(const Tensor& t);              // values of any tensor, row-major
Tensor to_tensor(const Array& a, DType dtype);
// Multi-index helpers.
std::vector<int64_t> unravel(int64_t i, const Shape& shape);
int64_t ravel_broadcast(const std::vector<int64_t>& idx, const Shape& shape);  // idx of the broadcast shape

double unary(UnaryOp op, double x);
double binary(BinaryOp op, double a, double b, bool integral);
Array binary(BinaryOp op, const Array& a, const Array& b, bool integral);
Array reduce(ReduceOp op, const Array& a, const std::vector<bool>& reduced);  // keepdim shape
Array matmul(const Array& a, const Array& b);  // [B,M,K] x [B,K,N]
Array conv2d(const Array& x, const Array& w, const Array* bias, const Conv2dParams& p);
Array conv2d_grad_input(const Array& gy, const Array& w, const Shape& xshape, const Conv2dParams& p);
Array conv2d_grad_weight(const Array& gy, const Array& x, const Shape& wshape, const Conv2dParams& p);
Array max_pool2d(const Array& x, const Pool2dParams& p, int64_t OH, int64_t OW);
Array avg_pool2d(const Array& x, const Pool2dParams& p, int64_t OH, int64_t OW);

}  // namespace tessera::ref
