// Elementwise ops: promotion, broadcasting and dispatch to Backend::unary/binary/where.
#include <cmath>
#include <optional>

#include "tessera/autograd/autograd.h"
#include "tessera/ops/autocast.h"
#include "tessera/ops/ops.h"
#include "tessera/ops/trace.h"

namespace tessera::ops {

using autograd::needs_grad;
using autograd::record_fn;
using G = std::vector<Tensor>;

namespace {
int category(DType t) { return t == DType::Bool ? 0 : is_integral(t) ? 1 : 2; }

// The device an elementwise op runs on: its operands' common device, where (as in PyTorch) a
// 0-d CPU tensor acts as a scalar next to tensors of any device.
Device common_device(const char* op, std::initializer_list<const Tensor*> ts) {
  std::optional<Device> dev;
  for (const Tensor* t : ts) {
    if (t->dim() == 0 && t->device().is_cpu()) continue;
    TS_CHECK_DEVICE(!dev || *dev == t->device(), op, ": expected all tensors on the same device, got ", *dev, " and ",
                    t->device());
    dev = t->device();
  }
  return dev.value_or(Device::cpu());
}

bool is_float_op(UnaryOp op) {
  switch (op) {
    case UnaryOp::Abs: case UnaryOp::Neg: case UnaryOp::Relu: case UnaryOp::Sign: case UnaryOp::Square:
    case UnaryOp::Floor: case UnaryOp::Ceil: case UnaryOp::Round: case UnaryOp::LogicalNot:
    case UnaryOp::BitwiseNot:
      return false;
    default:
      return true;
  }
}
bool is_predicate(BinaryOp op) { return produces_bool(op); }
}  // namespace

DType result_type(const Tensor& a, const Tensor& b) {
  bool za = a.dim() == 0, zb = b.dim() == 0;
  if (za == zb) return promote_types(a.dtype(), b.dtype());
  const Tensor& d = za ? b : a;
  const Tensor& z = za ? a : b;
  return category(z.dtype()) > category(d.dtype()) ? z.dtype() : d.dtype();
}

DType result_type(const Tensor& a, const Scalar& b) {
  int cs = b.is_floating() ? 2 : b.is_integral() ? 1 : 0;
  if (cs <= category(a.dtype())) return a.dtype();
  return cs == 2 ? DType::Float32 : DType::Int64;
}

namespace {
// The backward rules of the unary ops, written with ops so that they differentiate again.
void record_unary(UnaryOp op, const Tensor& x, const Tensor& out) {
  const char* name = op_name(op);
  auto with_x = [&](auto f) { record_fn(name, {&x}, {&out}, {x}, [f](const G& g, const G& s) { return G{f(g[0], s[0])}; }); };
  auto with_out = [&](auto f) {
    record_fn(name, {&x}, {&out}, {}, [f](const G& g, const G& s) { return G{f(g[0], s[0])}; }, {out});
  };
  auto zero = [&] { record_fn(name, {&x}, {&out}, {}, [](const G& g, const G&) { return G{zeros_like(g[0])}; }); };
  switch (op) {
    case UnaryOp::Abs: return with_x([](const Tensor& g, const Tensor& x) { return g * sign(x); });
    case UnaryOp::Neg: return record_fn(name, {&x}, {&out}, {}, [](const G& g, const G&) { return G{-g[0]}; });
    case UnaryOp::Exp: return with_out([](const Tensor& g, const Tensor& y) { return g * y; });
    case UnaryOp::Expm1: return with_out([](const Tensor& g, const Tensor& y) { return g * (y + 1); });
    case UnaryOp::Log: return with_x([](const Tensor& g, const Tensor& x) { return g / x; });
    case UnaryOp::Log1p: return with_x([](const Tensor& g, const Tensor& x) { return g / (x + 1); });
    case UnaryOp::Sqrt: return with_out([](const Tensor& g, const Tensor& y) { return g / (y * 2); });
    case UnaryOp::Rsqrt: return with_out([](const Tensor& g, const Tensor& y) { return g * (y * y * y) * -0.5; });
    case UnaryOp::Sin: return with_x([](const Tensor& g, const Tensor& x) { return g * cos(x); });
    case UnaryOp::Cos: return with_x([](const Tensor& g, const Tensor& x) { return -(g * sin(x)); });
    case UnaryOp::Tanh: return with_out([](const Tensor& g, const Tensor& y) { return g * (1.0 - y * y); });
    case UnaryOp::Sigmoid: return with_out([](const Tensor& g, const Tensor& y) { return g * y * (1.0 - y); });
    case UnaryOp::Relu: return with_out([](const Tensor& g, const Tensor& y) { return where(y > 0, g, 0); });  // as PyTorch: 0 where y <= 0, even for g NaN
    case UnaryOp::GeluErf:
      return with_x([](const Tensor& g, const Tensor& x) {
        Tensor cdf = (erf(x * M_SQRT1_2) + 1) * 0.5, pdf = exp(square(x) * -0.5) * 0.3989422804014327;
        return g * (cdf + x * pdf);
      });
    case UnaryOp::GeluTanh:
      return with_x([](const Tensor& g, const Tensor& x) {
        constexpr double k = 0.7978845608028654, c = 0.044715;
        Tensor t = tanh((x + x * x * x * c) * k);
        return g * ((t + 1) * 0.5 + x * (1.0 - t * t) * (x * x * (3 * c) + 1) * (0.5 * k));
      });
    case UnaryOp::Silu:
      return with_x([](const Tensor& g, const Tensor& x) {
        Tensor s = sigmoid(x);
        return g * s * (x * (1.0 - s) + 1);
      });
    case UnaryOp::Erf:
      return with_x([](const Tensor& g, const Tensor& x) { return g * exp(-square(x)) * 1.1283791670955126; });
    case UnaryOp::Reciprocal: return with_out([](const Tensor& g, const Tensor& y) { return -(g * y * y); });
    case UnaryOp::Square: return with_x([](const Tensor& g, const Tensor& x) { return g * x * 2; });
    case UnaryOp::Floor:
    case UnaryOp::Ceil:
    case UnaryOp::Round:
    case UnaryOp::Sign: return zero();
    case UnaryOp::LogicalNot:
    case UnaryOp::BitwiseNot:
    case UnaryOp::Count: return;
  }
}
}  // namespace

namespace {
void check_result(const Tensor& r, const Tensor& t, const char* op) {
  TS_CHECK_SHAPE(r.shape() == t.shape(), op, ": output with shape ", t.shape(), " doesn't match the broadcast shape ",
                 r.shape());
  TS_CHECK_DTYPE(r.dtype() == t.dtype() || category(r.dtype()) <= category(t.dtype()), op, ": result type ",
                 r.dtype(), " can't be cast to the desired output type ", t.dtype());
}

// Writes r's values into t and gives t r's history.
void take_history(Tensor& t, const Tensor& r) {
  backend_for(t.device()).copy(t, r);
  t.bump_version();
  auto& m = t.impl().autograd;
  if (!m) m = std::make_shared<AutogradMeta>();
  m->requires_grad = r.requires_grad();
  m->grad_fn = r.grad_fn();
  m->output_nr = r.impl().autograd ? r.impl().autograd->output_nr : 0;
}

// An in-place op on a view: the base's new value is "the old base with the view's region replaced
// by outplace(region)", recorded out of place (PyTorch's CopySlices), so gradients reach the base's
// history and the op's other inputs; the view then reads its region of the new base.
Tensor& rebind_view_inplace(Tensor& v, const Tensor& base, const char* op,
                            const std::function<Tensor(const Tensor&)>& outplace) {
  TS_CHECK(base.is_contiguous(), op, ": in-place operation on a view whose base is not contiguous, while autograd "
           "records; clone() the base first");
  for (int64_t d = 0; d < v.dim(); ++d)
    TS_CHECK(v.stride(d) != 0 || v.size(d) <= 1, op, ": in-place operation on an expanded view (several elements "
             "share one memory location) while autograd records; clone() it first");
  Shape shape = v.shape(), strides = v.strides();
  int64_t rel = v.storage_offset() - base.storage_offset();
  auto region_of = [shape, strides, rel](const Tensor& z) {
    return Tensor(z.storage(), shape, strides, z.storage_offset() + rel, z.dtype());
  };
  Tensor old_base = base.clone();
  Tensor region = region_of(old_base);
  if (old_base.requires_grad()) {
    Shape base_shape = base.shape();
    autograd::record_fn("view_of_base", {&old_base}, {&region}, {}, [region_of, base_shape](const G& g, const G&) {
      return G{embed_in_zeros(g[0], base_shape, region_of)};
    });
  }
  Tensor r = outplace(region);
  check_result(r, v, op);
  Tensor mask;
  {
    autograd::NoGradGuard ng;
    mask = zeros(base.shape(), {DType::Bool, base.device()});
    backend_for(base.device()).fill(region_of(mask), Scalar(true));
  }
  Tensor new_base = where(mask, embed_in_zeros(r.to(base.dtype()), base.shape(), region_of), old_base);
  Tensor b = base;
  take_history(b, new_base);
  autograd::refresh_view(v);  // v is now its region of the new base
  return v;
}
}  // namespace

Tensor& rebind_inplace(Tensor& t, const char* op, const std::function<Tensor(const Tensor&)>& outplace) {
  autograd::check_inplace(t, op);
  t.requires_grad();  // brings a view up to date with its base first
  Tensor base = autograd::view_base(t);
  if (base.defined()) return rebind_view_inplace(t, base, op, outplace);
  Tensor old = t.clone();  // the pre-update value, connected to t's history by clone's node
  Tensor r = outplace(old);
  check_result(r, t, op);
  take_history(t, r);
  return t;
}

Tensor unary(UnaryOp op, const Tensor& x) {
  trace::Scope ts;
  TS_CHECK_DTYPE(x.dtype() != DType::Bool || op == UnaryOp::LogicalNot || op == UnaryOp::Abs ||
                     op == UnaryOp::BitwiseNot,
                 op_name(op), ": not defined for bool tensors");
  TS_CHECK_DTYPE(op != UnaryOp::BitwiseNot || !x.is_floating_point(), "bitwise_not: defined for integer and bool ",
                 "tensors, got ", x.dtype());
  Tensor in = is_float_op(op) && !x.is_floating_point() ? x.to(DType::Float32) : x;
  Tensor out = empty(x.shape(), {op == UnaryOp::LogicalNot ? DType::Bool : in.dtype(), x.device()},
                     x.suggest_memory_format());
  if (x.dtype() == DType::Bool && op == UnaryOp::Abs) {
    out.copy_(x);
    if (ts.recording()) ts.record(op_name(op), {x}, {out});
    return out;
  }
  backend_for(x.device()).unary(op, out, in);
  if (out.is_floating_point() && needs_grad({&x})) record_unary(op, x, out);
  if (ts.recording()) ts.record(op_name(op), {x}, {out});
  return out;
}

Tensor& unary_(UnaryOp op, Tensor& x) {
  trace::Scope ts;
  if (ts.recording()) {  // in place: the traced op's output is x itself, holding its new value
    unary_(op, x);
    if (ts.recording()) ts.record(op_name(op), {x}, {x});
    return x;
  }
  if (needs_grad({&x})) return rebind_inplace(x, op_name(op), [&](const Tensor& old) { return unary(op, old); });
  TS_CHECK_DTYPE(!is_float_op(op) || x.is_floating_point(), op_name(op), "_: result type Float can't be cast to ",
                 x.dtype(), " in place");
  TS_CHECK_DTYPE(op != UnaryOp::LogicalNot, "logical_not_: not supported in place");
  backend_for(x.device()).unary(op, x, x);
  x.bump_version();
  return x;
}

#define TS_UNARY(name, OP) \
  Tensor name(const Tensor& x) { return unary(UnaryOp::OP, x); }
// The ones autocast runs in float32 on CUDA (see autocast.h).
#define TS_UNARY_FP32(name, OP)                 \
  Tensor name(const Tensor& x) {                \
    autocast::Operands ac(#name, {&x});         \
    return unary(UnaryOp::OP, ac[0]);           \
  }
TS_UNARY(abs, Abs) TS_UNARY(neg, Neg) TS_UNARY_FP32(exp, Exp) TS_UNARY_FP32(expm1, Expm1) TS_UNARY_FP32(log, Log)
TS_UNARY_FP32(log1p, Log1p) TS_UNARY(sqrt, Sqrt) TS_UNARY_FP32(rsqrt, Rsqrt) TS_UNARY(sin, Sin) TS_UNARY(cos, Cos)
TS_UNARY(tanh, Tanh) TS_UNARY(sigmoid, Sigmoid) TS_UNARY(relu, Relu) TS_UNARY(silu, Silu) TS_UNARY(erf, Erf)
TS_UNARY(floor, Floor) TS_UNARY(ceil, Ceil) TS_UNARY(round, Round) TS_UNARY(sign, Sign)
TS_UNARY_FP32(reciprocal, Reciprocal) TS_UNARY(square, Square) TS_UNARY(logical_not, LogicalNot)
TS_UNARY(bitwise_not, BitwiseNot)
#undef TS_UNARY
#undef TS_UNARY_FP32

Tensor gelu(const Tensor& x, const std::string& approximate) {
  TS_CHECK_VALUE(approximate == "none" || approximate == "tanh", "gelu: approximate must be 'none' or 'tanh', got '",
                 approximate, "'");
  return unary(approximate == "none" ? UnaryOp::GeluErf : UnaryOp::GeluTanh, x);
}

Tensor softplus(const Tensor& x_, double beta, double threshold) {
  autocast::Operands ac("softplus", {&x_});
  const Tensor& x = ac[0];
  TS_CHECK_VALUE(beta != 0, "softplus: beta must be nonzero");
  Tensor bx = x * beta;
  // Above the threshold softplus is linear (and exp would overflow).
  return where(bx > threshold, x, log1p(exp(bx)) / beta);
}

Tensor clamp(const Tensor& x, std::optional<Scalar> min, std::optional<Scalar> max) {
  trace::Scope ts;
  TS_CHECK_VALUE(min || max, "clamp: at least one of min and max must be given");
  TS_CHECK_DTYPE(x.dtype() != DType::Bool, "clamp: not defined for bool tensors");
  DType dt = x.dtype();
  if (min) dt = promote_types(dt, result_type(x, *min));
  if (max) dt = promote_types(dt, result_type(x, *max));
  Tensor out = empty(x.shape(), {dt, x.device()}, x.suggest_memory_format());
  {
    autograd::NoGradGuard ng;  // the converted input is kernel scratch
    backend_for(x.device()).clamp(out, x.to(dt), min, max);
  }
  if (out.is_floating_point() && needs_grad({&x})) {
    // The gradient passes where x is inside [min, max] (bounds included, as in PyTorch).
    record_fn("clamp", {&x}, {&out}, {x}, [min, max](const G& g, const G& s) {
      Tensor pass = ones(s[0].shape(), {DType::Bool, s[0].device()});
      if (min) pass = pass && (s[0] >= *min);
      if (max) pass = pass && (s[0] <= *max);
      return G{g[0] * pass.to(g[0].dtype())};
    });
  }
  if (ts.recording()) {
    std::vector<std::pair<std::string, trace::AttrValue>> bounds;
    if (min) bounds.emplace_back("min", min->to_double());
    if (max) bounds.emplace_back("max", max->to_double());
    if (ts.recording()) ts.record("clamp", {x}, {out}, std::move(bounds));
  }
  return out;
}

namespace {
// Prepares the operands of a binary op: broadcast shape, compute dtype, converted inputs.
struct BinaryArgs {
  Shape shape;
  DType compute, out;
  Device device;
  Tensor a, b;
};
// The converted, broadcast operands are scratch for the kernel: no autograd nodes for them (the
// op records its own node on the original inputs).
BinaryArgs prepare(BinaryOp op, const Tensor& a, const Tensor& b, DType promoted) {
  autograd::NoGradGuard ng;
  const char* name = op_name(op);
  BinaryArgs r;
  r.device = common_device(name, {&a, &b});
  r.shape = broadcast_shapes(a.shape(), b.shape(), name);
  r.compute = promoted;
  if ((op == BinaryOp::Div || op == BinaryOp::Atan2) && !is_floating(promoted)) r.compute = DType::Float32;
  if (op == BinaryOp::Pow && promoted == DType::Bool) r.compute = DType::Int64;
  r.out = is_predicate(op) ? DType::Bool : r.compute;
  if (op >= BinaryOp::LogicalAnd && r.compute == DType::Bool) r.compute = DType::Bool;
  r.a = a.to(r.compute).to(r.device).expand(r.shape);
  r.b = b.to(r.compute).to(r.device).expand(r.shape);
  if (op == BinaryOp::Fmod && is_integral(r.compute))
    TS_CHECK_VALUE(!any(eq(r.b, zeros({}, {r.compute, r.device}))).item<bool>(), "fmod: integer division by zero");
  return r;
}
}  // namespace

namespace {
// The backward rules of the binary ops. Gradients come back in the broadcast shape and the
// compute dtype; the engine sums them to each input's shape and casts them to its dtype.
void record_binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  const char* name = op_name(op);
  // Saves the inputs (and the output when asked): only rules that need them save anything, so an
  // in-place update of an input does not invalidate add or sub.
  auto rule = [&](auto f, bool save_out = false) {
    record_fn(name, {&a, &b}, {&out}, {a, b},
              [f](const G& g, const G& s) { return f(g[0], s[0], s[1], s.size() > 2 ? s[2] : Tensor()); },
              save_out ? std::vector<Tensor>{out} : std::vector<Tensor>{});
  };
  switch (op) {
    case BinaryOp::Add: return record_fn(name, {&a, &b}, {&out}, {}, [](const G& g, const G&) { return G{g[0], g[0]}; });
    case BinaryOp::Sub:
      return record_fn(name, {&a, &b}, {&out}, {}, [](const G& g, const G&) { return G{g[0], -g[0]}; });
    case BinaryOp::Mul:
      return rule([](const Tensor& g, const Tensor& x, const Tensor& y, const Tensor&) { return G{g * y, g * x}; });
    case BinaryOp::Div:
      return rule([](const Tensor& g, const Tensor& x, const Tensor& y, const Tensor&) {
        Tensor gx = g / y;
        return G{gx, -(gx * x / y)};
      });
    case BinaryOp::Pow:
      return rule([](const Tensor& g, const Tensor& x, const Tensor& y, const Tensor& out) {
        Tensor gx = g * y * pow(x, y - 1.0);
        // d/dy x^y = x^y log x; defined as 0 where x == 0 (as PyTorch does).
        Tensor gy = where(x == 0.0, zeros_like(out), g * out * log(x));
        return G{gx, gy};
      }, true);
    case BinaryOp::Maximum:
    case BinaryOp::Minimum: {
      bool is_max = op == BinaryOp::Maximum;
      return rule([is_max](const Tensor& g, const Tensor& x, const Tensor& y, const Tensor&) {
        Tensor wins = is_max ? x > y : x < y, tie = x == y;
        Tensor gx = where(wins, g, where(tie, g * 0.5, zeros_like(g)));
        return G{gx, g - gx};
      });
    }
    case BinaryOp::Atan2:
      return rule([](const Tensor& g, const Tensor& y, const Tensor& x, const Tensor&) {
        Tensor d = g / (square(x) + square(y));
        return G{d * x, -(d * y)};
      });
    case BinaryOp::Fmod:
      return rule([](const Tensor& g, const Tensor& x, const Tensor& y, const Tensor&) {
        Tensor q = x / y;
        Tensor trunc = sign(q) * floor(abs(q));
        return G{g, -(g * trunc)};
      });
    default: return;  // comparisons and logical ops have bool results
  }
}
}  // namespace

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  trace::Scope ts;
  BinaryArgs r = prepare(op, a, b, result_type(a, b));
  Tensor out = empty(r.shape, {r.out, r.device}, result_format(r.shape, {&a, &b}));
  backend_for(r.device).binary(op, out, r.a, r.b);
  if (!is_predicate(op) && needs_grad({&a, &b})) record_binary(op, a, b, out);
  if (ts.recording()) ts.record(op_name(op), {a, b}, {out});
  return out;
}

Tensor binary(BinaryOp op, const Tensor& a, Scalar b) {
  trace::Scope ts;
  DType dt = result_type(a, b);
  Tensor bt = scalar_tensor(b, dt, a.device());
  Tensor out = binary(op, a, bt);
  if (ts.recording()) ts.record(op_name(op), {a, bt}, {out}, {}, {false, true});
  return out;
}

Tensor& binary_(BinaryOp op, Tensor& a, const Tensor& b) {
  const char* name = op_name(op);
  trace::Scope ts;
  if (ts.recording()) {
    // In place: the traced op's output is a itself, holding its new value. b is read first.
    Tensor before = b;
    binary_(op, a, b);
    if (ts.recording()) ts.record(name, {a, before}, {a});
    return a;
  }
  if (needs_grad({&a, &b})) return rebind_inplace(a, name, [&](const Tensor& old) { return binary(op, old, b); });
  DType rt = result_type(a, b);
  TS_CHECK_DTYPE(!is_predicate(op), name, "_: comparison results are bool and cannot be written in place");
  BinaryArgs r = prepare(op, a, b, rt);
  TS_CHECK_DEVICE(r.device == a.device(), name, "_: expected all tensors on the same device, got ", a.device(),
                  " and ", r.device);
  TS_CHECK_DTYPE(category(r.out) <= category(a.dtype()), name, "_: result type ", r.out,
                 " can't be cast to the desired output type ", a.dtype());
  TS_CHECK_SHAPE(r.shape == a.shape(), name, "_: output with shape ", a.shape(),
                 " doesn't match the broadcast shape ", r.shape);
  if (r.out == a.dtype()) {
    backend_for(a.device()).binary(op, a, r.a, r.b);
  } else {
    Tensor tmp = empty(r.shape, {r.out, a.device()});
    backend_for(a.device()).binary(op, tmp, r.a, r.b);
    backend_for(a.device()).copy(a, tmp);
  }
  a.bump_version();
  return a;
}

Tensor add(const Tensor& a, const Tensor& b, Scalar alpha) {
  if (alpha.to_double() == 1 && !alpha.is_floating()) return binary(BinaryOp::Add, a, b);
  return binary(BinaryOp::Add, a, binary(BinaryOp::Mul, b, alpha));
}
Tensor sub(const Tensor& a, const Tensor& b, Scalar alpha) {
  if (alpha.to_double() == 1 && !alpha.is_floating()) return binary(BinaryOp::Sub, a, b);
  return binary(BinaryOp::Sub, a, binary(BinaryOp::Mul, b, alpha));
}
#define TS_BINARY(name, OP) \
  Tensor name(const Tensor& a, const Tensor& b) { return binary(BinaryOp::OP, a, b); }
TS_BINARY(mul, Mul) TS_BINARY(div, Div) TS_BINARY(maximum, Maximum) TS_BINARY(minimum, Minimum)
TS_BINARY(atan2, Atan2) TS_BINARY(fmod, Fmod) TS_BINARY(eq, Eq) TS_BINARY(ne, Ne) TS_BINARY(lt, Lt) TS_BINARY(le, Le)
TS_BINARY(gt, Gt) TS_BINARY(ge, Ge) TS_BINARY(logical_and, LogicalAnd) TS_BINARY(logical_or, LogicalOr)
TS_BINARY(logical_xor, LogicalXor)
#undef TS_BINARY
// Integer and bool operands only (the kernels refuse floating types, naming the op).
#define TS_BITWISE(name, OP)                                                                                     \
  Tensor name(const Tensor& a, const Tensor& b) {                                                                \
    TS_CHECK_DTYPE(!a.is_floating_point() && !b.is_floating_point(), #name,                                     \
                   ": defined for integer and bool tensors, got ", a.dtype(), " and ", b.dtype());              \
    return binary(BinaryOp::OP, a, b);                                                                           \
  }
TS_BITWISE(bitwise_and, BitwiseAnd) TS_BITWISE(bitwise_or, BitwiseOr) TS_BITWISE(bitwise_xor, BitwiseXor)
#undef TS_BITWISE
Tensor pow(const Tensor& a_, const Tensor& b_) {
  autocast::Operands ac("pow", {&a_, &b_});
  return binary(BinaryOp::Pow, ac[0], ac[1]);
}
Tensor pow(const Tensor& a_, Scalar b) {
  autocast::Operands ac("pow", {&a_});
  const Tensor& a = ac[0];
  if (b.is_floating() && b.to_double() == 2.0 && a.is_floating_point()) return square(a);
  return binary(BinaryOp::Pow, a, b);
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  trace::Scope ts;
  TS_CHECK_DTYPE(cond.dtype() == DType::Bool, "where: expected condition to be a bool tensor, got ", cond.dtype());
  Device dev = common_device("where", {&cond, &a, &b});
  Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  DType dt = result_type(a, b);
  Tensor out = empty(shape, {dt, dev}, result_format(shape, {&a, &b, &cond}));
  {
    autograd::NoGradGuard ng;  // the broadcast operands are kernel scratch
    backend_for(dev).where(out, cond.to(dev).expand(shape), a.to(dt).to(dev).expand(shape),
                           b.to(dt).to(dev).expand(shape));
  }
  if (needs_grad({&a, &b}))
    record_fn("where", {&a, &b}, {&out}, {cond}, [](const G& g, const G& s) {
      Tensor z = zeros({}, {g[0].dtype(), g[0].device()});
      return G{where(s[0], g[0], z), where(s[0], z, g[0])};
    });
  if (ts.recording()) ts.record("where", {cond, a, b}, {out});
  return out;
}
Tensor where(const Tensor& cond, const Tensor& a, Scalar b) {
  trace::Scope ts;
  Tensor bt = scalar_tensor(b, result_type(a, b), a.device()), out = where(cond, a, bt);
  if (ts.recording()) ts.record("where", {cond, a, bt}, {out}, {}, {false, false, true});
  return out;
}
Tensor where(const Tensor& cond, Scalar a, const Tensor& b) {
  trace::Scope ts;
  Tensor at = scalar_tensor(a, result_type(b, a), b.device()), out = where(cond, at, b);
  if (ts.recording()) ts.record("where", {cond, at, b}, {out}, {}, {false, true, false});
  return out;
}

Tensor isnan(const Tensor& x) { return ne(x, x); }

Tensor isclose(const Tensor& a, const Tensor& b, double rtol, double atol, bool equal_nan) {
  DType dt = promote_types(promote_types(a.dtype(), b.dtype()), DType::Float32);
  Tensor x = a.to(dt), y = b.to(dt);
  Tensor close = le(abs(x - y), abs(y) * rtol + atol) || eq(x, y);  // eq covers equal infinities
  if (equal_nan) close = close || (isnan(x) && isnan(y));
  return close;
}
bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol, bool equal_nan) {
  return all(isclose(a, b, rtol, atol, equal_nan)).item<bool>();
}
bool equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  return all(eq(a, b)).item<bool>();
}

}  // namespace tessera::ops

namespace tessera::ops {
Tensor isinf(const Tensor& x) {
  if (!x.is_floating_point()) return zeros(x.shape(), {DType::Bool, x.device()});
  return eq(abs(x), scalar_tensor(INFINITY, x.dtype(), x.device()));
}
Tensor isfinite(const Tensor& x) {
  if (!x.is_floating_point()) return ones(x.shape(), {DType::Bool, x.device()});
  return lt(abs(x), scalar_tensor(INFINITY, x.dtype(), x.device()));  // false for NaN too
}
}  // namespace tessera::ops
