#pragma once
// Tensor: a handle to a strided view of a Storage. Copying a Tensor shares the data (as in
// PyTorch); views (view, permute, narrow, ...) share storage with their base.
//
// The metadata accessors live in core; the methods that compute (t.sum(), t + u, t.view())
// are implemented by tessera/ops, which the tessera library always contains.
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "tessera/core/device.h"
#include "tessera/core/dtype.h"
#include "tessera/core/error.h"
#include "tessera/core/scalar.h"
#include "tessera/core/shape.h"
#include "tessera/core/storage.h"

namespace tessera {

struct AutogradMeta;  // defined in tessera/autograd: core knows only that it exists
class Generator;      // tessera/core/generator.h

struct TensorImpl {
  Storage storage;
  Shape shape;
  Shape strides;  // in elements; may be 0 (broadcast) or negative (flip)
  int64_t offset = 0;  // in elements
  DType dtype = DType::Float32;
  std::shared_ptr<AutogradMeta> autograd;  // null until the tensor takes part in autograd
};

class Tensor;
namespace autograd {
class Node;
}

// A piece of an index expression, as in x[1, 2:5, None, ..., idx] in Python; LibTorch's
// spellings too (x.index({Slice(), 0}), Slice(1, None), Slice(None, None, 2), "...").
struct NoneIndex {
  constexpr operator std::optional<int64_t>() const { return std::nullopt; }  // NOLINT: Slice(1, None)
};
struct Ellipsis {};
inline constexpr NoneIndex None{};
inline constexpr Ellipsis Ellipsis_{};
struct Slice {  // (an aggregate: Slice{1, 5}, Slice(1, None) and Slice() all build one)
  std::optional<int64_t> start, stop;
  int64_t step = 1;
};
class TensorIndex;
// LibTorch's torch::indexing (using namespace tessera::indexing;).
namespace indexing {
using tessera::None;
using tessera::Slice;
inline constexpr tessera::Ellipsis Ellipsis{};
}  // namespace indexing

// How a 4-D [N, C, H, W] tensor lies in memory, as torch.memory_format: Contiguous ([N, C, H, W]),
// ChannelsLast ([N, H, W, C]: what convolution kernels want on the CPU), or Preserve (as the
// input lies).
enum class MemoryFormat { Contiguous, ChannelsLast, Preserve };

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}
  // A tensor over existing storage (no copy).
  Tensor(Storage storage, Shape shape, Shape strides, int64_t offset, DType dtype);

  // --- metadata -------------------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  int64_t dim() const { return int64_t(impl().shape.size()); }
  const Shape& shape() const { return impl().shape; }
  const Shape& sizes() const { return impl().shape; }
  int64_t size(int64_t d) const;
  const Shape& strides() const { return impl().strides; }
  int64_t stride(int64_t d) const;
  int64_t storage_offset() const { return impl().offset; }
  int64_t numel() const { return numel_of(impl().shape); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  size_t element_size() const { return dtype_size(dtype()); }
  bool is_contiguous() const;
  bool is_contiguous(MemoryFormat f) const;
  // ChannelsLast for a 4-D tensor laid out channels last (and not also plain contiguous, as
  // when C or H*W is 1), Contiguous otherwise.
  MemoryFormat suggest_memory_format() const;
  bool is_floating_point() const { return is_floating(dtype()); }
  const Storage& storage() const { return impl().storage; }
  // Address of the first element (storage data + offset).
  void* data_ptr() const;
  template <class T>
  T* data_ptr() const {
    TS_CHECK_DTYPE(dtype_v<T> == dtype(), "data_ptr: expected dtype ", dtype_v<T>, " but the tensor is ", dtype());
    return static_cast<T*>(data_ptr());
  }
  bool is_same(const Tensor& o) const { return impl_ == o.impl_; }
  uint64_t version() const { return storage()->version(); }
  void bump_version() const { storage()->bump_version(); }
  TensorImpl& impl() const {
    TS_CHECK(impl_ != nullptr, "Tensor: use of an undefined tensor");
    return *impl_;
  }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

  // --- values -----------------------------------------------------------------------------
  // The single value of a one-element tensor (synchronizes with the device).
  Scalar item() const;
  template <class T>
  T item() const { return item().to<T>(); }
  std::vector<double> to_vector() const;  // all values, row-major, as double
  template <class T>
  std::vector<T> tolist() const;          // all values, row-major, as T
  std::string str() const;                // PyTorch-style printing

  // --- conversion and copies ----------------------------------------------------------------
  Tensor to(DType t) const;  // a copy, or this tensor when the dtype already matches
  // A copy on device d (this tensor when it is there already). non_blocking may return before a
  // copy from pinned host memory or into it completes (synchronize before reading the host side).
  Tensor to(Device d, bool non_blocking = false) const;
  Tensor cpu() const { return to(Device::cpu()); }
  Tensor cuda(int index = 0, bool non_blocking = false) const { return to(Device::cuda(index), non_blocking); }
  // A copy in pinned (page-locked) host memory, for asynchronous copies to a GPU.
  Tensor pin_memory() const;
  bool is_pinned() const;
  // Moves the data into shared memory in place (every view follows; a no-op when already there),
  // so that processes forked afterwards, or given the tensor through tessera.multiprocessing,
  // read and write the same values. Host tensors only.
  Tensor& share_memory_();
  bool is_shared() const;
  Tensor contiguous() const;  // this tensor when already contiguous
  Tensor contiguous(MemoryFormat f) const;  // in that layout (a copy when it is not)
  Tensor clone() const;
  // Points this tensor at src's data (storage, shape, strides, dtype), keeping its autograd
  // identity (requires_grad, grad, hooks), as torch's `param.data = t`. Outside autograd: a
  // tensor that is not a leaf, or src on another device than a grad already held, is refused.
  void set_data(const Tensor& src) const;
  Tensor& copy_(const Tensor& src);  // broadcasts src into this tensor, converting the dtype
  // Refills a floating-point tensor with random numbers in place, outside autograd (LibTorch's
  // torch::empty({n}).uniform_(0.8, 1.0); nn::init's uniform_ and normal_ are these).
  Tensor& uniform_(double from = 0, double to = 1, Generator* gen = nullptr);
  Tensor& normal_(double mean = 0, double std = 1, Generator* gen = nullptr);
  Tensor& fill_(Scalar v);
  Tensor& zero_() { return fill_(0); }

  // --- views ----------------------------------------------------------------------------------
  Tensor view(const Shape& shape) const;
  Tensor reshape(const Shape& shape) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor unflatten(int64_t dim, const Shape& sizes) const;
  Tensor permute(const Shape& dims) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const;
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor expand(const Shape& shape) const;
  Tensor expand_as(const Tensor& o) const { return expand(o.shape()); }
  Tensor broadcast_to(const Shape& shape) const { return expand(shape); }
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor slice(int64_t dim, std::optional<int64_t> start, std::optional<int64_t> stop, int64_t step = 1) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor operator[](int64_t i) const { return select(0, i); }
  // NumPy/PyTorch indexing: integers, Slice, None, Ellipsis_, integer and bool tensors.
  Tensor index(const std::vector<TensorIndex>& idx) const;
  Tensor& index_put_(const std::vector<TensorIndex>& idx, const Tensor& values, bool accumulate = false);
  Tensor& index_put_(const std::vector<TensorIndex>& idx, Scalar value);

  // --- autograd (tessera/autograd) ------------------------------------------------------------
  bool requires_grad() const;
  // Marks a floating-point tensor as a leaf whose gradient backward() accumulates in grad().
  Tensor& requires_grad_(bool on = true);
  // The accumulated gradient (undefined until a backward pass reaches this tensor).
  Tensor grad() const;
  void set_grad(const Tensor& g) const;
  // The node that made this tensor (null for leaves and tensors outside autograd).
  std::shared_ptr<autograd::Node> grad_fn() const;
  bool is_leaf() const;
  // Computes gradients of this tensor w.r.t. the leaves. gradient may be omitted for a
  // one-element tensor (it is then 1).
  void backward(const Tensor& gradient = {}, bool retain_graph = false, bool create_graph = false) const;
  // The same data, cut from the graph.
  Tensor detach() const;
  // Keeps grad() for a non-leaf tensor too.
  void retain_grad() const;
  // hook(grad) runs when the gradient w.r.t. this tensor is computed; a defined result replaces it.
  void register_hook(std::function<Tensor(const Tensor&)> hook) const;

  // --- math (see tessera/ops for the full list and semantics) -------------------------------
#define TS_UNARY_METHOD(name) Tensor name() const; Tensor& name##_();
  TS_UNARY_METHOD(abs) TS_UNARY_METHOD(neg) TS_UNARY_METHOD(exp) TS_UNARY_METHOD(expm1)
  TS_UNARY_METHOD(log) TS_UNARY_METHOD(log1p) TS_UNARY_METHOD(sqrt) TS_UNARY_METHOD(rsqrt)
  TS_UNARY_METHOD(sin) TS_UNARY_METHOD(cos) TS_UNARY_METHOD(tanh) TS_UNARY_METHOD(sigmoid)
  TS_UNARY_METHOD(relu) TS_UNARY_METHOD(silu) TS_UNARY_METHOD(erf) TS_UNARY_METHOD(floor)
  TS_UNARY_METHOD(ceil) TS_UNARY_METHOD(round) TS_UNARY_METHOD(sign) TS_UNARY_METHOD(reciprocal)
  TS_UNARY_METHOD(square)
#undef TS_UNARY_METHOD
  Tensor clamp(std::optional<Scalar> min, std::optional<Scalar> max) const;
  Tensor& clamp_(std::optional<Scalar> min, std::optional<Scalar> max);
  Tensor pow(const Tensor& e) const;
  Tensor pow(Scalar e) const;
  Tensor& add_(const Tensor& o, Scalar alpha = 1);
  Tensor& sub_(const Tensor& o, Scalar alpha = 1);
  Tensor& mul_(const Tensor& o);
  Tensor& div_(const Tensor& o);
  Tensor& add_(Scalar o);
  Tensor& sub_(Scalar o);
  Tensor& mul_(Scalar o);
  Tensor& div_(Scalar o);
  Tensor masked_fill(const Tensor& mask, Scalar v) const;
  Tensor& masked_fill_(const Tensor& mask, Scalar v);
  Tensor matmul(const Tensor& o) const;
  // Comparisons as methods (LibTorch's pred.eq(target)): bool tensors, as ==, !=, <, ... give.
  Tensor eq(const Tensor& o) const;
  Tensor ne(const Tensor& o) const;
  Tensor lt(const Tensor& o) const;
  Tensor le(const Tensor& o) const;
  Tensor gt(const Tensor& o) const;
  Tensor ge(const Tensor& o) const;
  Tensor eq(Scalar o) const;
  Tensor ne(Scalar o) const;
  Tensor lt(Scalar o) const;
  Tensor le(Scalar o) const;
  Tensor gt(Scalar o) const;
  Tensor ge(Scalar o) const;

  // Reductions over all dims, or over `dims` (negative allowed) with keepdim.
  Tensor sum() const;
  Tensor sum(const Shape& dims, bool keepdim = false) const;
  Tensor sum(int64_t dim, bool keepdim = false) const;  // x.sum(1), as LibTorch
  Tensor mean() const;
  Tensor mean(const Shape& dims, bool keepdim = false) const;
  Tensor mean(int64_t dim, bool keepdim = false) const;
  Tensor prod() const;
  Tensor prod(int64_t dim, bool keepdim = false) const;
  Tensor max() const;
  Tensor min() const;
  Tensor amax(const Shape& dims, bool keepdim = false) const;
  Tensor amin(const Shape& dims, bool keepdim = false) const;
  Tensor argmax(std::optional<int64_t> dim = std::nullopt, bool keepdim = false) const;
  Tensor argmin(std::optional<int64_t> dim = std::nullopt, bool keepdim = false) const;
  Tensor var(std::optional<Shape> dims = std::nullopt, int64_t correction = 1, bool keepdim = false) const;
  Tensor std(std::optional<Shape> dims = std::nullopt, int64_t correction = 1, bool keepdim = false) const;
  Tensor norm(double p = 2, std::optional<Shape> dims = std::nullopt, bool keepdim = false) const;
  Tensor logsumexp(const Shape& dims, bool keepdim = false) const;
  Tensor all() const;
  Tensor any() const;
  Tensor cumsum(int64_t dim) const;
  Tensor softmax(int64_t dim) const;
  Tensor log_softmax(int64_t dim) const;

 private:
  std::shared_ptr<TensorImpl> impl_;
};

class TensorIndex {
 public:
  TensorIndex(int64_t i) : v_(i) {}
  TensorIndex(int i) : v_(int64_t(i)) {}
  TensorIndex(Slice s) : v_(s) {}
  TensorIndex(NoneIndex) : v_(NoneIndex{}) {}
  TensorIndex(Ellipsis) : v_(Ellipsis{}) {}
  TensorIndex(const char* ellipsis);  // "...", as LibTorch takes it
  TensorIndex(Tensor t) : v_(std::move(t)) {}
  const std::variant<int64_t, Slice, NoneIndex, Ellipsis, Tensor>& value() const { return v_; }

 private:
  std::variant<int64_t, Slice, NoneIndex, Ellipsis, Tensor> v_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// Operators (broadcasting, with type promotion). Comparisons return bool tensors.
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, Scalar b);
Tensor operator-(const Tensor& a, Scalar b);
Tensor operator*(const Tensor& a, Scalar b);
Tensor operator/(const Tensor& a, Scalar b);
Tensor operator+(Scalar a, const Tensor& b);
Tensor operator-(Scalar a, const Tensor& b);
Tensor operator*(Scalar a, const Tensor& b);
Tensor operator/(Scalar a, const Tensor& b);
Tensor operator-(const Tensor& a);
Tensor operator==(const Tensor& a, const Tensor& b);
Tensor operator!=(const Tensor& a, const Tensor& b);
Tensor operator<(const Tensor& a, const Tensor& b);
Tensor operator<=(const Tensor& a, const Tensor& b);
Tensor operator>(const Tensor& a, const Tensor& b);
Tensor operator>=(const Tensor& a, const Tensor& b);
Tensor operator==(const Tensor& a, Scalar b);
Tensor operator!=(const Tensor& a, Scalar b);
Tensor operator<(const Tensor& a, Scalar b);
Tensor operator<=(const Tensor& a, Scalar b);
Tensor operator>(const Tensor& a, Scalar b);
Tensor operator>=(const Tensor& a, Scalar b);
Tensor operator&&(const Tensor& a, const Tensor& b);
Tensor operator||(const Tensor& a, const Tensor& b);
Tensor operator!(const Tensor& a);

}  // namespace tessera
