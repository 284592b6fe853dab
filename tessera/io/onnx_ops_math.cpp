// ONNX operators, part 2: elementwise math, comparisons, casts, reductions, arg-reductions and the
// softmax family: their import (the table is in onnx_ops.cpp) and, at the end, what the traced
// tessera ops of the family export as.
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "tessera/io/onnx_export_graph.h"
#include "tessera/io/onnx_node.h"
#include "tessera/io/onnx_proto.h"

namespace tessera::io::internal {

namespace {
Tensor reduce(const Node& n, const std::function<Tensor(const Tensor&, const Shape&, bool)>& f, bool axes_input) {
  const Tensor& x = n.at(0);
  std::optional<Shape> axes = axes_input ? n.axes(1) : n.ints("axes");
  bool keep = n.i("keepdims", 1) != 0;
  if (!axes || axes->empty()) {
    if (n.i("noop_with_empty_axes", 0)) return x;
    Shape all(size_t(x.dim()));
    for (int64_t d = 0; d < x.dim(); ++d) all[size_t(d)] = d;
    axes = all;
  }
  return f(x, *axes, keep);
}

// Floating-point math on any input: integers go through float64 and come back (ONNX keeps the
// input's type: Pow(int32, float) is int32).
Tensor in_float(const Tensor& x, const std::function<Tensor(const Tensor&)>& f) {
  if (x.is_floating_point()) return f(x);
  return f(x.to(DType::Float64)).to(x.dtype());
}

// ArgMax/ArgMin; select_last_index picks the last of equal extremes (searched on the flipped axis).
Tensor arg_reduce(const Node& n, bool is_max) {
  const Tensor& x = n.at(0);
  int64_t d = wrap(n.i("axis", 0), x.dim());
  bool keep = n.i("keepdims", 1) != 0;
  if (!n.i("select_last_index", 0) || x.dim() == 0) return is_max ? ops::argmax(x, d, keep) : ops::argmin(x, d, keep);
  Tensor f = ops::flip(x, {d});
  Tensor i = is_max ? ops::argmax(f, d, keep) : ops::argmin(f, d, keep);
  return (x.size(d) - 1) - i;
}

// The flat position of each index tuple (the last dim of idx, k long) in the first k dims of
// shape, negative entries counted from the end; for GatherND and ScatterND.
Tensor flat_positions(const Tensor& idx, const Shape& shape, const char* op) {
  int64_t k = idx.size(-1);
  TS_CHECK_SHAPE(k <= int64_t(shape.size()), op, ": index tuples of length ", k, " for data of shape ", shape);
  Tensor pos = zeros(Shape(idx.shape().begin(), idx.shape().end() - 1), {DType::Int64, idx.device()});
  for (int64_t j = 0; j < k; ++j) {
    Tensor ij = idx.select(-1, j).to(DType::Int64);
    ij = ops::where(ij < int64_t(0), ij + shape[size_t(j)], ij);
    pos = pos * shape[size_t(j)] + ij;
  }
  return pos;
}

Tensor gather_nd(const Node& n) {
  const Tensor& data = n.at(0);
  const Tensor& idx = n.at(1);
  int64_t b = n.i("batch_dims", 0), k = idx.size(-1);
  TS_CHECK_SHAPE(b >= 0 && b < idx.dim() && b + k <= data.dim(), "GatherND: batch_dims ", b, " with data ",
                 data.shape(), " and indices ", idx.shape());
  int64_t batch = 1;
  for (int64_t d = 0; d < b; ++d) batch *= data.size(d);
  Shape rest(data.shape().begin() + b, data.shape().end());
  int64_t block = 1;
  for (int64_t d = 0; d < k; ++d) block *= rest[size_t(d)];
  Tensor pos = flat_positions(idx.reshape({batch, -1, k}), rest, "GatherND");  // [batch, M]
  pos = pos + arange(0, double(batch), 1, {DType::Int64, idx.device()}).reshape({batch, 1}) * block;
  Shape slice(rest.begin() + k, rest.end());
  Shape flat{batch * block};
  flat.insert(flat.end(), slice.begin(), slice.end());
  Tensor y = ops::index_select(data.reshape(flat), 0, pos.reshape({-1}));
  Shape out(idx.shape().begin(), idx.shape().end() - 1);
  out.insert(out.end(), slice.begin(), slice.end());
  return y.reshape(out);
}

// data with updates combined into it at flat positions `at` (one per update value) by mul, max
// or min, on the host in float64: the reductions scatter and index_add do not have.
Tensor scatter_reduce_host(const Tensor& data, const std::vector<int64_t>& at, const Tensor& updates,
                           const std::string& reduction) {
  TS_CHECK_VALUE(reduction == "mul" || reduction == "max" || reduction == "min", "reduction '", reduction,
                 "' is not none, add, mul, max or min");
  std::vector<double> out = host_doubles(data), upd = host_doubles(updates);
  TS_CHECK_SHAPE(at.size() == upd.size(), "scatter: ", upd.size(), " updates for ", at.size(), " positions");
  for (size_t i = 0; i < upd.size(); ++i) {
    TS_CHECK_INDEX(at[i] >= 0 && at[i] < int64_t(out.size()), "scatter: an index points outside data of shape ",
                   data.shape());
    double& o = out[size_t(at[i])];
    o = reduction == "mul" ? o * upd[i] : reduction == "max" ? std::max(o, upd[i]) : std::min(o, upd[i]);
  }
  return from_vector(out).reshape(data.shape()).to(data.dtype()).to(data.device());
}

Tensor scatter_nd(const Node& n) {
  const Tensor& data = n.at(0);
  const Tensor& idx = n.at(1);
  const Tensor& upd = n.at(2);
  std::string reduction = n.s("reduction", "none");
  int64_t k = idx.size(-1), block = 1;
  for (int64_t d = 0; d < k; ++d) block *= data.size(d);
  Shape flat{block};
  flat.insert(flat.end(), data.shape().begin() + k, data.shape().end());
  Tensor pos = flat_positions(idx, data.shape(), "ScatterND").reshape({-1});
  Shape src{pos.size(0)};
  src.insert(src.end(), data.shape().begin() + k, data.shape().end());
  Tensor d = data.reshape(flat), u = upd.reshape(src);
  if (reduction == "none" || reduction == "add") {
    Tensor y = reduction == "add" ? ops::index_add(d, 0, pos, u) : ops::index_copy(d, 0, pos, u);
    return y.reshape(data.shape());
  }
  int64_t slice = block ? data.numel() / block : 0;
  std::vector<int64_t> rows = pos.to(Device::cpu()).tolist<int64_t>(), at;
  for (int64_t r : rows)
    for (int64_t j = 0; j < slice; ++j) at.push_back(r * slice + j);
  return scatter_reduce_host(data, at, upd, reduction);
}

Tensor scatter_elements(const Node& n) {
  const Tensor& x = n.at(0);
  int64_t d = wrap(n.i("axis", 0), x.dim());
  Tensor idx = n.at(1).to(DType::Int64);
  idx = ops::where(idx < int64_t(0), idx + x.size(d), idx);
  std::string reduction = n.s("reduction", "none");
  if (reduction == "none") return ops::scatter(x, d, idx, n.at(2));
  if (reduction == "add") return ops::scatter_add(x, d, idx, n.at(2));
  const Tensor& upd = n.at(2);
  bool fits = idx.dim() == x.dim() && upd.shape() == idx.shape();
  for (int64_t k = 0; fits && k < x.dim(); ++k) fits = k == d || idx.size(k) <= x.size(k);
  TS_CHECK_SHAPE(fits, "ScatterElements: indices ", idx.shape(), " and updates ", upd.shape(), " do not fit data ",
                 x.shape());
  TS_CHECK_INDEX(idx.numel() == 0 || (ops::amin(idx).item().to_int() >= 0 && ops::amax(idx).item().to_int() < x.size(d)),
                 "ScatterElements: an index is outside [", -x.size(d), ", ", x.size(d), ") for data ", x.shape());
  // The flat position in x of each index: its own position with dim d replaced by the index.
  std::vector<int64_t> target = idx.to(Device::cpu()).reshape({-1}).tolist<int64_t>(), at;
  const Shape& is = idx.shape();
  for (size_t i = 0; i < target.size(); ++i) {
    int64_t rest = int64_t(i), flat = 0, stride = 1;
    for (int64_t k = x.dim() - 1; k >= 0; --k) {
      int64_t c = rest % is[size_t(k)];
      rest /= is[size_t(k)];
      flat += (k == d ? target[i] : c) * stride;
      stride *= x.size(k);
    }
    at.push_back(flat);
  }
  return scatter_reduce_host(x, at, n.at(2), reduction);
}

// The right operand of Add, Sub, Mul and Div. Before opset 7 shapes had to match unless
// broadcast=1, which aligned B's dims with A's from `axis` (default: the trailing dims).
Tensor legacy_rhs(const Node& n) {
  const Tensor &a = n.at(0), &b = n.at(1);
  if (n.opset >= 7) return b;
  if (!n.i("broadcast", 0)) {
    TS_CHECK_SHAPE(a.shape() == b.shape(), n.proto.op_type(), " (opset ", n.opset, ") without broadcast=1 needs ",
                   "equal shapes, got ", a.shape(), " and ", b.shape());
    return b;
  }
  if (!n.find("axis")) return b;
  int64_t axis = wrap(n.i("axis", 0), a.dim());
  TS_CHECK_SHAPE(axis >= 0 && axis + b.dim() <= a.dim(), n.proto.op_type(), ": axis ", n.i("axis", 0), " does not fit ",
                 b.shape(), " into ", a.shape());
  Shape s = b.shape();
  for (int64_t d = axis + b.dim(); d < a.dim(); ++d) s.push_back(1);
  return b.reshape(s);
}

// Det: the determinant of each [.., M, M] matrix, by Gaussian elimination with partial pivoting on
// the host in float64 (no gradient flows through it).
Tensor determinant(const Tensor& x) {
  TS_CHECK_SHAPE(x.dim() >= 2 && x.size(-1) == x.size(-2), "Det needs square matrices [.., M, M], got ", x.shape());
  TS_CHECK_DTYPE(x.is_floating_point(), "Det needs a floating-point input, got ", x.dtype());
  const int64_t M = x.size(-1), count = M ? x.numel() / (M * M) : 0;
  std::vector<double> a = host_doubles(x), det;
  for (int64_t b = 0; b < count; ++b) {
    double* m = &a[size_t(b * M * M)];
    double d = 1;
    for (int64_t c = 0; c < M && d != 0; ++c) {
      int64_t p = c;
      for (int64_t r = c + 1; r < M; ++r)
        if (std::abs(m[r * M + c]) > std::abs(m[p * M + c])) p = r;
      if (m[p * M + c] == 0) {
        d = 0;
        break;
      }
      if (p != c) {
        for (int64_t k = 0; k < M; ++k) std::swap(m[p * M + k], m[c * M + k]);
        d = -d;
      }
      d *= m[c * M + c];
      for (int64_t r = c + 1; r < M; ++r) {
        double f = m[r * M + c] / m[c * M + c];
        for (int64_t k = c; k < M; ++k) m[r * M + k] -= f * m[c * M + k];
      }
    }
    det.push_back(d);
  }
  return from_vector(det).reshape(Shape(x.shape().begin(), x.shape().end() - 2)).to(x.dtype()).to(x.device());
}

// TfIdfVectorizer on integer tokens (pool_int64s; string pools are refused: tessera has no string
// tensors): counts the pool's n-grams in each row, n from min_gram_length to max_gram_length, with
// up to max_skip_count tokens skipped between an n-gram's items, as ONNX's reference walks them.
Tensor tfidf(const Node& n) {
  TS_CHECK_VALUE(!n.find("pool_strings"), "TfIdfVectorizer with pool_strings: tessera has no string tensors");
  auto* pool_a = n.find("pool_int64s");
  TS_CHECK_VALUE(pool_a, "TfIdfVectorizer needs pool_int64s");
  const Tensor& x = n.at(0);
  TS_CHECK_DTYPE(!x.is_floating_point() && x.dtype() != DType::Bool, "TfIdfVectorizer needs integer tokens, got ",
                 x.dtype());
  TS_CHECK_SHAPE(x.dim() == 1 || x.dim() == 2, "TfIdfVectorizer input must be [N] or [B, N], got ", x.shape());
  const int64_t min_n = n.i("min_gram_length", 1), max_n = n.i("max_gram_length", 1), skips = n.i("max_skip_count", 0);
  Shape pool(pool_a->ints().begin(), pool_a->ints().end());
  Shape counts = n.ints("ngram_counts").value_or(Shape{}), indexes = n.ints("ngram_indexes").value_or(Shape{});
  std::vector<double> weights;
  if (auto* w = n.find("weights")) weights.assign(w->floats().begin(), w->floats().end());
  const std::string mode = n.s("mode", "TF");
  TS_CHECK_VALUE(mode == "TF" || mode == "IDF" || mode == "TFIDF", "mode '", mode, "' is not TF, IDF or TFIDF");
  // Every pool n-gram -> its output index; and every prefix of one (the walk stops elsewhere).
  std::map<std::vector<int64_t>, int64_t> grams;
  std::set<std::vector<int64_t>> prefixes;
  size_t next = 0;
  for (size_t g = 0; g < counts.size(); ++g) {
    size_t begin = size_t(counts[g]), end = g + 1 < counts.size() ? size_t(counts[g + 1]) : pool.size();
    size_t len = g + 1;
    TS_CHECK_VALUE(begin <= end && end <= pool.size() && (end - begin) % len == 0, "ngram_counts ", counts,
                   " do not fit a pool of ", pool.size());
    for (size_t i = begin; i < end; i += len) {
      std::vector<int64_t> gram(pool.begin() + long(i), pool.begin() + long(i + len));
      TS_CHECK_VALUE(next < indexes.size(), "ngram_indexes has fewer entries than the pool has n-grams");
      grams[gram] = indexes[next++];
      for (size_t k = 1; k <= len; ++k) prefixes.insert(std::vector<int64_t>(gram.begin(), gram.begin() + long(k)));
    }
  }
  int64_t width = 0;
  for (int64_t i : indexes) {
    TS_CHECK_VALUE(i >= 0, "ngram_indexes must not be negative, got ", i);
    width = std::max(width, i + 1);
  }
  TS_CHECK_VALUE(weights.empty() || int64_t(weights.size()) >= width, "weights has ", weights.size(),
                 " values for ", width, " outputs");
  const int64_t rows = x.dim() == 2 ? x.size(0) : 1, len = x.size(-1);
  std::vector<int64_t> tokens = x.to(Device::cpu()).to(DType::Int64).reshape({-1}).tolist<int64_t>();
  std::vector<double> out(size_t(rows * width), 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t* t = &tokens[size_t(r * len)];
    int64_t start_size = min_n;
    for (int64_t d = 1; d <= skips + 1; ++d) {
      for (int64_t s = 0; s < len && s + d * (start_size - 1) < len; ++s) {
        std::vector<int64_t> gram;
        for (int64_t i = s; i < len && int64_t(gram.size()) < max_n; i += d) {
          gram.push_back(t[i]);
          if (!prefixes.count(gram)) break;
          auto hit = grams.find(gram);
          if (int64_t(gram.size()) >= start_size && hit != grams.end()) out[size_t(r * width + hit->second)] += 1;
        }
      }
      if (start_size == 1 && ++start_size > max_n) break;  // unigrams are counted once, not per skip
    }
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < width; ++i) {
      double& v = out[size_t(r * width + i)];
      double w = weights.empty() ? 1.0 : weights[size_t(i)];
      v = mode == "TF" ? v : mode == "IDF" ? (v > 0 ? w : 0.0) : v * w;
    }
  Shape shape = x.dim() == 2 ? Shape{rows, width} : Shape{width};
  return from_vector(out).to(DType::Float32).reshape(shape).to(x.device());
}

}  // namespace

void add_math_ops(OpTable& m) {
  auto unary = [&m](const char* name, Tensor (*f)(const Tensor&)) {
    m[name] = [f](const Node& n) { return one(f(n.at(0))); };
  };
  unary("Relu", ops::relu);
  unary("Sigmoid", ops::sigmoid);
  unary("Tanh", ops::tanh);
  unary("Exp", ops::exp);
  unary("Log", ops::log);
  unary("Sqrt", ops::sqrt);
  unary("Abs", ops::abs);
  unary("Neg", ops::neg);
  unary("Erf", ops::erf);
  unary("Floor", ops::floor);
  unary("Ceil", ops::ceil);
  unary("Round", ops::round);
  unary("Sign", ops::sign);
  unary("Reciprocal", ops::reciprocal);
  unary("Not", ops::logical_not);
  unary("Sin", ops::sin);
  unary("Cos", ops::cos);
  m["Identity"] = [](const Node& n) { return one(n.at(0)); };
  // Dropout: the identity (and an all-true mask) unless training_mode (opset 12: an input) is
  // true, when a random mask keeps each value with probability 1 - ratio and scales it by 1 / (1 - ratio).
  m["Dropout"] = [](const Node& n) {
    const Tensor& x = n.at(0);
    bool training = n.has(2) && n.in[2].to(Device::cpu()).to(DType::Float64).item().to_double() != 0;
    double ratio = n.has(1) ? n.in[1].to(Device::cpu()).to(DType::Float64).item().to_double() : n.f("ratio", 0.5);
    TS_CHECK_VALUE(ratio >= 0 && ratio < 1, "Dropout ratio must be in [0, 1), got ", ratio);
    Values r;
    Tensor keep = ones(x.shape(), {DType::Bool, x.device()});
    if (training && ratio > 0) {
      keep = rand(x.shape(), {DType::Float32, x.device()}) >= ratio;
      r.push_back(ops::where(keep, x / (1 - ratio), zeros_like(x)));
    } else {
      r.push_back(x);
    }
    if (n.proto.output_size() > 1) r.push_back(keep);
    return r;
  };
  // Random ops: a `seed` attribute gives a generator of its own (the same draws on every run);
  // without one, tessera's default generator (tessera.manual_seed).
  auto random = [&m](const char* name, bool normal, bool like) {
    m[name] = [normal, like](const Node& n) {
      std::optional<Generator> own;
      if (n.find("seed")) own.emplace(uint64_t(int64_t(n.f("seed", 0))));
      Generator* gen = own ? &*own : nullptr;
      DType dt = n.find("dtype") ? onnx_proto::dtype_of(int32_t(n.i("dtype", 1)), "dtype")
                                 : like ? n.at(0).dtype() : DType::Float32;
      Shape shape = like ? n.at(0).shape() : n.ints("shape").value_or(Shape{});
      Device dev = like ? n.at(0).device() : Device::cpu();
      TS_CHECK_DTYPE(is_floating(dt), n.proto.op_type(), " makes floating-point tensors, not ", dt);
      if (normal) return one((randn(shape, {DType::Float64, dev}, gen) * n.f("scale", 1.0) + n.f("mean", 0.0)).to(dt));
      double lo = n.f("low", 0.0), hi = n.f("high", 1.0);
      return one((rand(shape, {DType::Float64, dev}, gen) * (hi - lo) + lo).to(dt));
    };
  };
  random("RandomUniform", false, false);
  random("RandomNormal", true, false);
  random("RandomUniformLike", false, true);
  random("RandomNormalLike", true, true);
  m["Bernoulli"] = [](const Node& n) {  // 1 with the input's probability, else 0
    std::optional<Generator> own;
    if (n.find("seed")) own.emplace(uint64_t(int64_t(n.f("seed", 0))));
    const Tensor& p = n.at(0);
    DType dt = n.find("dtype") ? onnx_proto::dtype_of(int32_t(n.i("dtype", 1)), "dtype") : p.dtype();
    return one(bernoulli(p.to(DType::Float64), own ? &*own : nullptr).to(dt));
  };
  m["Softplus"] = [](const Node& n) { return one(ops::softplus(n.at(0))); };
  m["LeakyRelu"] = [](const Node& n) {
    const Tensor& x = n.at(0);
    return one(ops::where(x > 0.0, x, x * n.f("alpha", 0.01)));
  };
  m["Elu"] = [](const Node& n) {
    const Tensor& x = n.at(0);
    return one(ops::where(x > 0.0, x, ops::expm1(x) * n.f("alpha", 1.0)));
  };
  m["HardSigmoid"] = [](const Node& n) {
    return one(ops::clamp(n.at(0) * n.f("alpha", 0.2) + n.f("beta", 0.5), Scalar(0.0), Scalar(1.0)));
  };
  auto binary = [&m](const char* name, Tensor (*f)(const Tensor&, const Tensor&)) {
    m[name] = [f](const Node& n) { return one(f(n.at(0), legacy_rhs(n))); };
  };
  m["Pow"] = [](const Node& n) {  // the result has the base's type
    const Tensor &a = n.at(0), b = legacy_rhs(n);
    if (a.is_floating_point()) return one(ops::pow(a, b.to(a.dtype())));
    return one(ops::round(ops::pow(a.to(DType::Float64), b.to(DType::Float64))).to(a.dtype()));
  };
  binary("Equal", ops::eq);
  binary("Less", ops::lt);
  binary("LessOrEqual", ops::le);
  binary("Greater", ops::gt);
  binary("GreaterOrEqual", ops::ge);
  binary("And", ops::logical_and);
  binary("Or", ops::logical_or);
  binary("Xor", ops::logical_xor);
  m["MatMul"] = [](const Node& n) { return one(ops::matmul(n.at(0), n.at(1))); };
  m["Add"] = [](const Node& n) { return one(n.at(0) + legacy_rhs(n)); };
  m["Sub"] = [](const Node& n) { return one(n.at(0) - legacy_rhs(n)); };
  m["Mul"] = [](const Node& n) { return one(n.at(0) * legacy_rhs(n)); };
  m["Div"] = [](const Node& n) {
    const Tensor &a = n.at(0), b = legacy_rhs(n);
    if (a.is_floating_point()) return one(a / b);
    Tensor q = a.to(DType::Float64) / b.to(DType::Float64);  // integer Div truncates toward zero
    return one((ops::sign(q) * ops::floor(ops::abs(q))).to(a.dtype()));
  };
  m["Mod"] = [](const Node& n) {
    const Tensor &a = n.at(0), &b = n.at(1);
    if (n.i("fmod", 0)) return one(ops::fmod(a, b));
    Tensor r = ops::fmod(a, b);  // Python-style: the result takes the divisor's sign
    return one(ops::where((r != 0.0) && ((r < 0.0) != (b < 0.0)), r + b, r));
  };
  auto variadic = [&m](const char* name, Tensor (*f)(const Tensor&, const Tensor&)) {
    m[name] = [f](const Node& n) {
      Tensor r = n.at(0);
      for (size_t k = 1; k < n.in.size(); ++k) r = f(r, n.at(k));
      return one(r);
    };
  };
  variadic("Max", ops::maximum);
  variadic("Min", ops::minimum);
  m["Sum"] = [](const Node& n) {
    Tensor r = n.at(0);
    for (size_t k = 1; k < n.in.size(); ++k) r = r + n.at(k);
    return one(r);
  };
  m["Where"] = [](const Node& n) { return one(ops::where(n.at(0), n.at(1), n.at(2))); };
  m["Clip"] = [](const Node& n) {
    const Tensor& x = n.at(0);
    std::optional<Scalar> lo, hi;
    if (n.has(1)) lo = n.in[1].item();
    else if (n.find("min")) lo = Scalar(n.f("min", 0));
    if (n.has(2)) hi = n.in[2].item();
    else if (n.find("max")) hi = Scalar(n.f("max", 0));
    if (!lo && !hi) return one(x);
    return one(ops::clamp(x, lo, hi).to(x.dtype()));
  };
  m["Cast"] = [](const Node& n) {
    return one(n.at(0).to(onnx_proto::dtype_of(int32_t(n.i("to", 0)), "Cast")));
  };
  m["ReduceSum"] = [](const Node& n) {
    bool axes_input = n.proto.input_size() > 1 || !n.find("axes");
    return one(reduce(n, [](const Tensor& x, const Shape& a, bool k) { return ops::sum(x, a, k).to(x.dtype()); },
                      axes_input));
  };
  auto attr_reduce = [&m](const char* name, Tensor (*f)(const Tensor&, const Shape&, bool)) {
    m[name] = [f](const Node& n) {
      // axes: an attribute before opset 18, an input from 18 on.
      return one(reduce(n, [f](const Tensor& x, const Shape& a, bool k) { return f(x, a, k).to(x.dtype()); }, n.opset >= 18));
    };
  };
  attr_reduce("ReduceMean", ops::mean);
  attr_reduce("ReduceMax", ops::amax);
  attr_reduce("ReduceMin", ops::amin);
  attr_reduce("ReduceProd", ops::prod);
  m["ArgMax"] = [](const Node& n) { return one(arg_reduce(n, true)); };
  m["ArgMin"] = [](const Node& n) { return one(arg_reduce(n, false)); };
  // Before opset 13 the softmax family works on the input flattened to 2-D at `axis` (default 1):
  // a [1, 1000, 1, 1] classifier output normalizes over all 1000 values, not over the last dim.
  auto softmax_family = [](const Node& n, const std::function<Tensor(const Tensor&, int64_t)>& f) {
    const Tensor& x = n.at(0);
    if (n.opset >= 13) return one(f(x, n.i("axis", -1)));
    int64_t axis = wrap(n.i("axis", 1), x.dim());
    TS_CHECK_VALUE(axis >= 0 && axis <= x.dim(), "axis ", n.i("axis", 1), " is out of range for a ", x.dim(),
                   "-D input");
    int64_t rows = 1;
    for (int64_t d = 0; d < axis; ++d) rows *= x.size(d);
    return one(f(x.reshape({rows, -1}), 1).reshape(x.shape()));
  };
  m["Gelu"] = [](const Node& n) {  // opset 20
    std::string approx = n.s("approximate", "none");
    TS_CHECK_VALUE(approx == "none" || approx == "tanh", "approximate '", approx, "' is not 'none' or 'tanh'");
    return one(ops::gelu(n.at(0), approx));
  };
  m["Softmax"] = [softmax_family](const Node& n) { return softmax_family(n, ops::softmax); };
  m["LogSoftmax"] = [softmax_family](const Node& n) { return softmax_family(n, ops::log_softmax); };
  // 1 at the first maximum along the axis, 0 elsewhere.
  m["Hardmax"] = [softmax_family](const Node& n) {
    return softmax_family(n, [](const Tensor& x, int64_t axis) {
      int64_t d = axis < 0 ? axis + x.dim() : axis;
      Tensor idx = ops::argmax(x, d, /*keepdim=*/true);
      return ops::scatter(zeros_like(x), d, idx, ones_like(idx).to(x.dtype()));
    });
  };
  // Trigonometric and hyperbolic functions (float inputs).
  unary("Tan", ops::tan);
  unary("Asin", ops::asin);
  unary("Acos", ops::acos);
  unary("Atan", ops::atan);
  unary("Sinh", ops::sinh);
  unary("Cosh", ops::cosh);
  m["Asinh"] = [](const Node& n) {
    const Tensor& x = n.at(0);
    return one(ops::sign(x) * ops::log(ops::abs(x) + ops::sqrt(x * x + 1.0)));
  };
  m["Acosh"] = [](const Node& n) {
    const Tensor& x = n.at(0);
    return one(ops::log(x + ops::sqrt(x * x - 1.0)));
  };
  m["Atanh"] = [](const Node& n) {
    const Tensor& x = n.at(0);
    return one(ops::log((x + 1.0) / (1.0 - x)) * 0.5);
  };
  // Activations.
  m["Selu"] = [](const Node& n) {
    const Tensor& x = n.at(0);
    double alpha = n.f("alpha", 1.67326319217681884765625), gamma = n.f("gamma", 1.05070102214813232421875);
    return one(ops::where(x > 0.0, x, ops::expm1(x) * alpha) * gamma);
  };
  m["Softsign"] = [](const Node& n) { return one(n.at(0) / (ops::abs(n.at(0)) + 1.0)); };
  m["ThresholdedRelu"] = [](const Node& n) {
    const Tensor& x = n.at(0);
    return one(ops::where(x > n.f("alpha", 1.0), x, zeros_like(x)));
  };
  m["HardSwish"] = [](const Node& n) {
    const Tensor& x = n.at(0);
    return one(x * ops::clamp(x * (1.0 / 6) + 0.5, Scalar(0.0), Scalar(1.0)));
  };
  m["Mish"] = [](const Node& n) { return one(n.at(0) * ops::tanh(ops::softplus(n.at(0)))); };
  m["Shrink"] = [](const Node& n) {
    const Tensor& x = n.at(0);
    double lambd = n.f("lambd", 0.5), bias = n.f("bias", 0.0);
    return one(in_float(x, [&](const Tensor& v) {
      return ops::where(v < -lambd, v + bias, ops::where(v > lambd, v - bias, zeros_like(v)));
    }));
  };
  m["PRelu"] = [](const Node& n) {
    const Tensor& x = n.at(0);
    Tensor slope = n.at(1);
    // Before opset 7 a per-channel slope [C] applied to dim 1 of [N, C, ...].
    if (n.opset < 7 && slope.dim() == 1 && x.dim() > 2 && slope.size(0) == x.size(1)) {
      Shape s{slope.size(0)};
      for (int64_t d = 2; d < x.dim(); ++d) s.push_back(1);
      slope = slope.reshape(s);
    }
    return one(ops::where(x < 0.0, x * slope, x));
  };
  m["IsNaN"] = [](const Node& n) { return one(ops::isnan(n.at(0))); };
  m["IsInf"] = [](const Node& n) {
    const Tensor& x = n.at(0);
    Tensor inf = ops::isinf(x);
    if (!n.i("detect_positive", 1)) inf = inf && (x < 0.0);
    if (!n.i("detect_negative", 1)) inf = inf && (x > 0.0);
    return one(inf);
  };
  m["Mean"] = [](const Node& n) {
    Tensor r = n.at(0);
    for (size_t k = 1; k < n.in.size(); ++k) r = r + n.at(k);
    return one(r / double(n.in.size()));
  };
  m["BitwiseAnd"] = [](const Node& n) { return one(ops::bitwise_and(n.at(0), n.at(1))); };
  m["BitwiseOr"] = [](const Node& n) { return one(ops::bitwise_or(n.at(0), n.at(1))); };
  m["BitwiseXor"] = [](const Node& n) { return one(ops::bitwise_xor(n.at(0), n.at(1))); };
  m["BitwiseNot"] = [](const Node& n) { return one(ops::bitwise_not(n.at(0))); };
  m["CastLike"] = [](const Node& n) { return one(n.at(0).to(n.at(1).dtype())); };
  m["CumSum"] = [](const Node& n) {
    const Tensor& x = n.at(0);
    int64_t d = wrap(n.host_ints(1).at(0), x.dim());
    Tensor y = n.i("reverse", 0) ? ops::flip(x, {d}) : x;
    Tensor c = ops::cumsum(y, d, x.dtype());
    if (n.i("exclusive", 0)) c = c - y;
    return one(n.i("reverse", 0) ? ops::flip(c, {d}) : c);
  };
  m["Trilu"] = [](const Node& n) {
    int64_t k = n.has(1) ? n.in[1].item().to_int() : 0;
    return one(n.i("upper", 1) ? ops::triu(n.at(0), k) : ops::tril(n.at(0), k));
  };
  m["EyeLike"] = [](const Node& n) {
    const Tensor& x = n.at(0);
    TS_CHECK_SHAPE(x.dim() == 2, "EyeLike needs a 2-D input, got shape ", x.shape());
    DType dt = n.find("dtype") ? onnx_proto::dtype_of(int32_t(n.i("dtype", 0)), "EyeLike") : x.dtype();
    Tensor rows = arange(0, double(x.size(0)), 1, {DType::Int64, x.device()}).reshape({-1, 1});
    Tensor cols = arange(0, double(x.size(1)), 1, {DType::Int64, x.device()}).reshape({1, -1});
    return one((cols - rows == n.i("k", 0)).to(dt));
  };
  m["NonZero"] = [](const Node& n) { return one(ops::nonzero(n.at(0)).t().contiguous()); };
  m["LpNormalization"] = [](const Node& n) {
    const Tensor& x = n.at(0);
    int64_t p = n.i("p", 2);
    TS_CHECK_VALUE(p == 1 || p == 2, "LpNormalization with p = ", p, " (ONNX allows 1 and 2)");
    Tensor norm = ops::norm(x, double(p), {wrap(n.i("axis", -1), x.dim())}, true);
    return one(ops::where(norm == 0.0, zeros_like(x), x / norm));  // a zero vector stays zero
  };
  m["GatherND"] = [](const Node& n) { return one(gather_nd(n)); };
  m["ScatterND"] = [](const Node& n) { return one(scatter_nd(n)); };
  m["ScatterElements"] = [](const Node& n) { return one(scatter_elements(n)); };
  m["Scatter"] = m["ScatterElements"];  // opsets 9-10
  // More reductions (axes: an attribute before opset 18, an input from 18 on).
  attr_reduce("ReduceL1", [](const Tensor& x, const Shape& a, bool k) { return ops::sum(ops::abs(x), a, k); });
  attr_reduce("ReduceL2", [](const Tensor& x, const Shape& a, bool k) {
    return in_float(x, [&](const Tensor& v) { return ops::sqrt(ops::sum(v * v, a, k)); });
  });
  attr_reduce("ReduceSumSquare", [](const Tensor& x, const Shape& a, bool k) { return ops::sum(x * x, a, k); });
  attr_reduce("ReduceLogSum", [](const Tensor& x, const Shape& a, bool k) { return ops::log(ops::sum(x, a, k)); });
  attr_reduce("ReduceLogSumExp", [](const Tensor& x, const Shape& a, bool k) {
    return in_float(x, [&](const Tensor& v) { return ops::logsumexp(v, a, k); });
  });
  // Windows (opset 17): size values of a periodic (or, periodic=0, symmetric) window.
  auto window = [&m](const char* name, std::vector<double> cosines) {
    m[name] = [cosines](const Node& n) {
      int64_t size = n.host_ints(0).at(0);
      TS_CHECK_VALUE(size >= 0, "window size must not be negative, got ", size);
      DType dt = onnx_proto::dtype_of(int32_t(n.i("output_datatype", 1)), "output_datatype");
      double N = double(n.i("periodic", 1) ? size : size - 1);
      Tensor k = arange(0, double(size), 1, {DType::Float64, n.at(0).device()});
      Tensor w = zeros_like(k);
      for (size_t j = 0; j < cosines.size(); ++j)
        w = w + (j == 0 ? ones_like(k) : ops::cos(k * (2.0 * M_PI * double(j) / N))) * cosines[j];
      return one(w.to(dt));
    };
  };
  window("HannWindow", {0.5, -0.5});
  window("HammingWindow", {25.0 / 46.0, -21.0 / 46.0});
  window("BlackmanWindow", {0.42, -0.5, 0.08});
  m["Det"] = [](const Node& n) { return one(determinant(n.at(0))); };
  m["TfIdfVectorizer"] = [](const Node& n) { return one(tfidf(n)); };
}

}  // namespace tessera::io::internal

// Export: what the traced elementwise ops, reductions, arg-reductions, softmaxes and casts become.
namespace tessera::io::internal {

namespace {

using ops::trace::Call;
using Names = std::vector<std::string>;

std::string export_unary(ExportGraph& x, const std::string& op, const std::string& v, DType dt) {
  auto one = [&] { return x.scalar(1.0, dt); };
  if (op == "abs") return x.emit(dt == DType::Bool ? "Identity" : "Abs", {v});
  static const std::unordered_map<std::string, std::string> direct = {
      {"neg", "Neg"},     {"exp", "Exp"},   {"log", "Log"},     {"sqrt", "Sqrt"},  {"sin", "Sin"},
      {"cos", "Cos"},     {"tanh", "Tanh"}, {"sigmoid", "Sigmoid"}, {"relu", "Relu"}, {"erf", "Erf"},
      {"floor", "Floor"}, {"ceil", "Ceil"}, {"round", "Round"}, {"sign", "Sign"},  {"reciprocal", "Reciprocal"}};
  if (auto d = direct.find(op); d != direct.end()) return x.emit(d->second, {v});
  if (op == "expm1") return x.emit("Sub", {x.emit("Exp", {v}), one()});
  if (op == "log1p") return x.emit("Log", {x.emit("Add", {v, one()})});
  if (op == "rsqrt") return x.emit("Reciprocal", {x.emit("Sqrt", {v})});
  if (op == "square") return x.emit("Mul", {v, v});
  if (op == "silu") return x.emit("Mul", {v, x.emit("Sigmoid", {v})});
  if (op == "gelu") {  // v/2 * (1 + erf(v / sqrt 2))
    std::string e = x.emit("Erf", {x.emit("Div", {v, x.scalar(std::sqrt(2.0), dt)})});
    return x.emit("Mul", {x.emit("Mul", {v, x.scalar(0.5, dt)}), x.emit("Add", {e, one()})});
  }
  // gelu_tanh: v/2 * (1 + tanh(sqrt(2/pi) (v + 0.044715 v^3)))
  std::string v3 = x.emit("Mul", {x.emit("Mul", {v, v}), v});
  std::string inner = x.emit("Add", {v, x.emit("Mul", {v3, x.scalar(0.044715, dt)})});
  std::string t = x.emit("Tanh", {x.emit("Mul", {inner, x.scalar(std::sqrt(2.0 / M_PI), dt)})});
  return x.emit("Mul", {x.emit("Mul", {v, x.scalar(0.5, dt)}), x.emit("Add", {t, one()})});
}

// atan2(y, x) from Atan: atan(y/x), moved by pi where x < 0 (to the sign of y), and +-pi/2 or 0
// where x is 0 (the division's inf or nan there sits in branches Where does not take).
std::string export_atan2(ExportGraph& g, const std::string& y, const std::string& x, DType dt) {
  std::string zero = g.scalar(0.0, dt), pi = g.scalar(M_PI, dt), half = g.scalar(M_PI / 2, dt);
  std::string base = g.emit("Atan", {g.emit("Div", {y, x})});
  std::string y_nonneg = g.emit("GreaterOrEqual", {y, zero});
  std::string shifted = g.emit("Add", {base, g.emit("Where", {y_nonneg, pi, g.emit("Neg", {pi})})});
  std::string on_axis = g.emit("Where", {g.emit("Greater", {y, zero}), half,
                                         g.emit("Where", {g.emit("Less", {y, zero}), g.emit("Neg", {half}), zero})});
  return g.emit("Where", {g.emit("Greater", {x, zero}), base,
                          g.emit("Where", {g.emit("Less", {x, zero}), shifted, on_axis})});
}

std::string export_reduce(ExportGraph& x, const std::string& type, const std::string& v, const Call& c) {
  onnx::NodeProto& n = x.reduction(type, v, c.ints("dims"));
  ExportGraph::attr(n, "keepdims", c.i("keepdim"));
  return n.output(0);
}

}  // namespace

void add_math_exports(ExportTable& t) {
  auto out_type = [](const Call& c) { return c.outputs.empty() ? DType::Float32 : c.outputs[0].dtype(); };
  for (const char* op : {"abs", "neg", "exp", "expm1", "log", "log1p", "sqrt", "rsqrt", "sin", "cos", "tanh",
                         "sigmoid", "relu", "gelu", "gelu_tanh", "silu", "erf", "floor", "ceil", "round", "sign",
                         "reciprocal", "square"})
    t[op] = [out_type](ExportGraph& x, const Call& c, const Names& in) -> Names {
      if (c.op == "abs") return {export_unary(x, c.op, in[0], c.inputs[0].dtype())};
      DType out = out_type(c);  // integer inputs of floating functions are cast first
      return {export_unary(x, c.op, x.in_as(in, 0, out), out)};
    };
  t["logical_not"] = [](ExportGraph& x, const Call&, const Names& in) -> Names {
    return {x.emit("Not", {x.in_as(in, 0, DType::Bool)})};
  };
  t["bitwise_not"] = [out_type](ExportGraph& x, const Call& c, const Names& in) -> Names {
    if (out_type(c) == DType::Bool) return {x.emit("Not", {in[0]})};
    if (x.opset() < 18) x.fail("needs opset_version 18 or later (ONNX's BitwiseNot)");
    return {x.emit("BitwiseNot", {in[0]})};
  };
  static const std::unordered_map<std::string, std::string> arith = {
      {"add", "Add"}, {"sub", "Sub"}, {"mul", "Mul"}, {"div", "Div"},
      {"pow", "Pow"}, {"maximum", "Max"}, {"minimum", "Min"}, {"fmod", "Mod"}};
  for (auto& [op, type] : arith)
    t[op] = [out_type, type = type](ExportGraph& x, const Call& c, const Names& in) -> Names {
      DType out = out_type(c);
      auto& n = x.node(type, {x.in_as(in, 0, out), x.in_as(in, 1, out)});
      if (c.op == "fmod") ExportGraph::attr(n, "fmod", int64_t(1));
      return {n.output(0)};
    };
  t["atan2"] = [out_type](ExportGraph& x, const Call& c, const Names& in) -> Names {
    DType out = out_type(c);
    return {export_atan2(x, x.in_as(in, 0, out), x.in_as(in, 1, out), out)};
  };
  static const std::unordered_map<std::string, std::string> logic = {
      {"logical_and", "And"}, {"logical_or", "Or"}, {"logical_xor", "Xor"}};
  for (auto& [op, type] : logic)
    t[op] = [type = type](ExportGraph& x, const Call&, const Names& in) -> Names {
      return {x.emit(type, {x.in_as(in, 0, DType::Bool), x.in_as(in, 1, DType::Bool)})};
    };
  static const std::unordered_map<std::string, std::string> bitwise = {
      {"bitwise_and", "BitwiseAnd"}, {"bitwise_or", "BitwiseOr"}, {"bitwise_xor", "BitwiseXor"}};
  for (auto& [op, type] : bitwise)
    t[op] = [out_type, type = type](ExportGraph& x, const Call& c, const Names& in) -> Names {
      DType out = out_type(c);
      if (out == DType::Bool) return {x.emit(logic.at("logical" + c.op.substr(7)), {in[0], in[1]})};  // and, or, xor
      if (x.opset() < 18) x.fail("needs opset_version 18 or later (ONNX's Bitwise ops)");
      return {x.emit(type, {x.in_as(in, 0, out), x.in_as(in, 1, out)})};
    };
  static const std::unordered_map<std::string, std::string> compare = {
      {"eq", "Equal"}, {"ne", "Equal"}, {"lt", "Less"}, {"le", "LessOrEqual"}, {"gt", "Greater"}, {"ge", "GreaterOrEqual"}};
  for (auto& [op, type] : compare)
    t[op] = [type = type](ExportGraph& x, const Call& c, const Names& in) -> Names {
      DType dt = ops::result_type(c.inputs[0], c.inputs[1]);
      std::string r = x.emit(type, {x.in_as(in, 0, dt), x.in_as(in, 1, dt)});
      return {c.op == "ne" ? x.emit("Not", {r}) : r};
    };
  t["where"] = [out_type](ExportGraph& x, const Call& c, const Names& in) -> Names {
    DType out = out_type(c);
    return {x.emit("Where", {in[0], x.in_as(in, 1, out), x.in_as(in, 2, out)})};
  };
  t["clamp"] = [out_type](ExportGraph& x, const Call& c, const Names& in) -> Names {
    DType out = out_type(c);
    std::string lo = c.has("min") ? x.scalar(c.f("min"), out) : "", hi = c.has("max") ? x.scalar(c.f("max"), out) : "";
    return {x.emit("Clip", {x.in_as(in, 0, out), lo, hi})};
  };
  t["fma"] = [out_type](ExportGraph& x, const Call& c, const Names& in) -> Names {
    DType out = out_type(c);
    return {x.emit("Add", {x.emit("Mul", {x.in_as(in, 0, out), x.in_as(in, 1, out)}), x.in_as(in, 2, out)})};
  };
  t["to"] = [out_type](ExportGraph& x, const Call& c, const Names& in) -> Names {
    return {x.cast(in[0], c.inputs[0].dtype(), out_type(c))};
  };
  // Reductions: sum and prod in the result's type (integers widen), the others in the input's.
  for (auto [op, type, widen] : {std::tuple{"sum", "ReduceSum", true}, {"prod", "ReduceProd", true},
                                 {"mean", "ReduceMean", false}, {"amax", "ReduceMax", false},
                                 {"amin", "ReduceMin", false}})
    t[op] = [out_type, type = std::string(type), widen = widen](ExportGraph& x, const Call& c, const Names& in) -> Names {
      return {export_reduce(x, type, widen ? x.in_as(in, 0, out_type(c)) : in[0], c)};
    };
  for (const char* op : {"all", "any"})
    t[op] = [](ExportGraph& x, const Call& c, const Names& in) -> Names {  // through int32: Min/Max of 0 and 1
      std::string r = export_reduce(x, c.op == "all" ? "ReduceMin" : "ReduceMax", x.in_as(in, 0, DType::Int32), c);
      return {x.cast(r, DType::Int32, DType::Bool)};
    };
  for (const char* op : {"argmax", "argmin"})
    t[op] = [](ExportGraph& x, const Call& c, const Names& in) -> Names {
      std::string type = c.op == "argmax" ? "ArgMax" : "ArgMin";
      if (c.has("dim")) {
        auto& n = x.node(type, {in[0]});
        ExportGraph::attr(n, "axis", c.i("dim"));
        ExportGraph::attr(n, "keepdims", c.i("keepdim"));
        return {n.output(0)};
      }
      auto& n = x.node(type, {x.emit("Reshape", {in[0], x.ints({-1})})});  // over every element
      ExportGraph::attr(n, "axis", int64_t(0));
      ExportGraph::attr(n, "keepdims", int64_t(0));
      if (!c.i("keepdim")) return {n.output(0)};
      return {x.emit("Reshape", {n.output(0), x.ints(Shape(size_t(c.inputs[0].dim()), 1))})};
    };
  for (const char* op : {"softmax", "log_softmax"})
    t[op] = [out_type](ExportGraph& x, const Call& c, const Names& in) -> Names {
      if (c.inputs[0].dim() == 0) x.fail("0-d softmax has no ONNX form");
      auto& n = x.node(c.op == "softmax" ? "Softmax" : "LogSoftmax", {x.in_as(in, 0, out_type(c))});
      ExportGraph::attr(n, "axis", c.i("dim"));
      return {n.output(0)};
    };
}

}  // namespace tessera::io::internal
