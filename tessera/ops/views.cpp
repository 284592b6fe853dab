// Views (metadata-only ops that share storage) and the copies that back contiguous/clone/to.
#include <numeric>

#include "tessera/autograd/autograd.h"
#include "tessera/backend/cuda/cuda.h"
#include "tessera/core/shared_memory.h"
#include "tessera/ops/ops.h"
#include "tessera/ops/trace.h"

namespace tessera {

using autograd::needs_grad;
using autograd::record_fn;
using G = std::vector<Tensor>;

namespace {
Tensor make_view(const Tensor& t, Shape shape, Shape strides, int64_t offset) {
  Tensor v(t.storage(), std::move(shape), std::move(strides), offset, t.dtype());
  return v;
}

// Records a view op: back maps the view's gradient to the base's.
Tensor viewed(const Tensor& base, const Tensor& out, const char* name, std::function<Tensor(const Tensor&)> back) {
  if (needs_grad({&base})) record_fn(name, {&base}, {&out}, {}, [back](const G& g, const G&) { return G{back(g[0])}; });
  autograd::mark_view(out, base);
  return out;
}
}  // namespace

// The gradient of a narrowing view: g placed into zeros of the base's shape at the view that
// `view_of` takes. Recorded, so that it differentiates again (its gradient is view_of(gg)).
Tensor ops::embed_in_zeros(const Tensor& g, const Shape& base_shape, std::function<Tensor(const Tensor&)> view_of) {
  Tensor z;
  {
    autograd::NoGradGuard ng;
    z = zeros(base_shape, {g.dtype(), g.device()});
    backend_for(g.device()).copy(view_of(z), g);
  }
  if (needs_grad({&g})) record_fn("view_backward", {&g}, {&z}, {}, [view_of](const G& gg, const G&) { return G{view_of(gg[0])}; });
  return z;
}

namespace {

// Strides that let a tensor of t's layout be viewed with `shape` without copying, if any
// (PyTorch's computeStride).
std::optional<Shape> view_strides(const Tensor& t, const Shape& shape) {
  const Shape& old = t.shape();
  const Shape& ost = t.strides();
  Shape st(shape.size());
  if (t.numel() == 0 || t.dim() == 0) return contiguous_strides(shape);
  int64_t view_d = int64_t(shape.size()) - 1;
  int64_t chunk_base = ost.empty() ? 1 : ost.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = int64_t(old.size()) - 1; d >= 0; --d) {
    tensor_numel *= old[size_t(d)];
    if (d == 0 || (old[size_t(d - 1)] != 1 && ost[size_t(d - 1)] != tensor_numel * chunk_base)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[size_t(view_d)] == 1)) {
        st[size_t(view_d)] = view_numel * chunk_base;
        view_numel *= shape[size_t(view_d)];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base = ost[size_t(d - 1)];
        tensor_numel = view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return st;
}
}  // namespace

Tensor Tensor::view(const Shape& shape) const {
  ops::trace::Scope ts;
  Shape s = infer_shape(shape, numel(), "view");
  check_shape(s, "view");
  auto st = view_strides(*this, s);
  TS_CHECK_SHAPE(st.has_value(), "view: size ", s, " is not compatible with input tensor's size ", this->shape(),
                 " and strides ", strides(), " (at least one dimension spans two contiguous subspaces); "
                 "use reshape instead");
  Shape in = this->shape();
  Tensor out = viewed(*this, make_view(*this, s, *st, storage_offset()), "view", [in](const Tensor& g) { return g.reshape(in); });
  if (ts.recording()) ts.record("reshape", {*this}, {out}, {{"shape", s}});
  return out;
}

Tensor Tensor::reshape(const Shape& shape) const {
  ops::trace::Scope ts;
  Shape s = infer_shape(shape, numel(), "reshape");
  check_shape(s, "reshape");
  Shape in = this->shape();
  auto st = view_strides(*this, s);
  Tensor out = st ? viewed(*this, make_view(*this, s, *st, storage_offset()), "reshape",
                           [in](const Tensor& g) { return g.reshape(in); })
                  : contiguous().view(s);
  if (ts.recording()) ts.record("reshape", {*this}, {out}, {{"shape", s}});
  return out;
}

Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  if (dim() == 0) return reshape({1});
  int64_t a = wrap_dim(start_dim, dim(), "flatten"), b = wrap_dim(end_dim, dim(), "flatten");
  TS_CHECK_VALUE(a <= b, "flatten: start_dim (", a, ") cannot come after end_dim (", b, ")");
  Shape s(shape().begin(), shape().begin() + a);
  int64_t n = 1;
  for (int64_t i = a; i <= b; ++i) n *= shape()[size_t(i)];
  s.push_back(n);
  s.insert(s.end(), shape().begin() + b + 1, shape().end());
  return reshape(s);
}

Tensor Tensor::unflatten(int64_t d, const Shape& sizes) const {
  int64_t w = wrap_dim(d, dim(), "unflatten");
  Shape inner = infer_shape(sizes, size(w), "unflatten");
  Shape s(shape().begin(), shape().begin() + w);
  s.insert(s.end(), inner.begin(), inner.end());
  s.insert(s.end(), shape().begin() + w + 1, shape().end());
  return view(s);
}

Tensor Tensor::permute(const Shape& dims) const {
  TS_CHECK_SHAPE(int64_t(dims.size()) == dim(), "permute: number of dims don't match in permute (got ", dims,
                 " for a tensor of shape ", shape(), ")");
  Shape s(dims.size()), st(dims.size()), wrapped(dims.size()), inverse(dims.size());
  std::vector<bool> seen(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t d = wrap_dim(dims[i], dim(), "permute");
    TS_CHECK_VALUE(!seen[size_t(d)], "permute: repeated dim ", d, " in ", dims);
    seen[size_t(d)] = true;
    s[i] = shape()[size_t(d)];
    st[i] = strides()[size_t(d)];
    wrapped[i] = d;
    inverse[size_t(d)] = int64_t(i);
  }
  ops::trace::Scope ts;
  Tensor out = viewed(*this, make_view(*this, s, st, storage_offset()), "permute",
                      [inverse](const Tensor& g) { return g.permute(inverse); });
  if (ts.recording()) ts.record("permute", {*this}, {out}, {{"dims", wrapped}});
  return out;
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  if (dim() == 0) return *this;
  Shape p(static_cast<size_t>(dim()));
  std::iota(p.begin(), p.end(), 0);
  std::swap(p[size_t(wrap_dim(d0, dim(), "transpose"))], p[size_t(wrap_dim(d1, dim(), "transpose"))]);
  return permute(p);
}

Tensor Tensor::t() const {
  TS_CHECK_SHAPE(dim() <= 2, "t: expects a tensor with <= 2 dimensions, but self is ", dim(), "D");
  return dim() < 2 ? *this : transpose(0, 1);
}

Tensor Tensor::squeeze() const {
  Shape s, st;
  for (int64_t i = 0; i < dim(); ++i)
    if (shape()[size_t(i)] != 1) {
      s.push_back(shape()[size_t(i)]);
      st.push_back(strides()[size_t(i)]);
    }
  Shape in = shape();
  ops::trace::Scope ts;
  Tensor out = viewed(*this, make_view(*this, s, st, storage_offset()), "squeeze", [in](const Tensor& g) { return g.reshape(in); });
  if (ts.recording()) ts.record("reshape", {*this}, {out}, {{"shape", out.shape()}});
  return out;
}

Tensor Tensor::squeeze(int64_t d) const {
  if (dim() == 0) return *this;
  int64_t w = wrap_dim(d, dim(), "squeeze");
  if (shape()[size_t(w)] != 1) return *this;
  Shape s = shape(), st = strides();
  s.erase(s.begin() + w);
  st.erase(st.begin() + w);
  Shape in = shape();
  ops::trace::Scope ts;
  Tensor out = viewed(*this, make_view(*this, s, st, storage_offset()), "squeeze", [in](const Tensor& g) { return g.reshape(in); });
  if (ts.recording()) ts.record("reshape", {*this}, {out}, {{"shape", out.shape()}});
  return out;
}

Tensor Tensor::unsqueeze(int64_t d) const {
  int64_t w = wrap_dim(d, dim() + 1, "unsqueeze");
  Shape s = shape(), st = strides();
  int64_t stride = w < dim() ? st[size_t(w)] * s[size_t(w)] : 1;
  s.insert(s.begin() + w, 1);
  st.insert(st.begin() + w, stride);
  check_shape(s, "unsqueeze");
  Shape in = shape();
  ops::trace::Scope ts;
  Tensor out = viewed(*this, make_view(*this, s, st, storage_offset()), "unsqueeze", [in](const Tensor& g) { return g.reshape(in); });
  if (ts.recording()) ts.record("reshape", {*this}, {out}, {{"shape", out.shape()}});
  return out;
}

Tensor Tensor::expand(const Shape& target) const {
  if (target == shape()) return *this;
  TS_CHECK_SHAPE(int64_t(target.size()) >= dim(), "expand: the number of sizes provided (", target.size(),
                 ") must be greater or equal to the number of dimensions in the tensor (", dim(), ")");
  check_shape(Shape(target.size(), 1), "expand");
  size_t lead = target.size() - size_t(dim());
  Shape s(target.size()), st(target.size());
  for (size_t i = 0; i < target.size(); ++i) {
    if (i < lead) {
      TS_CHECK_VALUE(target[i] >= 0, "expand: the expanded size ", target[i], " is not allowed in a leading dim");
      s[i] = target[i];
      st[i] = 0;
      continue;
    }
    int64_t cur = shape()[i - lead], want = target[i] == -1 ? cur : target[i];
    TS_CHECK_SHAPE(cur == want || cur == 1, "expand: the expanded size of the tensor (", want,
                   ") must match the existing size (", cur, ") at non-singleton dimension ", i, ".  Target sizes: ",
                   target, ".  Tensor sizes: ", shape());
    s[i] = want;
    st[i] = cur == want ? strides()[i - lead] : 0;
  }
  // The engine sums the gradient back to this tensor's shape.
  ops::trace::Scope ts;
  Tensor out = viewed(*this, make_view(*this, s, st, storage_offset()), "expand", [](const Tensor& g) { return g; });
  if (ts.recording()) ts.record("expand", {*this}, {out}, {{"shape", s}});
  return out;
}

Tensor Tensor::slice(int64_t d, std::optional<int64_t> start, std::optional<int64_t> stop, int64_t step) const {
  TS_CHECK_SHAPE(dim() > 0, "slice: cannot slice a 0-d tensor");
  int64_t w = wrap_dim(d, dim(), "slice");
  TS_CHECK_VALUE(step > 0, "slice: step must be greater than zero, got ", step);
  int64_t n = size(w);
  auto clampi = [n](int64_t v) { return v < 0 ? std::max<int64_t>(v + n, 0) : std::min(v, n); };
  int64_t b = start ? clampi(*start) : 0, e = stop ? clampi(*stop) : n;
  int64_t len = e > b ? (e - b + step - 1) / step : 0;
  Shape s = shape(), st = strides();
  s[size_t(w)] = len;
  st[size_t(w)] *= step;
  Shape in = shape();
  ops::trace::Scope ts;
  Tensor out = viewed(*this, make_view(*this, s, st, storage_offset() + (len ? b * stride(w) : 0)), "slice",
                      [in, w, b, e, step](const Tensor& g) {
                        return ops::embed_in_zeros(g, in, [=](const Tensor& z) { return z.slice(w, b, e, step); });
                      });
  if (ts.recording()) ts.record("slice", {*this}, {out}, {{"dim", w}, {"start", b}, {"stop", std::max(b, e)}, {"step", step}});
  return out;
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  TS_CHECK_SHAPE(dim() > 0, "narrow: cannot narrow a 0-d tensor");
  int64_t w = wrap_dim(d, dim(), "narrow");
  int64_t n = size(w);
  if (start < 0) start += n;
  TS_CHECK_INDEX(start >= 0 && start <= n && length >= 0 && start + length <= n, "narrow: start (", start,
                 ") + length (", length, ") exceeds dimension size (", n, ") of dim ", w);
  Shape s = shape();
  s[size_t(w)] = length;
  Shape in = shape();
  ops::trace::Scope ts;
  Tensor out = viewed(*this, make_view(*this, s, strides(), storage_offset() + start * stride(w)), "narrow",
                      [in, w, start, length](const Tensor& g) {
                        return ops::embed_in_zeros(g, in, [=](const Tensor& z) { return z.narrow(w, start, length); });
                      });
  if (ts.recording()) ts.record("slice", {*this}, {out}, {{"dim", w}, {"start", start}, {"stop", start + length}, {"step", int64_t(1)}});
  return out;
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  TS_CHECK_INDEX(dim() > 0, "select: cannot select on a 0-d tensor");
  int64_t w = wrap_dim(d, dim(), "select");
  int64_t n = size(w);
  TS_CHECK_INDEX(index >= -n && index < n, "select: index ", index, " is out of bounds for dimension ", w,
                 " with size ", n);
  if (index < 0) index += n;
  Shape s = shape(), st = strides();
  int64_t off = storage_offset() + index * st[size_t(w)];
  s.erase(s.begin() + w);
  st.erase(st.begin() + w);
  Shape in = shape();
  ops::trace::Scope ts;
  Tensor out = viewed(*this, make_view(*this, s, st, off), "select", [in, w, index](const Tensor& g) {
    return ops::embed_in_zeros(g, in, [=](const Tensor& z) { return z.select(w, index); });
  });
  if (ts.recording()) ts.record("select", {*this}, {out}, {{"dim", w}, {"index", index}});
  return out;
}

Tensor Tensor::to(DType t) const {
  if (t == dtype()) return *this;
  ops::trace::Scope ts;
  Tensor out = empty(shape(), {t, device()}, suggest_memory_format());
  backend_for(device()).copy(out, *this);
  // The engine casts the gradient back to this tensor's dtype.
  if (is_floating(t) && needs_grad({this})) record_fn("to", {this}, {&out}, {}, [](const G& g, const G&) { return G{g[0]}; });
  if (ts.recording()) ts.record("to", {*this}, {out});
  return out;
}

Tensor Tensor::to(Device d, bool non_blocking) const {
  if (d == device()) return *this;
  Backend& dst = backend_for(d);  // throws a clear error when the device is unavailable
  Backend& src = backend_for(device());
  Tensor from = is_contiguous() ? *this : contiguous();
  Tensor out = empty(shape(), {dtype(), d});
  (d.is_cpu() ? src : dst).transfer(out, from, non_blocking);
  if (is_floating(dtype()) && needs_grad({this}))
    record_fn("to", {this}, {&out}, {}, [back = device()](const G& g, const G&) { return G{g[0].to(back)}; });
  return out;
}

Tensor Tensor::pin_memory() const {
  TS_CHECK_DEVICE(device().is_cpu(), "pin_memory: the tensor is on ", device(), ", not in host memory");
  size_t n = size_t(numel()) * element_size();
  void* p = cuda::allocate_pinned(n);  // throws DeviceError naming why when CUDA is unavailable
  auto st = std::make_shared<StorageImpl>(p, n, Device::cpu(), [](void* q) { cuda::pinned_allocator().free(q); });
  Tensor out(st, shape(), contiguous_strides(shape()), 0, dtype());
  backend_for(Device::cpu()).copy(out, *this);
  return out;
}

Tensor& Tensor::share_memory_() {
  TS_CHECK_DEVICE(device().is_cpu(), "share_memory_: the tensor is on ", device(),
                  "; only host tensors are shared between processes");
  move_to_shared_memory(*storage());
  return *this;
}

bool Tensor::is_shared() const { return defined() && !storage()->shared_name().empty(); }

bool Tensor::is_pinned() const { return device().is_cpu() && cuda::is_pinned(storage()->data()); }

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

Tensor Tensor::contiguous(MemoryFormat f) const {
  if (f == MemoryFormat::Preserve) return *this;
  if (f == MemoryFormat::Contiguous) return contiguous();
  TS_CHECK_SHAPE(dim() == 4, "contiguous(channels_last): expected a 4-D tensor [N, C, H, W], got ", shape());
  if (is_contiguous(MemoryFormat::ChannelsLast)) return *this;
  ops::trace::Scope ts;
  Tensor out = empty(shape(), {dtype(), device()}, MemoryFormat::ChannelsLast);
  backend_for(device()).copy(out, *this);
  if (needs_grad({this})) record_fn("clone", {this}, {&out}, {}, [](const G& g, const G&) { return G{g[0]}; });
  if (ts.recording()) ts.record("clone", {*this}, {out});
  return out;
}

Tensor Tensor::clone() const {
  ops::trace::Scope ts;
  Tensor out = empty(shape(), {dtype(), device()});
  backend_for(device()).copy(out, *this);
  if (needs_grad({this})) record_fn("clone", {this}, {&out}, {}, [](const G& g, const G&) { return G{g[0]}; });
  if (ts.recording()) ts.record("clone", {*this}, {out});
  return out;
}

Tensor& Tensor::copy_(const Tensor& src_any) {
  // A source on another device is moved here first (as PyTorch's copy_ does).
  Tensor src = src_any.device() == device() ? src_any : src_any.to(device());
  if (needs_grad({this, &src})) {
    Shape s = shape();
    DType dt = dtype();
    return ops::rebind_inplace(*this, "copy_", [&](const Tensor& old) { return src.to(dt).expand(s).clone(); });
  }
  Tensor s = src.expand(shape());
  backend_for(device()).copy(*this, s);
  bump_version();
  return *this;
}

Tensor& Tensor::fill_(Scalar v) {
  if (needs_grad({this}))  // the history still gets a (zero) gradient, as in PyTorch
    return ops::rebind_inplace(*this, "fill_", [&](const Tensor& old) { return old * 0.0 + v; });
  backend_for(device()).fill(*this, v);
  bump_version();
  return *this;
}

Scalar Tensor::item() const {
  TS_CHECK_VALUE(numel() == 1, "item: a Tensor with ", numel(), " elements cannot be converted to a Scalar");
  Tensor c = device().is_cpu() ? *this : cpu();
  const void* p = c.data_ptr();
  switch (dtype()) {
    case DType::Bool: return Scalar(*static_cast<const bool*>(p));
    case DType::UInt8: return Scalar(int64_t(*static_cast<const uint8_t*>(p)));
    case DType::Int8: return Scalar(int64_t(*static_cast<const int8_t*>(p)));
    case DType::Int32: return Scalar(int64_t(*static_cast<const int32_t*>(p)));
    case DType::Int64: return Scalar(*static_cast<const int64_t*>(p));
    case DType::Float16: return Scalar(double(float(*static_cast<const Half*>(p))));
    case DType::BFloat16: return Scalar(double(float(*static_cast<const BFloat16*>(p))));
    case DType::Float32: return Scalar(double(*static_cast<const float*>(p)));
    case DType::Float64: return Scalar(*static_cast<const double*>(p));
  }
  return Scalar();
}

std::vector<double> Tensor::to_vector() const {
  Tensor c = cpu().to(DType::Float64).contiguous();
  const double* p = static_cast<const double*>(c.data_ptr());
  return std::vector<double>(p, p + numel());
}

template <class T>
std::vector<T> Tensor::tolist() const {
  Tensor c = cpu().to(dtype_v<T>).contiguous();
  const T* p = static_cast<const T*>(c.data_ptr());
  return std::vector<T>(p, p + numel());
}
template std::vector<uint8_t> Tensor::tolist() const;
template std::vector<int8_t> Tensor::tolist() const;
template std::vector<int32_t> Tensor::tolist() const;
template std::vector<int64_t> Tensor::tolist() const;
template std::vector<float> Tensor::tolist() const;
template std::vector<double> Tensor::tolist() const;

namespace ops {
Tensor as_strided(const Tensor& x, const Shape& shape, const Shape& strides, std::optional<int64_t> offset) {
  check_shape(shape, "as_strided");
  TS_CHECK(!needs_grad({&x}), "as_strided: not differentiable; use view, permute, narrow or expand, which are");
  TS_CHECK_SHAPE(shape.size() == strides.size(), "as_strided: shape ", shape, " and strides ", strides,
                 " differ in length");
  int64_t off = offset.value_or(x.storage_offset());
  int64_t lo = off, hi = off;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 0) return make_view(x, shape, strides, off);
    int64_t span = (shape[i] - 1) * strides[i];
    (span < 0 ? lo : hi) += span;
  }
  int64_t cap = int64_t(x.storage()->nbytes() / x.element_size());
  TS_CHECK_INDEX(lo >= 0 && hi < cap, "as_strided: shape ", shape, " strides ", strides, " offset ", off,
                 " reach outside the storage of ", cap, " elements");
  return make_view(x, shape, strides, off);
}
}  // namespace ops

}  // namespace tessera
