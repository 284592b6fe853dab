// Ops that move data: cat, stack, split, chunk, flip, roll, repeat, pad, tril/triu.
#include "tessera/autograd/autograd.h"
#include "tessera/ops/autocast.h"
#include "tessera/ops/ops.h"
#include "tessera/ops/trace.h"

namespace tessera::ops {

using autograd::needs_grad;
using autograd::record_fn;
using G = std::vector<Tensor>;

static Tensor cat_untraced(const std::vector<Tensor>& xs, int64_t dim) {
  TS_CHECK_VALUE(!xs.empty(), "cat: expected a non-empty list of tensors");
  // 1-D empty tensors are skipped, as PyTorch does for legacy reasons.
  std::vector<const Tensor*> parts;
  for (const Tensor& t : xs)
    if (!(t.dim() == 1 && t.numel() == 0)) parts.push_back(&t);
  if (parts.empty()) return xs[0].clone();
  const Tensor& ref = *parts[0];
  TS_CHECK_SHAPE(ref.dim() > 0, "cat: zero-dimensional tensor cannot be concatenated");
  int64_t d = wrap_dim(dim, ref.dim(), "cat");
  DType dt = ref.dtype();
  int64_t total = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const Tensor& t = *parts[i];
    TS_CHECK_DEVICE(t.device() == ref.device(), "cat: expected all tensors on ", ref.device(), ", tensor ", i,
                    " is on ", t.device());
    TS_CHECK_SHAPE(t.dim() == ref.dim(), "cat: tensors must have the same number of dimensions: got ", ref.dim(),
                   " and ", t.dim(), " (tensor ", i, ")");
    for (int64_t k = 0; k < t.dim(); ++k)
      TS_CHECK_SHAPE(k == d || t.size(k) == ref.size(k), "cat: sizes of tensors must match except in dimension ", d,
                     ". Expected size ", ref.size(k), " but got size ", t.size(k), " for tensor number ", i,
                     " in the list (shapes ", ref.shape(), " and ", t.shape(), ")");
    dt = promote_types(dt, t.dtype());
    total += t.size(d);
  }
  Shape s = ref.shape();
  s[size_t(d)] = total;
  Tensor out = empty(s, {dt, ref.device()});
  int64_t off = 0;
  Shape sizes;
  for (const Tensor* t : parts) {
    backend_for(out.device()).copy(out.narrow(d, off, t->size(d)), *t);
    off += t->size(d);
    sizes.push_back(t->size(d));
  }
  std::vector<Tensor> ins;
  for (const Tensor* t : parts) ins.push_back(*t);
  if (needs_grad(ins)) {
    auto node = std::make_shared<autograd::FunctionNode>("cat", [d, sizes](const G& g, const G&) {
      G r;
      int64_t o = 0;
      for (int64_t n : sizes) {
        r.push_back(g[0].narrow(d, o, n));
        o += n;
      }
      return r;
    });
    autograd::record(node, std::vector<const Tensor*>(parts.begin(), parts.end()), {&out});
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& xs_, int64_t dim) {
  std::vector<Tensor> cast = autocast::cast_list("stack", xs_);
  const std::vector<Tensor>& xs = cast.empty() ? xs_ : cast;
  TS_CHECK_VALUE(!xs.empty(), "stack: expected a non-empty list of tensors");
  int64_t d = wrap_dim(dim, xs[0].dim() + 1, "stack");
  std::vector<Tensor> us;
  for (size_t i = 0; i < xs.size(); ++i) {
    TS_CHECK_SHAPE(xs[i].shape() == xs[0].shape(), "stack: expects each tensor to be equal size, but got ",
                   xs[0].shape(), " at entry 0 and ", xs[i].shape(), " at entry ", i);
    us.push_back(xs[i].unsqueeze(d));
  }
  return cat(us, d);
}

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  int64_t d = wrap_dim(dim, x.dim(), "split");
  int64_t n = x.size(d);
  TS_CHECK_VALUE(split_size > 0 || (split_size == 0 && n == 0), "split: split_size must be positive, got ",
                 split_size);
  if (n == 0) return {x};
  Shape sizes;
  for (int64_t o = 0; o < n; o += split_size) sizes.push_back(std::min(split_size, n - o));
  return split(x, sizes, d);
}

std::vector<Tensor> split(const Tensor& x, const Shape& sizes, int64_t dim) {
  int64_t d = wrap_dim(dim, x.dim(), "split");
  int64_t sum = 0;
  for (int64_t s : sizes) {
    TS_CHECK_VALUE(s >= 0, "split: negative split size in ", sizes);
    sum += s;
  }
  TS_CHECK_SHAPE(sum == x.size(d), "split: split sizes ", sizes, " sum to ", sum, " but dimension ", d, " has size ",
                 x.size(d));
  // The pieces are views recorded as one node whose backward concatenates their gradients (zeros
  // for pieces that got none): one gradient of x's size, not one per piece.
  std::vector<Tensor> r;
  {
    autograd::NoGradGuard ng;
    int64_t o = 0;
    for (int64_t s : sizes) {
      r.push_back(x.narrow(d, o, s));
      o += s;
    }
  }
  if (!needs_grad({&x})) {
    for (const Tensor& t : r) autograd::mark_view(t, x);
    return r;
  }
  {
    std::vector<Shape> shapes;
    for (const Tensor& t : r) shapes.push_back(t.shape());
    DType dt = x.dtype();
    Device dev = x.device();
    auto node = std::make_shared<autograd::FunctionNode>("split", [d, shapes, dt, dev](const G& g, const G&) {
      G parts;
      for (size_t i = 0; i < shapes.size(); ++i)
        parts.push_back(i < g.size() && g[i].defined() ? g[i] : zeros(shapes[i], {dt, dev}));
      return G{cat(parts, d)};
    });
    std::vector<const Tensor*> outs;
    for (const Tensor& t : r) outs.push_back(&t);
    autograd::record(node, {&x}, outs);
    for (const Tensor& t : r) autograd::mark_view(t, x);  // now with their grad_fn: in-place writes follow
  }
  return r;
}

std::vector<Tensor> unbind(const Tensor& x, int64_t dim) {
  int64_t d = wrap_dim(dim, x.dim(), "unbind");
  if (x.size(d) == 0) return {};
  std::vector<Tensor> r = split(x, 1, d);
  for (Tensor& t : r) t = t.squeeze(d);
  return r;
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  TS_CHECK_VALUE(chunks > 0, "chunk: number of chunks must be positive, got ", chunks);
  int64_t d = wrap_dim(dim, x.dim(), "chunk");
  int64_t n = x.size(d);
  return split(x, std::max<int64_t>((n + chunks - 1) / chunks, n == 0 ? 0 : 1), d);
}

Tensor flip(const Tensor& x, const Shape& dims) {
  // A view with negative strides, then a copy: flip never aliases its input.
  if (x.dim() == 0) {  // (a 0-d tensor's one dim is 0 or -1, as in PyTorch; nothing to reverse)
    for (int64_t dd : dims) wrap_dim(dd, 0, "flip");
    return x.clone();
  }
  Shape st = x.strides();
  int64_t off = x.storage_offset();
  std::vector<bool> seen(size_t(x.dim()));
  for (int64_t dd : dims) {
    int64_t d = wrap_dim(dd, x.dim(), "flip");
    TS_CHECK_VALUE(!seen[size_t(d)], "flip: dim ", d, " appears multiple times in the list of dims");
    seen[size_t(d)] = true;
    if (x.size(d) > 0) off += (x.size(d) - 1) * st[size_t(d)];
    st[size_t(d)] = -st[size_t(d)];
  }
  if (x.numel() == 0) return x.clone();
  Tensor out = empty(x.shape(), {x.dtype(), x.device()});
  backend_for(x.device()).copy(out, Tensor(x.storage(), x.shape(), st, off, x.dtype()));
  if (needs_grad({&x})) record_fn("flip", {&x}, {&out}, {}, [dims](const G& g, const G&) { return G{flip(g[0], dims)}; });
  return out;
}

Tensor roll(const Tensor& x, const Shape& shifts, const Shape& dims) {
  if (dims.empty()) {
    TS_CHECK_VALUE(shifts.size() == 1, "roll: without dims, exactly one shift is expected, got ", shifts);
    return roll(x.flatten(), shifts, {0}).view(x.shape());
  }
  TS_CHECK_VALUE(shifts.size() == dims.size(), "roll: shifts ", shifts, " and dims ", dims,
                 " must have the same length");
  Tensor r = x;
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t d = wrap_dim(dims[i], x.dim(), "roll");
    int64_t n = x.size(d);
    if (n == 0) continue;
    int64_t s = ((shifts[i] % n) + n) % n;
    if (s == 0) continue;
    r = cat({r.narrow(d, n - s, s), r.narrow(d, 0, n - s)}, d);
  }
  return r.is_same(x) ? x.clone() : r;
}

Tensor repeat(const Tensor& x, const Shape& repeats) {
  TS_CHECK_SHAPE(int64_t(repeats.size()) >= x.dim(), "repeat: number of repeat dims (", repeats.size(),
                 ") can not be smaller than number of dimensions of tensor (", x.dim(), ")");
  for (int64_t r : repeats) TS_CHECK_VALUE(r >= 0, "repeat: repeats must be non-negative, got ", repeats);
  size_t lead = repeats.size() - size_t(x.dim());
  // View x as [1, s0, 1, s1, ...], expand to [r0, s0, r1, s1, ...], then copy into shape.
  Shape pre, expanded, out;
  for (size_t i = 0; i < repeats.size(); ++i) {
    int64_t s = i < lead ? 1 : x.size(int64_t(i - lead));
    pre.insert(pre.end(), {1, s});
    expanded.insert(expanded.end(), {repeats[i], s});
    out.push_back(repeats[i] * s);
  }
  return x.reshape(pre).expand(expanded).contiguous().view(out);
}

static Tensor pad_untraced(const Tensor& x, const Shape& p, const std::string& mode, double value) {
  TS_CHECK_VALUE(p.size() % 2 == 0 && int64_t(p.size()) <= 2 * x.dim(), "pad: padding length must be even and at "
                 "most twice the number of dimensions (", x.dim(), "), got ", p);
  int64_t nd = int64_t(p.size()) / 2;
  if (mode == "constant") {
    Shape s = x.shape();
    for (int64_t i = 0; i < nd; ++i) {
      int64_t d = x.dim() - 1 - i;
      s[size_t(d)] += p[size_t(2 * i)] + p[size_t(2 * i + 1)];
      TS_CHECK_SHAPE(s[size_t(d)] >= 0, "pad: padding ", p, " makes dimension ", d, " of shape ", x.shape(),
                     " negative");
    }
    Tensor out = full(s, value, {x.dtype(), x.device()});
    {
      autograd::NoGradGuard ng;
      Tensor dst = out, src = x;
      for (int64_t i = 0; i < nd; ++i) {  // negative padding crops
        int64_t d = x.dim() - 1 - i, lo = p[size_t(2 * i)], hi = p[size_t(2 * i + 1)];
        int64_t n = x.size(d);
        int64_t s0 = std::max<int64_t>(0, -lo), s1 = n - std::max<int64_t>(0, -hi);
        src = src.narrow(d, s0, std::max<int64_t>(s1 - s0, 0));
        dst = dst.narrow(d, std::max<int64_t>(lo, 0), std::max<int64_t>(s1 - s0, 0));
      }
      backend_for(x.device()).copy(dst, src);
    }
    if (needs_grad({&x})) {  // the gradient is the padded gradient cropped back: pad by -p
      Shape neg;
      for (int64_t v : p) neg.push_back(-v);
      record_fn("pad", {&x}, {&out}, {}, [neg](const G& g, const G&) { return G{pad(g[0], neg)}; });
    }
    return out;
  }
  TS_CHECK_VALUE(mode == "reflect" || mode == "replicate", "pad: unknown mode '", mode,
                 "' (expected constant, reflect or replicate)");
  Tensor r = x;
  for (int64_t i = 0; i < nd; ++i) {
    int64_t d = x.dim() - 1 - i, lo = p[size_t(2 * i)], hi = p[size_t(2 * i + 1)];
    int64_t n = x.size(d);
    TS_CHECK_VALUE(lo >= 0 && hi >= 0, "pad: ", mode, " padding must be non-negative, got ", p);
    if (mode == "reflect")
      TS_CHECK_VALUE(lo < n && hi < n, "pad: reflect padding (", lo, ", ", hi,
                     ") must be less than the input size ", n, " of dimension ", d);
    else
      TS_CHECK_VALUE(n > 0 || (lo == 0 && hi == 0), "pad: cannot replicate-pad an empty dimension ", d);
    std::vector<int64_t> idx;
    for (int64_t j = -lo; j < n + hi; ++j) {
      int64_t k = j;
      if (mode == "reflect") {
        if (k < 0) k = -k;
        if (k >= n) k = 2 * (n - 1) - k;
      } else {
        k = std::clamp<int64_t>(k, 0, n - 1);
      }
      idx.push_back(k);
    }
    r = index_select(r, d, from_vector(idx).to(x.device()));
  }
  return r;
}

namespace {
Tensor tri(const Tensor& x, int64_t k, bool lower) {
  TS_CHECK_SHAPE(x.dim() >= 2, lower ? "tril" : "triu", ": input tensor must have at least 2 dimensions, got shape ",
                 x.shape());
  int64_t R = x.size(-2), C = x.size(-1);
  Tensor rows = arange(0, double(R), 1, {DType::Int64, x.device()}).view({R, 1});
  Tensor cols = arange(0, double(C), 1, {DType::Int64, x.device()}).view({1, C});
  Tensor keep = lower ? le(cols - rows, scalar_tensor(k, DType::Int64, x.device()))
                      : ge(cols - rows, scalar_tensor(k, DType::Int64, x.device()));
  return where(keep, x, zeros({}, {x.dtype(), x.device()}));
}
}  // namespace
Tensor tril(const Tensor& x, int64_t diagonal) { return tri(x, diagonal, true); }
Tensor triu(const Tensor& x, int64_t diagonal) { return tri(x, diagonal, false); }

// --- traced entry points (ops/trace.h) -------------------------------------------------------------
Tensor cat(const std::vector<Tensor>& xs_, int64_t dim) {
  std::vector<Tensor> cast = autocast::cast_list("cat", xs_);
  const std::vector<Tensor>& xs = cast.empty() ? xs_ : cast;
  trace::Scope ts;
  Tensor y = cat_untraced(xs, dim);
  if (ts.recording()) {
    std::vector<Tensor> parts;  // the ones cat joined (1-D empty tensors are skipped)
    for (const Tensor& t : xs)
      if (!(t.dim() == 1 && t.numel() == 0)) parts.push_back(t);
    if (parts.empty()) ts.record("clone", {xs[0]}, {y});
    else ts.record("cat", parts, {y}, {{"dim", wrap_dim(dim, parts[0].dim(), "cat")}});
  }
  return y;
}
Tensor pad(const Tensor& x, const Shape& p, const std::string& mode, double value) {
  trace::Scope ts;
  Tensor y = pad_untraced(x, p, mode, value);
  if (ts.recording()) ts.record("pad", {x}, {y}, {{"pad", p}, {"mode", mode}, {"value", value}});
  return y;
}

}  // namespace tessera::ops
