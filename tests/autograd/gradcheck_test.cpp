// gradcheck (float64 finite differences) for every differentiable op, including broadcasting,
// non-contiguous and reduced-dim cases; gradgradcheck for a representative set.
#include <gtest/gtest.h>

#include <cmath>

#include "../devices.h"
#include "tessera/tessera.h"

using namespace tessera;
using autograd::gradcheck;
using autograd::gradgradcheck;
using V = std::vector<Tensor>;

namespace {
Generator& gen() {
  static Generator g(2024);
  return g;
}
using tessera::testing::case_device;
// On the case's device (named apart from DeviceTest::on, which lambdas cannot reach).
Tensor here(const Tensor& t) { return t.to(case_device()); }
TensorOptions f64_here() { return {DType::Float64, case_device()}; }
// A float64 leaf uniform in [lo, hi), on the case's device.
Tensor leaf(const Shape& s, double lo = -1, double hi = 1) {
  return here(rand(s, {DType::Float64}, &gen()) * (hi - lo) + lo).requires_grad_();
}
// The same values laid out transposed (a non-contiguous leaf).
Tensor strided_leaf(const Shape& s, double lo = -1, double hi = 1) {
  Shape r(s.rbegin(), s.rend());
  Tensor t = here(rand(r, {DType::Float64}, &gen()) * (hi - lo) + lo);
  Shape perm;
  for (int64_t i = int64_t(s.size()) - 1; i >= 0; --i) perm.push_back(i);
  return t.permute(perm).requires_grad_();
}

class Gradcheck : public tessera::testing::DeviceTest {};
class Gradgradcheck : public tessera::testing::DeviceTest {};
template <class F, class... T>
void check(F f, T... inputs) {
  EXPECT_TRUE(gradcheck(f, V{inputs...}));
}
}  // namespace

TEST_P(Gradcheck, UnaryOps) {
  struct Case { UnaryOp op; double lo, hi; };
  for (Case c : {Case{UnaryOp::Abs, 0.2, 2}, Case{UnaryOp::Neg, -2, 2}, Case{UnaryOp::Exp, -2, 2},
                 Case{UnaryOp::Expm1, -2, 2}, Case{UnaryOp::Log, 0.2, 3}, Case{UnaryOp::Log1p, -0.5, 3},
                 Case{UnaryOp::Sqrt, 0.2, 3}, Case{UnaryOp::Rsqrt, 0.2, 3}, Case{UnaryOp::Sin, -3, 3},
                 Case{UnaryOp::Cos, -3, 3}, Case{UnaryOp::Tanh, -2, 2}, Case{UnaryOp::Sigmoid, -3, 3},
                 Case{UnaryOp::Relu, 0.1, 1}, Case{UnaryOp::GeluErf, -3, 3}, Case{UnaryOp::GeluTanh, -3, 3},
                 Case{UnaryOp::Silu, -3, 3}, Case{UnaryOp::Erf, -2, 2}, Case{UnaryOp::Floor, 0.1, 0.9},
                 Case{UnaryOp::Ceil, 0.1, 0.9}, Case{UnaryOp::Round, 0.1, 0.4}, Case{UnaryOp::Sign, 0.1, 1},
                 Case{UnaryOp::Reciprocal, 0.3, 2}, Case{UnaryOp::Square, -2, 2}}) {
    auto f = [op = c.op](const V& x) { return V{ops::unary(op, x[0])}; };
    EXPECT_TRUE(gradcheck(f, {strided_leaf({3, 4}, c.lo, c.hi)})) << op_name(c.op);
  }
  Tensor neg = leaf({5}, -1, -0.1);
  check([](const V& x) { return V{ops::relu(x[0])}; }, neg);  // zero gradient side
  check([](const V& x) { return V{ops::softplus(x[0], 2, 1)}; }, leaf({6}, -2, 2));
  check([](const V& x) { return V{x[0].clamp(-0.5, 0.5)}; }, leaf({8}, -1, 1));
}

TEST_P(Gradcheck, BinaryOpsWithBroadcasting) {
  Tensor a = leaf({3, 1, 4}, 0.5, 2), b = strided_leaf({2, 4}, 0.5, 2);
  for (BinaryOp op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Pow, BinaryOp::Maximum,
                      BinaryOp::Minimum, BinaryOp::Atan2, BinaryOp::Fmod}) {
    auto f = [op](const V& x) { return V{ops::binary(op, x[0], x[1])}; };
    EXPECT_TRUE(gradcheck(f, {a, b})) << op_name(op);
  }
  check([](const V& x) { return V{x[0] * 2.5 - 1.0, 3.0 / x[0], ops::pow(x[0], 3.0)}; }, leaf({4}, 0.5, 2));
  check([](const V& x) { return V{ops::add(x[0], x[1], 0.5), ops::sub(x[0], x[1], 2)}; }, leaf({3}), leaf({3}));
  Tensor c = here(tensor({1., 0., 1., 0.})) > 0.5;
  check([c](const V& x) { return V{ops::where(c, x[0], x[1])}; }, leaf({4}), leaf({1}));
  check([](const V& x) { return V{ops::fma(x[0], x[1], x[2])}; }, leaf({2, 3}), leaf({3}), leaf({2, 1}));
  // Mixed dtypes: the float32 operand gets a float32 gradient.
  Tensor f32 = ones({2}, {DType::Float32, case_device()}).requires_grad_();
  Tensor f64 = leaf({2});
  (f32 * f64).sum().backward();
  EXPECT_EQ(f32.grad().dtype(), DType::Float32);
}

TEST_P(Gradcheck, Reductions) {
  Tensor x = strided_leaf({3, 4, 2}, 0.5, 1.5);
  check([](const V& t) { return V{t[0].sum(), t[0].sum({1}), t[0].sum({0, 2}, true)}; }, x);
  check([](const V& t) { return V{t[0].mean(), t[0].mean({-1})}; }, x);
  check([](const V& t) { return V{t[0].prod(), t[0].prod(1)}; }, x);
  Tensor z = here(tensor({{1.5, 0., 2.}, {0., 0., 3.}, {1., 2., 3.}}, {DType::Float64})).requires_grad_();
  check([](const V& t) { return V{t[0].prod(1)}; }, z);  // one zero, two zeros, none
  check([](const V& t) { return V{t[0].amax({1}), t[0].amin({0, 2})}; }, x);
  check([](const V& t) { return V{ops::max(t[0], 1).first, ops::min(t[0], 2, true).first}; }, x);
  check([](const V& t) { return V{t[0].var(), t[0].var(Shape{1}, 0), t[0].std(Shape{0, 2})}; }, x);
  check([](const V& t) { return V{t[0].norm(), t[0].norm(1, Shape{1}), t[0].norm(3)}; }, x);
  check([](const V& t) { return V{t[0].logsumexp({1}), t[0].cumsum(1), t[0].cumsum(0)}; }, x);
  check([](const V& t) { return V{ops::softmax(t[0], 1), ops::log_softmax(t[0], 0)}; }, x);
  check([](const V& t) { return V{ops::sort(t[0], 1).first, ops::topk(t[0], 2, 1).first}; }, x);
}

TEST_P(Gradcheck, ViewsAndMovement) {
  Tensor x = strided_leaf({2, 3, 4});
  check([](const V& t) { return V{t[0].reshape({6, 4}), t[0].view({-1}).narrow(0, 2, 5)}; }, leaf({2, 3, 4}));
  check([](const V& t) { return V{t[0].permute({2, 0, 1}), t[0].transpose(0, 2), t[0].flatten(1)}; }, x);
  check([](const V& t) { return V{t[0].unsqueeze(1).expand({2, 5, 3, 4}), t[0].select(1, -1)}; }, x);
  check([](const V& t) { return V{t[0].slice(2, 0, 4, 2), t[0].narrow(1, 1, 2).squeeze()}; }, x);
  check([](const V& t) { return V{t[0].index({1, Slice{}, here(tensor({3, 0, 3}))})}; }, x);  // advanced, repeated
  check([](const V& t) { return V{t[0].index({t[0] > 0.0})}; }, x);
  check([](const V& t) { return V{ops::cat({t[0], t[1]}, 1), ops::stack({t[0], t[0]}, 0)}; }, x, leaf({2, 2, 4}));
  check([](const V& t) {
    auto p = ops::split(t[0], 3, 2);
    return V{p[0] * 2.0, p[1].exp()};
  }, x);
  check([](const V& t) {  // one node for all pieces; pieces left unused get zero gradients
    auto p = ops::split(t[0], {1, 2, 1}, 2);
    auto u = ops::unbind(t[0], 1);
    auto c = ops::chunk(t[0], 2, 0);
    return V{p[1].sin(), u[0] * u[2], c[1] * 3.0};
  }, x);
  check([](const V& t) {  // an in-place write into a piece reaches the base's history
    Tensor y = t[0] * 1.0;
    auto u = ops::unbind(y, 0);
    u[1].mul_(t[1]);
    return V{y};
  }, x, leaf({3, 4}));
  check([](const V& t) { return V{ops::flip(t[0], {0, 2}), ops::roll(t[0], {1}, {2}), ops::repeat(t[0], {1, 2, 1})}; }, x);
  check([](const V& t) {
    return V{ops::pad(t[0], {1, 2}, "constant", 3), ops::pad(t[0], {2, 1, 1, 0}, "reflect"),
             ops::pad(t[0], {1, 1}, "replicate"), ops::pad(t[0], {-1, 0})};
  }, x);
  check([](const V& t) { return V{ops::tril(t[0]), ops::triu(t[0], 1)}; }, x);
  check([](const V& t) { return V{t[0].to(DType::Float64).clone().contiguous()}; }, x);
}

TEST_P(Gradcheck, Indexing) {
  Tensor x = strided_leaf({4, 5});
  Tensor idx = here(tensor({3, 0, 3}));
  Tensor gidx = here(tensor({0, 4, 4, 1, 2, 2})).view({3, 2});
  check([idx](const V& t) { return V{ops::index_select(t[0], 0, idx), ops::index_select(t[0], 1, idx)}; }, x);
  check([gidx](const V& t) { return V{ops::gather(t[0], 1, gidx)}; }, x);
  Tensor sidx = here(tensor({0, 4, 3, 1, 2, 0})).view({3, 2});  // distinct per row for scatter
  check([sidx, gidx](const V& t) { return V{ops::scatter(t[0], 1, sidx, t[1]), ops::scatter_add(t[0], 1, gidx, t[1])}; },
             x, leaf({3, 2}));
  check([idx](const V& t) { return V{ops::index_add(t[0], 0, idx, t[1])}; }, x, leaf({3, 5}));
  Tensor m = here(tensor({1., 0., 0., 1., 1.})) > 0.5;
  check([m](const V& t) { return V{t[0].masked_fill(m, 2.0), ops::masked_select(t[0], m)}; }, x);
  check([](const V& t) { return V{ops::embedding(here(tensor({2, 0, 2})).view({3, 1}), t[0])}; }, x);
}

TEST_P(Gradcheck, InPlaceIndexWrites) {
  Tensor x = leaf({4, 5});
  Tensor sidx = here(tensor({0, 4, 3, 1, 2, 0})).view({3, 2});
  Tensor mask = here(tensor({1., 0., 0., 1., 1.})) > 0.5;
  auto written = [](auto write) {
    return [write](const V& t) {
      Tensor y = t[0] * 1.0;  // a non-leaf copy to write into
      write(y, t[1]);
      return V{y};
    };
  };
  check(written([](Tensor& y, const Tensor& v) { y.index_put_({1, Slice{1, 4}}, v); }), x, leaf({3}));
  check(written([](Tensor& y, const Tensor& v) { y.index_put_({here(tensor({2, 0})), Slice{}}, v); }), x, leaf({2, 5}));
  check(written([](Tensor& y, const Tensor& v) { y.index_put_({Slice{}, here(tensor({1, 1, 3}))}, v, true); }), x, leaf({4, 3}));
  check(written([mask](Tensor& y, const Tensor& v) { y.index_put_({Slice{}, mask}, v); }), x, leaf({4, 3}));
  check(written([](Tensor& y, const Tensor& v) { y.index_put_({here(tensor({3, 0})), here(tensor({1, 4}))}, v); }), x, leaf({2}));
  check(written([sidx](Tensor& y, const Tensor& v) { ops::scatter_(y, 1, sidx, v); }), x, leaf({3, 2}));
  check(written([sidx](Tensor& y, const Tensor& v) { ops::scatter_add_(y, 1, sidx, v); }), x, leaf({3, 2}));
  check(written([](Tensor& y, const Tensor& v) { ops::index_add_(y, 0, here(tensor({3, 3})), v); }), x, leaf({2, 5}));
  check(written([](Tensor& y, const Tensor& v) { ops::index_copy_(y, 1, here(tensor({4, 0})), v); }), x, leaf({4, 2}));
}

// In-place ops on views rewrite the base's history (PyTorch's CopySlices), through views of views,
// transposed views, sibling views made before the write, and writes to the base itself.
TEST_P(Gradcheck, InPlaceOpsOnViews) {
  Tensor x = strided_leaf({4, 5}), z = leaf({4, 2}, 0.5, 1.5), r = leaf({5});
  check([](const V& t) {
    Tensor y = t[0] * 1.0;
    Tensor v = y.narrow(1, 1, 2);
    v.mul_(t[1]);  // the op's other input gets its gradient too
    return V{y * y};
  }, x, z);
  check([](const V& t) {
    Tensor y = t[0] * 2.0;
    Tensor sibling = y.select(0, 3);  // made before the write, used after it
    y.t().select(0, 2).exp_();        // a view of a view, non-contiguous
    return V{sibling * 3.0, y.sin()};
  }, x);
  check([](const V& t) {
    Tensor y = t[0] * 1.0;
    Tensor v = y.select(0, 1);
    y.mul_(2.0);  // the base itself changes: the old view follows
    v.add_(t[1]);
    return V{v * v, y};
  }, x, r);
  check([](const V& t) {
    Tensor buf = zeros({4, 5}, f64_here());  // a base that does not require grad
    buf.select(0, 2).copy_(t[1]);
    buf.narrow(0, 0, 2).add_(t[0].narrow(0, 0, 2));
    return V{buf * buf};
  }, x, r);
  check([](const V& t) {
    Tensor y = t[0] * 1.0;
    y.index({Slice{}, Slice{1, 4}}).index_put_({1}, t[1].narrow(0, 0, 3));  // setitem on a view
    return V{y};
  }, x, r);
}

TEST_P(Gradgradcheck, InPlaceOpOnAView) {
  Tensor x = leaf({3, 4}), z = leaf({3});
  EXPECT_TRUE(gradgradcheck([](const V& t) {
    Tensor y = t[0] * t[0];
    y.select(1, 2).mul_(t[1]);
    return V{y};
  }, V{x, z}));
}

TEST_P(Gradcheck, NeuralNetworkOps) {
  check([](const V& t) { return V{ops::matmul(t[0], t[1])}; }, strided_leaf({3, 4}), leaf({4, 2}));
  check([](const V& t) { return V{ops::matmul(t[0], t[1])}; }, leaf({2, 1, 3, 4}), leaf({5, 4, 2}));  // broadcast batch
  check([](const V& t) { return V{ops::matmul(t[0], t[1]), ops::matmul(t[1], t[0])}; }, leaf({4}), leaf({4, 4}));
  check([](const V& t) { return V{ops::matmul(t[0], t[1])}; }, leaf({4}), leaf({4}));  // dot product: 0-d gradient
  check([](const V& t) { return V{ops::linear(t[0], t[1], t[2])}; }, leaf({2, 3, 4}), leaf({5, 4}), leaf({5}));
  Conv2dParams p{{2, 1}, {1, 0}, {1, 2}, 2};
  check([p](const V& t) { return V{ops::conv2d(t[0], t[1], t[2], p)}; }, leaf({2, 4, 6, 7}), leaf({4, 2, 3, 2}),
             leaf({4}));
  check([](const V& t) { return V{ops::conv1d(t[0], t[1], t[2], 2, 1)}; }, leaf({1, 2, 7}), leaf({3, 2, 3}), leaf({3}));
  check([](const V& t) { return V{ops::conv_transpose2d(t[0], t[1], t[2], {{2, 2}, {1, 1}, {1, 1}, 1}, {1, 0})}; },
             leaf({1, 2, 3, 3}), leaf({2, 3, 3, 3}), leaf({3}));
  Tensor img = leaf({2, 2, 5, 6});
  check([](const V& t) { return V{ops::max_pool2d(t[0], {.kernel_size = {2}}), ops::max_pool2d(t[0], {.kernel_size = {3, 2}, .stride = {2}, .padding = {1}})}; }, img);
  check([](const V& t) {
    return V{ops::avg_pool2d(t[0], {.kernel_size = {3}, .stride = {2}, .padding = {1}}),
             ops::avg_pool2d(t[0], {.kernel_size = {3}, .stride = {2}, .padding = {1}, .count_include_pad = false}),
             ops::adaptive_avg_pool2d(t[0], {3, 4})};
  }, img);
  check([](const V& t) {
    Tensor rm = zeros({2}, f64_here()), rv = ones({2}, f64_here());
    return V{ops::batch_norm(t[0], rm, rv, t[1], t[2], true), ops::batch_norm(t[0], {}, {}, {}, {}, true)};
  }, leaf({3, 2, 2, 3}), leaf({2}), leaf({2}));
  check([](const V& t) {
    return V{ops::batch_norm(t[0], here(tensor({0.1, -0.2}, {DType::Float64})), here(tensor({1.5, 0.5}, {DType::Float64})), t[1], t[2], false)};
  }, leaf({3, 2, 4}), leaf({2}), leaf({2}));
  check([](const V& t) { return V{ops::layer_norm(t[0], {3, 4}, t[1], t[2]), ops::layer_norm(t[0], {4})}; },
             leaf({2, 3, 4}), leaf({3, 4}), leaf({3, 4}));
  check([](const V& t) { return V{ops::group_norm(t[0], 2, t[1], t[2])}; }, leaf({2, 4, 3}), leaf({4}), leaf({4}));
  check([](const V& t) {
    Generator g(7);  // the same mask on every evaluation
    return V{ops::dropout(t[0], 0.4, true, &g)};
  }, leaf({20}));
}

TEST_P(Gradgradcheck, RepresentativeOps) {
  using F = autograd::TensorFunction;
  struct Case {
    const char* name;
    F f;
    V inputs;
  };
  std::vector<Case> cases = {
      {"tanh*exp", [](const V& t) { return V{t[0].tanh() * t[1].exp()}; }, {leaf({3}), leaf({3})}},
      {"div/sigmoid/gelu", [](const V& t) { return V{t[0] / t[1], ops::sigmoid(t[0]), ops::gelu(t[0])}; },
                            {leaf({4}, 0.5, 2), leaf({4}, 0.5, 2)}},
      {"matmul", [](const V& t) { return V{ops::matmul(t[0], t[1])}; }, {leaf({2, 3}), leaf({3, 2})}},
      {"conv2d", [](const V& t) { return V{ops::conv2d(t[0], t[1], t[2], {.padding = {1, 1}})}; },
                  {leaf({1, 2, 4, 4}), leaf({2, 2, 3, 3}), leaf({2})}},
      {"softmax", [](const V& t) { return V{ops::softmax(t[0], 1), ops::log_softmax(t[0], 0)}; }, {leaf({3, 4})}},
      {"layer_norm", [](const V& t) { return V{ops::layer_norm(t[0], {4}, t[1], t[2])}; },
                      {leaf({3, 4}), leaf({4}), leaf({4})}},
      {"batch_norm", [](const V& t) { return V{ops::batch_norm(t[0], {}, {}, t[1], t[2], true)}; },
                      {leaf({4, 2, 3}), leaf({2}), leaf({2})}},
      {"pooling", [](const V& t) { return V{ops::max_pool2d(t[0], {.kernel_size = {2}}), ops::avg_pool2d(t[0], {.kernel_size = {2}})}; },
                   {leaf({1, 2, 4, 4})}},
      {"reductions", [](const V& t) { return V{t[0].var(Shape{1}), t[0].logsumexp({0}), t[0].norm()}; }, {leaf({3, 4})}},
  };
  for (auto& c : cases) {
    try {
      EXPECT_TRUE(gradgradcheck(c.f, c.inputs)) << c.name;
    } catch (const Error& e) {
      ADD_FAILURE() << c.name << ": " << e.what();
    }
  }
}

// Batch norm's fused backward kernel (the CPU backend's; other backends run the ops) against the
// rule written with ops (fused kernels off) and against finite differences: NCHW with long
// channel runs (one thread per channel), short runs (row blocks), channels last, 2-D input, with
// and without an affine weight, float32 and float64.
TEST_P(Gradcheck, BatchNormFusedBackward) {
  struct Case { Shape shape; bool channels_last, affine; };
  for (const Case& c : {Case{{4, 3, 5, 6}, false, true}, Case{{3, 2, 2, 3}, false, false},
                        Case{{4, 3, 5, 6}, true, true}, Case{{5, 4}, false, true}, Case{{6, 3, 9}, false, false}})
    for (DType dt : {DType::Float64, DType::Float32}) {
      SCOPED_TRACE(detail::str(c.shape, c.channels_last ? " channels last" : "", c.affine ? " affine" : "", " ",
                               dtype_name(dt)));
      Tensor x0 = here(randn(c.shape, {dt}, &gen()) * 3.0 + 1.0);
      if (c.channels_last) x0 = x0.contiguous(MemoryFormat::ChannelsLast);
      Tensor w0 = here(rand({c.shape[1]}, {dt}, &gen()) + 0.5), b0 = here(randn({c.shape[1]}, {dt}, &gen()));
      Tensor gy = here(randn(c.shape, {dt}, &gen()));
      if (c.channels_last) gy = gy.contiguous(MemoryFormat::ChannelsLast);
      auto grads = [&](bool fused) {
        set_fused_kernels_enabled(fused);
        Tensor x = x0.detach().requires_grad_(), w = w0.detach().requires_grad_(), b = b0.detach().requires_grad_();
        Tensor y = c.affine ? ops::batch_norm(x, {}, {}, w, b, true) : ops::batch_norm(x, {}, {}, {}, {}, true);
        V g = autograd::grad({y}, c.affine ? V{x, w, b} : V{x}, {gy});
        set_fused_kernels_enabled(true);
        return g;
      };
      V want = grads(false), got = grads(true);
      double tol = dt == DType::Float64 ? 1e-12 : 1e-5;
      for (size_t i = 0; i < want.size(); ++i) EXPECT_TRUE(ops::allclose(got[i], want[i], tol, tol)) << "gradient " << i;
      if (c.channels_last) {
        EXPECT_TRUE(got[0].is_contiguous(MemoryFormat::ChannelsLast));
      }
      if (dt == DType::Float64) {
        Tensor x = x0.detach().requires_grad_(), w = w0.detach().requires_grad_(), b = b0.detach().requires_grad_();
        EXPECT_TRUE(gradcheck([](const V& t) { return V{ops::batch_norm(t[0], {}, {}, t[1], t[2], true)}; }, {x, w, b}));
      }
    }
  // Rows wider than the row blocks' budget of partial sums (one block): the same gradients.
  Tensor x0 = here(randn({3, (int64_t(1) << 20) + 3}, {DType::Float32}, &gen()));
  Tensor gy = here(randn(x0.shape(), {DType::Float32}, &gen()));
  V want, got;
  for (bool fused : {false, true}) {
    set_fused_kernels_enabled(fused);
    Tensor x = x0.detach().requires_grad_();
    (fused ? got : want) = autograd::grad({ops::batch_norm(x, {}, {}, {}, {}, true)}, {x}, {gy});
  }
  set_fused_kernels_enabled(true);
  EXPECT_TRUE(ops::allclose(got[0], want[0], 1e-4, 1e-4));
}

TEST(GradcheckSelf, ReportsAWrongGradient) {
  // A deliberately wrong rule must be caught: d/dx of x*x recorded as x instead of 2x.
  auto f = [](const V& t) {
    Tensor y;
    {
      autograd::NoGradGuard ng;
      y = t[0] * t[0];
    }
    autograd::record_fn("wrong_square", {&t[0]}, {&y}, {t[0]},
                        [](const V& g, const V& s) { return V{g[0] * s[0]}; });
    return V{y};
  };
  EXPECT_FALSE(gradcheck(f, {leaf({3})}, {.raise = false}));
  EXPECT_THROW(gradcheck(f, {leaf({3})}), Error);
  EXPECT_THROW(gradcheck(f, {ones({2}).requires_grad_()}), DTypeError);  // float32 refused
}

INSTANTIATE_TEST_SUITE_P(Devices, Gradcheck, ::testing::ValuesIn(tessera::testing::test_devices()),
                         tessera::testing::device_param_name);
INSTANTIATE_TEST_SUITE_P(Devices, Gradgradcheck, ::testing::ValuesIn(tessera::testing::test_devices()),
                         tessera::testing::device_param_name);
