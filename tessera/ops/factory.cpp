#include "tessera/ops/factory.h"

#include <cmath>

#include "tessera/backend/backend.h"
#include "tessera/backend/math/random.h"
#include "tessera/ops/trace.h"

namespace tessera {

namespace {
// TensorOptions::requires_grad applied to a factory's result (its inner steps run without it).
Tensor finish(Tensor t, const TensorOptions& o) {
  if (o.requires_grad()) t.requires_grad_(true);
  return t;
}
TensorOptions plain(const TensorOptions& o) { return o.requires_grad(false); }
}  // namespace

Tensor empty(const Shape& shape, TensorOptions opt) {
  check_shape(shape, "empty");
  Backend& b = backend_for(opt.device());
  Storage st = b.allocate(size_t(numel_of(shape)) * dtype_size(opt.dtype()), opt.device());
  return finish(Tensor(std::move(st), shape, contiguous_strides(shape), 0, opt.dtype()), opt);
}
Tensor empty(const Shape& shape, TensorOptions opt, MemoryFormat format) {
  if (format != MemoryFormat::ChannelsLast) return empty(shape, opt);  // (applies requires_grad)
  check_shape(shape, "empty");
  Shape strides = channels_last_strides(shape);
  Storage st = backend_for(opt.device()).allocate(size_t(numel_of(shape)) * dtype_size(opt.dtype()), opt.device());
  return finish(Tensor(std::move(st), shape, strides, 0, opt.dtype()), opt);
}
// Tensors made from numbers inside a traced function are constants of the trace (their values
// cannot depend on its inputs).
Tensor full(const Shape& shape, Scalar value, TensorOptions opt) {
  ops::trace::Scope ts;
  Tensor t = empty(shape, plain(opt));
  backend_for(opt.device()).fill(t, value);
  if (ts.recording()) ts.record("constant", {}, {t});
  return finish(t, opt);
}
Tensor zeros(const Shape& shape, TensorOptions opt) { return full(shape, 0, opt); }
Tensor ones(const Shape& shape, TensorOptions opt) { return full(shape, 1, opt); }

Tensor arange(double end, TensorOptions opt) { return arange(0, end, 1, opt); }
Tensor arange(double start, double end, double step, TensorOptions opt) {
  ops::trace::Scope ts;
  TS_CHECK_VALUE(step != 0, "arange: step must be nonzero");
  TS_CHECK_VALUE(std::isfinite(start) && std::isfinite(end), "arange: unsupported range ", start, " -> ", end);
  TS_CHECK_VALUE((step > 0 && end >= start) || (step < 0 && end <= start), "arange: upper bound ", end,
                 " and lower bound ", start, " inconsistent with step sign ", step);
  double count = std::ceil((end - start) / step);
  TS_CHECK_VALUE(count < 4.6e18, "arange: the range ", start, " -> ", end, " with step ", step,
                 " has too many elements");
  int64_t n = int64_t(count);
  Tensor t = empty({n}, plain(opt));
  backend_for(opt.device()).arange(t, start, step);
  if (ts.recording()) ts.record("constant", {}, {t});
  return finish(t, opt);
}
Tensor linspace(double start, double end, int64_t steps, TensorOptions opt) {
  TS_CHECK_VALUE(steps >= 0, "linspace: number of steps must be non-negative, got ", steps);
  Tensor t = empty({steps}, plain(opt));
  if (steps == 1) backend_for(opt.device()).fill(t, start);
  else if (steps > 1) backend_for(opt.device()).arange(t, start, (end - start) / double(steps - 1));
  return finish(t, opt);
}
Tensor eye(int64_t n, std::optional<int64_t> m, TensorOptions opt) {
  int64_t cols = m.value_or(n);
  TS_CHECK_VALUE(n >= 0 && cols >= 0, "eye: n and m must be non-negative, got ", n, " and ", cols);
  Tensor t = zeros({n, cols}, plain(opt));
  int64_t d = std::min(n, cols);
  Tensor diag(t.storage(), {d}, {cols + 1}, 0, opt.dtype());
  backend_for(opt.device()).fill(diag, 1);
  return finish(t, opt);
}

static Generator& gen_or_default(Generator* g) { return g ? *g : default_generator(); }

Tensor rand(const Shape& shape, TensorOptions opt, Generator* gen) {
  TS_CHECK_DTYPE(is_floating(opt.dtype()), "rand: expected a floating-point dtype, got ", opt.dtype());
  Tensor t = empty(shape, plain(opt));
  backend_for(opt.device()).uniform(t, 0, 1, gen_or_default(gen));
  return finish(t, opt);
}
Tensor randn(const Shape& shape, TensorOptions opt, Generator* gen) {
  TS_CHECK_DTYPE(is_floating(opt.dtype()), "randn: expected a floating-point dtype, got ", opt.dtype());
  Tensor t = empty(shape, plain(opt));
  backend_for(opt.device()).normal(t, 0, 1, gen_or_default(gen));
  return finish(t, opt);
}
Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions opt, Generator* gen) {
  TS_CHECK_VALUE(high > low, "randint: expected low < high, got low=", low, " high=", high);
  Tensor t = empty(shape, plain(opt));
  backend_for(opt.device()).randint(t, low, high, gen_or_default(gen));
  return finish(t, opt);
}
Tensor randperm(int64_t n, TensorOptions opt, Generator* gen) {
  TS_CHECK_VALUE(n >= 0, "randperm: n must be non-negative, got ", n);
  TS_CHECK_DTYPE(opt.dtype() != DType::Bool, "randperm: dtype bool cannot hold a permutation");
  TS_CHECK_VALUE(opt.dtype() == DType::Int64 || opt.dtype() == DType::Float64 || n <= (int64_t(1) << 24) ||
                     (opt.dtype() == DType::Int32 && n <= INT32_MAX),
                 "randperm: n = ", n, " does not fit in ", opt.dtype());
  // Fisher-Yates on the host, one Philox block per swap, so a seed gives the same order everywhere.
  Tensor p = empty({n}, {DType::Int64});
  int64_t* v = p.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) v[i] = i;
  Generator& g = gen_or_default(gen);
  const uint64_t seed = g.seed(), base = g.reserve(uint64_t(n));
  for (int64_t i = n - 1; i > 0; --i) {
    Philox4x32 r = philox4x32(seed, base + uint64_t(i));
    std::swap(v[i], v[math::randint_value<int64_t>(r, 0, uint64_t(i + 1))]);
  }
  return finish(opt.dtype() == DType::Int64 && opt.device().is_cpu() ? p : p.to(opt.device()).to(opt.dtype()), opt);
}
Tensor bernoulli(const Tensor& p, Generator* gen) {
  TS_CHECK_DTYPE(p.is_floating_point(), "bernoulli: expected a floating-point probability tensor, got ",
                 p.dtype());
  Tensor pd = p.to(DType::Float64);
  TS_CHECK_VALUE((pd.amin({}).item<double>() >= 0 && pd.amax({}).item<double>() <= 1) || p.numel() == 0,
                 "bernoulli: expected all probabilities in [0, 1]");
  Tensor t = empty(p.shape(), {p.dtype(), p.device()});
  backend_for(p.device()).bernoulli(t, p, gen_or_default(gen));
  return t;
}
Tensor bernoulli(const Shape& shape, double p, TensorOptions opt, Generator* gen) {
  TS_CHECK_VALUE(p >= 0 && p <= 1, "bernoulli: expected 0 <= p <= 1, got ", p);
  Tensor t = empty(shape, plain(opt));
  // One probability for every element: a 0-d tensor expanded (stride 0), not a full-size copy.
  backend_for(opt.device()).bernoulli(t, full({}, p, {DType::Float64, opt.device()}).expand(shape), gen_or_default(gen));
  return finish(t, opt);
}

MemoryFormat result_format(const Shape& shape, std::initializer_list<const Tensor*> operands) {
  if (shape.size() != 4) return MemoryFormat::Contiguous;
  for (const Tensor* t : operands)
    if (t->defined() && t->shape() == shape) return t->suggest_memory_format();
  return MemoryFormat::Contiguous;
}

Tensor empty_like(const Tensor& t) { return empty(t.shape(), {t.dtype(), t.device()}, t.suggest_memory_format()); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), {t.dtype(), t.device()}); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), {t.dtype(), t.device()}); }
Tensor full_like(const Tensor& t, Scalar v) { return full(t.shape(), v, {t.dtype(), t.device()}); }
Tensor rand_like(const Tensor& t, Generator* g) { return rand(t.shape(), {t.dtype(), t.device()}, g); }
Tensor randn_like(const Tensor& t, Generator* g) { return randn(t.shape(), {t.dtype(), t.device()}, g); }

template <class T>
Tensor from_vector(const std::vector<T>& values, std::optional<Shape> shape) {
  ops::trace::Scope ts;
  Shape sh = shape.value_or(Shape{int64_t(values.size())});
  check_shape(sh, "from_vector");
  TS_CHECK_SHAPE(numel_of(sh) == int64_t(values.size()), "from_vector: shape ", sh, " needs ", numel_of(sh),
                 " values, got ", values.size());
  Tensor t = empty(sh, {dtype_v<T>, Device::cpu()});
  T* p = t.data_ptr<T>();
  for (size_t i = 0; i < values.size(); ++i) p[i] = values[i];
  if (ts.recording()) ts.record("constant", {}, {t});
  return t;
}
template Tensor from_vector(const std::vector<bool>&, std::optional<Shape>);
template Tensor from_vector(const std::vector<uint8_t>&, std::optional<Shape>);
template Tensor from_vector(const std::vector<int8_t>&, std::optional<Shape>);
template Tensor from_vector(const std::vector<int32_t>&, std::optional<Shape>);
template Tensor from_vector(const std::vector<int64_t>&, std::optional<Shape>);
template Tensor from_vector(const std::vector<Half>&, std::optional<Shape>);
template Tensor from_vector(const std::vector<BFloat16>&, std::optional<Shape>);
template Tensor from_vector(const std::vector<float>&, std::optional<Shape>);
template Tensor from_vector(const std::vector<double>&, std::optional<Shape>);

Tensor scalar_tensor(Scalar v, std::optional<DType> dtype, Device device) {
  return full({}, v, {dtype.value_or(v.default_dtype()), device});
}

Tensor tensor(std::initializer_list<double> values, TensorOptions opt) {
  return finish(from_vector(std::vector<double>(values)).to(opt.dtype()).to(opt.device()), opt);
}
Tensor tensor(std::initializer_list<std::initializer_list<double>> rows, TensorOptions opt) {
  std::vector<double> v;
  int64_t cols = rows.size() ? int64_t(rows.begin()->size()) : 0;
  for (const auto& r : rows) {
    TS_CHECK_SHAPE(int64_t(r.size()) == cols, "tensor: rows have different lengths (", cols, " and ", r.size(), ")");
    v.insert(v.end(), r.begin(), r.end());
  }
  return finish(from_vector(v, Shape{int64_t(rows.size()), cols}).to(opt.dtype()).to(opt.device()), opt);
}
Tensor tensor_int64(const std::vector<int64_t>& values, DType dtype) { return from_vector(values).to(dtype); }

Tensor from_blob(void* data, const Shape& shape, DType dtype, StorageImpl::Deleter deleter,
                 std::optional<Shape> strides, Device device) {
  check_shape(shape, "from_blob");
  TS_CHECK_VALUE(data != nullptr || numel_of(shape) == 0, "from_blob: null data pointer for shape ", shape);
  Shape st = strides.value_or(contiguous_strides(shape));
  TS_CHECK_SHAPE(st.size() == shape.size(), "from_blob: strides ", st, " do not match shape ", shape);
  int64_t span = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    TS_CHECK_VALUE(st[i] >= 0, "from_blob: negative stride in ", st);
    if (shape[i] > 0) span += (shape[i] - 1) * st[i];
  }
  auto storage = std::make_shared<StorageImpl>(data, size_t(span) * dtype_size(dtype), device, std::move(deleter));
  return Tensor(std::move(storage), shape, st, 0, dtype);
}

}  // namespace tessera
