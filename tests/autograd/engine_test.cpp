// The semantics of the backward engine: accumulation, shared subgraphs, retain_graph,
// create_graph, no_grad, hooks, in-place version checks, anomaly mode, the DOT dump.
#include <gtest/gtest.h>

#include <cmath>

#include "tessera/tessera.h"

using namespace tessera;
using V = std::vector<double>;

static V vals(const Tensor& t) { return t.to_vector(); }

TEST(Engine, AccumulatesIntoLeavesAcrossCalls) {
  Tensor x = tensor({1., 2., 3.}).requires_grad_();
  EXPECT_TRUE(x.is_leaf());
  (x * x).sum().backward();
  EXPECT_EQ(vals(x.grad()), (V{2, 4, 6}));
  (x * 3.0).sum().backward();
  EXPECT_EQ(vals(x.grad()), (V{5, 7, 9}));
  x.set_grad({});
  (x * 3.0).sum().backward();
  EXPECT_EQ(vals(x.grad()), (V{3, 3, 3}));
}

TEST(Engine, ALeafAccumulatesAgainWhileAnOldGraphIsAlive) {
  // Regression: `loss = f(w)` builds the new graph before the old loss is dropped, so both
  // graphs share w's accumulator; the first backward must not disable it.
  Tensor w = tensor({1.}).requires_grad_();
  Tensor loss = (w * 3.0).sum();
  loss.backward();
  Tensor next = (w * 5.0).sum();  // the old `loss` still holds its graph here
  w.set_grad({});
  next.backward();
  EXPECT_EQ(w.grad().item<double>(), 5);
}

TEST(Engine, SharedSubgraphsAddTheirGradients) {
  Tensor x = tensor({2.}).requires_grad_();
  Tensor y = x * x;       // used twice below
  Tensor z = y + y * x;   // 2x^2... d/dx (x^2 + x^3) = 2x + 3x^2 = 16
  z.backward();
  EXPECT_DOUBLE_EQ(x.grad().item<double>(), 16);
  Tensor w = tensor({1., 2.}).requires_grad_();
  Tensor u = w.unsqueeze(0).expand({3, 2});  // broadcast: gradients sum back
  (u * tensor({1., 2., 3.}).view({3, 1})).sum().backward();
  EXPECT_EQ(vals(w.grad()), (V{6, 6}));
}

TEST(Engine, RetainGraphAndSecondBackward) {
  Tensor x = tensor({1., 2.}).requires_grad_();
  Tensor y = (x.exp() * x).sum();
  y.backward({}, /*retain_graph=*/true);
  V first = vals(x.grad());
  y.backward();
  for (size_t i = 0; i < 2; ++i) EXPECT_DOUBLE_EQ(vals(x.grad())[i], 2 * first[i]);
  try {
    y.backward();
    FAIL() << "a third backward through a freed graph must throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("backward through the graph a second time"), std::string::npos) << e.what();
  }
}

TEST(Engine, GradFunctionAndHigherOrder) {
  Tensor x = tensor({1.5, -2.}, {DType::Float64}).requires_grad_();
  Tensor y = (x * x * x).sum();
  auto g = autograd::grad({y}, {x}, {}, false, /*create_graph=*/true);
  EXPECT_EQ(vals(g[0]), (V{3 * 2.25, 3 * 4}));
  EXPECT_FALSE(x.grad().defined());  // grad() leaves .grad alone
  auto gg = autograd::grad({g[0].sum()}, {x});
  EXPECT_EQ(vals(gg[0]), (V{9, -12}));  // 6x
  Tensor unused = tensor({1.}).requires_grad_();
  EXPECT_THROW(autograd::grad({(x * 2).sum()}, {unused}), Error);
  auto none = autograd::grad({(x * 2).sum()}, {unused}, {}, false, false, /*allow_unused=*/true);
  EXPECT_FALSE(none[0].defined());
  // Gradient w.r.t. a non-leaf.
  Tensor a = tensor({3.}).requires_grad_();
  Tensor b = a * 2;
  EXPECT_DOUBLE_EQ(autograd::grad({(b * b).sum()}, {b})[0].item<double>(), 12);
}

TEST(Engine, NoGradAndDetach) {
  Tensor x = tensor({1.}).requires_grad_();
  {
    autograd::NoGradGuard ng;
    Tensor y = x * 2;
    EXPECT_FALSE(y.requires_grad());
    {
      autograd::EnableGradGuard eg;
      EXPECT_TRUE((x * 2).requires_grad());
    }
  }
  Tensor d = (x * 2).detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_THROW(d.sum().backward(), Error);
  EXPECT_THROW(ones({2}, {DType::Int64}).requires_grad_(), DTypeError);
  EXPECT_THROW((x * ones({2})).backward(), ValueError);  // non-scalar without a gradient
  EXPECT_THROW((x * ones({2})).backward(ones({3})), ShapeError);
}

TEST(Engine, HooksAndRetainGrad) {
  Tensor x = tensor({1., 2.}).requires_grad_();
  x.register_hook([](const Tensor& g) { return g * 10.0; });
  Tensor h = x * 3.0;
  h.retain_grad();
  std::vector<double> seen;
  h.register_hook([&](const Tensor& g) {
    seen = g.to_vector();
    return Tensor();  // observe only
  });
  (h * h).sum().backward();
  EXPECT_EQ(seen, (V{6, 12}));
  EXPECT_EQ(vals(h.grad()), (V{6, 12}));
  EXPECT_EQ(vals(x.grad()), (V{180, 360}));  // 2*9x, times 10
}

TEST(Engine, InPlaceOpsAreCheckedAgainstSavedVersions) {
  Tensor x = tensor({1., 2.}).requires_grad_();
  EXPECT_THROW(x.add_(1.0), Error);  // leaf that requires grad
  Tensor y = x * 2;
  Tensor s = y.sin();   // saves y
  y.add_(1.0);          // non-leaf in-place: allowed, bumps the version
  try {
    s.sum().backward();
    FAIL() << "expected a version error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("modified by an in-place operation"), std::string::npos) << e.what();
  }
  // In-place on a non-leaf keeps the history right: d/dx (2x * 3) = 6.
  Tensor x2 = tensor({1., 2.}).requires_grad_();
  Tensor z = x2 * 2;
  z.mul_(3.0);
  z.relu_();
  z.sum().backward();
  EXPECT_EQ(vals(x2.grad()), (V{6, 6}));
  // Updating a leaf under NoGradGuard (as optimizers do) is fine.
  {
    autograd::NoGradGuard ng;
    x2.sub_(x2.grad() * 0.1);
  }
  EXPECT_NEAR(vals(x2)[0], 0.4, 1e-6);
  // A buffer copied from a tensor that requires grad takes its history.
  Tensor buf = zeros({2});
  buf.copy_(x2 * 2);
  EXPECT_TRUE(buf.requires_grad());
  Tensor v = x2.view({2, 1});
  try {
    v.mul_(2.0);
    FAIL() << "expected an error for a view of a leaf";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("a view of a leaf tensor that requires grad"), std::string::npos) << e.what();
  }
  // In-place on an expanded view (several elements sharing memory) is refused, not mis-differentiated.
  Tensor w = x2 * 1.0;
  Tensor e = w.view({1, 2}).expand({3, 2});
  EXPECT_THROW(e.add_(1.0), Error);
  // A view's gradient after in-place writes, by hand: y = [2a, 2b]; y[0] *= 5 -> d/dx sum = [10, 2].
  Tensor x3 = tensor({1., 2.}).requires_grad_();
  Tensor y3 = x3 * 2;
  y3.select(0, 0).mul_(5.0);
  EXPECT_EQ(vals(y3), (V{10, 4}));
  y3.sum().backward();
  EXPECT_EQ(vals(x3.grad()), (V{10, 2}));
}

TEST(Engine, AnomalyModeNamesTheOpThatMadeNaN) {
  autograd::DetectAnomalyGuard guard;
  Tensor x = tensor({0., 1.}).requires_grad_();
  Tensor y = ops::sqrt(x).sum();  // d sqrt / dx = inf at 0
  try {
    y.backward();
    FAIL() << "expected an anomaly error";
  } catch (const ValueError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("sqrt returned NaN or Inf"), std::string::npos) << m;
    EXPECT_NE(m.find("forward op 'sqrt' called from"), std::string::npos) << m;
  }
}

TEST(Engine, GraphDumpsAsDot) {
  Tensor x = ones({2, 3}).requires_grad_();
  Tensor y = (x * 2.0).sum();
  std::string dot = autograd::to_dot(y);
  EXPECT_NE(dot.find("digraph"), std::string::npos);
  EXPECT_NE(dot.find("mul"), std::string::npos);
  EXPECT_NE(dot.find("sum"), std::string::npos);
  EXPECT_NE(dot.find("AccumulateGrad\\n[2, 3] float32"), std::string::npos) << dot;
}

TEST(Engine, OperandPreparationRecordsNoNodes) {
  // Broadcasting, dtype conversion and contiguous copies made for a kernel are scratch: each op
  // records exactly one node, on its original inputs.
  auto nodes = [](auto f) {
    uint64_t before = autograd::nodes_recorded();
    f();
    return autograd::nodes_recorded() - before;
  };
  Tensor x = ones({3, 1}).requires_grad_(), y = ones({1, 4}, {DType::Float64}).requires_grad_();
  EXPECT_EQ(nodes([&] { x + y; }), 1u);                                      // broadcast + float32->float64
  EXPECT_EQ(nodes([&] { ops::where(x > 0.0, x, y); }), 1u);
  EXPECT_EQ(nodes([&] { x.clamp(0, 1); }), 1u);
  Tensor a = ones({2, 5, 3}).requires_grad_(), w = ones({4, 3}).requires_grad_();
  Tensor wt = w.t();
  EXPECT_EQ(nodes([&] { ops::matmul(a, wt); }), 1u);                         // batch folded by reshape
  Tensor img = ones({1, 2, 4, 4}).requires_grad_(), k = ones({3, 2, 3, 3}).requires_grad_();
  Tensor imgt = img.transpose(2, 3);
  EXPECT_EQ(nodes([&] { ops::conv2d(imgt, k); }), 1u);                        // contiguous copy of the input
  EXPECT_EQ(nodes([&] { ops::max_pool2d(imgt, {.kernel_size = {2}}); }), 1u);
  EXPECT_EQ(nodes([&] { ops::layer_norm(imgt, {4}); }), 1u);
}

TEST(Engine, NonDifferentiableInputsAreRejectedClearly) {
  Tensor w = ones({4, 2}).requires_grad_();
  Tensor idx = tensor({1, 3});
  Tensor e = ops::embedding(idx, w);  // indices: no gradient, no error
  e.sum().backward();
  EXPECT_EQ(vals(w.grad()), (V{0, 0, 1, 1, 0, 0, 1, 1}));
  // In-place index writes are differentiated: dst takes src's history.
  Tensor src = tensor({1., 2.}).requires_grad_();
  Tensor dst = zeros({4});
  ops::index_add_(dst, 0, idx, src);
  (dst * tensor({1., 10., 100., 1000.})).sum().backward();
  EXPECT_EQ(vals(src.grad()), (V{10, 1000}));
  Tensor x = tensor({1., 2., 3.}).requires_grad_();
  Tensor y = x * 2.0;
  y.index_put_({tensor({0})}, tensor({5.}));  // x[0] no longer reaches y
  y.sum().backward();
  EXPECT_EQ(vals(x.grad()), (V{0, 2, 2}));
  EXPECT_THROW(ops::as_strided(w, {2}, {1}), Error);
}

TEST(Engine, NeedsInputGradTellsABackwardWhichInputsGetGradients) {
  Tensor a = tensor({1., 2.}).requires_grad_(), b = tensor({3., 4.}), c = tensor({5., 6.}).requires_grad_();
  std::vector<bool> seen;
  Tensor y = a.detach() + 0.0;  // a fresh tensor the probe node becomes the grad_fn of
  autograd::record_fn("probe", {&a, &b, &c}, {&y}, {}, [&](const std::vector<Tensor>& g, const std::vector<Tensor>&) {
    seen = {autograd::needs_input_grad(0), autograd::needs_input_grad(1), autograd::needs_input_grad(2)};
    return std::vector<Tensor>{g[0], Tensor(), g[0]};  // nothing for b, which needs none
  });
  y.sum().backward();
  EXPECT_EQ(seen, (std::vector<bool>{true, false, true}));
  EXPECT_EQ(vals(a.grad()), (V{1, 1}));
  EXPECT_EQ(vals(c.grad()), (V{1, 1}));
  EXPECT_TRUE(autograd::needs_input_grad(0));  // outside a backward
}

TEST(Engine, TheFirstConvolutionSkipsItsInputGradient) {
  // The images need no gradient; the weights' still come out right (checked against the
  // same convolution whose input does require grad).
  manual_seed(1);
  Tensor x = randn({2, 3, 6, 6}, {DType::Float64}), w = randn({4, 3, 3, 3}, {DType::Float64}).requires_grad_();
  ops::conv2d(x, w, {}, Conv2dParams{{1, 1}, {1, 1}}).square().sum().backward();
  Tensor gw = w.grad().clone();
  w.set_grad({});
  Tensor xg = x.clone().requires_grad_();
  ops::conv2d(xg, w, {}, Conv2dParams{{1, 1}, {1, 1}}).square().sum().backward();
  EXPECT_TRUE(ops::allclose(gw, w.grad()));
  EXPECT_TRUE(xg.grad().defined());
  EXPECT_FALSE(x.grad().defined());
}
