#include "tessera/core/tensor.h"

namespace tessera {

Tensor::Tensor(Storage storage, Shape shape, Shape strides, int64_t offset, DType dtype) {
  TS_CHECK(storage != nullptr, "Tensor: null storage");
  TS_CHECK_SHAPE(shape.size() == strides.size(), "Tensor: shape ", shape, " and strides ", strides,
                 " differ in length");
  impl_ = std::make_shared<TensorImpl>();
  impl_->storage = std::move(storage);
  impl_->shape = std::move(shape);
  impl_->strides = std::move(strides);
  impl_->offset = offset;
  impl_->dtype = dtype;
}

// (a 0-d tensor has no dims to ask about, as in PyTorch; wrap_dim lets reductions name dim 0 of one)
int64_t Tensor::size(int64_t d) const {
  TS_CHECK_INDEX(dim() > 0, "size: dimension specified as ", d, " but tensor has no dimensions");
  return shape()[size_t(wrap_dim(d, dim(), "size"))];
}
int64_t Tensor::stride(int64_t d) const {
  TS_CHECK_INDEX(dim() > 0, "stride: dimension specified as ", d, " but tensor has no dimensions");
  return strides()[size_t(wrap_dim(d, dim(), "stride"))];
}

bool Tensor::is_contiguous() const {
  const auto& sh = shape();
  const auto& st = strides();
  int64_t expected = 1;
  for (size_t i = sh.size(); i-- > 0;) {
    if (sh[i] == 1) continue;
    if (st[i] != expected) return false;
    expected *= sh[i];
  }
  return true;
}

bool Tensor::is_contiguous(MemoryFormat f) const {
  if (f != MemoryFormat::ChannelsLast) return is_contiguous();
  if (dim() != 4) return false;
  const Shape& sh = shape();
  const Shape& st = strides();
  Shape want = channels_last_strides(sh);
  for (size_t i = 0; i < 4; ++i)
    if (sh[i] != 1 && st[i] != want[i]) return false;
  return true;
}

MemoryFormat Tensor::suggest_memory_format() const {
  if (dim() != 4 || is_contiguous()) return MemoryFormat::Contiguous;
  return is_contiguous(MemoryFormat::ChannelsLast) ? MemoryFormat::ChannelsLast : MemoryFormat::Contiguous;
}

void* Tensor::data_ptr() const {
  return static_cast<char*>(storage()->data()) + impl().offset * int64_t(element_size());
}

}  // namespace tessera
