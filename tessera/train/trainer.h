#pragma once
// The training loop, Keras-style: fit / evaluate / predict with metrics and callbacks.
//   train::fit(*model, loader, {.epochs = 2, .optimizer = &opt, .validation = &test_loader,
//                               .callbacks = {train::progress_bar(), train::checkpoint("runs/a")}});
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "tessera/data/loader.h"
#include "tessera/nn/module.h"
#include "tessera/optim/optimizer.h"
#include "tessera/optim/scheduler.h"

namespace tessera::train {

// Metric values by name: "loss", "accuracy", "top5_accuracy"; validation ones prefixed "val_".
using Logs = std::map<std::string, double>;
using LossFn = std::function<Tensor(const Tensor& output, const Tensor& target)>;

class Trainer;

class Callback {
 public:
  virtual ~Callback() = default;
  virtual void on_train_begin(Trainer&) {}
  virtual void on_train_end(Trainer&, const Logs&) {}
  virtual void on_epoch_begin(Trainer&, int64_t epoch) {}
  // After the epoch's training and validation passes; logs hold both.
  virtual void on_epoch_end(Trainer&, int64_t epoch, const Logs& logs) {}
  virtual void on_batch_end(Trainer&, int64_t batch, const Logs& logs) {}
  // The run was interrupted (SIGINT) after a completed step.
  virtual void on_interrupt(Trainer&) {}
};

struct FitOptions {
  int64_t epochs = 1;
  optim::Optimizer* optimizer = nullptr;
  LossFn loss{};  // defaults to cross_entropy
  std::vector<std::string> metrics = {"accuracy"};
  data::DataLoader* validation = nullptr;
  std::vector<std::shared_ptr<Callback>> callbacks{};
  int64_t initial_epoch = 0;  // resume: the number of epochs already done
  // Where batches go before the model sees them; by default the device of the model's first
  // parameter. Pinned batches (LoaderOptions::pin_memory) are copied asynchronously.
  std::optional<Device> device{};
  // Mixed precision: the forward pass and the loss run under AutocastGuard(device, this type)
  // (BFloat16, or Float16 with a GradScaler scaling the loss); parameters, gradients and the
  // optimizer stay float32.
  std::optional<DType> mixed_precision{};
};

struct History {
  std::vector<Logs> epochs;
  bool stopped_early = false, interrupted = false;
};

// Thrown when the loss becomes NaN or Inf; names the epoch and step.
class TrainingError : public Error {
  using Error::Error;
};

class Trainer {
 public:
  Trainer(nn::Module& model, FitOptions o);
  History fit(data::DataLoader& train);
  nn::Module& model() { return model_; }
  optim::Optimizer* optimizer() { return o_.optimizer; }
  const FitOptions& options() const { return o_; }
  int64_t epoch() const { return epoch_; }        // the current epoch (0-based)
  int64_t global_step() const { return step_; }   // optimizer steps taken
  int64_t num_batches() const { return batches_; }  // batches per training epoch
  // The learning rate (of the first group) this epoch trained with: read before its first step,
  // so epoch-end callbacks see it whatever schedulers ran before them.
  double epoch_lr() const { return epoch_lr_; }
  void set_global_step(int64_t s) { step_ = s; }
  void stop() { stop_ = true; }                   // callbacks: stop after this epoch
  bool stopping() const { return stop_; }

 private:
  nn::Module& model_;
  FitOptions o_;
  int64_t epoch_ = 0, step_ = 0, batches_ = 0;
  double epoch_lr_ = 0;
  bool stop_ = false;
};

History fit(nn::Module& model, data::DataLoader& train, FitOptions o);
// A loss by name, PyTorch's or Keras's: cross_entropy (sparse_categorical_crossentropy), nll_loss,
// mse_loss (mse, mean_squared_error), l1_loss (mae, mean_absolute_error), smooth_l1_loss,
// binary_cross_entropy (binary_crossentropy), binary_cross_entropy_with_logits.
LossFn loss_by_name(const std::string& name);
// The metric names fit and evaluate know (accuracy, topK_accuracy); a ValueError naming op otherwise.
void check_metrics(const std::vector<std::string>& metrics, const char* op);
// The device of the model's first parameter (the CPU for a model without parameters).
Device model_device(const nn::Module& model);
// The batch on device (asynchronously from pinned memory).
data::Batch to_device(const data::Batch& b, Device device);

// Loss and metrics over a loader, in eval mode without gradients.
Logs evaluate(nn::Module& model, data::DataLoader& loader, const LossFn& loss = {},
              const std::vector<std::string>& metrics = {"accuracy"});
// The model's outputs over a loader, concatenated.
Tensor predict(nn::Module& model, data::DataLoader& loader);

// --- callbacks ------------------------------------------------------------------------------
// A live bar with rate, ETA, loss and metrics on a terminal; one plain line per epoch otherwise.
std::shared_ptr<Callback> progress_bar();
// Writes dir/last.ckpt every epoch and dir/best.ckpt when monitor improves, plus
// dir/model.safetensors (the best, or last, weights as a plain state dict); on SIGINT saves last.
std::shared_ptr<Callback> checkpoint(const std::string& dir, const std::string& monitor = "val_loss",
                                     optim::LRScheduler* scheduler = nullptr);
// Stops when monitor has not improved by min_delta for patience epochs.
std::shared_ptr<Callback> early_stopping(const std::string& monitor = "val_loss", int64_t patience = 3,
                                         double min_delta = 0);
// Steps a scheduler every epoch (or every batch).
std::shared_ptr<Callback> lr_scheduler(optim::LRScheduler& s, bool per_batch = false);
// Appends one CSV row of logs per epoch to path (header on the first).
std::shared_ptr<Callback> csv_logger(const std::string& path);

struct TensorBoardOptions {
  int64_t histogram_freq = 0;  // every N epochs, a histogram of each parameter (0: none)
  int64_t update_freq = 0;     // every N batches, batch_<metric> scalars at the global step (0: epochs only)
};
// TensorBoard logs as Keras writes them: log_dir/train and log_dir/validation, each with
// epoch_loss, epoch_<metric> (so training and validation share a chart), epoch_learning_rate
// under train; view with `tensorboard --logdir log_dir`.
std::shared_ptr<Callback> tensorboard(const std::string& log_dir, TensorBoardOptions o = {});

}  // namespace tessera::train
