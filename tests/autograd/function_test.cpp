// Custom autograd functions (autograd::Function / apply_function) and autograd::functional,
// checked against analytical derivatives and float64 finite differences.
#include <gtest/gtest.h>

#include <cmath>

#include "tessera/tessera.h"

using namespace tessera;
using V = std::vector<Tensor>;

namespace {

struct MulConstant : autograd::Function<MulConstant> {
  static Tensor forward(autograd::AutogradContext* ctx, const Tensor& x, double c) {
    ctx->saved_data["c"] = c;
    return x * c;
  }
  static V backward(autograd::AutogradContext* ctx, V g) {
    return {g[0] * std::any_cast<double>(ctx->saved_data["c"]), Tensor()};
  }
};

// exp, saving its output; backward differentiable again (so gradgradcheck applies).
struct Exp : autograd::Function<Exp> {
  static Tensor forward(autograd::AutogradContext* ctx, const Tensor& x) {
    Tensor y = ops::exp(x);
    ctx->save_for_backward({y});
    return y;
  }
  static V backward(autograd::AutogradContext* ctx, V g) { return {g[0] * ctx->get_saved_variables()[0]}; }
};

// Two outputs: values (differentiable) and indices (integer: no gradient).
struct SortValues : autograd::Function<SortValues> {
  static V forward(autograd::AutogradContext* ctx, const Tensor& x) {
    auto [v, i] = ops::sort(x, -1);
    ctx->save_for_backward({i});
    return {v, i};
  }
  static V backward(autograd::AutogradContext* ctx, V g) {
    Tensor i = ctx->get_saved_variables()[0];
    return {ops::scatter(zeros_like(g[0]), -1, i, g[0])};
  }
};

struct SquareInPlace : autograd::Function<SquareInPlace> {
  static Tensor forward(autograd::AutogradContext* ctx, Tensor x) {
    ctx->save_for_backward({x.clone()});
    x.mul_(x);
    ctx->mark_dirty({x});
    return x;
  }
  static V backward(autograd::AutogradContext* ctx, V g) { return {2.0 * ctx->get_saved_variables()[0] * g[0]}; }
};

Tensor diag_of(const Tensor& v) { return eye(v.size(0), std::nullopt, {DType::Float64}) * v; }

Tensor f64(const Shape& s, uint64_t seed) {
  Generator g(seed);
  return randn(s, {DType::Float64}, &g);
}

}  // namespace

TEST(CustomFunction, GradientsAndNames) {
  Tensor x = f64({3}, 1).requires_grad_();
  Tensor y = MulConstant::apply(x, 2.5);
  ASSERT_TRUE(y.grad_fn() != nullptr);
  EXPECT_NE(y.grad_fn()->name().find("MulConstant"), std::string::npos);
  y.sum().backward();
  EXPECT_TRUE(ops::allclose(x.grad(), full({3}, 2.5, {DType::Float64})));
  {
    autograd::NoGradGuard ng;
    EXPECT_FALSE(MulConstant::apply(x, 2.0).requires_grad());
  }
  EXPECT_TRUE(autograd::gradcheck([](const V& in) { return V{Exp::apply(in[0])}; }, {f64({4}, 2).requires_grad_()}));
  EXPECT_TRUE(autograd::gradgradcheck([](const V& in) { return V{Exp::apply(in[0])}; }, {f64({4}, 3).requires_grad_()}));
}

TEST(CustomFunction, NonDifferentiableOutputsAndDirtyInputs) {
  Tensor x = f64({2, 5}, 4).requires_grad_();
  V out = SortValues::apply(x);
  EXPECT_TRUE(out[0].requires_grad());
  EXPECT_FALSE(out[1].requires_grad());
  EXPECT_TRUE(autograd::gradcheck([](const V& in) { return V{SortValues::apply(in[0])[0]}; }, {x}));
  Tensor h = x * 1.0;
  Tensor sq = SquareInPlace::apply(h);
  EXPECT_TRUE(sq.is_same(h));  // the dirty input itself, with new history
  sq.sum().backward();
  EXPECT_TRUE(ops::allclose(x.grad(), 2.0 * x.detach()));
  Tensor leaf = f64({2}, 5).requires_grad_();
  EXPECT_THROW(SquareInPlace::apply(leaf), Error);
}

TEST(CustomFunction, ErrorsNameTheFunction) {
  Tensor x = f64({3}, 6).requires_grad_();
  auto ctx = std::make_shared<autograd::AutogradContext>();
  V y = autograd::apply_function("TooMany", {x}, ctx, [&](autograd::AutogradContext&) { return V{x * 2}; },
                                 [](autograd::AutogradContext&, const V& g) { return V{g[0], g[0]}; });
  try {
    y[0].sum().backward();
    FAIL() << "expected an error";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("TooMany: backward returned 2 gradients, expected 1"), std::string::npos);
  }
  auto ctx2 = std::make_shared<autograd::AutogradContext>();
  V z = autograd::apply_function("BadShape", {x}, ctx2, [&](autograd::AutogradContext&) { return V{x * 2}; },
                                 [](autograd::AutogradContext&, const V&) { return V{ones({4}, {DType::Float64})}; });
  EXPECT_THROW(z[0].sum().backward(), ShapeError);
  EXPECT_THROW(ctx2->save_for_backward({x}), Error);  // outside forward
}

TEST(Functional, JacobianHessianAndProductsAgreeWithAnalyticDerivatives) {
  namespace F = autograd::functional;
  Tensor a = f64({3}, 7), b = f64({3}, 8);
  // f(x, y) = (x * sin(y), sum(x^2 y))
  autograd::TensorFunction f = [](const V& in) { return V{in[0] * ops::sin(in[1]), ops::sum(in[0] * in[0] * in[1])}; };
  auto J = F::jacobian(f, {a, b});
  ASSERT_EQ(J.size(), 2u);
  EXPECT_EQ(J[0][0].shape(), (Shape{3, 3}));
  EXPECT_EQ(J[1][1].shape(), (Shape{3}));
  EXPECT_TRUE(ops::allclose(J[0][0], diag_of(ops::sin(b))));
  EXPECT_TRUE(ops::allclose(J[0][1], diag_of(a * ops::cos(b))));
  EXPECT_TRUE(ops::allclose(J[1][0], 2.0 * a * b));
  EXPECT_TRUE(ops::allclose(J[1][1], a * a));
  EXPECT_FALSE(J[0][0].requires_grad());
  // vjp with v = (1, 2): v^T J per input; jvp with (1, 1)
  auto [outs, vj] = F::vjp(f, {a, b}, {ones({3}, {DType::Float64}), full({}, 2.0, {DType::Float64})});
  EXPECT_TRUE(ops::allclose(vj[0], ops::sin(b) + 4.0 * a * b));
  auto [outs2, jv] = F::jvp(f, {a, b}, {ones({3}, {DType::Float64}), ones({3}, {DType::Float64})});
  EXPECT_TRUE(ops::allclose(jv[0], ops::sin(b) + a * ops::cos(b)));
  EXPECT_NEAR(jv[1].item<double>(), ops::sum(2.0 * a * b + a * a).item<double>(), 1e-10);
  // g(x) = sum(x^3): H = diag(6x); hvp = 6 x v
  autograd::TensorFunction g = [](const V& in) { return V{ops::sum(in[0] * in[0] * in[0])}; };
  auto H = F::hessian(g, {a});
  EXPECT_TRUE(ops::allclose(H[0][0], diag_of(6.0 * a)));
  auto [y, hv] = F::hvp(g, {a}, {b});
  EXPECT_TRUE(ops::allclose(hv[0], 6.0 * a * b));
  // strict: an output that ignores an input is an error; otherwise zeros
  autograd::TensorFunction only_first = [](const V& in) { return V{in[0] * 2.0}; };
  EXPECT_TRUE(ops::allclose(F::jacobian(only_first, {a, b})[0][1], zeros({3, 3}, {DType::Float64})));
  EXPECT_THROW(F::jacobian(only_first, {a, b}, {.create_graph = false, .strict = true}), ValueError);
  EXPECT_THROW(F::vjp(f, {a, b}), ValueError);  // v omitted but an output has 3 elements
}

TEST(Functional, CreateGraphKeepsResultsDifferentiable) {
  namespace F = autograd::functional;
  Tensor x = f64({2}, 9).requires_grad_();
  autograd::TensorFunction g = [](const V& in) { return V{ops::sum(in[0] * in[0] * in[0])}; };
  auto [y, gx] = F::vjp(g, {x}, {}, {.create_graph = true});
  ASSERT_TRUE(gx[0].requires_grad());
  ops::sum(gx[0]).backward();  // d/dx sum(3x^2) = 6x
  EXPECT_TRUE(ops::allclose(x.grad(), 6.0 * x.detach()));
}
