#include "tessera/backend/cuda/conv_plan.h"

#include <climits>
#include <sstream>

namespace tessera::cuda {

namespace {
std::string key_of(const ConvPlan& c) {
  std::ostringstream k;
  k << int(c.data) << ':' << c.tensor_ops << ':' << c.groups;
  for (const int* v : {c.x, c.w, c.y})
    for (int i = 0; i < 4; ++i) k << ',' << v[i];
  for (const int* v : {c.pad, c.stride, c.dilation}) k << ';' << v[0] << ',' << v[1];
  return k.str();
}
}  // namespace

ConvPlan ConvPlan::for_batch(int64_t n) const {
  ConvPlan c = *this;
  c.x[0] = c.y[0] = int(n);
  c.chunks = {n};
  c.key = key_of(c);
  return c;
}

ConvPlan plan_conv(const Shape& x, const Shape& w, const Shape& y, const Conv2dParams& p, DType dtype,
                   bool allow_tf32) {
  TS_CHECK_SHAPE(x.size() == 4 && w.size() == 4 && y.size() == 4, "conv2d: expected 4-D NCHW tensors, got ", x, ", ",
                 w, ", ", y);
  ConvPlan c;
  switch (dtype) {
    case DType::Float32: c.data = c.compute = ConvType::Float, c.tensor_ops = allow_tf32; break;
    case DType::Float16: c.data = ConvType::Half, c.compute = ConvType::Float, c.tensor_ops = true; break;
    case DType::BFloat16: c.data = ConvType::BFloat16, c.compute = ConvType::Float, c.tensor_ops = true; break;
    case DType::Float64: c.data = c.compute = ConvType::Double; break;
    default:
      throw DTypeError(detail::str("conv2d: not implemented for ", dtype,
                                   " on CUDA (cuDNN convolves floating-point tensors)"));
  }
  int64_t N = x[0], groups = p.groups;
  TS_CHECK_SHAPE(groups >= 1 && x[1] == w[1] * groups && w[0] % groups == 0 && y[0] == N && y[1] == w[0],
                 "conv2d: input ", x, ", weight ", w, " and output ", y, " disagree (groups ", groups, ")");
  for (int i = 0; i < 2; ++i) {
    int64_t want = (x[2 + i] + 2 * p.padding[i] - p.dilation[i] * (w[2 + i] - 1) - 1) / p.stride[i] + 1;
    TS_CHECK_SHAPE(y[2 + i] == want, "conv2d: output ", y, " does not match input ", x, " and weight ", w);
  }
  // Batch chunks: each call's x and y stay below 2^31 elements (cuDNN's legacy API takes int).
  int64_t per_sample = std::max<int64_t>({x[1] * x[2] * x[3], y[1] * y[2] * y[3], 1});
  TS_CHECK_SHAPE(per_sample <= INT_MAX && w[0] * w[1] * w[2] * w[3] <= INT_MAX,
                 "conv2d: one sample of ", x, " or the weight ", w, " exceeds cuDNN's 2^31-element limit");
  int64_t most = std::max<int64_t>(1, INT_MAX / per_sample);
  for (int64_t done = 0; done < N; done += most) c.chunks.push_back(std::min(most, N - done));
  if (N == 0) c.chunks.push_back(0);
  int64_t first = c.chunks.front();
  for (int i = 0; i < 4; ++i) {
    c.x[i] = int(i == 0 ? first : x[size_t(i)]);
    c.w[i] = int(w[size_t(i)]);
    c.y[i] = int(i == 0 ? first : y[size_t(i)]);
  }
  for (int i = 0; i < 2; ++i) {
    c.pad[i] = int(p.padding[i]);
    c.stride[i] = int(p.stride[i]);
    c.dilation[i] = int(p.dilation[i]);
  }
  c.groups = int(groups);
  c.key = key_of(c);
  return c;
}

}  // namespace tessera::cuda
