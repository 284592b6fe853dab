#include "tessera/nn/functional.h"

namespace tessera::nn::functional {

Size2::Size2(std::initializer_list<int64_t> v) : h(0), w(0) {
  TS_CHECK_VALUE(v.size() == 1 || v.size() == 2, "a 2-D size takes one or two numbers, got ", v.size());
  h = *v.begin();
  w = v.size() == 2 ? *(v.begin() + 1) : h;
}

namespace {
ops::PoolOptions pool(const detail::Pool2d& c) {
  ops::PoolOptions p;
  p.kernel_size = c.kernel_size.shape();
  p.stride = c.stride.shape();
  p.padding = c.padding.shape();
  p.dilation = c.dilation.shape();
  p.ceil_mode = c.ceil_mode;
  p.count_include_pad = c.count_include_pad;
  return p;
}
}  // namespace

Tensor max_pool2d(const Tensor& x, const MaxPool2dFuncOptions& o) { return ops::max_pool2d(x, pool(o.options())); }
Tensor avg_pool2d(const Tensor& x, const AvgPool2dFuncOptions& o) { return ops::avg_pool2d(x, pool(o.options())); }

Tensor conv2d(const Tensor& x, const Tensor& weight, const Conv2dFuncOptions& o) {
  const detail::Conv2d& c = o.options();
  Conv2dParams p{{c.stride.h, c.stride.w}, {c.padding.h, c.padding.w}, {c.dilation.h, c.dilation.w}, c.groups};
  return ops::conv2d(x, weight, c.bias, p);
}

}  // namespace tessera::nn::functional
