#pragma once
// Tensor factories, as in PyTorch and LibTorch: tessera::zeros({2, 3}), tessera::randn({4}, kFloat64),
// tessera::ones({2}, TensorOptions().dtype(kFloat64).device(kCUDA).requires_grad(true)).
#include <initializer_list>
#include <type_traits>
#include <vector>

#include "tessera/core/generator.h"
#include "tessera/core/tensor.h"

namespace tessera {

// What a factory makes: dtype (float32 by default), device (the CPU) and whether the result
// requires grad. Built implicitly from a dtype or a device, or by LibTorch's chain.
class TensorOptions {
 public:
  TensorOptions() = default;
  TensorOptions(DType d) : dtype_(d) {}
  TensorOptions(Device d) : device_(d) {}
  TensorOptions(DeviceType t) : device_(t) {}
  TensorOptions(DType d, Device dev) : dtype_(d), device_(dev) {}
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  bool requires_grad() const { return requires_grad_; }
  TensorOptions dtype(DType d) const {
    TensorOptions o = *this;
    o.dtype_ = d;
    return o;
  }
  TensorOptions device(Device d) const {
    TensorOptions o = *this;
    o.device_ = d;
    return o;
  }
  TensorOptions requires_grad(bool on) const {
    TensorOptions o = *this;
    o.requires_grad_ = on;
    return o;
  }

 private:
  DType dtype_ = DType::Float32;
  Device device_{};
  bool requires_grad_ = false;
};

Tensor empty(const Shape& shape, TensorOptions opt = {});
// In a memory format (ChannelsLast: a 4-D shape laid out [N, H, W, C]).
Tensor empty(const Shape& shape, TensorOptions opt, MemoryFormat format);
Tensor zeros(const Shape& shape, TensorOptions opt = {});
Tensor ones(const Shape& shape, TensorOptions opt = {});
Tensor full(const Shape& shape, Scalar value, TensorOptions opt = {});
// Values start, start+step, ... below end (above, for a negative step).
Tensor arange(double end, TensorOptions opt = {DType::Int64});
Tensor arange(double start, double end, double step = 1, TensorOptions opt = {DType::Int64});
Tensor linspace(double start, double end, int64_t steps, TensorOptions opt = {});
Tensor eye(int64_t n, std::optional<int64_t> m = std::nullopt, TensorOptions opt = {});
Tensor rand(const Shape& shape, TensorOptions opt = {}, Generator* gen = nullptr);
Tensor randn(const Shape& shape, TensorOptions opt = {}, Generator* gen = nullptr);
Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions opt = {DType::Int64},
               Generator* gen = nullptr);
// Each element is 1 with probability p (elementwise), else 0; dtype of p.
// A random permutation of 0..n-1 (torch.randperm), int64 unless opt says otherwise.
Tensor randperm(int64_t n, TensorOptions opt = {DType::Int64}, Generator* gen = nullptr);
Tensor bernoulli(const Tensor& p, Generator* gen = nullptr);
Tensor bernoulli(const Shape& shape, double p, TensorOptions opt = {}, Generator* gen = nullptr);
Tensor empty_like(const Tensor& t);  // t's shape, dtype, device and memory format
// The memory format of an elementwise result of `shape`: that of its first operand of that shape
// (channels last stays channels last through activations and arithmetic, as in PyTorch).
MemoryFormat result_format(const Shape& shape, std::initializer_list<const Tensor*> operands);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, Scalar v);
Tensor rand_like(const Tensor& t, Generator* gen = nullptr);
Tensor randn_like(const Tensor& t, Generator* gen = nullptr);
// A tensor holding a copy of values, with the given shape (1-D when shape is omitted).
template <class T>
Tensor from_vector(const std::vector<T>& values, std::optional<Shape> shape = std::nullopt);
// A 0-d tensor holding one value, of the scalar's default dtype unless given.
Tensor scalar_tensor(Scalar v, std::optional<DType> dtype = std::nullopt, Device device = Device::cpu());
// Literal tensors: tensor({1., 2., 3.}), tensor({{1, 2}, {3, 4}}).
Tensor tensor(std::initializer_list<double> values, TensorOptions opt = {});
Tensor tensor(std::initializer_list<std::initializer_list<double>> rows, TensorOptions opt = {});
Tensor tensor_int64(const std::vector<int64_t>& values, DType dtype);
// Integer literals give an int64 tensor, as in PyTorch: tensor({2, 0}).
template <class I, std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>, int> = 0>
Tensor tensor(std::initializer_list<I> values, TensorOptions opt = {DType::Int64}) {
  return tensor_int64(std::vector<int64_t>(values.begin(), values.end()), opt.dtype()).to(opt.device()).requires_grad_(opt.requires_grad());
}
// Wraps external memory without copying; deleter (may be empty) runs when the last view dies.
Tensor from_blob(void* data, const Shape& shape, DType dtype, StorageImpl::Deleter deleter = {},
                 std::optional<Shape> strides = std::nullopt, Device device = Device::cpu());

}  // namespace tessera
