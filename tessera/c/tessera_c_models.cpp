// tessera's C API: models (the zoo, ONNX files), optimizers, checkpoints, data loaders and the
// trainer.
#include <cmath>
#include <limits>

#include "tessera/c/internal.h"
#include "tessera/data/formats.h"
#include "tessera/data/transforms.h"
#include "tessera/io/onnx.h"
#include "tessera/train/checkpoint.h"
#include "tessera/train/serialize.h"
#include "tessera/train/trainer.h"
#include "tessera/zoo/zoo.h"

using tessera::DType;
using tessera::Shape;
using tessera::Tensor;
using namespace tessera::c_api;

// --- models ------------------------------------------------------------------------------------
namespace {
const std::vector<std::string>& zoo_names() {
  static const auto* names = new std::vector<std::string>(tessera::zoo::names());
  return *names;
}

std::vector<Tensor> parameters_of(ts_module m, const char* fn) { return module_of(m, fn).parameters(); }
}  // namespace

ts_status ts_module_from_zoo(const char* name, int64_t in_channels, int64_t classes, ts_module* out) {
  return making(out, "ts_module_from_zoo", [&] {
    return tessera::zoo::create(text_of(name, "ts_module_from_zoo", "name"), in_channels, classes);
  });
}

int ts_zoo_count(void) { return int(zoo_names().size()); }

const char* ts_zoo_name(int i) { return i >= 0 && i < ts_zoo_count() ? zoo_names()[size_t(i)].c_str() : nullptr; }

ts_status ts_module_load_onnx(const char* path, ts_module* out) {
  return making(out, "ts_module_load_onnx", [&] {
    return std::shared_ptr<tessera::nn::Module>(tessera::io::load_onnx(text_of(path, "ts_module_load_onnx", "path")));
  });
}

ts_status ts_module_export_onnx(ts_module m, const ts_tensor* inputs, int count, int dynamic_batch, const char* path) {
  return guarded([&] {
    tessera::nn::Module& mod = module_of(m, "ts_module_export_onnx");
    if (count <= 0) raise(TS_VALUE_ERROR, "ts_module_export_onnx: count must be at least 1, got " + std::to_string(count));
    need(inputs, "ts_module_export_onnx", "inputs");
    std::vector<Tensor> xs;
    for (int i = 0; i < count; ++i) {
      std::string what = "inputs[" + std::to_string(i) + "]";
      xs.push_back(tensor_of(inputs[i], "ts_module_export_onnx", what.c_str()));
    }
    tessera::io::OnnxExportOptions options;
    options.dynamic_batch = dynamic_batch != 0;
    tessera::io::export_onnx(mod, xs, text_of(path, "ts_module_export_onnx", "path"), options);
  });
}

ts_status ts_module_save(ts_module m, const char* path) {
  return guarded([&] { tessera::save(module_of(m, "ts_module_save"), text_of(path, "ts_module_save", "path")); });
}

ts_status ts_module_load(ts_module m, const char* path) {
  return guarded([&] { tessera::load(module_of(m, "ts_module_load"), text_of(path, "ts_module_load", "path")); });
}

ts_status ts_module_forward(ts_module m, ts_tensor x, ts_tensor* out) {
  return producing(out, "ts_module_forward",
                   [&] { return module_of(m, "ts_module_forward")(tensor_of(x, "ts_module_forward", "x")); });
}

ts_status ts_module_train(ts_module m, int on) {
  return guarded([&] { module_of(m, "ts_module_train").train(on != 0); });
}

ts_status ts_module_is_training(ts_module m, int* out) {
  return guarded([&] {
    tessera::nn::Module& mod = module_of(m, "ts_module_is_training");
    need(out, "ts_module_is_training", "out");
    *out = mod.is_training() ? 1 : 0;
  });
}

ts_status ts_module_to_device(ts_module m, const char* device) {
  return guarded([&] {
    tessera::nn::Module& mod = module_of(m, "ts_module_to_device");
    mod.to(tessera::Device::parse(text_of(device, "ts_module_to_device", "device")));
  });
}

ts_status ts_module_parameter_count(ts_module m, int* out) {
  return guarded([&] {
    tessera::nn::Module& mod = module_of(m, "ts_module_parameter_count");
    need(out, "ts_module_parameter_count", "out");
    *out = int(mod.named_parameters().size());
  });
}

ts_status ts_module_parameter(ts_module m, int i, char* name, size_t name_size, ts_tensor* out) {
  return producing(out, "ts_module_parameter", [&] {
    tessera::nn::StateDict params = module_of(m, "ts_module_parameter").named_parameters();
    if (i < 0 || size_t(i) >= params.size())
      raise(TS_INDEX_ERROR, "ts_module_parameter: index " + std::to_string(i) + " is out of range for " +
                                std::to_string(params.size()) + " parameters");
    if (name != nullptr) write_text(params[size_t(i)].first, name, name_size, "ts_module_parameter", false);
    return params[size_t(i)].second;
  });
}

ts_status ts_module_num_parameters(ts_module m, int64_t* out) {
  return guarded([&] {
    tessera::nn::Module& mod = module_of(m, "ts_module_num_parameters");
    need(out, "ts_module_num_parameters", "out");
    *out = mod.num_parameters();
  });
}

ts_status ts_module_to_string(ts_module m, char* buf, size_t size) {
  return guarded([&] { write_text(module_of(m, "ts_module_to_string").str(), buf, size, "ts_module_to_string", true); });
}

ts_status ts_module_free(ts_module m) { return free_handle(m, "ts_module_free", "module"); }

// --- optimizers ----------------------------------------------------------------------------------
ts_status ts_optimizer_sgd(ts_module m, double lr, double momentum, double weight_decay, int nesterov, ts_optimizer* out) {
  return making(out, "ts_optimizer_sgd", [&] {
    return std::shared_ptr<tessera::optim::Optimizer>(new tessera::optim::SGD(
        parameters_of(m, "ts_optimizer_sgd"),
        {.lr = lr, .momentum = momentum, .weight_decay = weight_decay, .nesterov = nesterov != 0}));
  });
}

ts_status ts_optimizer_adam(ts_module m, double lr, double beta1, double beta2, double eps, double weight_decay,
                            ts_optimizer* out) {
  return making(out, "ts_optimizer_adam", [&] {
    return std::shared_ptr<tessera::optim::Optimizer>(new tessera::optim::Adam(
        parameters_of(m, "ts_optimizer_adam"),
        {.lr = lr, .beta1 = beta1, .beta2 = beta2, .eps = eps, .weight_decay = weight_decay}));
  });
}

ts_status ts_optimizer_adamw(ts_module m, double lr, double beta1, double beta2, double eps, double weight_decay,
                             ts_optimizer* out) {
  return making(out, "ts_optimizer_adamw", [&] {
    return std::shared_ptr<tessera::optim::Optimizer>(new tessera::optim::AdamW(
        parameters_of(m, "ts_optimizer_adamw"),
        {.lr = lr, .beta1 = beta1, .beta2 = beta2, .eps = eps, .weight_decay = weight_decay}));
  });
}

ts_status ts_optimizer_step(ts_optimizer o) {
  return guarded([&] { optimizer_of(o, "ts_optimizer_step").step(); });
}

ts_status ts_optimizer_zero_grad(ts_optimizer o) {
  return guarded([&] { optimizer_of(o, "ts_optimizer_zero_grad").zero_grad(); });
}

ts_status ts_optimizer_lr(ts_optimizer o, double* out) {
  return guarded([&] {
    tessera::optim::Optimizer& opt = optimizer_of(o, "ts_optimizer_lr");
    need(out, "ts_optimizer_lr", "out");
    *out = opt.lr();
  });
}

ts_status ts_optimizer_set_lr(ts_optimizer o, double lr) {
  return guarded([&] { optimizer_of(o, "ts_optimizer_set_lr").set_lr(lr); });
}

ts_status ts_optimizer_free(ts_optimizer o) { return free_handle(o, "ts_optimizer_free", "optimizer"); }

// --- checkpoints ---------------------------------------------------------------------------------
ts_status ts_checkpoint_save(const char* path, ts_module m, ts_optimizer o, int64_t epoch, int64_t step) {
  return guarded([&] {
    std::string p = text_of(path, "ts_checkpoint_save", "path");
    tessera::nn::Module& mod = module_of(m, "ts_checkpoint_save");
    tessera::optim::Optimizer* opt = o ? &optimizer_of(o, "ts_checkpoint_save") : nullptr;
    tessera::train::CheckpointInfo info;
    info.epoch = epoch;
    info.step = step;
    tessera::train::save_checkpoint(p, mod, opt, nullptr, info);
  });
}

ts_status ts_checkpoint_load(const char* path, ts_module m, ts_optimizer o, int64_t* epoch, int64_t* step) {
  return guarded([&] {
    std::string p = text_of(path, "ts_checkpoint_load", "path");
    tessera::nn::Module& mod = module_of(m, "ts_checkpoint_load");
    tessera::optim::Optimizer* opt = o ? &optimizer_of(o, "ts_checkpoint_load") : nullptr;
    tessera::train::CheckpointInfo info = tessera::train::load_checkpoint(p, mod, opt);
    if (epoch) *epoch = info.epoch;
    if (step) *step = info.step;
  });
}

// --- data ----------------------------------------------------------------------------------------
namespace {
std::unique_ptr<tessera::data::DataLoader> loader_over(std::shared_ptr<const tessera::data::Dataset> ds,
                                                       int64_t batch_size, int shuffle, uint64_t seed, const char* fn) {
  if (batch_size < 1) raise(TS_VALUE_ERROR, std::string(fn) + ": batch_size must be at least 1, got " + std::to_string(batch_size));
  return std::make_unique<tessera::data::DataLoader>(
      std::move(ds), tessera::data::LoaderOptions{.batch_size = batch_size, .shuffle = shuffle != 0, .seed = seed});
}
}  // namespace

ts_status ts_data_loader_from_tensors(ts_tensor inputs, ts_tensor targets, int64_t batch_size, int shuffle,
                                      uint64_t seed, ts_data_loader* out) {
  return making(out, "ts_data_loader_from_tensors", [&] {
    auto ds = std::make_shared<tessera::data::TensorDataset>(tensor_of(inputs, "ts_data_loader_from_tensors", "inputs"),
                                                             tensor_of(targets, "ts_data_loader_from_tensors", "targets"));
    return loader_over(std::move(ds), batch_size, shuffle, seed, "ts_data_loader_from_tensors");
  });
}

ts_status ts_data_loader_mnist(const char* dir, int train, double mean, double std, int64_t batch_size, int shuffle,
                               uint64_t seed, ts_data_loader* out) {
  return making(out, "ts_data_loader_mnist", [&] {
    if (!(std > 0)) raise(TS_VALUE_ERROR, "ts_data_loader_mnist: std must be positive, got " + std::to_string(std));
    auto ds = tessera::data::load_mnist(text_of(dir, "ts_data_loader_mnist", "dir"), train != 0);
    if (mean != 0 || std != 1)
      ds = std::make_shared<tessera::data::TensorDataset>(tessera::data::normalize(ds->inputs(), {mean}, {std}),
                                                          ds->targets());
    return loader_over(std::move(ds), batch_size, shuffle, seed, "ts_data_loader_mnist");
  });
}

ts_status ts_data_loader_num_batches(ts_data_loader l, int64_t* out) {
  return guarded([&] {
    tessera::data::DataLoader& loader = loader_of(l, "ts_data_loader_num_batches");
    need(out, "ts_data_loader_num_batches", "out");
    *out = loader.num_batches();
  });
}

ts_status ts_data_loader_free(ts_data_loader l) { return free_handle(l, "ts_data_loader_free", "data loader"); }

// --- training ------------------------------------------------------------------------------------
namespace {
// The C progress function as a trainer callback.
class CProgress : public tessera::train::Callback {
 public:
  CProgress(ts_progress_fn fn, void* context) : fn_(fn), context_(context) {}
  void on_batch_end(tessera::train::Trainer& t, int64_t batch, const tessera::train::Logs& logs) override {
    if (fn_(context_, t.epoch(), batch, t.num_batches(), value(logs, "loss"))) t.stop();
  }
  void on_epoch_end(tessera::train::Trainer& t, int64_t epoch, const tessera::train::Logs& logs) override {
    if (fn_(context_, epoch, -1, t.num_batches(), value(logs, "loss"))) t.stop();
  }

 private:
  static double value(const tessera::train::Logs& logs, const char* key) {
    auto it = logs.find(key);
    return it == logs.end() ? std::numeric_limits<double>::quiet_NaN() : it->second;
  }
  ts_progress_fn fn_;
  void* context_;
};

// The loss by name (cross_entropy when NULL), and whether accuracy means something for it.
std::pair<tessera::train::LossFn, std::vector<std::string>> loss_named(const char* loss) {
  std::string name = loss ? loss : "cross_entropy";
  bool classification = name == "cross_entropy" || name == "nll_loss" || name == "sparse_categorical_crossentropy";
  return {tessera::train::loss_by_name(name), classification ? std::vector<std::string>{"accuracy"} : std::vector<std::string>{}};
}

void report(const tessera::train::Logs& logs, const std::string& prefix, double* loss_out, double* accuracy_out) {
  auto get = [&](const std::string& k) {
    auto it = logs.find(prefix + k);
    return it == logs.end() ? std::numeric_limits<double>::quiet_NaN() : it->second;
  };
  if (loss_out) *loss_out = get("loss");
  if (accuracy_out) *accuracy_out = get("accuracy");
}
}  // namespace

namespace {
// fit for epochs more epochs after initial_epoch; the last epoch's metrics through the outputs.
void run_fit(tessera::nn::Module& mod, tessera::optim::Optimizer& opt, const char* loss, ts_data_loader train,
             int64_t initial_epoch, int64_t epochs, ts_data_loader validation, ts_progress_fn progress, void* context,
             double* loss_out, double* accuracy_out, const char* fn, int64_t* epochs_done = nullptr) {
  tessera::data::DataLoader& data = loader_of(train, fn, "train");
  tessera::data::DataLoader* val = validation ? &loader_of(validation, fn, "validation") : nullptr;
  if (epochs < 1) raise(TS_VALUE_ERROR, std::string(fn) + ": epochs must be at least 1, got " + std::to_string(epochs));
  auto [lossfn, metrics] = loss_named(loss);
  tessera::train::FitOptions fo{.epochs = initial_epoch + epochs, .optimizer = &opt, .loss = lossfn, .metrics = metrics,
                                .validation = val, .initial_epoch = initial_epoch};
  if (progress) fo.callbacks.push_back(std::make_shared<CProgress>(progress, context));
  tessera::train::History h = tessera::train::fit(mod, data, fo);
  if (epochs_done) *epochs_done = initial_epoch + int64_t(h.epochs.size());
  if (h.epochs.empty()) raise(TS_ERROR, std::string(fn) + ": no epoch ran");
  report(h.epochs.back(), val ? "val_" : "", loss_out, accuracy_out);
}
}  // namespace

ts_status ts_fit(ts_module m, ts_data_loader train, ts_optimizer o, const char* loss, int64_t epochs,
                 ts_data_loader validation, ts_progress_fn progress, void* context, double* loss_out,
                 double* accuracy_out) {
  return guarded([&] {
    tessera::nn::Module& mod = module_of(m, "ts_fit");
    tessera::optim::Optimizer& opt = optimizer_of(o, "ts_fit");
    run_fit(mod, opt, loss, train, 0, epochs, validation, progress, context, loss_out, accuracy_out, "ts_fit");
  });
}

ts_status ts_trainer_create(ts_module m, ts_optimizer o, const char* loss, ts_trainer* out) {
  return making(out, "ts_trainer_create", [&] {
    auto* mh = checked(m, "ts_trainer_create", "the module", "module");
    auto* oh = checked(o, "ts_trainer_create", "the optimizer", "optimizer");
    std::string name = loss ? loss : "cross_entropy";
    (void)tessera::train::loss_by_name(name);  // (an unknown loss is an error now, not at fit)
    return ts_trainer_s{mh->m, oh->o, name, 0};
  });
}

ts_status ts_trainer_fit(ts_trainer t, ts_data_loader train, int64_t epochs, ts_data_loader validation,
                         ts_progress_fn progress, void* context, double* loss_out, double* accuracy_out) {
  return guarded([&] {
    ts_trainer_s& tr = *checked(t, "ts_trainer_fit", "the trainer", "trainer");
    run_fit(*tr.model, *tr.optimizer, tr.loss.c_str(), train, tr.epochs_done, epochs, validation, progress, context,
            loss_out, accuracy_out, "ts_trainer_fit", &tr.epochs_done);
  });
}

ts_status ts_trainer_evaluate(ts_trainer t, ts_data_loader loader, double* loss_out, double* accuracy_out) {
  return guarded([&] {
    ts_trainer_s& tr = *checked(t, "ts_trainer_evaluate", "the trainer", "trainer");
    tessera::data::DataLoader& data = loader_of(loader, "ts_trainer_evaluate", "loader");
    auto [fn, metrics] = loss_named(tr.loss.c_str());
    report(tessera::train::evaluate(*tr.model, data, fn, metrics), "", loss_out, accuracy_out);
  });
}

ts_status ts_trainer_epochs_done(ts_trainer t, int64_t* out) {
  return guarded([&] {
    ts_trainer_s& tr = *checked(t, "ts_trainer_epochs_done", "the trainer", "trainer");
    need(out, "ts_trainer_epochs_done", "out");
    *out = tr.epochs_done;
  });
}

ts_status ts_trainer_free(ts_trainer t) { return free_handle(t, "ts_trainer_free", "trainer"); }

ts_status ts_evaluate(ts_module m, ts_data_loader loader, const char* loss, double* loss_out, double* accuracy_out) {
  return guarded([&] {
    tessera::nn::Module& mod = module_of(m, "ts_evaluate");
    tessera::data::DataLoader& data = loader_of(loader, "ts_evaluate", "loader");
    auto [fn, metrics] = loss_named(loss);
    report(tessera::train::evaluate(mod, data, fn, metrics), "", loss_out, accuracy_out);
  });
}

