#include "tessera/data/torch_api.h"

#include "tessera/data/formats.h"

namespace tessera::data {

datasets::MNIST::MNIST(const std::string& root, Mode mode) : MappedDataset(load_mnist(root, mode == Mode::kTrain)) {}

namespace {
LoaderOptions options_of(const MappedDataset& d, const DataLoaderOptions& o, bool shuffle) {
  const detail::LoaderConfig& c = o.config();
  TS_CHECK_VALUE(c.batch_size >= 1 && c.workers >= 0, "make_data_loader: batch_size ", c.batch_size, " and workers ",
                 c.workers, " (batch_size at least 1, workers at least 0)");
  LoaderOptions lo;
  lo.batch_size = c.batch_size;
  lo.shuffle = shuffle;
  lo.seed = c.seed;
  lo.drop_last = c.drop_last;
  lo.num_workers = int(c.workers);
  auto transforms = d.transforms;
  if (!transforms.empty())
    lo.collate = [transforms](Batch b) {
      for (auto& t : transforms) b = t(std::move(b));
      return b;
    };
  return lo;
}
}  // namespace

TorchStyleLoader::TorchStyleLoader(const MappedDataset& dataset, const DataLoaderOptions& o, bool shuffle)
    : loader_(dataset.base(), options_of(dataset, o, shuffle)) {}

}  // namespace tessera::data
