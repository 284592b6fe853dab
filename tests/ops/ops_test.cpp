#include <gtest/gtest.h>

#include <cmath>

#include "tessera/tessera.h"

using namespace tessera;

static std::vector<double> V(const Tensor& t) { return t.to_vector(); }
static void expect_near(const std::vector<double>& a, const std::vector<double>& b, double tol) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], tol) << "at " << i;
}

TEST(Elementwise, OperatorsPromoteAndBroadcast) {
  Tensor a = tensor({1, 2, 3}), b = tensor({10., 20.}).view({2, 1});
  Tensor c = a + b;
  EXPECT_EQ(c.shape(), (Shape{2, 3}));
  EXPECT_EQ(c.dtype(), DType::Float32);
  EXPECT_EQ(V(c), (std::vector<double>{11, 12, 13, 21, 22, 23}));
  EXPECT_EQ(V(2.0 - a), (std::vector<double>{1, 0, -1}));
  EXPECT_EQ(V(1.0 / tensor({2., 4.})), (std::vector<double>{0.5, 0.25}));
  EXPECT_EQ((a * 2).dtype(), DType::Int64);
  EXPECT_EQ(V(ops::pow(a, 2.0)), (std::vector<double>{1, 4, 9}));
  EXPECT_EQ(V(ops::fmod(tensor({-7, 7}), tensor({3, 3}))), (std::vector<double>{-1, 1}));
  EXPECT_EQ(V(ops::maximum(tensor({1., NAN}), tensor({2., 0.}))).at(0), 2);
  EXPECT_TRUE(std::isnan(V(ops::maximum(tensor({1., NAN}), tensor({2., 0.}))).at(1)));
  EXPECT_EQ(V(a == tensor({1, 0, 3})), (std::vector<double>{1, 0, 1}));
  EXPECT_EQ(V((a > 1) && (a < 3)), (std::vector<double>{0, 1, 0}));
  EXPECT_EQ(V(!(a > 1)), (std::vector<double>{1, 0, 0}));
}

TEST(Elementwise, InPlaceOpsCheckTypesAndBumpVersions) {
  Tensor x = ones({2, 2});
  uint64_t v0 = x.version();
  x.add_(tensor({1., 2.}));
  EXPECT_EQ(V(x), (std::vector<double>{2, 3, 2, 3}));
  x.mul_(2).sub_(1).div_(tensor({1.}));
  EXPECT_EQ(V(x), (std::vector<double>{3, 5, 3, 5}));
  EXPECT_GT(x.version(), v0);
  Tensor i = tensor({1, 2});
  EXPECT_THROW(i.add_(tensor({0.5, 0.5})), DTypeError);  // float result into an int tensor
  EXPECT_THROW(x.add_(ones({3, 2, 2})), ShapeError);      // would need to grow x
  Tensor h = ones({2}, {DType::Float16});
  h.add_(tensor({0.5, 1.5}));  // float32 result cast back to float16
  EXPECT_EQ(V(h), (std::vector<double>{1.5, 2.5}));
  x.exp_();
  EXPECT_NEAR(V(x)[0], std::exp(3.0), 1e-3);
  EXPECT_THROW(i.exp_(), DTypeError);
  EXPECT_EQ(V(tensor({-2., 0.5, 3.}).clamp(-1, 1)), (std::vector<double>{-1, 0.5, 1}));
}

TEST(Elementwise, ActivationsMatchTheirDefinitions) {
  Tensor x = linspace(-30, 30, 61, {DType::Float64});
  std::vector<double> xv = V(x);
  std::vector<double> sp, ge, gt, si;
  for (double v : xv) {
    sp.push_back(v > 20 ? v : std::log1p(std::exp(v)));
    ge.push_back(0.5 * v * (1 + std::erf(v / std::sqrt(2.0))));
    gt.push_back(0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))));
    si.push_back(v / (1 + std::exp(-v)));
  }
  expect_near(V(ops::softplus(x)), sp, 1e-12);
  expect_near(V(ops::gelu(x)), ge, 1e-12);
  expect_near(V(ops::gelu(x, "tanh")), gt, 1e-12);
  expect_near(V(ops::silu(x)), si, 1e-12);
  EXPECT_EQ(ops::exp(tensor({1, 2})).dtype(), DType::Float32);  // integers to float functions
  EXPECT_THROW(ops::gelu(x, "fast"), ValueError);
}

TEST(Reductions, ApiSemantics) {
  Tensor x = arange(0, 24, 1, {DType::Float64}).view({2, 3, 4});
  EXPECT_EQ(x.sum().item<double>(), 276);
  EXPECT_EQ(x.sum({1}).shape(), (Shape{2, 4}));
  EXPECT_EQ(x.sum({1}, true).shape(), (Shape{2, 1, 4}));
  EXPECT_EQ(V(x.sum({0, -1})), (std::vector<double>{60, 92, 124}));
  EXPECT_EQ(x.mean().item<double>(), 11.5);
  EXPECT_EQ(arange(4).sum().dtype(), DType::Int64);
  EXPECT_EQ((arange(4) > 1).sum().item<int64_t>(), 2);
  EXPECT_EQ(tensor({1., 2., 3., 4.}).prod().item<double>(), 24);
  EXPECT_EQ(x.amax({2}).to_vector()[0], 3);
  auto [vals, idx] = ops::max(x, 1);
  EXPECT_EQ(vals.shape(), (Shape{2, 4}));
  EXPECT_EQ(idx.tolist<int64_t>(), std::vector<int64_t>(8, 2));
  EXPECT_EQ(x.argmax().item<int64_t>(), 23);
  EXPECT_EQ(x.argmin(1, true).shape(), (Shape{2, 1, 4}));
  Tensor v = tensor({1., 2., 3., 4.}, {DType::Float64});
  EXPECT_NEAR(v.var().item<double>(), 5.0 / 3, 1e-15);
  EXPECT_NEAR(v.var(std::nullopt, 0).item<double>(), 1.25, 1e-15);
  EXPECT_NEAR(v.std().item<double>(), std::sqrt(5.0 / 3), 1e-15);
  EXPECT_NEAR(v.norm().item<double>(), std::sqrt(30.0), 1e-12);
  EXPECT_NEAR(v.norm(1).item<double>(), 10, 1e-12);
  EXPECT_NEAR(v.norm(INFINITY).item<double>(), 4, 1e-12);
  EXPECT_NEAR(v.norm(3).item<double>(), std::cbrt(100.0), 1e-12);
  EXPECT_NEAR(v.logsumexp({0}).item<double>(), std::log(std::exp(1) + std::exp(2) + std::exp(3) + std::exp(4)), 1e-12);
  EXPECT_EQ(tensor({1000., 1000.}).logsumexp({0}).item<double>(), 1000 + std::log(2.0f));
  EXPECT_EQ(V(arange(1, 5).cumsum(0)), (std::vector<double>{1, 3, 6, 10}));
  EXPECT_TRUE((arange(3) >= 0).all().item<bool>());
  EXPECT_FALSE((arange(3) > 5).any().item<bool>());
  EXPECT_EQ(zeros({0}).sum().item<double>(), 0);
  EXPECT_THROW(x.sum({0, 0}), ValueError);
  EXPECT_THROW(x.sum({3}), IndexError);
  EXPECT_THROW(arange(3).mean(), DTypeError);
  EXPECT_THROW(zeros({0}).max(), ShapeError);
}

TEST(Reductions, SoftmaxSortTopk) {
  Tensor x = tensor({{1., 2., 3.}, {1., 1., 1.}});
  Tensor s = ops::softmax(x, 1);
  expect_near(V(s.sum({1})), {1, 1}, 1e-6);
  expect_near(V(ops::log_softmax(x, 0).exp().sum({0})), {1, 1, 1}, 1e-6);
  EXPECT_EQ(V(ops::softmax(tensor({-INFINITY, 0.}), 0)), (std::vector<double>{0, 1}));
  auto [sv, si] = ops::sort(tensor({3., 1., 2.}));
  EXPECT_EQ(V(sv), (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(si.tolist<int64_t>(), (std::vector<int64_t>{1, 2, 0}));
  auto [tv, ti] = ops::topk(tensor({3., 1., 2., 5.}), 2, -1, false);
  EXPECT_EQ(V(tv), (std::vector<double>{1, 2}));
  EXPECT_EQ(ti.tolist<int64_t>(), (std::vector<int64_t>{1, 2}));
  EXPECT_THROW(ops::topk(tensor({1.}), 2), IndexError);
}

TEST(NN, MatmulShapesLikeNumPy) {
  EXPECT_EQ(ops::matmul(ones({3}), ones({3})).shape(), Shape{});
  EXPECT_EQ(ops::matmul(ones({2, 3}), ones({3})).shape(), (Shape{2}));
  EXPECT_EQ(ops::matmul(ones({3}), ones({3, 4})).shape(), (Shape{4}));
  EXPECT_EQ(ops::matmul(ones({5, 2, 3}), ones({3, 4})).shape(), (Shape{5, 2, 4}));
  EXPECT_EQ(ops::matmul(ones({2, 1, 2, 3}), ones({4, 3, 5})).shape(), (Shape{2, 4, 2, 5}));
  EXPECT_EQ(ops::matmul(ones({2, 3}), ones({6, 3, 4})).shape(), (Shape{6, 2, 4}));
  EXPECT_EQ(ops::matmul(ones({3}), ones({6, 3, 4})).shape(), (Shape{6, 4}));
  Tensor a = tensor({{1., 2.}, {3., 4.}});
  EXPECT_EQ(V(ops::matmul(a, a)), (std::vector<double>{7, 10, 15, 22}));
  EXPECT_EQ(V(ops::linear(a, a, tensor({1., 1.}))), (std::vector<double>{6, 12, 12, 26}));
  EXPECT_EQ(V(ops::matmul(tensor({1, 2}), tensor({1, 0, 0, 1}).view({2, 2}))), (std::vector<double>{1, 2}));
}

TEST(NN, Conv1dAndConvTranspose) {
  manual_seed(3);
  Tensor x = randn({2, 3, 10}, {DType::Float64}), w = randn({4, 3, 3}, {DType::Float64});
  Tensor y = ops::conv1d(x, w, {}, 2, 1);
  EXPECT_EQ(y.shape(), (Shape{2, 4, 5}));
  // y[n, o, t] = sum_c,k x[n, c, 2t - 1 + k] w[o, c, k]
  double want = 0;
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t k = 0; k < 3; ++k) {
      int64_t i = 2 * 2 - 1 + k;
      want += x.index({1, c, i}).item<double>() * w.index({2, c, k}).item<double>();
    }
  EXPECT_NEAR(y.index({1, 2, 2}).item<double>(), want, 1e-12);
  // conv_transpose2d is the adjoint of conv2d: <conv(a), b> == <a, conv_t(b)>.
  Tensor a = randn({1, 2, 7, 7}, {DType::Float64}), k2 = randn({3, 2, 3, 3}, {DType::Float64});
  Conv2dParams p{{2, 2}, {1, 1}, {1, 1}, 1};
  Tensor ca = ops::conv2d(a, k2, {}, p);
  Tensor b = randn(ca.shape(), {DType::Float64});
  Tensor ctb = ops::conv_transpose2d(b, k2, {}, p);
  EXPECT_EQ(ctb.shape(), a.shape());
  EXPECT_NEAR((ca * b).sum().item<double>(), (a * ctb).sum().item<double>(), 1e-10);
  EXPECT_EQ(ops::conv_transpose2d(b, k2, {}, p, {1, 1}).shape(), (Shape{1, 2, 8, 8}));
  // float32 (oneDNN) agrees with float64 (direct loops).
  Tensor f = ops::conv2d(a.to(DType::Float32), k2.to(DType::Float32), {}, p);
  EXPECT_TRUE(ops::allclose(f.to(DType::Float64), ca, 1e-4, 1e-4));
}

TEST(NN, PoolingShapesAndAdaptive) {
  Tensor x = arange(0, 16, 1, {DType::Float32}).view({1, 1, 4, 4});
  Tensor m = ops::max_pool2d(x, {.kernel_size = {2}});
  EXPECT_EQ(V(m), (std::vector<double>{5, 7, 13, 15}));
  EXPECT_EQ(ops::max_pool2d(ones({1, 1, 5, 5}), {.kernel_size = {2}, .ceil_mode = true}).shape(), (Shape{1, 1, 3, 3}));
  EXPECT_EQ(ops::max_pool2d(ones({1, 1, 5, 5}), {.kernel_size = {2}}).shape(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(V(ops::avg_pool2d(x, {.kernel_size = {2}})), (std::vector<double>{2.5, 4.5, 10.5, 12.5}));
  EXPECT_EQ(V(ops::adaptive_avg_pool2d(x, {1})), (std::vector<double>{7.5}));
  Tensor a = ops::adaptive_avg_pool2d(arange(0, 25, 1, {DType::Float64}).view({1, 1, 5, 5}), {3, 3});
  EXPECT_EQ(a.shape(), (Shape{1, 1, 3, 3}));
  EXPECT_DOUBLE_EQ(a.index({0, 0, 0, 0}).item<double>(), (0 + 1 + 5 + 6) / 4.0);   // rows 0-1, cols 0-1
  EXPECT_DOUBLE_EQ(a.index({0, 0, 1, 1}).item<double>(), (6 + 7 + 8 + 11 + 12 + 13 + 16 + 17 + 18) / 9.0);
  auto [out, idx] = ops::max_pool2d_with_indices(x, {.kernel_size = {2}});
  Tensor g = ops::max_pool2d_backward(ones_like(out), x, idx);
  EXPECT_EQ(g.sum().item<double>(), 4);
  EXPECT_EQ(g.index({0, 0, 1, 1}).item<double>(), 1);
}

TEST(NN, Normalizations) {
  manual_seed(5);
  Tensor x = randn({4, 3, 5, 5}, {DType::Float64}) * 2 + 1;
  Tensor rm = zeros({3}, {DType::Float64}), rv = ones({3}, {DType::Float64});
  Tensor w = tensor({1., 2., 3.}, {DType::Float64}), b = tensor({0., 1., -1.}, {DType::Float64});
  Tensor y = ops::batch_norm(x, rm, rv, w, b, true, 0.1, 1e-5);
  for (int64_t c = 0; c < 3; ++c) {
    Tensor xc = x.select(1, c), yc = y.select(1, c);
    double mu = xc.mean().item<double>(), var = xc.var(std::nullopt, 0).item<double>();
    EXPECT_NEAR(yc.mean().item<double>(), b.to_vector()[size_t(c)], 1e-10);
    EXPECT_NEAR(yc.std(std::nullopt, 0).item<double>(), w.to_vector()[size_t(c)] * std::sqrt(var / (var + 1e-5)),
                1e-9);
    EXPECT_NEAR(rm.to_vector()[size_t(c)], 0.1 * mu, 1e-12);
    EXPECT_NEAR(rv.to_vector()[size_t(c)], 0.9 + 0.1 * xc.var().item<double>(), 1e-12);  // unbiased
  }
  Tensor ye = ops::batch_norm(x, rm, rv, {}, {}, false);
  double want = (x.index({0, 1, 0, 0}).item<double>() - rm.to_vector()[1]) / std::sqrt(rv.to_vector()[1] + 1e-5);
  EXPECT_NEAR(ye.index({0, 1, 0, 0}).item<double>(), want, 1e-12);
  Tensor ln = ops::layer_norm(x, {5, 5});
  EXPECT_NEAR(ln.index({2, 1}).mean().item<double>(), 0, 1e-12);
  EXPECT_NEAR(ln.index({2, 1}).var(std::nullopt, 0).item<double>(), 1, 1e-3);
  Tensor gn = ops::group_norm(randn({2, 6, 4}, {DType::Float64}), 3);
  EXPECT_NEAR(gn.index({1, Slice{2, 4}}).mean().item<double>(), 0, 1e-12);
  EXPECT_THROW(ops::group_norm(x, 2), ValueError);
  EXPECT_THROW(ops::layer_norm(x, {4}), ShapeError);
  EXPECT_THROW(ops::batch_norm(ones({1, 3}), rm, rv, {}, {}, true), ValueError);
}

TEST(NN, DropoutEmbeddingOneHot) {
  manual_seed(11);
  Tensor x = ones({100000});
  Tensor d = ops::dropout(x, 0.25, true);
  double kept = (d > 0).sum().item<double>() / 100000;
  EXPECT_NEAR(kept, 0.75, 0.01);
  EXPECT_NEAR(d.max().item<double>(), 1 / 0.75, 1e-6);
  EXPECT_TRUE(ops::dropout(x, 0.25, false).is_same(x));
  EXPECT_THROW(ops::dropout(x, 1.5), ValueError);
  Tensor w = arange(0, 12, 1, {DType::Float32}).view({4, 3});
  Tensor e = ops::embedding(tensor({3, 0}).view({2, 1}), w);
  EXPECT_EQ(e.shape(), (Shape{2, 1, 3}));
  EXPECT_EQ(V(e), (std::vector<double>{9, 10, 11, 0, 1, 2}));
  EXPECT_THROW(ops::embedding(tensor({4}), w), IndexError);
  Tensor oh = ops::one_hot(tensor({2, 0}));
  EXPECT_EQ(oh.shape(), (Shape{2, 3}));
  EXPECT_EQ(oh.tolist<int64_t>(), (std::vector<int64_t>{0, 0, 1, 1, 0, 0}));
  EXPECT_THROW(ops::one_hot(tensor({3}), 3), IndexError);
}

TEST(Threads, SetAndGet) {
  int before = get_num_threads();
  set_num_threads(1);
  EXPECT_EQ(get_num_threads(), 1);
  set_num_threads(before);
  EXPECT_THROW(set_num_threads(0), ValueError);
}

TEST(Coverage, RemainingOpsHaveValueChecks) {
  Tensor x = tensor({{3., 1., 2.}, {0., 5., 4.}});
  auto [mv, mi] = ops::min(x, 1);
  EXPECT_EQ(V(mv), (std::vector<double>{1, 0}));
  EXPECT_EQ(mi.tolist<int64_t>(), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(V(x.prod(1)), (std::vector<double>{6, 0}));
  EXPECT_EQ(x.norm(0).item<double>(), 5);
  EXPECT_EQ(V(x.amin({0})), (std::vector<double>{0, 1, 2}));
  Tensor c = x.clone();
  c.clamp_(1, 3);
  EXPECT_EQ(V(c), (std::vector<double>{3, 1, 2, 1, 3, 3}));
  Tensor ic = zeros({3, 2});
  ops::index_copy_(ic, 0, tensor({2, 0}), tensor({1., 2., 3., 4.}).view({2, 2}));
  EXPECT_EQ(V(ic), (std::vector<double>{3, 4, 0, 0, 1, 2}));
  auto ch = ops::chunk(arange(5), 2);
  ASSERT_EQ(ch.size(), 2u);
  EXPECT_EQ(ch[0].tolist<int64_t>(), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(ch[1].tolist<int64_t>(), (std::vector<int64_t>{3, 4}));
  manual_seed(1);
  Tensor r = randn_like(zeros({50000}, {DType::Float64}));
  EXPECT_EQ(r.dtype(), DType::Float64);
  EXPECT_NEAR(r.mean().item<double>(), 0, 0.02);
  EXPECT_NEAR(rand_like(zeros({50000})).mean().item<double>(), 0.5, 0.01);
  EXPECT_EQ(V(ops::isinf(tensor({1., INFINITY, -INFINITY}))), (std::vector<double>{0, 1, 1}));
  EXPECT_EQ(V(ops::sub(tensor({5., 5.}), tensor({1., 2.}), 2)), (std::vector<double>{3, 1}));
  EXPECT_EQ(V(ops::add(tensor({5., 5.}), tensor({1., 2.}), 0.5)), (std::vector<double>{5.5, 6}));
  EXPECT_EQ(Scalar(1e30).to_int(), INT64_MAX);  // no undefined float->int conversion
  EXPECT_EQ(Scalar(NAN).to_int(), 0);
  EXPECT_THROW(arange(0, 1e300, 1e-300), ValueError);
}

TEST(PortingOps, RandpermSetDataChannelDropoutAndEmbeddingRange) {
  Generator g1(5), g2(5);
  Tensor p = randperm(50, {DType::Int64}, &g1);
  EXPECT_EQ(p.tolist<int64_t>(), randperm(50, {DType::Int64}, &g2).tolist<int64_t>());
  std::vector<int64_t> v = p.tolist<int64_t>();
  std::sort(v.begin(), v.end());
  for (int64_t i = 0; i < 50; ++i) EXPECT_EQ(v[size_t(i)], i);
  EXPECT_THROW(randperm(-1), ValueError);
  EXPECT_EQ(randperm(3, {DType::Float32}).dtype(), DType::Float32);

  Tensor w = ones({2, 2}).requires_grad_();
  w.set_grad(ones({2, 2}));
  w.set_data(zeros({3}));
  EXPECT_EQ(w.shape(), (Shape{3}));
  EXPECT_TRUE(w.requires_grad());
  EXPECT_FALSE(w.grad().defined());  // a gradient of the old shape no longer applies
  Tensor nonleaf = w * 2;
  EXPECT_THROW(nonleaf.set_data(ones({3})), Error);

  static std::vector<std::string> warnings;
  WarningHandler prev = set_warning_handler([](const std::string& m) { warnings.push_back(m); });
  Tensor rows = ops::dropout2d(ones({64, 8}), 0.5);
  set_warning_handler(prev);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("dropout2d: Received a 2-D input"), std::string::npos);
  for (int64_t r = 0; r < 64; ++r) {
    double s = rows.select(0, r).sum().item<double>();
    EXPECT_TRUE(s == 0.0 || s == 16.0);  // whole rows kept (scaled by 2) or dropped
  }
  Tensor ch = ops::dropout2d(ones({2, 8, 3, 3}), 0.5);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 8; ++c) {
      double s = ch.select(0, n).select(0, c).sum().item<double>();
      EXPECT_TRUE(s == 0.0 || s == 18.0);
    }
  EXPECT_THROW(ops::dropout1d(ones({2, 3, 4, 5})), ShapeError);
  EXPECT_TRUE(ops::equal(ops::dropout3d(ones({2, 2, 2, 2}), 0.5, false), ones({2, 2, 2, 2})));

  Tensor table = ones({5, 2});
  EXPECT_THROW(ops::embedding(from_vector(std::vector<int64_t>{0, -1}), table), IndexError);
  EXPECT_THROW(ops::embedding(from_vector(std::vector<int64_t>{5}), table), IndexError);
  EXPECT_EQ(ops::embedding(from_vector(std::vector<int64_t>{4, 0}), table).shape(), (Shape{2, 2}));
}

TEST(CompositeOps, EinsumDiagTraceRemainderAndGradients) {
  Generator g(3);
  Tensor a = randn({2, 3, 4}, {DType::Float64}, &g), b = randn({2, 4, 5}, {DType::Float64}, &g);
  EXPECT_TRUE(ops::allclose(ops::einsum("bij,bjk->bik", {a, b}), ops::matmul(a, b)));
  EXPECT_TRUE(ops::allclose(ops::einsum("...ij,...jk", {a, b}), ops::matmul(a, b)));  // implicit output
  Tensor sq = randn({3, 3}, {DType::Float64}, &g);
  EXPECT_NEAR(ops::einsum("ii", {sq}).item<double>(), ops::matrix_trace(sq).item<double>(), 1e-12);
  EXPECT_TRUE(ops::allclose(ops::diag(ops::diag(sq)), sq * eye(3, std::nullopt, {DType::Float64})));
  EXPECT_EQ(ops::diag(from_vector(std::vector<double>{1, 2}), -1).shape(), (Shape{3, 3}));
  EXPECT_THROW(ops::einsum("ij,jk->ik", {a}), ValueError);
  EXPECT_THROW(ops::einsum("ij->ii", {sq}), ValueError);
  Tensor n = from_vector(std::vector<int64_t>{-7, 7, -7, 7}), d = from_vector(std::vector<int64_t>{3, 3, -3, -3});
  EXPECT_EQ(ops::remainder(n, d).tolist<int64_t>(), (std::vector<int64_t>{2, 1, -1, -2}));        // Python's %
  EXPECT_EQ(ops::floor_divide(n, d).tolist<int64_t>(), (std::vector<int64_t>{-3, 2, 2, -3}));     // Python's //
  auto grids = ops::meshgrid({arange(0, 2, 1), arange(0, 3, 1)}, "xy");
  EXPECT_EQ(grids[0].shape(), (Shape{3, 2}));
  using V = std::vector<Tensor>;
  EXPECT_TRUE(autograd::gradcheck([](const V& in) { return V{ops::einsum("ij,jk,k->i", {in[0], in[1], in[2]})}; },
                                  {randn({2, 3}, {DType::Float64}, &g).requires_grad_(),
                                   randn({3, 4}, {DType::Float64}, &g).requires_grad_(),
                                   randn({4}, {DType::Float64}, &g).requires_grad_()}));
  Tensor x = (rand({5}, {DType::Float64}, &g) * 1.6 - 0.8).requires_grad_();
  for (auto f : {&ops::tan, &ops::atan, &ops::asin, &ops::acos, &ops::sinh, &ops::cosh, &ops::exp2})
    EXPECT_TRUE(autograd::gradcheck([f](const V& in) { return V{f(in[0])}; }, {x}));
  EXPECT_NEAR(ops::asin(from_vector(std::vector<double>{0.5})).item<double>(), std::asin(0.5), 1e-12);
  EXPECT_NEAR(ops::log10(from_vector(std::vector<double>{1000})).item<double>(), 3.0, 1e-12);
}
