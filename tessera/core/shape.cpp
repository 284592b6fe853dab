#include "tessera/core/shape.h"

#include "tessera/core/error.h"

namespace tessera {

int64_t numel_of(const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape st(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    st[i] = s;
    // A shape whose strides do not fit in 64 bits (huge sizes beside a 0, from a file) is refused.
    TS_CHECK_VALUE(!__builtin_mul_overflow(s, std::max<int64_t>(shape[i], 1), &s), "shape ", shape,
                   " is too large: its strides overflow 64-bit integers");
  }
  return st;
}

Shape channels_last_strides(const Shape& shape) {
  TS_CHECK_SHAPE(shape.size() == 4, "channels_last: expected a 4-D shape [N, C, H, W], got ", shape);
  int64_t C = std::max<int64_t>(shape[1], 1), H = std::max<int64_t>(shape[2], 1), W = std::max<int64_t>(shape[3], 1);
  return {H * W * C, 1, W * C, C};
}

int64_t wrap_dim(int64_t dim, int64_t ndim, std::string_view op) {
  int64_t n = std::max<int64_t>(ndim, 1);  // a 0-d tensor accepts dim 0 and -1, as in PyTorch
  TS_CHECK_INDEX(dim >= -n && dim < n, op, ": dimension out of range (expected to be in range of [", -n,
                 ", ", n - 1, "], but got ", dim, ")");
  return dim < 0 ? dim + n : dim;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, std::string_view op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    TS_CHECK_SHAPE(da == db || da == 1 || db == 1, op, ": shapes ", a, " and ", b,
                   " cannot be broadcast together (size ", da, " vs ", db, " at dimension ", i, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

void check_shape(const Shape& shape, std::string_view op) {
  TS_CHECK_SHAPE(shape.size() <= size_t(kMaxDims), op, ": at most ", kMaxDims, " dimensions are supported, got ",
                 shape.size());
  int64_t n = 1;
  for (int64_t s : shape) {
    TS_CHECK_VALUE(s >= 0, op, ": negative dimension in shape ", shape);
    TS_CHECK_VALUE(s == 0 || n <= (int64_t(1) << 62) / s, op, ": shape ", shape, " has too many elements");
    n *= s;
  }
}

Shape infer_shape(const Shape& req, int64_t numel, std::string_view op) {
  Shape out = req;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < req.size(); ++i) {
    if (req[i] == -1) {
      TS_CHECK_SHAPE(infer < 0, op, ": only one dimension can be inferred, got shape ", req);
      infer = int64_t(i);
    } else {
      TS_CHECK_VALUE(req[i] >= 0, op, ": invalid shape dimension ", req[i], " in ", req);
      known *= req[i];
    }
  }
  if (infer >= 0) {
    TS_CHECK_SHAPE(known != 0 && numel % known == 0, op, ": shape ", req, " is invalid for input of size ", numel);
    out[infer] = numel / known;
  }
  TS_CHECK_SHAPE(numel_of(out) == numel, op, ": shape ", req, " is invalid for input of size ", numel);
  return out;
}

}  // namespace tessera
