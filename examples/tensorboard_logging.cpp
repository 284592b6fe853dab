// examples/tensorboard_logging.cpp: TensorBoard logs from C++, by hand and from the trainer.
// Then: tensorboard --logdir runs/tensorboard_example
#include <cstdio>

#include "tessera/data/loader.h"
#include "tessera/log/summary_writer.h"
#include "tessera/tessera.h"
#include "tessera/train/trainer.h"

using namespace tessera;

int main() {
  manual_seed(0);
  // Two clusters in 2-D, and a small classifier for them.
  Tensor y = randint(0, 2, {512}, {DType::Int64});
  Tensor x = randn({512, 2}) + (y.to(DType::Float32) * 4.0 - 2.0).unsqueeze(1);
  auto ds = std::make_shared<data::TensorDataset>(x, y);
  data::DataLoader train_loader(ds, {.batch_size = 32, .shuffle = true}), val_loader(ds, {.batch_size = 128});
  auto model = std::make_shared<nn::Sequential>(nn::Linear(2, 16), nn::ReLU(), nn::Linear(16, 2));
  optim::SGD opt(model->parameters(), {.lr = 0.05, .momentum = 0.9});

  // By hand: scalars, a histogram, an image and text.
  log::SummaryWriter w("runs/tensorboard_example/by_hand");
  w.add_text("setup", "SGD lr 0.05, momentum 0.9, batch 32");
  w.add_image("inputs", (x.narrow(0, 0, 64).reshape({1, 8, 16}) + 3.0) / 6.0);  // CHW, values in [0, 1]
  for (int64_t step = 0; step < 16; ++step) {
    Tensor loss = nn::functional::cross_entropy((*model)(x), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
    w.add_scalar("loss", loss.item<double>(), step);
  }
  w.add_histogram("first_layer_weight", model->parameters()[0], 16);
  w.add_graph(*model, x);  // the Graphs tab
  w.close();

  // From the trainer: runs train/ and validation/ with epoch_loss, epoch_accuracy, ...
  train::fit(*model, train_loader,
             {.epochs = 3, .optimizer = &opt, .validation = &val_loader,
              .callbacks = {train::tensorboard("runs/tensorboard_example/fit", {.histogram_freq = 1})}});
  std::printf("wrote %s\n", w.file_path().c_str());
  std::printf("view with: tensorboard --logdir runs/tensorboard_example\n");
}
