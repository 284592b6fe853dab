// Indexing: gather/scatter and their index_* forms, masks, and NumPy-style Tensor::index.
#include <string_view>

#include "tessera/autograd/autograd.h"
#include "tessera/ops/ops.h"
#include "tessera/ops/trace.h"

namespace tessera::ops {

using autograd::needs_grad;
using autograd::record_fn;
using G = std::vector<Tensor>;

namespace {
void check_index_tensor(const char* op, const Tensor& index, const Tensor& x) {
  TS_CHECK_DTYPE(index.dtype() == DType::Int64 || index.dtype() == DType::Int32, op,
                 ": expected an int64 index tensor, got ", index.dtype());
  TS_CHECK_DEVICE(index.device() == x.device(), op, ": index on ", index.device(), " but input on ", x.device());
}
// Checks gather/scatter shapes: same rank, index no larger than `t` outside dim.
void check_gather_shape(const char* op, const Tensor& x, int64_t d, const Tensor& index, const Tensor* src) {
  TS_CHECK_SHAPE(index.dim() == x.dim() || (x.dim() == 0 && index.dim() <= 1), op,
                 ": index tensor must have the same number of dimensions as input (index ", index.shape(),
                 ", input ", x.shape(), ")");
  for (int64_t k = 0; k < index.dim(); ++k) {
    if (k != d)
      TS_CHECK_SHAPE(index.size(k) <= x.size(k), op, ": size of dimension ", k, " of index (", index.size(k),
                     ") exceeds that of input (", x.size(k), "); index ", index.shape(), ", input ", x.shape());
    if (src)
      TS_CHECK_SHAPE(index.size(k) <= src->size(k), op, ": index ", index.shape(), " is larger than src ",
                     src->shape(), " in dimension ", k);
  }
}
// index (1-D) viewed along dim and expanded to `shape`.
Tensor spread_index(const Tensor& index, int64_t d, const Shape& shape) {
  Shape v(shape.size(), 1);
  v[size_t(d)] = index.numel();
  return index.to(DType::Int64).reshape(v).expand(shape);
}
}  // namespace

static Tensor gather_untraced(const Tensor& x, int64_t dim, const Tensor& index) {
  check_index_tensor("gather", index, x);
  int64_t d = wrap_dim(dim, x.dim(), "gather");
  check_gather_shape("gather", x, d, index, nullptr);
  Tensor xs = x.dim() == 0 ? x.view({1}) : x, is = index.to(DType::Int64);
  if (is.dim() == 0) is = is.view({1});
  Tensor out = empty(is.shape(), {x.dtype(), x.device()});
  backend_for(x.device()).gather(out, xs, d, is);
  out = x.dim() == 0 ? out.view(index.shape()) : out;
  if (needs_grad({&x})) {
    Shape in = xs.shape();
    record_fn("gather", {&x}, {&out}, {is}, [d, in](const G& g, const G& s) {
      return G{scatter_add(zeros(in, {g[0].dtype(), g[0].device()}), d, s[0], g[0].reshape(s[0].shape()))};
    });
  }
  return out;
}

static Tensor index_select_untraced(const Tensor& x, int64_t dim, const Tensor& index) {
  check_index_tensor("index_select", index, x);
  TS_CHECK_SHAPE(index.dim() <= 1, "index_select: index must be 0-d or 1-d, got shape ", index.shape());
  int64_t d = wrap_dim(dim, x.dim(), "index_select");
  if (x.dim() == 0) return gather(x.view({1}), 0, index.reshape({-1})).view(index.dim() ? Shape{index.numel()} : Shape{});
  Shape s = x.shape();
  s[size_t(d)] = index.numel();
  Tensor out = empty(s, {x.dtype(), x.device()});
  backend_for(x.device()).gather(out, x, d, spread_index(index, d, s));
  if (needs_grad({&x})) {
    Shape in = x.shape();
    record_fn("index_select", {&x}, {&out}, {index}, [d, in](const G& g, const G& s) {
      return G{index_add(zeros(in, {g[0].dtype(), g[0].device()}), d, s[0], g[0])};
    });
  }
  return out;
}

Tensor& scatter_impl(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src, bool add, const char* op) {
  if (needs_grad({&x, &src}))  // differentiated through the out-of-place form
    return rebind_inplace(x, op, [&](const Tensor& old) {
      return add ? scatter_add(old, dim, index, src) : scatter(old, dim, index, src);
    });
  check_index_tensor(op, index, x);
  TS_CHECK_DEVICE(src.device() == x.device(), op, ": src on ", src.device(), " but input on ", x.device());
  int64_t d = wrap_dim(dim, x.dim(), op);
  check_gather_shape(op, x, d, index, &src);
  Tensor is = index.to(DType::Int64);
  // src may be larger than index: only its leading block of index's shape is used.
  Tensor sv = src.to(x.dtype());
  for (int64_t k = 0; k < is.dim(); ++k) sv = sv.narrow(k, 0, is.size(k));
  backend_for(x.device()).scatter(x, d, is, sv, add);
  x.bump_version();
  return x;
}
Tensor& scatter_(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  return scatter_impl(x, dim, index, src, false, "scatter");
}
Tensor& scatter_add_(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  return scatter_impl(x, dim, index, src, true, "scatter_add");
}
namespace {
// The out-of-place form of an in-place index write: a copy of x written by `write` without
// recording, then one node whose backward is `backward(g, index, dim)`.
Tensor write_out_of_place(const char* name, const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src,
                          const std::function<void(Tensor&)>& write,
                          std::function<G(const Tensor& g, const Tensor& index, int64_t dim)> backward) {
  Tensor r;
  {
    autograd::NoGradGuard ng;
    r = x.clone();
    write(r);
  }
  if (needs_grad({&x, &src})) {
    int64_t d = wrap_dim(dim, x.dim(), name);
    record_fn(name, {&x, &src}, {&r}, {index}, [backward, d](const G& g, const G& s) { return backward(g[0], s[0], d); });
  }
  return r;
}
}  // namespace

Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  // x's gradient is g with the overwritten places cleared; src's is g at those places.
  return write_out_of_place("scatter", x, dim, index, src, [&](Tensor& r) { scatter_(r, dim, index, src); },
                            [](const Tensor& g, const Tensor& idx, int64_t d) {
                              return G{scatter(g, d, idx, zeros(idx.shape(), {g.dtype(), g.device()})), gather(g, d, idx)};
                            });
}
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  return write_out_of_place("scatter_add", x, dim, index, src, [&](Tensor& r) { scatter_add_(r, dim, index, src); },
                            [](const Tensor& g, const Tensor& idx, int64_t d) { return G{g, gather(g, d, idx)}; });
}
Tensor index_copy(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  check_index_tensor("index_copy", index, x);
  int64_t d = wrap_dim(dim, x.dim(), "index_copy");
  Tensor keep;
  {
    autograd::NoGradGuard ng;
    Tensor hit = zeros({x.size(d)}, {x.dtype(), x.device()});
    index_add_(hit, 0, index.reshape({-1}), ones({index.numel()}, {x.dtype(), x.device()}));
    Shape v(static_cast<size_t>(x.dim()), 1);
    v[size_t(d)] = x.size(d);
    keep = (hit == 0.0).to(x.dtype()).view(v);
  }
  // With repeated indices the copies add up (PyTorch leaves that case unspecified).
  return index_add(x * keep, d, index, src);
}

Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  Shape ss = src.shape();
  return write_out_of_place("index_add", x, dim, index, src, [&](Tensor& r) { index_add_(r, dim, index, src); },
                            [ss](const Tensor& g, const Tensor& idx, int64_t d) {
                              return G{g, index_select(g, d, idx).reshape(ss)};
                            });
}

namespace {
Tensor& index_write(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src, bool add, const char* op) {
  if (needs_grad({&x, &src}))  // differentiated through the out-of-place form
    return rebind_inplace(x, op, [&](const Tensor& old) {
      return add ? index_add(old, dim, index, src) : index_copy(old, dim, index, src);
    });
  check_index_tensor(op, index, x);
  TS_CHECK_SHAPE(index.dim() <= 1, op, ": index must be 0-d or 1-d, got shape ", index.shape());
  int64_t d = wrap_dim(dim, x.dim(), op);
  Shape s = x.shape();
  if (x.dim()) s[size_t(d)] = index.numel();
  Tensor sv = src.to(x.dtype());
  TS_CHECK_SHAPE(sv.numel() == numel_of(s), op, ": source shape ", src.shape(), " does not match the indexed shape ",
                 s);
  sv = sv.reshape(s);
  if (x.dim() == 0) return x.copy_(add ? x + sv.view({}) : sv.view({}));
  backend_for(x.device()).scatter(x, d, spread_index(index, d, s), sv, add);
  x.bump_version();
  return x;
}
}  // namespace
Tensor& index_add_(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  return index_write(x, dim, index, src, true, "index_add_");
}
Tensor& index_copy_(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  return index_write(x, dim, index, src, false, "index_copy_");
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, Scalar value) {
  TS_CHECK_DTYPE(mask.dtype() == DType::Bool, "masked_fill: expected a bool mask, got ", mask.dtype());
  Shape s = broadcast_shapes(x.shape(), mask.shape(), "masked_fill");
  TS_CHECK_SHAPE(s == x.shape(), "masked_fill: mask of shape ", mask.shape(), " does not broadcast to input shape ",
                 x.shape());
  return where(mask, scalar_tensor(value, x.dtype(), x.device()), x);
}

Tensor nonzero(const Tensor& x) { return backend_for(x.device()).nonzero(x); }

Tensor masked_select(const Tensor& x, const Tensor& mask) {
  TS_CHECK_DTYPE(mask.dtype() == DType::Bool, "masked_select: expected a bool mask, got ", mask.dtype());
  Shape s = broadcast_shapes(x.shape(), mask.shape(), "masked_select");
  Tensor flat = x.expand(s).reshape({-1});
  Tensor pos = nonzero(mask.expand(s).reshape({-1})).view({-1});
  return index_select(flat, 0, pos);
}

// --- traced entry points (ops/trace.h) -------------------------------------------------------------
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  trace::Scope ts;
  Tensor y = gather_untraced(x, dim, index);
  if (ts.recording()) ts.record("gather", {x, index}, {y}, {{"dim", wrap_dim(dim, x.dim(), "gather")}});
  return y;
}
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  trace::Scope ts;
  Tensor y = index_select_untraced(x, dim, index);
  if (ts.recording()) ts.record("index_select", {x, index}, {y}, {{"dim", wrap_dim(dim, x.dim(), "index_select")}});
  return y;
}

}  // namespace tessera::ops

namespace tessera {

TensorIndex::TensorIndex(const char* ellipsis) : v_(Ellipsis{}) {
  TS_CHECK_VALUE(ellipsis && std::string_view(ellipsis) == "...", "index: a string index must be \"...\" (an ellipsis), got \"",
                 ellipsis ? ellipsis : "(null)", "\"");
}

namespace {
// The result of the basic (view) part of an index expression, and the advanced indices
// (tensors) with the dim of the view each applies to.
struct IndexPlan {
  Tensor view;
  std::vector<std::pair<int64_t, Tensor>> adv;
};

IndexPlan plan_index(const Tensor& self, const std::vector<TensorIndex>& idx) {
  int64_t consumed = 0;  // dims of self used by the expression
  bool ellipsis = false;
  for (const auto& i : idx) {
    const auto& v = i.value();
    if (std::holds_alternative<Ellipsis>(v)) {
      TS_CHECK_INDEX(!ellipsis, "index: an index can only have a single ellipsis ('...')");
      ellipsis = true;
    } else if (std::holds_alternative<Tensor>(v) && std::get<Tensor>(v).dtype() == DType::Bool) {
      consumed += std::max<int64_t>(std::get<Tensor>(v).dim(), 1);
    } else if (!std::holds_alternative<NoneIndex>(v)) {
      ++consumed;
    }
  }
  TS_CHECK_INDEX(consumed <= self.dim(), "index: too many indices for tensor of dimension ", self.dim(), " (got ",
                 consumed, ")");
  IndexPlan p{self, {}};
  int64_t d = 0;  // current dim in p.view
  for (const auto& i : idx) {
    const auto& v = i.value();
    if (auto n = std::get_if<int64_t>(&v)) {
      p.view = p.view.select(d, *n);
    } else if (auto s = std::get_if<Slice>(&v)) {
      p.view = p.view.slice(d, s->start, s->stop, s->step);
      ++d;
    } else if (std::holds_alternative<NoneIndex>(v)) {
      p.view = p.view.unsqueeze(d);
      ++d;
    } else if (std::holds_alternative<Ellipsis>(v)) {
      d += self.dim() - consumed;
    } else {
      const Tensor& t = std::get<Tensor>(v);
      if (t.dtype() == DType::Bool) {
        int64_t k = std::max<int64_t>(t.dim(), 1);
        for (int64_t j = 0; j < t.dim(); ++j)
          TS_CHECK_INDEX(t.size(j) == p.view.size(d + j), "index: the shape of the mask ", t.shape(),
                         " at index ", j, " does not match the shape of the indexed tensor ", p.view.shape());
        Tensor nz = ops::nonzero(t.dim() ? t : t.view({1}));  // [count, k]
        if (t.dim() == 0) {  // x[True] adds a dim of 1, x[False] one of 0
          p.view = p.view.unsqueeze(d);
          p.adv.push_back({d, zeros({nz.size(0)}, {DType::Int64, self.device()})});
          ++d;
          continue;
        }
        for (int64_t j = 0; j < k; ++j) p.adv.push_back({d + j, nz.select(1, j)});
        d += k;
      } else {
        TS_CHECK_DTYPE(is_integral(t.dtype()), "index: tensors used as indices must be long, int, byte or bool "
                       "tensors, got ", t.dtype());
        p.adv.push_back({d, t.to(DType::Int64)});
        ++d;
      }
    }
  }
  return p;
}

// Applies the advanced indices of plan: returns (the indexed values' layout as a view over
// which index_select/index_copy on dim 0 works, linear indices, result shape and where the
// advanced dims go).
struct AdvancedPlan {
  Tensor base;      // view.permute(adv dims first) flattened over them: [prod(adv sizes), rest...]
  Tensor linear;    // int64 [B...] broadcast index shape, flattened to 1-D
  Shape idx_shape;  // broadcast shape of the index tensors
  Shape rest;       // sizes of the non-advanced dims, in order
  int64_t insert_at;  // where the index dims go in the result (0 when the advanced dims are apart)
  Shape perm;       // the permutation applied to view
};

AdvancedPlan plan_advanced(const IndexPlan& p) {
  AdvancedPlan a;
  const Tensor& v = p.view;
  std::vector<bool> is_adv(size_t(v.dim()));
  Shape adv_dims;
  for (const auto& [d, t] : p.adv) {
    is_adv[size_t(d)] = true;
    adv_dims.push_back(d);
  }
  bool adjacent = true;
  for (size_t i = 1; i < adv_dims.size(); ++i) adjacent = adjacent && adv_dims[i] == adv_dims[i - 1] + 1;
  a.insert_at = adjacent ? adv_dims[0] : 0;
  a.idx_shape = {};
  for (const auto& [d, t] : p.adv) a.idx_shape = broadcast_shapes(a.idx_shape, t.shape(), "index");
  a.perm = adv_dims;
  for (int64_t d = 0; d < v.dim(); ++d)
    if (!is_adv[size_t(d)]) {
      a.perm.push_back(d);
      a.rest.push_back(v.size(d));
    }
  Tensor lin = zeros(a.idx_shape, {DType::Int64, v.device()});
  int64_t total = 1;
  for (const auto& [d, t] : p.adv) {
    int64_t n = v.size(d);
    TS_CHECK_INDEX(ops::all(ops::logical_and(t >= -n, t < n)).item<bool>() || t.numel() == 0, "index: index ",
                   "out of range for dimension ", d, " with size ", n, " (indices span [",
                   t.numel() ? ops::amin(t).item<int64_t>() : 0, ", ", t.numel() ? ops::amax(t).item<int64_t>() : 0,
                   "])");
    Tensor wrapped = ops::where(t < 0, t + n, t);
    lin = lin * n + wrapped;
    total *= n;
  }
  a.linear = lin.reshape({-1});
  Shape flat{total};
  flat.insert(flat.end(), a.rest.begin(), a.rest.end());
  a.base = v.permute(a.perm).reshape(flat);
  return a;
}
}  // namespace

Tensor Tensor::index(const std::vector<TensorIndex>& idx) const {
  IndexPlan p = plan_index(*this, idx);
  if (p.adv.empty()) return p.view;
  AdvancedPlan a = plan_advanced(p);
  Tensor r = ops::index_select(a.base, 0, a.linear);  // [n, rest...]
  Shape s = a.idx_shape;
  s.insert(s.end(), a.rest.begin(), a.rest.end());
  r = r.view(s);
  if (a.insert_at == 0) return r;
  // Move the index dims to where the advanced dims stood.
  int64_t k = int64_t(a.idx_shape.size());
  Shape perm;
  for (int64_t i = 0; i < a.insert_at; ++i) perm.push_back(k + i);
  for (int64_t i = 0; i < k; ++i) perm.push_back(i);
  for (int64_t i = k + a.insert_at; i < r.dim(); ++i) perm.push_back(i);
  return r.permute(perm);
}

namespace {
// values broadcast to the indexing result's shape, laid out as [n, rest...] like a.base.
Tensor flat_values(const AdvancedPlan& a, const Tensor& values, DType dtype) {
  Shape res = a.idx_shape;
  res.insert(res.end(), a.rest.begin(), a.rest.end());
  Tensor vals;
  if (a.insert_at == 0) {
    vals = values.to(dtype).expand(res);
  } else {
    int64_t k = int64_t(a.idx_shape.size());
    Shape shown;  // the result shape as the user sees it
    for (int64_t i = 0; i < a.insert_at; ++i) shown.push_back(a.rest[size_t(i)]);
    shown.insert(shown.end(), a.idx_shape.begin(), a.idx_shape.end());
    shown.insert(shown.end(), a.rest.begin() + a.insert_at, a.rest.end());
    Shape perm;
    for (int64_t i = 0; i < k; ++i) perm.push_back(a.insert_at + i);
    for (int64_t i = 0; i < a.insert_at; ++i) perm.push_back(i);
    for (int64_t i = a.insert_at + k; i < int64_t(shown.size()); ++i) perm.push_back(i);
    vals = values.to(dtype).expand(shown).permute(perm);
  }
  Shape flat{a.linear.numel()};
  flat.insert(flat.end(), a.rest.begin(), a.rest.end());
  return vals.reshape(flat);
}

// The index expression with its tensor indices replaced by full slices: applied to a tensor
// shaped like self, it gives the view plan_index computes (the region an index_put_ writes).
std::vector<TensorIndex> basic_part(const std::vector<TensorIndex>& idx) {
  std::vector<TensorIndex> out;
  for (const auto& i : idx) {
    const auto* t = std::get_if<Tensor>(&i.value());
    if (!t) {
      out.push_back(i);
    } else if (t->dtype() == DType::Bool && t->dim() == 0) {
      out.push_back(TensorIndex(None));
    } else {
      int64_t k = t->dtype() == DType::Bool ? t->dim() : 1;
      for (int64_t j = 0; j < k; ++j) out.push_back(TensorIndex(Slice{}));
    }
  }
  return out;
}

// index_put_ as a differentiable out-of-place computation: the written region's new contents,
// placed into old with a where.
Tensor index_put_outplace(const Tensor& old, const std::vector<TensorIndex>& idx, const Tensor& values, bool accumulate) {
  IndexPlan p = plan_index(old, idx);
  std::vector<TensorIndex> basic = basic_part(idx);
  auto view_of = [basic](const Tensor& z) { return z.index(basic); };
  Tensor region;
  if (p.adv.empty()) {
    Tensor v = values.to(old.dtype()).expand(p.view.shape());
    region = accumulate ? p.view + v : v;
  } else {
    AdvancedPlan a = plan_advanced(p);
    Tensor vals = flat_values(a, values, old.dtype());
    Tensor written = accumulate ? ops::index_add(a.base, 0, a.linear, vals) : ops::index_copy(a.base, 0, a.linear, vals);
    Shape inverse(a.perm.size());
    for (size_t i = 0; i < a.perm.size(); ++i) inverse[size_t(a.perm[i])] = int64_t(i);
    region = written.reshape(p.view.permute(a.perm).shape()).permute(inverse);
  }
  Tensor mask;
  {
    autograd::NoGradGuard ng;
    mask = ops::embed_in_zeros(ones(p.view.shape(), {DType::Bool, old.device()}), old.shape(), view_of);
  }
  return ops::where(mask, ops::embed_in_zeros(region, old.shape(), view_of), old);
}
}  // namespace

Tensor& Tensor::index_put_(const std::vector<TensorIndex>& idx, const Tensor& values, bool accumulate) {
  if (autograd::needs_grad({this, &values}))  // differentiated through the out-of-place form
    return ops::rebind_inplace(*this, "index_put_", [&](const Tensor& old) {
      return index_put_outplace(old, idx, values, accumulate);
    });
  IndexPlan p = plan_index(*this, idx);
  if (p.adv.empty()) {
    if (accumulate) p.view.copy_(p.view + values.to(dtype()));
    else p.view.copy_(values.to(dtype()));
    bump_version();
    return *this;
  }
  AdvancedPlan a = plan_advanced(p);
  Tensor vals = flat_values(a, values, dtype());
  Tensor perm_view = p.view.permute(a.perm);
  Tensor base = a.base;
  if (accumulate) ops::index_add_(base, 0, a.linear, vals);
  else ops::index_copy_(base, 0, a.linear, vals);
  // When the flattening reshape had to copy, write the result back through the view.
  if (base.storage() != storage()) perm_view.copy_(base.view(perm_view.shape()));
  bump_version();
  return *this;
}

Tensor& Tensor::index_put_(const std::vector<TensorIndex>& idx, Scalar value) {
  return index_put_(idx, scalar_tensor(value, dtype(), device()), false);
}

}  // namespace tessera
