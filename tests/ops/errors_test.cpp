// Bad input: every op throws a typed error that names the op and the offending values.
#include <gtest/gtest.h>

#include "tessera/tessera.h"
#include "tests/expect_error.h"

using namespace tessera;
using tessera::testing::expect_error;

TEST(Errors, MessagesNameTheOpAndShapes) {
  expect_error<ShapeError>([] { ops::matmul(ones({3, 4}), ones({5, 6})); },
                           "matmul: mat1 and mat2 shapes cannot be multiplied (3x4 and 5x6)");
  expect_error<ShapeError>([] { ones({2, 3}) + ones({4}); }, "add: shapes [2, 3] and [4] cannot be broadcast");
  expect_error<ShapeError>([] { ones({6}).view({4, -1}); }, "view: shape [4, -1] is invalid for input of size 6");
  expect_error<IndexError>([] { ones({2, 3}).sum({2}); }, "sum: dimension out of range");
  expect_error<DTypeError>([] { ops::matmul(ones({2, 2}), ones({2, 2}, {DType::Float64})); }, "float32 and float64");
  expect_error<ShapeError>([] { ops::conv2d(ones({1, 4, 5, 5}), ones({2, 3, 3, 3})); },
                           "expected input [1, 4, 5, 5] to have 3 channels");
  expect_error<ValueError>([] { ops::conv2d(ones({1, 3, 5, 5}), ones({2, 3, 3, 3}), {}, {.stride = {0, 1}}); },
                           "conv2d: stride must be positive");
  expect_error<ValueError>([] { ops::conv2d(ones({1, 3, 5, 5}), ones({2, 3, 3, 3}), {}, {.dilation = {0, 1}}); },
                           "conv2d: dilation must be positive");
  expect_error<ShapeError>([] { ops::conv2d(ones({1, 3, 2, 2}), ones({2, 3, 3, 3})); }, "smaller than the dilated kernel");
  expect_error<ValueError>([] { zeros({2, -1}); }, "empty: negative dimension in shape [2, -1]");
  expect_error<ValueError>([] { arange(0, 5, 0); }, "arange: step must be nonzero");
  expect_error<ValueError>([] { ops::fmod(tensor({1, 2}), tensor({1, 0})); }, "fmod: integer division by zero");
  expect_error<ValueError>([] { ops::max_pool2d(ones({1, 1, 4, 4}), {.kernel_size = {2}, .stride = {0}}); },
                           "max_pool2d: stride must be positive");
  expect_error<ValueError>([] { ops::max_pool2d(ones({1, 1, 4, 4}), {.kernel_size = {2}, .padding = {2}}); },
                           "pad should be at most half");
  expect_error<IndexError>([] { ops::index_select(ones({3}), 0, tensor({5})); },
                           "index 5 is out of bounds for dimension 0 with size 3");
  expect_error<ValueError>([] { ones({3}).item(); }, "item: a Tensor with 3 elements");
  expect_error<ShapeError>([] { ops::stack({ones({2}), ones({3})}); }, "stack: expects each tensor to be equal size");
  expect_error<ValueError>([] { ones({2, 2}).permute({0, 0}); }, "permute: repeated dim 0");
  expect_error<DTypeError>([] { ops::where(ones({2}), ones({2}), ones({2})); }, "where: expected condition");
  expect_error<ValueError>([] { bernoulli({2}, 1.5); }, "bernoulli: expected 0 <= p <= 1");
  expect_error<ValueError>([] { randint(5, 5, {2}); }, "randint: expected low < high");
  expect_error<ShapeError>([] { ones(Shape(17, 1)); }, "at most 16 dimensions");
  expect_error<ValueError>([] { ones({1LL << 40, 1LL << 40}); }, "has too many elements");
}
