#include <gtest/gtest.h>

#include "tessera/tessera.h"

using namespace tessera;

TEST(Indexing, BasicIndicesAreViews) {
  Tensor x = arange(24).view({2, 3, 4});
  Tensor v = x.index({1, Slice{0, 3, 2}, Ellipsis_});
  EXPECT_EQ(v.shape(), (Shape{2, 4}));
  EXPECT_EQ(v.storage(), x.storage());
  EXPECT_EQ(v.tolist<int64_t>()[4], 20);
  EXPECT_EQ(x.index({None, Ellipsis_, -1}).shape(), (Shape{1, 2, 3}));
  EXPECT_EQ(x.index({Ellipsis_, None}).shape(), (Shape{2, 3, 4, 1}));
  EXPECT_THROW(x.index({0, 0, 0, 0}), IndexError);
  EXPECT_THROW(x.index({Ellipsis_, Ellipsis_}), IndexError);
}

TEST(Indexing, IntegerTensorIndicesFollowNumPy) {
  Tensor x = arange(24).view({2, 3, 4});
  Tensor i = tensor({2, 0}), j = tensor({1, 3});
  // Adjacent advanced indices stay in place: x[:, i, j] has shape [2, 2].
  Tensor a = x.index({Slice{}, i, j});
  EXPECT_EQ(a.shape(), (Shape{2, 2}));
  EXPECT_EQ(a.tolist<int64_t>(), (std::vector<int64_t>{9, 3, 21, 15}));
  // Separated advanced indices go first: x[i0, :, j] has shape [2, 3].
  Tensor b = x.index({tensor({1, 0}), Slice{}, j});
  EXPECT_EQ(b.shape(), (Shape{2, 3}));
  EXPECT_EQ(b.tolist<int64_t>(), (std::vector<int64_t>{13, 17, 21, 3, 7, 11}));
  // Broadcast index shapes and negative indices.
  Tensor c = x.index({tensor({-1}).view({1, 1}), tensor({0, 2}).view({1, 2})});
  EXPECT_EQ(c.shape(), (Shape{1, 2, 4}));
  EXPECT_EQ(c.tolist<int64_t>()[4], 20);
  EXPECT_THROW(x.index({tensor({2})}), IndexError);
  EXPECT_THROW(x.index({tensor({0.5})}), DTypeError);
}

TEST(Indexing, BoolMasks) {
  Tensor x = arange(6).view({2, 3});
  Tensor m = x > 2;
  EXPECT_EQ(x.index({m}).tolist<int64_t>(), (std::vector<int64_t>{3, 4, 5}));
  EXPECT_EQ(ops::masked_select(x, m).tolist<int64_t>(), (std::vector<int64_t>{3, 4, 5}));
  EXPECT_EQ(x.index({Slice{}, tensor({1., 0., 1.}) > 0.5}).tolist<int64_t>(), (std::vector<int64_t>{0, 2, 3, 5}));
  EXPECT_EQ(x.masked_fill(m, -1).tolist<int64_t>(), (std::vector<int64_t>{0, 1, 2, -1, -1, -1}));
  Tensor y = x.clone();
  y.masked_fill_(x.select(0, 0) == 1, 9);  // broadcast row mask
  EXPECT_EQ(y.tolist<int64_t>(), (std::vector<int64_t>{0, 9, 2, 3, 9, 5}));
  EXPECT_THROW(x.index({ones({3}, {DType::Bool})}), IndexError);
}

TEST(Indexing, IndexPutWritesThroughToTheTensor) {
  Tensor x = zeros({3, 4});
  x.index_put_({tensor({0, 2}), tensor({1, 3})}, tensor({5., 6.}));
  EXPECT_EQ(x.to_vector()[1], 5);
  EXPECT_EQ(x.to_vector()[11], 6);
  x.index_put_({Slice{}, 0}, 7);
  EXPECT_EQ(x.sum().item<double>(), 5 + 6 + 21);
  Tensor acc = zeros({3});
  acc.index_put_({tensor({0, 0, 2})}, tensor({1., 2., 3.}), true);  // duplicates accumulate
  EXPECT_EQ(acc.to_vector(), (std::vector<double>{3, 0, 3}));
  Tensor t = zeros({4, 3}).t();  // a non-contiguous target
  t.index_put_({tensor({1}), tensor({2})}, 4);
  EXPECT_EQ(t.index({1, 2}).item<double>(), 4);
  Tensor m = arange(0, 4, 1, {DType::Float32});
  m.index_put_({m > 1.5}, 0);
  EXPECT_EQ(m.to_vector(), (std::vector<double>{0, 1, 0, 0}));
}

TEST(Indexing, GatherScatterIndexSelect) {
  Tensor x = tensor({{1., 2.}, {3., 4.}});
  EXPECT_EQ(ops::gather(x, 1, tensor({0, 0, 1, 0}).view({2, 2})).to_vector(), (std::vector<double>{1, 1, 4, 3}));
  EXPECT_EQ(ops::index_select(x, 0, tensor({1, 1, 0})).to_vector(), (std::vector<double>{3, 4, 3, 4, 1, 2}));
  EXPECT_EQ(ops::index_select(x, 1, tensor({1})).to_vector(), (std::vector<double>{2, 4}));
  Tensor s = ops::scatter(zeros({2, 3}), 1, tensor({2, 0}).view({2, 1}), tensor({9., 8.}).view({2, 1}));
  EXPECT_EQ(s.to_vector(), (std::vector<double>{0, 0, 9, 8, 0, 0}));
  Tensor sa = ops::scatter_add(zeros({3}), 0, tensor({0, 0, 1}), tensor({1., 1., 1.}));
  EXPECT_EQ(sa.to_vector(), (std::vector<double>{2, 1, 0}));
  Tensor ia = zeros({3, 2});
  ops::index_add_(ia, 0, tensor({2, 2}), ones({2, 2}));
  EXPECT_EQ(ia.to_vector(), (std::vector<double>{0, 0, 0, 0, 2, 2}));
  EXPECT_THROW(ops::gather(x, 1, tensor({0, 2}).view({1, 2})), IndexError);
  EXPECT_THROW(ops::index_select(x, 0, tensor({0.})), DTypeError);
  EXPECT_THROW(ops::gather(x, 0, tensor({0}).view({1, 1, 1})), ShapeError);
}

TEST(Indexing, WhereAndNonzero) {
  Tensor c = tensor({1., 0., 1.}) > 0.5;
  EXPECT_EQ(ops::where(c, tensor({1., 2., 3.}), 0.0).to_vector(), (std::vector<double>{1, 0, 3}));
  EXPECT_EQ(ops::where(c, 1.0, tensor({5., 6., 7.})).to_vector(), (std::vector<double>{1, 6, 1}));
  EXPECT_EQ(ops::nonzero(tensor({0., 3., 0., 4.})).tolist<int64_t>(), (std::vector<int64_t>{1, 3}));
  EXPECT_THROW(ops::where(tensor({1.}), tensor({1.}), tensor({1.})), DTypeError);
}
