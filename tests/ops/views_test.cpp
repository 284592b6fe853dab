#include <gtest/gtest.h>

#include "tessera/tessera.h"

using namespace tessera;

static std::vector<double> V(const Tensor& t) { return t.to_vector(); }

TEST(Views, ShareStorageWithTheirBase) {
  Tensor x = arange(0, 12, 1, {DType::Float32}).view({3, 4});
  Tensor t = x.t();
  EXPECT_EQ(t.shape(), (Shape{4, 3}));
  EXPECT_EQ(t.strides(), (Shape{1, 4}));
  EXPECT_FALSE(t.is_contiguous());
  t.select(0, 1).fill_(-1);  // column 1 of x
  EXPECT_EQ(V(x.select(1, 1)), (std::vector<double>{-1, -1, -1}));
  EXPECT_EQ(x.view({-1}).numel(), 12);
  EXPECT_EQ(x.unsqueeze(0).shape(), (Shape{1, 3, 4}));
  EXPECT_EQ(x.unsqueeze(-1).shape(), (Shape{3, 4, 1}));
  EXPECT_EQ(x.unsqueeze(0).squeeze().shape(), (Shape{3, 4}));
  EXPECT_EQ(x.flatten().shape(), (Shape{12}));
  EXPECT_EQ(x.view({2, 2, 3}).flatten(1).shape(), (Shape{2, 6}));
  EXPECT_EQ(x.unflatten(1, {2, -1}).shape(), (Shape{3, 2, 2}));
  EXPECT_EQ(x.permute({1, 0}).contiguous().view({-1}).tolist<float>()[1], 4.0f);
}

TEST(Views, ReshapeCopiesOnlyWhenItMust) {
  Tensor x = arange(6).view({2, 3});
  EXPECT_EQ(x.reshape({3, 2}).storage(), x.storage());
  Tensor tr = x.t();
  EXPECT_THROW(tr.view({6}), ShapeError);
  Tensor r = tr.reshape({6});
  EXPECT_NE(r.storage(), x.storage());
  EXPECT_EQ(r.tolist<int64_t>(), (std::vector<int64_t>{0, 3, 1, 4, 2, 5}));
}

TEST(Views, ExpandNarrowSliceSelect) {
  Tensor x = arange(0, 10, 1, {DType::Float64});
  EXPECT_EQ(V(x.slice(0, 1, 8, 3)), (std::vector<double>{1, 4, 7}));
  EXPECT_EQ(V(x.slice(0, -3, std::nullopt)), (std::vector<double>{7, 8, 9}));
  EXPECT_EQ(V(x.slice(0, std::nullopt, -8)), (std::vector<double>{0, 1}));
  EXPECT_EQ(x.slice(0, 5, 2).numel(), 0);
  EXPECT_EQ(V(x.narrow(0, -2, 2)), (std::vector<double>{8, 9}));
  EXPECT_EQ(x.select(0, -1).item<double>(), 9);
  Tensor e = tensor({1., 2.}).view({2, 1}).expand({2, 3});
  EXPECT_EQ(e.strides(), (Shape{1, 0}));
  EXPECT_EQ(V(e), (std::vector<double>{1, 1, 1, 2, 2, 2}));
  EXPECT_EQ(V(tensor({5.}).broadcast_to({2, 2})), (std::vector<double>{5, 5, 5, 5}));
  EXPECT_THROW(x.slice(0, 0, 5, 0), ValueError);
  EXPECT_THROW(x.slice(0, 0, 5, -1), ValueError);
  EXPECT_THROW(x.select(0, 10), IndexError);
  EXPECT_THROW(x.narrow(0, 5, 6), IndexError);
  EXPECT_THROW(tensor({1., 2.}).expand({3}), ShapeError);
}

TEST(Views, AsStridedRejectsOutOfStorageViews) {
  Tensor x = arange(6);
  EXPECT_EQ(ops::as_strided(x, {2, 2}, {1, 2}).tolist<int64_t>(), (std::vector<int64_t>{0, 2, 1, 3}));
  EXPECT_THROW(ops::as_strided(x, {3, 3}, {3, 1}), IndexError);
}

TEST(Movement, CatStackSplitChunk) {
  Tensor a = arange(6).view({2, 3}), b = arange(6, 9).view({1, 3});
  EXPECT_EQ(ops::cat({a, b}).tolist<int64_t>(), arange(9).tolist<int64_t>());
  EXPECT_EQ(ops::cat({a, a}, 1).shape(), (Shape{2, 6}));
  EXPECT_EQ(ops::cat({a, a.to(DType::Float64)}).dtype(), DType::Float64);
  EXPECT_EQ(ops::stack({a, a}, 1).shape(), (Shape{2, 2, 3}));
  auto parts = ops::split(arange(7), 3);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[2].tolist<int64_t>(), (std::vector<int64_t>{6}));
  auto sized = ops::split(arange(7), Shape{2, 5});
  EXPECT_EQ(sized[1].numel(), 5);
  EXPECT_EQ(ops::chunk(arange(6), 4).size(), 3u);  // like PyTorch: ceil(6/4)=2 per chunk
  EXPECT_THROW(ops::cat({a, arange(4).view({2, 2})}), ShapeError);
  EXPECT_THROW(ops::split(arange(7), Shape{2, 2}), ShapeError);
}

TEST(Movement, FlipRollRepeat) {
  Tensor x = arange(6).view({2, 3});
  EXPECT_EQ(ops::flip(x, {1}).tolist<int64_t>(), (std::vector<int64_t>{2, 1, 0, 5, 4, 3}));
  EXPECT_EQ(ops::flip(x, {0, 1}).tolist<int64_t>(), (std::vector<int64_t>{5, 4, 3, 2, 1, 0}));
  EXPECT_EQ(ops::roll(x, {1}, {1}).tolist<int64_t>(), (std::vector<int64_t>{2, 0, 1, 5, 3, 4}));
  EXPECT_EQ(ops::roll(x, {-1}, {}).tolist<int64_t>(), (std::vector<int64_t>{1, 2, 3, 4, 5, 0}));
  EXPECT_EQ(ops::repeat(tensor({1, 2}), {2, 2}).tolist<int64_t>(), (std::vector<int64_t>{1, 2, 1, 2, 1, 2, 1, 2}));
  EXPECT_EQ(ops::repeat(tensor({1, 2}), {2, 2}).shape(), (Shape{2, 4}));
}

TEST(Movement, PadModes) {
  Tensor x = arange(0, 4, 1, {DType::Float32}).view({1, 4});
  EXPECT_EQ(V(ops::pad(x, {1, 2}, "constant", 9)), (std::vector<double>{9, 0, 1, 2, 3, 9, 9}));
  EXPECT_EQ(V(ops::pad(x, {2, 1}, "reflect")), (std::vector<double>{2, 1, 0, 1, 2, 3, 2}));
  EXPECT_EQ(V(ops::pad(x, {2, 1}, "replicate")), (std::vector<double>{0, 0, 0, 1, 2, 3, 3}));
  EXPECT_EQ(V(ops::pad(x, {-1, 0})), (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(ops::pad(x, {1, 1, 1, 1}).shape(), (Shape{3, 6}));
  EXPECT_THROW(ops::pad(x, {4, 0}, "reflect"), ValueError);
  EXPECT_THROW(ops::pad(x, {1}, "constant"), ValueError);
  EXPECT_THROW(ops::pad(x, {1, 1}, "circular"), ValueError);
}

TEST(Movement, TrilTriu) {
  Tensor x = ones({3, 3});
  EXPECT_EQ(V(ops::tril(x)), (std::vector<double>{1, 0, 0, 1, 1, 0, 1, 1, 1}));
  EXPECT_EQ(V(ops::triu(x, 1)), (std::vector<double>{0, 1, 1, 0, 0, 1, 0, 0, 0}));
  EXPECT_THROW(ops::tril(ones({3})), ShapeError);
}
