// examples/train_fashion_mnist.cpp: data loading, fit with callbacks, evaluate, save, reload.
#include <cstdio>

#include "tessera/data/formats.h"
#include "tessera/data/loader.h"
#include "tessera/data/transforms.h"
#include "tessera/io/safetensors.h"
#include "tessera/tessera.h"
#include "tessera/train/trainer.h"
#include "tessera/zoo/zoo.h"

using namespace tessera;

int main() {
  manual_seed(0);
  // Fashion-MNIST as installed by `apt-get install dataset-fashion-mnist` (make demo does it).
  std::string dir = "/usr/share/datasets/fashion-mnist";
  auto train_all = data::load_mnist(dir, /*train=*/true), test_all = data::load_mnist(dir, false);
  // A slice, so that this example runs in seconds; the tessera command trains on everything.
  std::vector<int64_t> first(4096), firsttest(1024);
  for (int64_t i = 0; i < 4096; ++i) first[size_t(i)] = i;
  for (int64_t i = 0; i < 1024; ++i) firsttest[size_t(i)] = i;
  auto train_set = std::make_shared<data::Subset>(train_all, first);
  auto test_set = std::make_shared<data::Subset>(test_all, firsttest);
  auto normalize = [](data::Batch b) {
    b.input = data::normalize(b.input, {0.2860}, {0.3530});
    return b;
  };
  data::DataLoader train(train_set, {.batch_size = 64, .shuffle = true, .seed = 1, .collate = normalize});
  data::DataLoader test(test_set, {.batch_size = 256, .collate = normalize});

  auto model = zoo::lenet5();
  optim::SGD opt(model->parameters(), {.lr = 0.01, .momentum = 0.9});
  optim::CosineAnnealingLR schedule(opt, /*T_max=*/2);
  train::History h = train::fit(*model, train,
                                {.epochs = 2, .optimizer = &opt, .validation = &test,
                                 .callbacks = {train::progress_bar(), train::lr_scheduler(schedule),
                                               train::early_stopping("val_loss", 3),
                                               train::checkpoint("runs/example", "val_accuracy")}});
  train::Logs result = train::evaluate(*model, test);
  std::printf("test accuracy %.3f after %zu epochs\n", result["accuracy"], h.epochs.size());

  // The best weights, as a plain safetensors state dict, load into a fresh model.
  auto reloaded = zoo::lenet5();
  auto tensors = io::load_safetensors("runs/example/model.safetensors");
  reloaded->load_state_dict(nn::StateDict(tensors.begin(), tensors.end()));
  return result["accuracy"] > 0.6 ? 0 : 1;
}
