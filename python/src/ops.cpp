// The op library for Python: every op of the C++ functional API (tessera/ops/ops.h and the
// losses of nn::functional) as a tessera.* function, and as a Tensor method where PyTorch has one.
// Ops run with the GIL released, so other Python threads run while a large op computes.
#include <cmath>

#include "common.h"

namespace nb = nanobind;
using namespace tessera;
using tessera::py::dims_of;
using tessera::py::IntPair;
using tessera::py::Operand;
using tessera::py::operand;
using tessera::py::OptDims;

const char* doc_for(const std::string& name);  // docs.cpp

namespace {
using Release = nb::call_guard<nb::gil_scoped_release>;

// Defines name as tessera.name(input, ...) and as Tensor.name(...), with the docstring of docs.cpp.
struct Both {
  nb::module_& m;
  nb::class_<Tensor>& cls;
  template <class F, class... Extra>
  Both& def(const char* name, F&& f, const Extra&... extra) {
    m.def(name, f, nb::arg("input"), extra..., Release(), doc_for(name));
    cls.def(name, f, extra..., Release(), doc_for(name));
    return *this;
  }
  template <class F, class... Extra>
  Both& fn(const char* name, F&& f, const Extra&... extra) {  // tessera.name only
    m.def(name, std::forward<F>(f), extra..., Release(), doc_for(name));
    return *this;
  }
  template <class F, class... Extra>
  Both& method(const char* name, F&& f, const Extra&... extra) {  // Tensor.name only
    cls.def(name, std::forward<F>(f), extra..., Release(), doc_for(name));
    return *this;
  }
};

Shape shape_of(IntPair p) { return {p.h, p.w}; }

ops::PoolOptions pool_options(IntPair k, std::optional<IntPair> s, IntPair p, IntPair d, bool ceil, bool include_pad) {
  return {.kernel_size = shape_of(k),
          .stride = s ? shape_of(*s) : Shape{},
          .padding = shape_of(p),
          .dilation = shape_of(d),
          .ceil_mode = ceil,
          .count_include_pad = include_pad};
}

Conv2dParams conv_params(IntPair s, IntPair p, IntPair d, int64_t g) {
  Conv2dParams c;
  c.stride[0] = s.h, c.stride[1] = s.w;
  c.padding[0] = p.h, c.padding[1] = p.w;
  c.dilation[0] = d.h, c.dilation[1] = d.w;
  c.groups = g;
  return c;
}

Tensor opt(const std::optional<Tensor>& t) { return t.value_or(Tensor()); }

nb::object pair_result(std::pair<Tensor, Tensor> r) {
  // (values, indices) as a tuple, like torch.return_types (indexable and unpackable).
  return nb::make_tuple(r.first, r.second);
}
}  // namespace

void bind_ops(nb::module_& m) {
  auto cls = nb::borrow<nb::class_<Tensor>>(m.attr("Tensor"));
  Both b{m, cls};

  // --- binary ops with tensors or numbers (torch.add(a, b, alpha=...)) ---------------------------
  const std::pair<const char*, BinaryOp> binary[] = {{"mul", BinaryOp::Mul},
                                                     {"div", BinaryOp::Div},
                                                     {"pow", BinaryOp::Pow},
                                                     {"maximum", BinaryOp::Maximum},
                                                     {"minimum", BinaryOp::Minimum},
                                                     {"atan2", BinaryOp::Atan2},
                                                     {"fmod", BinaryOp::Fmod},
                                                     {"eq", BinaryOp::Eq},
                                                     {"ne", BinaryOp::Ne},
                                                     {"lt", BinaryOp::Lt},
                                                     {"le", BinaryOp::Le},
                                                     {"gt", BinaryOp::Gt},
                                                     {"ge", BinaryOp::Ge},
                                                     {"logical_and", BinaryOp::LogicalAnd},
                                                     {"logical_or", BinaryOp::LogicalOr},
                                                     {"logical_xor", BinaryOp::LogicalXor},
                                                     {"bitwise_and", BinaryOp::BitwiseAnd},
                                                     {"bitwise_or", BinaryOp::BitwiseOr},
                                                     {"bitwise_xor", BinaryOp::BitwiseXor}};
  for (auto& [name, op] : binary) {
    BinaryOp o = op;
    b.def(
        name, [o](const Tensor& a, const Operand& x) { return ops::binary(o, a, operand(x, a)); }, nb::arg("other"));
  }
  b.def(
      "add", [](const Tensor& a, const Operand& x, Scalar alpha) { return ops::add(a, operand(x, a), alpha); },
      nb::arg("other"), nb::kw_only(), nb::arg("alpha") = 1);
  b.def(
      "sub", [](const Tensor& a, const Operand& x, Scalar alpha) { return ops::sub(a, operand(x, a), alpha); },
      nb::arg("other"), nb::kw_only(), nb::arg("alpha") = 1);
  b.fn("result_type", [](const Operand& a, const Operand& x) {
         if (auto* t = std::get_if<Tensor>(&a)) {
           if (auto* u = std::get_if<Tensor>(&x)) return ops::result_type(*t, *u);
           return ops::result_type(*t, std::get<Scalar>(x));
         }
         if (auto* u = std::get_if<Tensor>(&x)) return ops::result_type(*u, std::get<Scalar>(a));
         throw DTypeError("result_type: expected at least one tessera.Tensor, got two numbers");
       }, nb::arg("tensor1"), nb::arg("tensor2"));
  b.method("unflatten", &Tensor::unflatten, nb::arg("dim"), nb::arg("sizes"));

  // --- composites (tessera/ops/composite.cpp) -----------------------------------------------------
  const std::pair<const char*, Tensor (*)(const Tensor&)> composite_unary[] = {
      {"tan", &ops::tan},     {"atan", &ops::atan},   {"asin", &ops::asin},  {"acos", &ops::acos},
      {"arctan", &ops::atan}, {"arcsin", &ops::asin}, {"arccos", &ops::acos}, {"sinh", &ops::sinh},
      {"cosh", &ops::cosh},   {"log2", &ops::log2},   {"log10", &ops::log10}, {"exp2", &ops::exp2}};
  for (auto& [name, f] : composite_unary) b.def(name, f);
  // Python's % and //, with a number on either side.
  auto both_tensors = [](const Operand& a, const Operand& x, const char* op) {
    const Tensor& t = tessera::py::tensor_of(a, x, op);
    return std::make_pair(operand(a, t), operand(x, t));
  };
  b.fn("remainder", [both_tensors](const Operand& a, const Operand& x) {
         auto [p, q] = both_tensors(a, x, "remainder");
         return ops::remainder(p, q);
       }, nb::arg("input"), nb::arg("other"));
  b.fn("floor_divide", [both_tensors](const Operand& a, const Operand& x) {
         auto [p, q] = both_tensors(a, x, "floor_divide");
         return ops::floor_divide(p, q);
       }, nb::arg("input"), nb::arg("other"));
  for (const char* name : {"remainder", "__mod__"})
    b.method(name, [](const Tensor& a, const Operand& x) { return ops::remainder(a, operand(x, a)); },
             nb::arg("other"), nb::is_operator());
  for (const char* name : {"floor_divide", "__floordiv__"})
    b.method(name, [](const Tensor& a, const Operand& x) { return ops::floor_divide(a, operand(x, a)); },
             nb::arg("other"), nb::is_operator());
  b.method("__rmod__", [](const Tensor& a, const Operand& x) { return ops::remainder(operand(x, a), a); },
           nb::arg("other"), nb::is_operator());
  b.method("__rfloordiv__", [](const Tensor& a, const Operand& x) { return ops::floor_divide(operand(x, a), a); },
           nb::arg("other"), nb::is_operator());
  b.def("lerp", [](const Tensor& a, const Tensor& end, const Operand& w) { return ops::lerp(a, end, operand(w, a)); },
        nb::arg("end"), nb::arg("weight"));
  b.def("outer", &ops::outer, nb::arg("vec2"));
  b.def("diag", &ops::diag, nb::arg("diagonal") = 0);
  b.def("trace", &ops::matrix_trace);
  // f(t1, t2, ...) or f([t1, t2, ...]), as torch's meshgrid and einsum take their tensors.
  auto tensors_arg = [](nb::args ts) {
    if (ts.size() == 1 && !nb::isinstance<Tensor>(ts[0])) return nb::cast<std::vector<Tensor>>(ts[0]);
    return nb::cast<std::vector<Tensor>>(ts);
  };
  m.def("meshgrid", [tensors_arg](nb::args ts, const std::string& indexing) {
         std::vector<Tensor> v = tensors_arg(ts);
         std::vector<Tensor> grids;
         {
           nb::gil_scoped_release r;
           grids = ops::meshgrid(v, indexing);
         }
         return nb::tuple(nb::cast(grids));
       }, nb::arg("tensors"), nb::kw_only(), nb::arg("indexing") = "ij", doc_for("meshgrid"));
  m.def("einsum", [tensors_arg](const std::string& eq, nb::args ts) {
         std::vector<Tensor> v = tensors_arg(ts);
         nb::gil_scoped_release r;
         return ops::einsum(eq, v);
       }, nb::arg("equation"), nb::arg("operands"), doc_for("einsum"));
  // In-place forms (under autograd they rewrite the history of the tensor, or of a view's base).
  using RI = nb::rv_policy;
  b.method("add_", [](Tensor& a, const Operand& x, Scalar alpha) -> Tensor& {
    Tensor o = operand(x, a);
    return a.add_(o, alpha);
  }, nb::arg("other"), nb::kw_only(), nb::arg("alpha") = 1, RI::reference_internal);
  b.method("sub_", [](Tensor& a, const Operand& x, Scalar alpha) -> Tensor& {
    Tensor o = operand(x, a);
    return a.sub_(o, alpha);
  }, nb::arg("other"), nb::kw_only(), nb::arg("alpha") = 1, RI::reference_internal);
  const std::pair<const char*, BinaryOp> inplace[] = {{"mul_", BinaryOp::Mul}, {"div_", BinaryOp::Div},
                                                       {"pow_", BinaryOp::Pow}, {"fmod_", BinaryOp::Fmod},
                                                       {"atan2_", BinaryOp::Atan2}};
  for (auto& [name, op] : inplace) {
    BinaryOp o = op;
    b.method(name, [o](Tensor& a, const Operand& x) -> Tensor& { return ops::binary_(o, a, operand(x, a)); },
             nb::arg("other"), RI::reference_internal);
  }
  b.method("clamp_", [](Tensor& t, std::optional<Scalar> lo, std::optional<Scalar> hi) -> Tensor& { return t.clamp_(lo, hi); },
           nb::arg("min") = nb::none(), nb::arg("max") = nb::none(), RI::reference_internal);
  b.method("masked_fill_", [](Tensor& t, const Tensor& mask, Scalar v) -> Tensor& { return t.masked_fill_(mask, v); },
           nb::arg("mask"), nb::arg("value"), RI::reference_internal);
  b.fn("fma", &ops::fma, nb::arg("a"), nb::arg("b"), nb::arg("c"));
  b.fn(
      "where",
      [](const Tensor& c, const Operand& x, const Operand& y) {
        const Tensor& like = tessera::py::tensor_of(x, y, "where");
        return ops::where(c, operand(x, like), operand(y, like));
      },
      nb::arg("condition"), nb::arg("input"), nb::arg("other"));
  b.def("equal", &ops::equal, nb::arg("other"));
  b.def("allclose", &ops::allclose, nb::arg("other"), nb::arg("rtol") = 1e-5, nb::arg("atol") = 1e-8,
        nb::arg("equal_nan") = false);
  b.def("isclose", &ops::isclose, nb::arg("other"), nb::arg("rtol") = 1e-5, nb::arg("atol") = 1e-8,
        nb::arg("equal_nan") = false);
  b.def("isnan", &ops::isnan).def("isinf", &ops::isinf).def("isfinite", &ops::isfinite).def("logical_not", &ops::logical_not);
  b.def("bitwise_not", &ops::bitwise_not);

  // --- unary ------------------------------------------------------------------------------------
  const std::pair<const char*, UnaryOp> unary[] = {{"abs", UnaryOp::Abs},      {"neg", UnaryOp::Neg},
                                                   {"exp", UnaryOp::Exp},      {"expm1", UnaryOp::Expm1},
                                                   {"log", UnaryOp::Log},      {"log1p", UnaryOp::Log1p},
                                                   {"sqrt", UnaryOp::Sqrt},    {"rsqrt", UnaryOp::Rsqrt},
                                                   {"sin", UnaryOp::Sin},      {"cos", UnaryOp::Cos},
                                                   {"tanh", UnaryOp::Tanh},    {"sigmoid", UnaryOp::Sigmoid},
                                                   {"relu", UnaryOp::Relu},    {"silu", UnaryOp::Silu},
                                                   {"erf", UnaryOp::Erf},      {"floor", UnaryOp::Floor},
                                                   {"ceil", UnaryOp::Ceil},    {"round", UnaryOp::Round},
                                                   {"sign", UnaryOp::Sign},    {"reciprocal", UnaryOp::Reciprocal},
                                                   {"square", UnaryOp::Square}};
  for (auto& [name, op] : unary) {
    UnaryOp o = op;
    b.def(name, [o](const Tensor& t) { return ops::unary(o, t); });
    b.method((std::string(name) + "_").c_str(), [o](Tensor& t) -> Tensor& { return ops::unary_(o, t); },
             nb::rv_policy::reference_internal);
  }
  b.def("gelu", &ops::gelu, nb::arg("approximate") = "none");
  b.def("softplus", &ops::softplus, nb::arg("beta") = 1.0, nb::arg("threshold") = 20.0);
  b.def("clamp", &ops::clamp, nb::arg("min") = nb::none(), nb::arg("max") = nb::none());
  b.def("clip", &ops::clamp, nb::arg("min") = nb::none(), nb::arg("max") = nb::none());

  // --- reductions -----------------------------------------------------------------------------
  b.def(
      "sum", [](const Tensor& t, OptDims d, bool k, std::optional<DType> dt) { return ops::sum(t, dims_of(d), k, dt); },
      nb::arg("dim") = nb::none(), nb::arg("keepdim") = false, nb::kw_only(), nb::arg("dtype") = nb::none());
  b.def(
      "mean", [](const Tensor& t, OptDims d, bool k) { return ops::mean(t, dims_of(d), k); },
      nb::arg("dim") = nb::none(), nb::arg("keepdim") = false);
  b.def(
      "prod", [](const Tensor& t, OptDims d, bool k) { return ops::prod(t, dims_of(d), k); },
      nb::arg("dim") = nb::none(), nb::arg("keepdim") = false);
  b.def(
      "amax", [](const Tensor& t, OptDims d, bool k) { return ops::amax(t, dims_of(d), k); },
      nb::arg("dim") = nb::none(), nb::arg("keepdim") = false);
  b.def(
      "amin", [](const Tensor& t, OptDims d, bool k) { return ops::amin(t, dims_of(d), k); },
      nb::arg("dim") = nb::none(), nb::arg("keepdim") = false);
  b.def(
      "all", [](const Tensor& t, OptDims d, bool k) { return ops::all(t, dims_of(d), k); }, nb::arg("dim") = nb::none(),
      nb::arg("keepdim") = false);
  b.def(
      "any", [](const Tensor& t, OptDims d, bool k) { return ops::any(t, dims_of(d), k); }, nb::arg("dim") = nb::none(),
      nb::arg("keepdim") = false);
  // torch.max(x), torch.max(x, dim) -> (values, indices), torch.max(x, other) elementwise; min alike.
  auto max_fn = [](const Tensor& t, std::optional<Operand> d, bool k) -> nb::object {
    if (!d) return nb::cast(ops::amax(t));
    if (auto* o = std::get_if<Tensor>(&*d)) return nb::cast(ops::maximum(t, *o));
    return pair_result(ops::max(t, std::get<Scalar>(*d).to_int(), k));
  };
  auto min_fn = [](const Tensor& t, std::optional<Operand> d, bool k) -> nb::object {
    if (!d) return nb::cast(ops::amin(t));
    if (auto* o = std::get_if<Tensor>(&*d)) return nb::cast(ops::minimum(t, *o));
    return pair_result(ops::min(t, std::get<Scalar>(*d).to_int(), k));
  };
  m.def("max", max_fn, nb::arg("input"), nb::arg("dim") = nb::none(), nb::arg("keepdim") = false, doc_for("max"));
  m.def("min", min_fn, nb::arg("input"), nb::arg("dim") = nb::none(), nb::arg("keepdim") = false, doc_for("min"));
  cls.def("max", max_fn, nb::arg("dim") = nb::none(), nb::arg("keepdim") = false, doc_for("max"));
  cls.def("min", min_fn, nb::arg("dim") = nb::none(), nb::arg("keepdim") = false, doc_for("min"));
  b.def("argmax", &ops::argmax, nb::arg("dim") = nb::none(), nb::arg("keepdim") = false);
  b.def("argmin", &ops::argmin, nb::arg("dim") = nb::none(), nb::arg("keepdim") = false);
  b.def(
      "var", [](const Tensor& t, OptDims d, int64_t c, bool k) { return ops::var(t, dims_of(d), c, k); },
      nb::arg("dim") = nb::none(), nb::kw_only(), nb::arg("correction") = 1, nb::arg("keepdim") = false);
  b.def(
      "std", [](const Tensor& t, OptDims d, int64_t c, bool k) { return ops::std(t, dims_of(d), c, k); },
      nb::arg("dim") = nb::none(), nb::kw_only(), nb::arg("correction") = 1, nb::arg("keepdim") = false);
  b.def(
      "norm",
      [](const Tensor& t, std::variant<double, std::string> p, OptDims d, bool k) {
        double pv = 2;
        if (auto* s = std::get_if<std::string>(&p)) {
          if (*s == "fro")
            pv = 2;
          else if (*s == "inf")
            pv = INFINITY;
          else
            throw ValueError("norm: unsupported p '" + *s + "' (a number, 'fro' or 'inf')");
        } else {
          pv = std::get<double>(p);
        }
        return ops::norm(t, pv, dims_of(d), k);
      },
      nb::arg("p") = 2.0, nb::arg("dim") = nb::none(), nb::arg("keepdim") = false);
  b.def(
      "logsumexp", [](const Tensor& t, OptDims d, bool k) { return ops::logsumexp(t, dims_of(d), k); }, nb::arg("dim"),
      nb::arg("keepdim") = false);
  b.def("cumsum", &ops::cumsum, nb::arg("dim"), nb::kw_only(), nb::arg("dtype") = nb::none());
  b.def("softmax", &ops::softmax, nb::arg("dim"));
  b.def("log_softmax", &ops::log_softmax, nb::arg("dim"));
  b.def(
      "sort", [](const Tensor& t, int64_t d, bool desc) { return ops::sort(t, d, desc); }, nb::arg("dim") = -1,
      nb::arg("descending") = false);
  b.def(
      "argsort", [](const Tensor& t, int64_t d, bool desc) { return ops::sort(t, d, desc).second; },
      nb::arg("dim") = -1, nb::arg("descending") = false);
  b.def(
      "topk", [](const Tensor& t, int64_t k, int64_t d, bool largest) { return ops::topk(t, k, d, largest); },
      nb::arg("k"), nb::arg("dim") = -1, nb::arg("largest") = true);

  // --- shape and movement ------------------------------------------------------------------------
  b.fn("cat", &ops::cat, nb::arg("tensors"), nb::arg("dim") = 0);
  b.fn("concat", &ops::cat, nb::arg("tensors"), nb::arg("dim") = 0);
  b.fn("stack", &ops::stack, nb::arg("tensors"), nb::arg("dim") = 0);
  b.def(
      "split",
      [](const Tensor& t, std::variant<int64_t, std::vector<int64_t>> s, int64_t d) {
        if (auto* n = std::get_if<int64_t>(&s)) return ops::split(t, *n, d);
        return ops::split(t, std::get<std::vector<int64_t>>(s), d);
      },
      nb::arg("split_size_or_sections"), nb::arg("dim") = 0);
  b.def("chunk", &ops::chunk, nb::arg("chunks"), nb::arg("dim") = 0);
  b.def("unbind", [](const Tensor& t, int64_t d) { return ops::unbind(t, d); }, nb::arg("dim") = 0);
  b.def(
      "flip",
      [](const Tensor& t, std::variant<int64_t, std::vector<int64_t>> d) { return ops::flip(t, dims_of(OptDims(d))); },
      nb::arg("dims"));
  b.def(
      "roll",
      [](const Tensor& t, std::variant<int64_t, std::vector<int64_t>> s,
         std::variant<int64_t, std::vector<int64_t>> d) {
        return ops::roll(t, dims_of(OptDims(s)), dims_of(OptDims(d)));
      },
      nb::arg("shifts"), nb::arg("dims"));
  cls.def(
      "repeat",
      [](const Tensor& t, nb::args r) {
        return ops::repeat(t, r.size() == 1 && !PyLong_Check(r[0].ptr()) ? nb::cast<Shape>(r[0]) : nb::cast<Shape>(r));
      },
      doc_for("repeat"));
  b.def("tril", &ops::tril, nb::arg("diagonal") = 0);
  b.def("triu", &ops::triu, nb::arg("diagonal") = 0);
  b.fn("pad", &ops::pad, nb::arg("input"), nb::arg("pad"), nb::arg("mode") = "constant", nb::arg("value") = 0.0);
  b.def("as_strided", &ops::as_strided, nb::arg("size"), nb::arg("stride"), nb::arg("storage_offset") = nb::none());

  // --- indexing ----------------------------------------------------------------------------------
  b.def("index_select", &ops::index_select, nb::arg("dim"), nb::arg("index"));
  b.def("gather", &ops::gather, nb::arg("dim"), nb::arg("index"));
  b.def("scatter", &ops::scatter, nb::arg("dim"), nb::arg("index"), nb::arg("src"));
  b.def("scatter_add", &ops::scatter_add, nb::arg("dim"), nb::arg("index"), nb::arg("src"));
  b.def("index_add", &ops::index_add, nb::arg("dim"), nb::arg("index"), nb::arg("source"));
  b.def("index_copy", &ops::index_copy, nb::arg("dim"), nb::arg("index"), nb::arg("source"));
  b.method("scatter_", &ops::scatter_, nb::arg("dim"), nb::arg("index"), nb::arg("src"),
           nb::rv_policy::reference_internal);
  b.method("scatter_add_", &ops::scatter_add_, nb::arg("dim"), nb::arg("index"), nb::arg("src"),
           nb::rv_policy::reference_internal);
  b.method("index_add_", &ops::index_add_, nb::arg("dim"), nb::arg("index"), nb::arg("source"),
           nb::rv_policy::reference_internal);
  b.method("index_copy_", &ops::index_copy_, nb::arg("dim"), nb::arg("index"), nb::arg("source"),
           nb::rv_policy::reference_internal);
  b.def("masked_fill", &ops::masked_fill, nb::arg("mask"), nb::arg("value"));
  b.def("masked_select", &ops::masked_select, nb::arg("mask"));
  b.def("nonzero", &ops::nonzero);

  // --- linear algebra and neural-network ops (tessera.* and tessera.nn.functional) -------------
  b.def("matmul", &ops::matmul, nb::arg("other"));
  b.def("mm", &ops::matmul, nb::arg("mat2"));
  b.def("bmm", &ops::matmul, nb::arg("mat2"));
  b.fn(
      "linear",
      [](const Tensor& x, const Tensor& w, std::optional<Tensor> bias) { return ops::linear(x, w, opt(bias)); },
      nb::arg("input"), nb::arg("weight"), nb::arg("bias") = nb::none());
  b.fn(
      "conv1d",
      [](const Tensor& x, const Tensor& w, std::optional<Tensor> bias, int64_t s, int64_t p, int64_t d, int64_t g) {
        return ops::conv1d(x, w, opt(bias), s, p, d, g);
      },
      nb::arg("input"), nb::arg("weight"), nb::arg("bias") = nb::none(), nb::arg("stride") = 1, nb::arg("padding") = 0,
      nb::arg("dilation") = 1, nb::arg("groups") = 1);
  b.fn(
      "conv2d",
      [](const Tensor& x, const Tensor& w, std::optional<Tensor> bias, IntPair s, IntPair p, IntPair d, int64_t g) {
        return ops::conv2d(x, w, opt(bias), conv_params(s, p, d, g));
      },
      nb::arg("input"), nb::arg("weight"), nb::arg("bias") = nb::none(), nb::arg("stride") = 1, nb::arg("padding") = 0,
      nb::arg("dilation") = 1, nb::arg("groups") = 1);
  b.fn(
      "conv_transpose2d",
      [](const Tensor& x, const Tensor& w, std::optional<Tensor> bias, IntPair s, IntPair p, IntPair op, int64_t g,
         IntPair d) { return ops::conv_transpose2d(x, w, opt(bias), conv_params(s, p, d, g), shape_of(op)); },
      nb::arg("input"), nb::arg("weight"), nb::arg("bias") = nb::none(), nb::arg("stride") = 1, nb::arg("padding") = 0,
      nb::arg("output_padding") = 0, nb::arg("groups") = 1, nb::arg("dilation") = 1);
  m.def(
      "max_pool2d",
      [](const Tensor& x, IntPair k, std::optional<IntPair> s, IntPair p, IntPair d, bool ceil,
         bool with_indices) -> nb::object {
        auto o = pool_options(k, s, p, d, ceil, true);
        if (with_indices) return pair_result(ops::max_pool2d_with_indices(x, o));
        return nb::cast(ops::max_pool2d(x, o));
      },
      doc_for("max_pool2d"), nb::arg("input"), nb::arg("kernel_size"), nb::arg("stride") = nb::none(),
      nb::arg("padding") = 0, nb::arg("dilation") = 1, nb::arg("ceil_mode") = false, nb::arg("return_indices") = false);
  b.fn(
      "avg_pool2d",
      [](const Tensor& x, IntPair k, std::optional<IntPair> s, IntPair p, bool ceil, bool include_pad) {
        return ops::avg_pool2d(x, pool_options(k, s, p, IntPair{1, 1}, ceil, include_pad));
      },
      nb::arg("input"), nb::arg("kernel_size"), nb::arg("stride") = nb::none(), nb::arg("padding") = 0,
      nb::arg("ceil_mode") = false, nb::arg("count_include_pad") = true);
  b.fn(
      "adaptive_avg_pool2d", [](const Tensor& x, IntPair s) { return ops::adaptive_avg_pool2d(x, shape_of(s)); },
      nb::arg("input"), nb::arg("output_size"));
  b.fn(
      "batch_norm",
      [](const Tensor& x, std::optional<Tensor> rm, std::optional<Tensor> rv, std::optional<Tensor> w,
         std::optional<Tensor> bias, bool training, double momentum,
         double eps) { return ops::batch_norm(x, opt(rm), opt(rv), opt(w), opt(bias), training, momentum, eps); },
      nb::arg("input"), nb::arg("running_mean").none(), nb::arg("running_var").none(), nb::arg("weight") = nb::none(),
      nb::arg("bias") = nb::none(), nb::arg("training") = false, nb::arg("momentum") = 0.1, nb::arg("eps") = 1e-5);
  b.fn(
      "layer_norm",
      [](const Tensor& x, const Shape& s, std::optional<Tensor> w, std::optional<Tensor> bias, double eps) {
        return ops::layer_norm(x, s, opt(w), opt(bias), eps);
      },
      nb::arg("input"), nb::arg("normalized_shape"), nb::arg("weight") = nb::none(), nb::arg("bias") = nb::none(),
      nb::arg("eps") = 1e-5);
  b.fn(
      "group_norm",
      [](const Tensor& x, int64_t g, std::optional<Tensor> w, std::optional<Tensor> bias, double eps) {
        return ops::group_norm(x, g, opt(w), opt(bias), eps);
      },
      nb::arg("input"), nb::arg("num_groups"), nb::arg("weight") = nb::none(), nb::arg("bias") = nb::none(),
      nb::arg("eps") = 1e-5);
  b.fn(
      "dropout", [](const Tensor& x, double p, bool training) { return ops::dropout(x, p, training); },
      nb::arg("input"), nb::arg("p") = 0.5, nb::arg("training") = true);
  b.fn(
      "feature_dropout", [](const Tensor& x, double p, bool training) { return ops::feature_dropout(x, p, training); },
      nb::arg("input"), nb::arg("p") = 0.5, nb::arg("training") = true);
  b.fn(
      "dropout1d", [](const Tensor& x, double p, bool training) { return ops::dropout1d(x, p, training); },
      nb::arg("input"), nb::arg("p") = 0.5, nb::arg("training") = true);
  b.fn(
      "dropout2d", [](const Tensor& x, double p, bool training) { return ops::dropout2d(x, p, training); },
      nb::arg("input"), nb::arg("p") = 0.5, nb::arg("training") = true);
  b.fn(
      "dropout3d", [](const Tensor& x, double p, bool training) { return ops::dropout3d(x, p, training); },
      nb::arg("input"), nb::arg("p") = 0.5, nb::arg("training") = true);
  b.fn("embedding", &ops::embedding, nb::arg("input"), nb::arg("weight"));
  b.fn(
      "scaled_dot_product_attention",
      [](const Tensor& q, const Tensor& k, const Tensor& v, std::optional<Tensor> mask, double p, bool causal,
         std::optional<double> scale) {
        return ops::scaled_dot_product_attention(q, k, v, mask.value_or(Tensor()), p, causal, scale);
      },
      nb::arg("query"), nb::arg("key"), nb::arg("value"), nb::arg("attn_mask") = nb::none(), nb::arg("dropout_p") = 0.0,
      nb::arg("is_causal") = false, nb::kw_only(), nb::arg("scale") = nb::none());
  b.fn("one_hot", &ops::one_hot, nb::arg("input"), nb::arg("num_classes") = -1);

  // --- losses ------------------------------------------------------------------------------------
  namespace F = nn::functional;
  b.fn(
      "cross_entropy",
      [](const Tensor& x, const Tensor& t, std::optional<Tensor> w, int64_t ignore, const std::string& red,
         double smoothing) {
        return F::cross_entropy(
            x, t, {.weight = opt(w), .ignore_index = ignore, .reduction = red, .label_smoothing = smoothing});
      },
      nb::arg("input"), nb::arg("target"), nb::arg("weight") = nb::none(), nb::arg("ignore_index") = -100,
      nb::arg("reduction") = "mean", nb::arg("label_smoothing") = 0.0);
  b.fn(
      "nll_loss",
      [](const Tensor& x, const Tensor& t, std::optional<Tensor> w, int64_t ignore, const std::string& red) {
        return F::nll_loss(x, t, opt(w), ignore, red);
      },
      nb::arg("input"), nb::arg("target"), nb::arg("weight") = nb::none(), nb::arg("ignore_index") = -100,
      nb::arg("reduction") = "mean");
  b.fn("mse_loss", &F::mse_loss, nb::arg("input"), nb::arg("target"), nb::arg("reduction") = "mean");
  b.fn("l1_loss", &F::l1_loss, nb::arg("input"), nb::arg("target"), nb::arg("reduction") = "mean");
  b.fn("smooth_l1_loss", &F::smooth_l1_loss, nb::arg("input"), nb::arg("target"), nb::arg("reduction") = "mean",
       nb::arg("beta") = 1.0);
  b.fn(
      "binary_cross_entropy",
      [](const Tensor& x, const Tensor& t, std::optional<Tensor> w, const std::string& red) {
        return F::binary_cross_entropy(x, t, opt(w), red);
      },
      nb::arg("input"), nb::arg("target"), nb::arg("weight") = nb::none(), nb::arg("reduction") = "mean");
  b.fn(
      "binary_cross_entropy_with_logits",
      [](const Tensor& x, const Tensor& t, std::optional<Tensor> w, const std::string& red, std::optional<Tensor> pw) {
        return F::binary_cross_entropy_with_logits(x, t, opt(w), opt(pw), red);
      },
      nb::arg("input"), nb::arg("target"), nb::arg("weight") = nb::none(), nb::arg("reduction") = "mean",
      nb::arg("pos_weight") = nb::none());
  b.fn("kl_div", &F::kl_div, nb::arg("input"), nb::arg("target"), nb::arg("reduction") = "mean",
       nb::arg("log_target") = false);
}
