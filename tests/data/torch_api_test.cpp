// LibTorch's data API (datasets::MNIST, map(Normalize), map(Stack), make_data_loader with
// DataLoaderOptions, batch.data / batch.target) over Debian's Fashion-MNIST test set.
#include <gtest/gtest.h>

#include <set>

#include "tessera/data/formats.h"
#include "tessera/data/torch_api.h"
#include "tessera/tessera.h"

using namespace tessera;

namespace {
const char* kRoot = "/usr/share/datasets/fashion-mnist";  // (dataset-fashion-mnist, deps/debian.txt)
}

TEST(TorchDataApi, MnistNormalizeStackAndLoaders) {
  auto raw = data::load_mnist(kRoot, false);
  auto test = data::datasets::MNIST(kRoot, data::datasets::MNIST::Mode::kTest)
                  .map(data::transforms::Normalize<>(0.1307, 0.3081))
                  .map(data::transforms::Stack<>());
  ASSERT_EQ(test.size().value(), 10000u);
  EXPECT_TRUE(test.stacked);
  auto in_order = data::make_data_loader<data::samplers::SequentialSampler>(
      test, data::DataLoaderOptions().batch_size(64).workers(2));
  int64_t batches = 0, seen = 0;
  for (auto& batch : *in_order) {
    if (batches == 0) {
      EXPECT_EQ(batch.data.shape(), (Shape{64, 1, 28, 28}));
      Tensor want = (raw->inputs().narrow(0, 0, 64) - 0.1307) / 0.3081;
      EXPECT_TRUE(ops::allclose(batch.data, want, 1e-5, 1e-6));
      EXPECT_TRUE(ops::equal(batch.target, raw->targets().narrow(0, 0, 64)));
    }
    ++batches;
    seen += batch.target.size(0);
  }
  EXPECT_EQ(batches, 157);  // 10000 / 64, the last one partial
  EXPECT_EQ(seen, 10000);
  // The default sampler shuffles: the same examples in another order; drop_last drops the tail.
  auto shuffled = data::make_data_loader(test, data::DataLoaderOptions(1000).drop_last(true).seed(3));
  std::multiset<int64_t> labels;
  Tensor first;
  for (auto& batch : *shuffled) {
    if (!first.defined()) first = batch.target;
    for (int64_t v : batch.target.tolist<int64_t>()) labels.insert(v);
  }
  EXPECT_EQ(labels.size(), 10000u);
  EXPECT_FALSE(ops::equal(first, raw->targets().narrow(0, 0, 1000)));
  auto small = data::make_data_loader(test, 5000);
  EXPECT_EQ(small->loader().num_batches(), 2);
  EXPECT_THROW(data::make_data_loader(test, data::DataLoaderOptions(0)), ValueError);
  EXPECT_THROW(data::datasets::MNIST("/no/such/folder"), IOError);
}
