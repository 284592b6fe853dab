// The conformance suite: every Backend op on every available device, against the plain
// reference loops of reference.cpp. Inputs are random and fresh each run (the seed is printed
// on failure).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "../devices.h"
#include "reference.h"

using namespace tessera;
namespace R = tessera::ref;

namespace {

uint64_t fresh_seed() {
  static uint64_t s = std::random_device{}();
  return s++;
}

// Compares got with want elementwise; NaN must match NaN.
void expect_close(const Tensor& got, const R::Array& want, double rtol, double atol, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape) << what;
  std::vector<double> g = got.to_vector();
  int bad = 0;
  for (size_t i = 0; i < g.size() && bad < 5; ++i) {
    double w = want.v[i];
    bool ok = (std::isnan(w) && std::isnan(g[i])) || g[i] == w || std::fabs(g[i] - w) <= atol + rtol * std::fabs(w);
    if (!ok) {
      ++bad;
      ADD_FAILURE() << what << ": element " << i << " got " << g[i] << " want " << w;
    }
  }
}

class Conformance : public ::testing::TestWithParam<Device> {
 protected:
  void SetUp() override {
    TS_SKIP_IF_UNAVAILABLE(dev());
    seed_ = fresh_seed();
    gen_.manual_seed(seed_);
  }
  Device dev() const { return GetParam(); }
  Tensor on(const Tensor& t) const { return t.to(dev()); }
  // Uniform in [lo, hi) on the test device.
  Tensor uniform(const Shape& s, DType dt = DType::Float64, double lo = -2, double hi = 2) {
    return (rand(s, {DType::Float64}, &gen_) * (hi - lo) + lo).to(dt).to(dev());
  }
  Tensor ints(const Shape& s, DType dt, int64_t lo, int64_t hi) { return randint(lo, hi, s, {dt}, &gen_).to(dev()); }
  // The same values as t, laid out transposed in memory (a non-contiguous view).
  static Tensor strided(const Tensor& t) {
    if (t.dim() < 2) return t.unsqueeze(1).expand({t.size(0), 2}).select(1, 1);
    return t.transpose(0, 1).contiguous().transpose(0, 1);
  }
  std::string trace() const { return "seed " + std::to_string(seed_) + " on " + dev().str(); }
  uint64_t seed_ = 0;
  Generator gen_;
};

TEST_P(Conformance, CopyConvertsBetweenAllDtypes) {
  SCOPED_TRACE(trace());
  Tensor src = ints({3, 4}, DType::Int64, 0, 100);
  R::Array want = R::of(src);
  for (int a = 0; a < kNumDTypes; ++a)
    for (int b = 0; b < kNumDTypes; ++b) {
      DType da = DType(a), db = DType(b);
      if (da == DType::Bool || db == DType::Bool) continue;
      Tensor x = strided(src.to(da));
      Tensor y = empty(x.shape(), {db, dev()});
      backend_for(dev()).copy(y, x);
      expect_close(y, want, 0, 0, std::string(dtype_name(da)) + "->" + std::string(dtype_name(db)));
    }
  Tensor b = empty({3, 4}, {DType::Bool, dev()});
  backend_for(dev()).copy(b, src);
  R::Array nz = want;
  for (double& v : nz.v) v = v != 0;
  expect_close(b, nz, 0, 0, "int64->bool");
}

TEST_P(Conformance, ConversionSaturatesInsteadOfOverflowing) {
  Tensor x = on(tensor({1e20, -1e20, NAN, 300.0}));
  EXPECT_EQ(x.to(DType::Int32).tolist<int32_t>(), (std::vector<int32_t>{INT32_MAX, INT32_MIN, 0, 300}));
  EXPECT_EQ(x.to(DType::Int8).tolist<int8_t>(), (std::vector<int8_t>{127, -128, 0, 127}));
}

TEST_P(Conformance, FillAndArange) {
  for (int d = 0; d < kNumDTypes; ++d) {
    Tensor t = empty({2, 3}, {DType(d), dev()});
    backend_for(dev()).fill(t, 1);
    expect_close(t, {{2, 3}, std::vector<double>(6, 1)}, 0, 0, std::string(dtype_name(DType(d))));
  }
  expect_close(arange(2, 9, 3, {DType::Int64, dev()}), {{3}, {2, 5, 8}}, 0, 0, "arange int");
  expect_close(linspace(0, 1, 5, {DType::Float64, dev()}), {{5}, {0, .25, .5, .75, 1}}, 1e-15, 0, "linspace");
}

struct UnaryCase {
  UnaryOp op;
  double lo, hi;
};
const UnaryCase kUnary[] = {
    {UnaryOp::Abs, -3, 3},   {UnaryOp::Neg, -3, 3},      {UnaryOp::Exp, -20, 20},     {UnaryOp::Expm1, -3, 3},
    {UnaryOp::Log, 0.01, 9}, {UnaryOp::Log1p, -0.9, 9},  {UnaryOp::Sqrt, 0, 9},       {UnaryOp::Rsqrt, 0.01, 9},
    {UnaryOp::Sin, -6, 6},   {UnaryOp::Cos, -6, 6},      {UnaryOp::Tanh, -5, 5},      {UnaryOp::Sigmoid, -20, 20},
    {UnaryOp::Relu, -3, 3},  {UnaryOp::GeluErf, -4, 4},  {UnaryOp::GeluTanh, -4, 4}, {UnaryOp::Silu, -20, 20},
    {UnaryOp::Erf, -3, 3},   {UnaryOp::Floor, -5, 5},    {UnaryOp::Ceil, -5, 5},      {UnaryOp::Round, -5, 5},
    {UnaryOp::Sign, -3, 3},  {UnaryOp::Reciprocal, 0.1, 5}, {UnaryOp::Square, -3, 3}};

TEST_P(Conformance, UnaryFloatOps) {
  SCOPED_TRACE(trace());
  for (const auto& c : kUnary)
    for (DType dt : {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16}) {
      // float16 tops out at 65504: keep exp inside its range.
      double hi = dt == DType::Float16 && c.op == UnaryOp::Exp ? 10 : c.hi;
      Tensor x = uniform({5, 7}, dt, c.lo, hi);
      if (c.op == UnaryOp::Round) x = ops::round(x * 2) / 2;  // exact halves exercise ties-to-even
      R::Array in = R::of(x), want = in;
      for (double& v : want.v) v = R::unary(c.op, v);
      double tol = dt == DType::Float64 ? 1e-12 : dt == DType::Float32 ? 2e-6 : dt == DType::BFloat16 ? 1e-2 : 2e-3;
      for (bool s : {false, true}) {
        Tensor in_t = s ? strided(x) : x;
        Tensor out = empty(x.shape(), {dt, dev()});
        backend_for(dev()).unary(c.op, out, in_t);
        expect_close(out, want, tol, tol * 0.5, std::string(op_name(c.op)) + " " + std::string(dtype_name(dt)) +
                                                     (s ? " strided" : ""));
      }
    }
}

TEST_P(Conformance, ExpIsAccurateAtTheEdgesOfFloatRange) {
  std::vector<float> xs{88.7f, 88.3f, -87.0f, -100.0f, -103.0f, -104.5f, 0.0f, -0.0f, 1e-8f, INFINITY, -INFINITY, NAN};
  Tensor x = on(from_vector(xs));
  std::vector<float> got = ops::exp(x).tolist<float>();
  for (size_t i = 0; i < xs.size(); ++i) {
    float want = std::exp(xs[i]);
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got[i]));
    } else if (std::isinf(want) || want == 0) {
      EXPECT_EQ(got[i], want) << "exp(" << xs[i] << ")";
    } else if (want < 1.2e-38f) {  // denormal results: absolute accuracy of a few denormal ulps
      EXPECT_NEAR(got[i], want, 1e-44f) << "exp(" << xs[i] << ")";
    } else {
      EXPECT_NEAR(got[i], want, std::fabs(want) * 2e-7f) << "exp(" << xs[i] << ")";
    }
  }
}

TEST_P(Conformance, UnaryIntegerOps) {
  SCOPED_TRACE(trace());
  for (UnaryOp op : {UnaryOp::Abs, UnaryOp::Neg, UnaryOp::Square, UnaryOp::Sign, UnaryOp::Relu, UnaryOp::BitwiseNot})
    for (DType dt : {DType::Int8, DType::Int32, DType::Int64}) {
      Tensor x = ints({4, 6}, dt, -9, 10);
      R::Array want = R::of(x);
      for (double& v : want.v) v = R::unary(op, v);
      Tensor out = empty(x.shape(), {dt, dev()});
      backend_for(dev()).unary(op, out, strided(x));
      expect_close(out, want, 0, 0, std::string(op_name(op)) + " " + std::string(dtype_name(dt)));
    }
  Tensor b = on(from_vector(std::vector<bool>{true, false}));
  Tensor nb = empty({2}, {DType::Bool, dev()});
  backend_for(dev()).unary(UnaryOp::LogicalNot, nb, b);
  expect_close(nb, {{2}, {0, 1}}, 0, 0, "logical_not");
}

TEST_P(Conformance, IntegerArithmeticWrapsLikePyTorch) {
  Tensor x = on(from_vector(std::vector<int32_t>{INT32_MAX, INT32_MIN}));
  EXPECT_EQ((x + 1).tolist<int32_t>(), (std::vector<int32_t>{INT32_MIN, INT32_MIN + 1}));
  EXPECT_EQ((-x).tolist<int32_t>(), (std::vector<int32_t>{-INT32_MAX, INT32_MIN}));
}

TEST_P(Conformance, BinaryOpsWithBroadcastingAndStrides) {
  SCOPED_TRACE(trace());
  const BinaryOp float_ops[] = {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Pow,
                                BinaryOp::Maximum, BinaryOp::Minimum, BinaryOp::Atan2, BinaryOp::Fmod, BinaryOp::Eq,
                                BinaryOp::Ne, BinaryOp::Lt, BinaryOp::Le, BinaryOp::Gt, BinaryOp::Ge,
                                BinaryOp::LogicalAnd, BinaryOp::LogicalOr, BinaryOp::LogicalXor};
  for (BinaryOp op : float_ops)
    for (DType dt : {DType::Float32, DType::Float64}) {
      bool pow = op == BinaryOp::Pow;
      Tensor a = uniform({3, 1, 5}, dt, pow ? 0.1 : -3, 3), b = uniform({4, 1}, dt, pow ? -2 : -3, pow ? 2 : 3);
      a = ops::round(a * 4) / 4;  // shared values make comparisons meaningful
      b = ops::round(b * 4) / 4 + (op == BinaryOp::Fmod || op == BinaryOp::Div ? 0.125 : 0);
      R::Array want = R::binary(op, R::of(a), R::of(b), false);
      Shape s{3, 4, 5};
      bool pred = op >= BinaryOp::Eq;
      Tensor out = empty(s, {pred ? DType::Bool : dt, dev()});
      backend_for(dev()).binary(op, out, a.expand(s), strided(b).expand(s));
      double tol = dt == DType::Float32 ? 1e-6 : 1e-13;
      expect_close(out, want, tol, tol, std::string(op_name(op)) + " " + std::string(dtype_name(dt)));
    }
  const BinaryOp int_ops[] = {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Maximum,
                              BinaryOp::Minimum, BinaryOp::Fmod, BinaryOp::Pow, BinaryOp::Eq, BinaryOp::Lt,
                              BinaryOp::Ge, BinaryOp::LogicalAnd, BinaryOp::BitwiseAnd, BinaryOp::BitwiseOr,
                              BinaryOp::BitwiseXor};
  for (BinaryOp op : int_ops)
    for (DType dt : {DType::UInt8, DType::Int32, DType::Int64}) {
      bool pow = op == BinaryOp::Pow;
      int64_t lo = dt == DType::UInt8 ? 0 : -9;
      Tensor a = ints({3, 1, 5}, dt, pow ? 0 : lo, pow ? 4 : 10), b = ints({4, 1}, dt, 1, pow ? 4 : 10);
      R::Array want = R::binary(op, R::of(a), R::of(b), true);
      if (dt == DType::UInt8)
        for (double& v : want.v) v = double(uint8_t(int64_t(v)));
      Shape s{3, 4, 5};
      Tensor out = empty(s, {op >= BinaryOp::Eq ? DType::Bool : dt, dev()});
      backend_for(dev()).binary(op, out, strided(a.squeeze(1)).unsqueeze(1).expand(s), b.expand(s));
      expect_close(out, want, 0, 0, std::string(op_name(op)) + " " + std::string(dtype_name(dt)));
    }
}

TEST_P(Conformance, WhereAndClamp) {
  SCOPED_TRACE(trace());
  Tensor c = uniform({4, 5}) > 0, a = uniform({4, 5}), b = uniform({1, 5});
  Tensor out = empty({4, 5}, {DType::Float64, dev()});
  backend_for(dev()).where(out, c, strided(a), b.expand({4, 5}));
  R::Array ca = R::of(c), aa = R::of(a), ba = R::of(b), want = aa;
  for (size_t i = 0; i < want.v.size(); ++i) want.v[i] = ca.v[i] != 0 ? aa.v[i] : ba.v[i % 5];
  expect_close(out, want, 0, 0, "where");
  Tensor x = uniform({6, 3}, DType::Float32);
  Tensor y = empty(x.shape(), {DType::Float32, dev()});
  backend_for(dev()).clamp(y, x, Scalar(-0.5), Scalar(0.75));
  R::Array cw = R::of(x);
  for (double& v : cw.v) v = std::min(std::max(v, -0.5), 0.75);
  expect_close(y, cw, 0, 0, "clamp");
  backend_for(dev()).clamp(y, x, std::nullopt, Scalar(0));
  cw = R::of(x);
  for (double& v : cw.v) v = std::min(v, 0.0);
  expect_close(y, cw, 0, 0, "clamp max only");
}

TEST_P(Conformance, ReductionsOverAnyDims) {
  SCOPED_TRACE(trace());
  const std::vector<std::vector<bool>> masks = {{1, 1, 1}, {1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {1, 0, 1}, {0, 1, 1}};
  for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Prod, ReduceOp::Max, ReduceOp::Min, ReduceOp::Any, ReduceOp::All})
    for (DType dt : {DType::Float32, DType::Float64, DType::Int64})
      for (const auto& m : masks)
        for (bool permuted : {false, true}) {
          Tensor x = dt == DType::Int64 ? ints({4, 5, 6}, dt, -3, 4) : uniform({4, 5, 6}, dt, 0.5, 1.5);
          if (op == ReduceOp::Any || op == ReduceOp::All) x = x > (dt == DType::Int64 ? 0.0 : 1.0);
          if (permuted) x = x.permute({2, 0, 1}).contiguous().permute({1, 2, 0});
          R::Array want = R::reduce(op, R::of(x), m);
          Shape os = x.shape();
          for (size_t d = 0; d < 3; ++d)
            if (m[d]) os[d] = 1;
          DType odt = op == ReduceOp::Any || op == ReduceOp::All ? DType::Bool
                      : (op == ReduceOp::Sum || op == ReduceOp::Prod) && x.dtype() == DType::Int64 ? DType::Int64
                                                                                                  : x.dtype();
          Tensor out = empty(os, {odt, dev()});
          backend_for(dev()).reduce(op, out, x);
          double tol = dt == DType::Float32 ? 1e-5 : 1e-12;
          expect_close(out, want, tol, 0, "reduce " + std::to_string(int(op)) + " " + std::string(dtype_name(dt)));
        }
}

TEST_P(Conformance, LongSumIsAccurate) {
  // 2^22 float32 values: the blocked/cascaded sum keeps the relative error near float epsilon.
  Tensor x = on(full({1 << 22}, 0.1, {DType::Float32}));
  double got = x.sum().item<double>(), want = double(0.1f) * (1 << 22);
  EXPECT_NEAR(got, want, want * 1e-6);
}

TEST_P(Conformance, ArgReduceCumsumSoftmax) {
  SCOPED_TRACE(trace());
  Tensor x = uniform({5, 7});
  R::Array xa = R::of(x);
  for (int64_t dim : {0, 1}) {
    Shape os = x.shape();
    os[size_t(dim)] = 1;
    Tensor amax = empty(os, {DType::Int64, dev()}), amin = empty(os, {DType::Int64, dev()});
    backend_for(dev()).arg_reduce(true, amax, strided(x), dim);
    backend_for(dev()).arg_reduce(false, amin, x, dim);
    std::vector<double> gmax = amax.to_vector(), gmin = amin.to_vector();
    Tensor cs = empty(x.shape(), {DType::Float64, dev()}), sm = empty(x.shape(), {DType::Float64, dev()}),
           lsm = empty(x.shape(), {DType::Float64, dev()});
    backend_for(dev()).cumsum(cs, strided(x), dim);
    backend_for(dev()).softmax(sm, strided(x), dim, false);
    backend_for(dev()).softmax(lsm, x, dim, true);
    R::Array wcs = xa, wsm = xa, wlsm = xa;
    int64_t L = x.size(dim), other = x.size(1 - dim);
    for (int64_t o = 0; o < other; ++o) {
      auto at = [&](int64_t i) { return size_t(dim == 0 ? i * 7 + o : o * 7 + i); };
      int64_t bi = 0, si = 0;
      double acc = 0, mx = -INFINITY, z = 0;
      for (int64_t i = 0; i < L; ++i) {
        double v = xa.v[at(i)];
        if (v > xa.v[at(bi)]) bi = i;
        if (v < xa.v[at(si)]) si = i;
        acc += v;
        wcs.v[at(i)] = acc;
        mx = std::max(mx, v);
      }
      for (int64_t i = 0; i < L; ++i) z += std::exp(xa.v[at(i)] - mx);
      for (int64_t i = 0; i < L; ++i) {
        wsm.v[at(i)] = std::exp(xa.v[at(i)] - mx) / z;
        wlsm.v[at(i)] = xa.v[at(i)] - mx - std::log(z);
      }
      EXPECT_EQ(gmax[size_t(o)], double(bi));
      EXPECT_EQ(gmin[size_t(o)], double(si));
    }
    expect_close(cs, wcs, 1e-12, 1e-12, "cumsum");
    expect_close(sm, wsm, 1e-12, 1e-14, "softmax");
    expect_close(lsm, wlsm, 1e-12, 1e-12, "log_softmax");
  }
  // float32 fast path (contiguous last dim) against the double reference.
  Tensor xf = uniform({64, 300}, DType::Float32, -30, 30);
  R::Array wf = R::of(xf);
  for (int64_t r = 0; r < 64; ++r) {
    double mx = -INFINITY, z = 0;
    for (int64_t i = 0; i < 300; ++i) mx = std::max(mx, wf.v[size_t(r * 300 + i)]);
    for (int64_t i = 0; i < 300; ++i) z += std::exp(wf.v[size_t(r * 300 + i)] - mx);
    for (int64_t i = 0; i < 300; ++i) wf.v[size_t(r * 300 + i)] = std::exp(wf.v[size_t(r * 300 + i)] - mx) / z;
  }
  Tensor sf = empty(xf.shape(), {DType::Float32, dev()});
  backend_for(dev()).softmax(sf, xf, 1, false);
  expect_close(sf, wf, 1e-5, 1e-9, "softmax float32");
}

TEST_P(Conformance, SortAndTopk) {
  SCOPED_TRACE(trace());
  Tensor x = ops::round(uniform({6, 9}) * 2);  // ties test stability
  R::Array xa = R::of(x);
  for (bool desc : {false, true}) {
    Tensor v = empty(x.shape(), {DType::Float64, dev()}), i = empty(x.shape(), {DType::Int64, dev()});
    backend_for(dev()).sort(v, i, strided(x), 1, desc);
    std::vector<double> gv = v.to_vector(), gi = i.to_vector();
    for (int64_t r = 0; r < 6; ++r) {
      std::vector<std::pair<double, int64_t>> row;
      for (int64_t c = 0; c < 9; ++c) row.push_back({xa.v[size_t(r * 9 + c)], c});
      std::stable_sort(row.begin(), row.end(), [desc](auto a, auto b) { return desc ? a.first > b.first : a.first < b.first; });
      for (int64_t c = 0; c < 9; ++c) {
        EXPECT_EQ(gv[size_t(r * 9 + c)], row[size_t(c)].first);
        EXPECT_EQ(gi[size_t(r * 9 + c)], double(row[size_t(c)].second));
      }
    }
  }
  Tensor y = uniform({4, 10});
  Tensor tv = empty({4, 3}, {DType::Float64, dev()}), ti = empty({4, 3}, {DType::Int64, dev()});
  backend_for(dev()).topk(tv, ti, y, 3, 1, true);
  R::Array ya = R::of(y);
  std::vector<double> gv = tv.to_vector(), gi = ti.to_vector();
  for (int64_t r = 0; r < 4; ++r) {
    std::vector<double> row(ya.v.begin() + r * 10, ya.v.begin() + r * 10 + 10);
    std::vector<double> sorted = row;
    std::sort(sorted.rbegin(), sorted.rend());
    for (int64_t k = 0; k < 3; ++k) {
      EXPECT_EQ(gv[size_t(r * 3 + k)], sorted[size_t(k)]);
      EXPECT_EQ(row[size_t(gi[size_t(r * 3 + k)])], sorted[size_t(k)]);
    }
  }
  Tensor nanx = on(tensor({1.0, NAN, -1.0}));
  EXPECT_TRUE(std::isnan(ops::sort(nanx).first.to_vector()[2]));     // NaN sorts last ascending
  EXPECT_TRUE(std::isnan(ops::sort(nanx, -1, true).first.to_vector()[0]));
}

TEST_P(Conformance, GatherScatterNonzero) {
  SCOPED_TRACE(trace());
  Tensor x = uniform({4, 6});
  Tensor idx = ints({4, 3}, DType::Int64, -6, 6);  // negative indices wrap
  Tensor g = empty({4, 3}, {DType::Float64, dev()});
  backend_for(dev()).gather(g, strided(x), 1, idx);
  R::Array xa = R::of(x), ia = R::of(idx), want{{4, 3}, std::vector<double>(12)};
  for (int64_t r = 0; r < 4; ++r)
    for (int64_t c = 0; c < 3; ++c) {
      int64_t k = int64_t(ia.v[size_t(r * 3 + c)]);
      want.v[size_t(r * 3 + c)] = xa.v[size_t(r * 6 + (k < 0 ? k + 6 : k))];
    }
  expect_close(g, want, 0, 0, "gather");
  Tensor dst = zeros({4, 6}, {DType::Float64, dev()});
  Tensor src = uniform({4, 3});
  backend_for(dev()).scatter(dst, 1, idx, src, true);
  R::Array sa = R::of(src), sw{{4, 6}, std::vector<double>(24)};
  for (int64_t r = 0; r < 4; ++r)
    for (int64_t c = 0; c < 3; ++c) {
      int64_t k = int64_t(ia.v[size_t(r * 3 + c)]);
      sw.v[size_t(r * 6 + (k < 0 ? k + 6 : k))] += sa.v[size_t(r * 3 + c)];
    }
  expect_close(dst, sw, 1e-15, 1e-15, "scatter_add");
  Tensor bad = on(tensor({0, 7})).view({1, 2});
  EXPECT_THROW(backend_for(dev()).gather(empty({1, 2}, {DType::Float64, dev()}), x, 1, bad), IndexError);
  Tensor m = on(tensor({{0., 1.}, {2., 0.}}));
  Tensor nz = backend_for(dev()).nonzero(m);
  EXPECT_EQ(nz.shape(), (Shape{2, 2}));
  EXPECT_EQ(nz.tolist<int64_t>(), (std::vector<int64_t>{0, 1, 1, 0}));
}

TEST_P(Conformance, Matmul) {
  SCOPED_TRACE(trace());
  // (Small products take the CPU's direct loop: dot products for a transposed B, rows otherwise;
  // a long row, oneDNN.)
  struct Case { int64_t B, M, K, N; bool ta, tb; };
  for (Case c : {Case{1, 7, 5, 3, false, false}, Case{3, 4, 6, 5, true, false}, Case{2, 64, 128, 96, false, true},
                 Case{1, 1, 9, 1, true, true}, Case{2, 0, 3, 4, false, false}, Case{2, 3, 40, 12, false, true},
                 Case{1, 2, 4100, 3, false, false}, Case{1, 1, 2, 5000, false, false}})
    for (DType dt : {DType::Float32, DType::Float64, DType::Int64, DType::BFloat16}) {
      Tensor a = dt == DType::Int64 ? ints({c.B, c.M, c.K}, dt, -5, 6) : uniform({c.B, c.M, c.K}, dt);
      Tensor b = dt == DType::Int64 ? ints({c.B, c.K, c.N}, dt, -5, 6) : uniform({c.B, c.K, c.N}, dt);
      Tensor av = c.ta ? a.transpose(1, 2).contiguous().transpose(1, 2) : a;
      Tensor bv = c.tb ? b.transpose(1, 2).contiguous().transpose(1, 2) : b;
      Tensor out = empty({c.B, c.M, c.N}, {dt, dev()});
      backend_for(dev()).matmul(out, av, bv);
      double tol = dt == DType::Float32 ? 1e-5 : dt == DType::BFloat16 ? 2e-2 : 1e-12;
      expect_close(out, R::matmul(R::of(a), R::of(b)), tol, tol * c.K, "matmul " + std::string(dtype_name(dt)));
    }
  // A stride-0 (broadcast) batch.
  Tensor a = uniform({1, 3, 4}, DType::Float32).expand({5, 3, 4}), b = uniform({5, 4, 2}, DType::Float32);
  Tensor out = empty({5, 3, 2}, {DType::Float32, dev()});
  backend_for(dev()).matmul(out, a, b);
  expect_close(out, R::matmul(R::of(a), R::of(b)), 1e-5, 1e-5, "matmul broadcast batch");
}

TEST_P(Conformance, Conv2dForwardAndBackward) {
  SCOPED_TRACE(trace());
  struct Case { Shape x, w; Conv2dParams p; bool bias; };
  const Case cases[] = {
      {{2, 3, 8, 8}, {4, 3, 3, 3}, {{1, 1}, {1, 1}, {1, 1}, 1}, true},
      {{1, 4, 9, 7}, {6, 2, 3, 2}, {{2, 1}, {0, 1}, {1, 2}, 2}, false},
      {{2, 2, 6, 6}, {2, 1, 3, 3}, {{1, 2}, {2, 0}, {2, 1}, 2}, true},
      {{3, 5, 5, 5}, {7, 5, 1, 1}, {{1, 1}, {0, 0}, {1, 1}, 1}, true},
      // Channel counts that are no multiple of 16 (the CPU's channels-last kernels).
      {{2, 20, 6, 6}, {18, 20, 3, 3}, {{1, 1}, {1, 1}, {1, 1}, 1}, true},
      {{2, 50, 7, 5}, {16, 50, 3, 3}, {{2, 2}, {1, 1}, {1, 1}, 1}, false},
  };
  for (const Case& c : cases)
    for (DType dt : {DType::Float32, DType::Float64}) {
      Tensor x = uniform(c.x, dt), w = uniform(c.w, dt), b = uniform({c.w[0]}, dt);
      R::Array xa = R::of(x), wa = R::of(w), ba = R::of(b);
      R::Array y = R::conv2d(xa, wa, c.bias ? &ba : nullptr, c.p);
      Tensor out = empty(y.shape, {dt, dev()});
      backend_for(dev()).conv2d(out, x, w, c.bias ? b : Tensor(), c.p);
      double tol = dt == DType::Float32 ? 1e-4 : 1e-12;
      expect_close(out, y, tol, tol, "conv2d " + std::string(dtype_name(dt)));
      Tensor gy = uniform(y.shape, dt);
      R::Array gya = R::of(gy);
      Tensor gx = empty(c.x, {dt, dev()});
      backend_for(dev()).conv2d_backward_input(gx, gy, w, c.p);
      expect_close(gx, R::conv2d_grad_input(gya, wa, c.x, c.p), tol, tol, "conv2d grad input");
      Tensor gw = empty(c.w, {dt, dev()}), gb = empty({c.w[0]}, {dt, dev()});
      backend_for(dev()).conv2d_backward_weight(gw, gb, x, gy, c.p);
      expect_close(gw, R::conv2d_grad_weight(gya, xa, c.w, c.p), tol, tol * 10, "conv2d grad weight");
      R::Array gbw = R::reduce(ReduceOp::Sum, gya, {true, false, true, true});
      gbw.shape = {c.w[0]};
      expect_close(gb, gbw, tol, tol * 10, "conv2d grad bias");
    }
}

TEST_P(Conformance, Pooling) {
  SCOPED_TRACE(trace());
  Pool2dParams general, two;  // a padded, uneven window, and the 2x2/stride-2 fast path
  general.kernel[0] = 3, general.kernel[1] = 2, general.stride[0] = 2, general.stride[1] = 2;
  general.padding[0] = 1, general.padding[1] = 1;
  two.kernel[0] = two.kernel[1] = two.stride[0] = two.stride[1] = 2;
  for (Pool2dParams p : {general, two})
  for (DType dt : {DType::Float32, DType::Float64}) {
    Tensor x = uniform({2, 3, 7, 6}, dt);
    int64_t OH = (7 + 2 * p.padding[0] - p.kernel[0]) / 2 + 1, OW = (6 + 2 * p.padding[1] - p.kernel[1]) / 2 + 1;
    Tensor out = empty({2, 3, OH, OW}, {dt, dev()}), idx = empty({2, 3, OH, OW}, {DType::Int64, dev()});
    backend_for(dev()).max_pool2d(out, idx, x, p);
    R::Array xa = R::of(x);
    expect_close(out, R::max_pool2d(xa, p, OH, OW), 0, 0, "max_pool2d");
    // Each index points at the max in its plane.
    std::vector<double> iv = idx.to_vector(), ov = out.to_vector();
    for (size_t i = 0; i < iv.size(); ++i) {
      int64_t plane = int64_t(i) / (OH * OW);
      EXPECT_EQ(xa.v[size_t(plane * 42 + int64_t(iv[i]))], ov[i]);
    }
    Tensor gy = uniform({2, 3, OH, OW}, dt), gx = empty(x.shape(), {dt, dev()});
    backend_for(dev()).max_pool2d_backward(gx, gy, idx);
    R::Array gwant{x.shape(), std::vector<double>(size_t(x.numel()))}, gya = R::of(gy);
    for (size_t i = 0; i < iv.size(); ++i) gwant.v[size_t((int64_t(i) / (OH * OW)) * 42 + int64_t(iv[i]))] += gya.v[i];
    expect_close(gx, gwant, 1e-6, 1e-6, "max_pool2d backward");
    for (bool include : {true, false}) {
      p.count_include_pad = include;
      Tensor a = empty({2, 3, OH, OW}, {dt, dev()});
      backend_for(dev()).avg_pool2d(a, x, p);
      expect_close(a, R::avg_pool2d(xa, p, OH, OW), 1e-6, 1e-6, "avg_pool2d");
      // Backward is the adjoint of forward: <avg(x), gy> == <x, avg_backward(gy)>.
      Tensor ga = empty(x.shape(), {dt, dev()});
      backend_for(dev()).avg_pool2d_backward(ga, gy, p);
      double lhs = (a * gy).sum().item<double>(), rhs = (x * ga).sum().item<double>();
      EXPECT_NEAR(lhs, rhs, 1e-4 * std::max(1.0, std::fabs(lhs)));
    }
  }
}

TEST_P(Conformance, RandomDistributionsAndReproducibility) {
  SCOPED_TRACE(trace());
  Generator g1(123), g2(123);
  Tensor u = empty({200000}, {DType::Float64, dev()});
  backend_for(dev()).uniform(u, -1, 3, g1);
  EXPECT_NEAR(u.mean().item<double>(), 1.0, 0.02);
  EXPECT_NEAR(u.var().item<double>(), 16.0 / 12, 0.03);
  EXPECT_GE(u.min().item<double>(), -1.0);
  EXPECT_LT(u.max().item<double>(), 3.0);
  Tensor u2 = empty({200000}, {DType::Float64, dev()});
  backend_for(dev()).uniform(u2, -1, 3, g2);
  EXPECT_TRUE(ops::equal(u, u2));
  Tensor n = empty({200000}, {DType::Float32, dev()});
  backend_for(dev()).normal(n, 2, 3, g1);
  EXPECT_NEAR(n.mean().item<double>(), 2.0, 0.05);
  EXPECT_NEAR(n.std().item<double>(), 3.0, 0.05);
  Tensor b = empty({100000}, {DType::Float32, dev()});
  backend_for(dev()).bernoulli(b, full({100000}, 0.3, {DType::Float64, dev()}), g1);
  EXPECT_NEAR(b.mean().item<double>(), 0.3, 0.01);
  Tensor r = empty({100000}, {DType::Int64, dev()});
  backend_for(dev()).randint(r, -3, 5, g1);
  EXPECT_EQ(r.min().item<int64_t>(), -3);
  EXPECT_EQ(r.max().item<int64_t>(), 4);
}

INSTANTIATE_TEST_SUITE_P(Devices, Conformance, ::testing::ValuesIn(tessera::testing::test_devices()),
                         tessera::testing::device_param_name);

}  // namespace

// The 2x2 / stride-2 max pool's vector paths (float32 and bfloat16; AVX-512 or AVX2) against the scalar
// path (float64) on the same values: widths below, at and above 8 and 16 outputs, an odd width, ties
// (the first maximum wins) and NaNs (NaN wins), values and indices exactly.
TEST(Pooling, VectorizedTwoByTwoMatchesTheScalarPath) {
  Pool2dParams p;
  p.kernel[0] = p.kernel[1] = p.stride[0] = p.stride[1] = 2;
  for (int64_t W : {6, 32, 33, 40, 70})
    for (DType dt : {DType::Float32, DType::BFloat16}) {
      SCOPED_TRACE("W " + std::to_string(W) + " " + std::string(dtype_name(dt)));
      // Few distinct values (many ties), some NaNs.
      Tensor x = ops::floor(rand({2, 3, 6, W}) * 4.0);
      Tensor nan_at = rand({2, 3, 6, W}) < 0.05;
      x = ops::where(nan_at, std::numeric_limits<double>::quiet_NaN(), x).to(dt);
      int64_t OH = 3, OW = W / 2;
      auto run = [&](const Tensor& in) {
        Tensor out = empty({2, 3, OH, OW}, {in.dtype()}), idx = empty({2, 3, OH, OW}, {DType::Int64});
        backend_for(Device::cpu()).max_pool2d(out, idx, in, p);
        return std::make_pair(out, idx);
      };
      auto [vo, vi] = run(x);
      auto [so, si] = run(x.to(DType::Float64));
      EXPECT_TRUE(ops::equal(vi, si));
      EXPECT_TRUE(ops::allclose(vo.to(DType::Float64), so, 0, 0, /*equal_nan=*/true));
    }
}

// Channels-last max pooling (AVX-512 for float32 and bfloat16, AVX2 for float32, loops otherwise) against the NCHW
// kernels on the same values: channel counts below, at and above 16, padded and strided windows,
// ties and NaNs; values, indices and the backward's scatter exactly.
TEST(Pooling, ChannelsLastMatchesNchw) {
  Pool2dParams two, three;
  two.kernel[0] = two.kernel[1] = two.stride[0] = two.stride[1] = 2;
  three.kernel[0] = three.kernel[1] = 3, three.stride[0] = 2, three.stride[1] = 1, three.padding[0] = three.padding[1] = 1;
  for (const Pool2dParams& p : {two, three})
    for (int64_t C : {3, 16, 20, 37})
      for (DType dt : {DType::Float32, DType::BFloat16, DType::Float64}) {
        SCOPED_TRACE("C " + std::to_string(C) + " " + std::string(dtype_name(dt)) + " kernel " + std::to_string(p.kernel[0]));
        Tensor x = ops::floor(rand({2, C, 7, 6}) * 4.0);
        x = ops::where(rand({2, C, 7, 6}) < 0.05, std::numeric_limits<double>::quiet_NaN(), x).to(dt);
        int64_t OH = (7 + 2 * p.padding[0] - p.kernel[0]) / p.stride[0] + 1,
                OW = (6 + 2 * p.padding[1] - p.kernel[1]) / p.stride[1] + 1;
        auto run = [&](MemoryFormat f) {
          Tensor in = x.contiguous(f);
          Tensor out = empty({2, C, OH, OW}, {dt}, f), idx = empty({2, C, OH, OW}, {DType::Int64}, f);
          backend_for(Device::cpu()).max_pool2d(out, idx, in, p);
          Tensor gy = arange(0, double(out.numel())).view(out.shape()).to(dt).contiguous(f);
          Tensor gx = empty(x.shape(), {dt}, f);
          backend_for(Device::cpu()).max_pool2d_backward(gx, gy, idx);
          return std::make_tuple(out.contiguous(), idx.contiguous(), gx.contiguous());
        };
        auto [o1, i1, g1] = run(MemoryFormat::Contiguous);
        auto [o2, i2, g2] = run(MemoryFormat::ChannelsLast);
        EXPECT_TRUE(ops::equal(i1, i2));
        EXPECT_TRUE(ops::allclose(o1.to(DType::Float64), o2.to(DType::Float64), 0, 0, /*equal_nan=*/true));
        EXPECT_TRUE(ops::allclose(g1.to(DType::Float64), g2.to(DType::Float64), 0, 0, true));
      }
}
