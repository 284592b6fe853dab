#include "tessera/train/trainer.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "tessera/autograd/autograd.h"
#include "tessera/ops/autocast.h"
#include "tessera/optim/grad_scaler.h"
#include "tessera/io/safetensors.h"
#include "tessera/log/summary_writer.h"
#include "tessera/nn/loss.h"
#include "tessera/ops/ops.h"
#include "tessera/train/checkpoint.h"

namespace tessera::train {

namespace {
std::atomic<bool> g_interrupted{false};
void on_sigint(int) { g_interrupted = true; }

// Installs the SIGINT handler for the duration of a fit.
struct SigintScope {
  struct sigaction old_{};
  SigintScope() {
    g_interrupted = false;
    struct sigaction sa{};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_);
  }
  ~SigintScope() { sigaction(SIGINT, &old_, nullptr); }
};

LossFn default_loss(const LossFn& l) {
  if (l) return l;
  return [](const Tensor& out, const Tensor& target) { return nn::functional::cross_entropy(out, target); };
}

// Running sums of the metrics over batches (weighted by batch size).
struct Meter {
  std::vector<std::string> metrics;
  const char* op;
  double loss = 0;
  std::map<std::string, double> sums;
  int64_t n = 0;
  void add(const Tensor& out, const Tensor& target, double batch_loss) {
    int64_t b = out.size(0);
    loss += batch_loss * double(b);
    n += b;
    for (const std::string& m : metrics) {
      if (m == "accuracy") {
        sums[m] += (out.argmax(1) == target).sum().item<double>();
      } else if (m.size() > 9 && m.rfind("top", 0) == 0 && m.substr(m.size() - 9) == "_accuracy") {
        int64_t k = std::stoll(m.substr(3, m.size() - 12));
        Tensor top = ops::topk(out, std::min<int64_t>(k, out.size(1)), 1).second;
        sums[m] += ops::any(top == target.unsqueeze(1), {1}).sum().item<double>();
      } else {
        throw ValueError(detail::str(op, ": unknown metric '", m, "' (known: accuracy, topK_accuracy)"));
      }
    }
  }
  Logs logs(const std::string& prefix = "") const {
    Logs l{{prefix + "loss", n ? loss / double(n) : NAN}};
    for (auto& [k, v] : sums) l[prefix + k] = n ? v / double(n) : NAN;
    return l;
  }
};
}  // namespace

Device model_device(const nn::Module& model) {
  for (const Tensor& p : model.parameters())
    if (p.defined()) return p.device();
  return Device::cpu();
}

data::Batch to_device(const data::Batch& b, Device device) {
  TS_CHECK_VALUE(b.input.defined(), "the trainer takes (input, target) batches, but the loader's examples have ",
                 b.fields.size(), " fields", b.structure ? " in another structure (a tuple or dict)" : "",
                 "; write the training loop yourself, or give the dataset (input, target) examples");
  auto move = [&](const Tensor& t) { return t.defined() ? t.to(device, t.is_pinned()) : t; };
  return {move(b.input), move(b.target)};
}

Trainer::Trainer(nn::Module& model, FitOptions o) : model_(model), o_(std::move(o)) {
  TS_CHECK_VALUE(o_.optimizer != nullptr, "fit: an optimizer is required");
  TS_CHECK_VALUE(o_.epochs >= 0 && o_.initial_epoch >= 0, "fit: epochs must be non-negative");
  o_.loss = default_loss(o_.loss);
  check_metrics(o_.metrics, "fit");
  TS_CHECK_DTYPE(!o_.mixed_precision || *o_.mixed_precision == DType::BFloat16 ||
                     *o_.mixed_precision == DType::Float16,
                 "fit: mixed_precision must be bfloat16 or float16, got ", *o_.mixed_precision);
}

History Trainer::fit(data::DataLoader& train) {
  SigintScope sigint;
  History h;
  batches_ = train.num_batches();
  Device device = o_.device.value_or(model_device(model_));
  std::optional<optim::GradScaler> scaler;
  if (o_.mixed_precision == DType::Float16) scaler.emplace();
  for (auto& c : o_.callbacks) c->on_train_begin(*this);
  Logs last;
  for (epoch_ = o_.initial_epoch; epoch_ < o_.epochs && !stop_; ++epoch_) {
    for (auto& c : o_.callbacks) c->on_epoch_begin(*this, epoch_);
    epoch_lr_ = o_.optimizer->lr();
    model_.train();
    Meter meter{o_.metrics, "fit", 0, {}, 0};
    train.start_epoch(uint64_t(epoch_));
    data::Batch batch;
    int64_t b = 0;
    while (train.next(batch)) {
      batch = to_device(batch, device);
      Tensor out, loss;
      {
        std::optional<AutocastGuard> amp;
        if (o_.mixed_precision) amp.emplace(device.type, *o_.mixed_precision);
        out = model_(batch.input);
        loss = o_.loss(out, batch.target);
      }
      double lv = loss.item<double>();
      if (!std::isfinite(lv))
        throw TrainingError(detail::str("fit: the loss became ", lv, " at epoch ", epoch_ + 1, ", step ", b + 1,
                                        " (global step ", step_ + 1, "); the last good checkpoint is kept. Lower the "
                                        "learning rate, or run under autograd::DetectAnomalyGuard to find the op."));
      o_.optimizer->zero_grad();
      if (scaler) {
        scaler->scale(loss).backward();
        scaler->step(*o_.optimizer);
        scaler->update();
      } else {
        loss.backward();
        o_.optimizer->step();
      }
      ++step_;
      {
        autograd::NoGradGuard ng;
        meter.add(out.detach(), batch.target, lv);
      }
      Logs bl = meter.logs();
      for (auto& c : o_.callbacks) c->on_batch_end(*this, b, bl);
      ++b;
      if (g_interrupted) break;
    }
    if (g_interrupted) {
      h.interrupted = true;
      for (auto& c : o_.callbacks) c->on_interrupt(*this);
      break;
    }
    last = meter.logs();
    if (o_.validation) {
      Logs v = evaluate(model_, *o_.validation, o_.loss, o_.metrics);
      for (auto& [k, val] : v) last["val_" + k] = val;
    }
    h.epochs.push_back(last);
    for (auto& c : o_.callbacks) c->on_epoch_end(*this, epoch_, last);
  }
  h.stopped_early = stop_;
  for (auto& c : o_.callbacks) c->on_train_end(*this, last);
  return h;
}

void check_metrics(const std::vector<std::string>& metrics, const char* op) {
  for (const std::string& m : metrics) {
    bool topk = m.size() > 12 && m.rfind("top", 0) == 0 && m.substr(m.size() - 9) == "_accuracy" &&
                m.find_first_not_of("0123456789", 3) == m.size() - 9;
    TS_CHECK_VALUE(m == "accuracy" || topk, op, ": unknown metric '", m, "' (known: accuracy, topK_accuracy)");
  }
}

LossFn loss_by_name(const std::string& name) {
  namespace F = nn::functional;
  if (name == "cross_entropy" || name == "sparse_categorical_crossentropy")
    return [](const Tensor& o, const Tensor& t) { return F::cross_entropy(o, t); };
  if (name == "nll_loss") return [](const Tensor& o, const Tensor& t) { return F::nll_loss(o, t); };
  if (name == "mse_loss" || name == "mse" || name == "mean_squared_error")
    return [](const Tensor& o, const Tensor& t) { return F::mse_loss(o, t); };
  if (name == "l1_loss" || name == "mae" || name == "mean_absolute_error")
    return [](const Tensor& o, const Tensor& t) { return F::l1_loss(o, t); };
  if (name == "smooth_l1_loss") return [](const Tensor& o, const Tensor& t) { return F::smooth_l1_loss(o, t); };
  if (name == "binary_cross_entropy" || name == "binary_crossentropy")
    return [](const Tensor& o, const Tensor& t) { return F::binary_cross_entropy(o, t); };
  if (name == "binary_cross_entropy_with_logits")
    return [](const Tensor& o, const Tensor& t) { return F::binary_cross_entropy_with_logits(o, t); };
  throw ValueError("fit: unknown loss '" + name + "' (known: cross_entropy, nll_loss, mse_loss, l1_loss, "
                   "smooth_l1_loss, binary_cross_entropy, binary_cross_entropy_with_logits, and Keras's names "
                   "sparse_categorical_crossentropy, mse, mae, binary_crossentropy)");
}

History fit(nn::Module& model, data::DataLoader& train, FitOptions o) { return Trainer(model, std::move(o)).fit(train); }

Logs evaluate(nn::Module& model, data::DataLoader& loader, const LossFn& loss, const std::vector<std::string>& metrics) {
  nn::EvalModeGuard eval(model);
  autograd::NoGradGuard ng;
  LossFn l = default_loss(loss);
  check_metrics(metrics, "evaluate");
  Meter meter{metrics, "evaluate", 0, {}, 0};
  Device device = model_device(model);
  loader.start_epoch(0);
  data::Batch batch;
  while (loader.next(batch)) {
    batch = to_device(batch, device);
    Tensor out = model(batch.input);
    meter.add(out, batch.target, l(out, batch.target).item<double>());
  }
  return meter.logs();
}

Tensor predict(nn::Module& model, data::DataLoader& loader) {
  std::vector<Tensor> outs;
  {
    nn::EvalModeGuard eval(model);
    autograd::NoGradGuard ng;
    Device device = model_device(model);
    loader.start_epoch(0);
    data::Batch batch;
    while (loader.next(batch)) outs.push_back(model(to_device(batch, device).input));
  }
  TS_CHECK_VALUE(!outs.empty(), "predict: the loader produced no batches");
  return ops::cat(outs);
}

namespace {
std::string fmt_logs(const Logs& l) {
  std::string s;
  char buf[64];
  for (auto& [k, v] : l) {
    std::snprintf(buf, sizeof buf, "%s%s %.4f", s.empty() ? "" : "  ", k.c_str(), v);
    s += buf;
  }
  return s;
}

class ProgressBar : public Callback {
 public:
  void on_epoch_begin(Trainer&, int64_t) override {
    start_ = std::chrono::steady_clock::now();
    tty_ = isatty(STDOUT_FILENO);
  }
  void on_batch_end(Trainer& t, int64_t b, const Logs& l) override {
    if (!tty_) return;
    int64_t n = t.num_batches();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    double rate = double(b + 1) / std::max(secs, 1e-9), eta = double(n - b - 1) / std::max(rate, 1e-9);
    int width = 30, filled = n ? int(width * (b + 1) / n) : width;
    std::printf("\repoch %lld/%lld [%s%s] %lld/%lld  %.1f it/s  ETA %.0fs  %s", (long long)t.epoch() + 1,
                (long long)t.options().epochs, std::string(size_t(filled), '=').c_str(),
                std::string(size_t(width - filled), ' ').c_str(), (long long)b + 1, (long long)n, rate, eta,
                fmt_logs(l).c_str());
    std::fflush(stdout);
  }
  void on_epoch_end(Trainer& t, int64_t e, const Logs& l) override {
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    std::printf("%sepoch %lld/%lld  %.1fs  %s\n", tty_ ? "\r\033[K" : "", (long long)e + 1,
                (long long)t.options().epochs, secs, fmt_logs(l).c_str());
    std::fflush(stdout);
  }
  void on_interrupt(Trainer& t) override {
    std::printf("\ninterrupted at epoch %lld, step %lld\n", (long long)t.epoch() + 1, (long long)t.global_step());
  }

 private:
  std::chrono::steady_clock::time_point start_;
  bool tty_ = false;
};

std::string names_of(const Logs& l) {
  std::string out;
  for (auto& [k, v] : l) out += (out.empty() ? "" : ", ") + k;
  return out;
}

class CheckpointCallback : public Callback {
 public:
  CheckpointCallback(std::string dir, std::string monitor, optim::LRScheduler* s)
      : dir_(std::move(dir)), monitor_(std::move(monitor)), sched_(s) {}
  void on_train_begin(Trainer&) override { std::filesystem::create_directories(dir_); }
  void on_epoch_end(Trainer& t, int64_t e, const Logs& l) override {
    CheckpointInfo info{e + 1, t.global_step(), {}};
    save_checkpoint(dir_ + "/last.ckpt", t.model(), t.optimizer(), sched_, info);
    auto it = l.find(monitor_);
    TS_CHECK_VALUE(it != l.end(), "checkpoint: no metric '", monitor_, "' in the logs (is validation set?); they have: ",
                   names_of(l));
    bool lower_better = it->first.find("acc") == std::string::npos;
    double v = it->second;
    if (best_e_ < 0 || (lower_better ? v < best_ : v > best_)) {
      best_ = v;
      best_e_ = e;
      save_checkpoint(dir_ + "/best.ckpt", t.model(), t.optimizer(), sched_, info);
      io::save_safetensors(dir_ + "/model.safetensors", t.model().state_dict(),
                           {{"epoch", std::to_string(e + 1)}, {it->first, std::to_string(v)}});
    }
  }
  void on_interrupt(Trainer& t) override {
    save_checkpoint(dir_ + "/last.ckpt", t.model(), t.optimizer(), sched_, {t.epoch(), t.global_step(), {{"interrupted", "1"}}});
  }

 private:
  std::string dir_, monitor_;
  optim::LRScheduler* sched_;
  double best_ = 0;
  int64_t best_e_ = -1;
};

class EarlyStopping : public Callback {
 public:
  EarlyStopping(std::string m, int64_t p, double d) : monitor_(std::move(m)), patience_(p), delta_(d) {}
  void on_epoch_end(Trainer& t, int64_t, const Logs& l) override {
    auto it = l.find(monitor_);
    TS_CHECK_VALUE(it != l.end(), "early_stopping: no metric '", monitor_, "' in the logs (is validation set?); they "
                   "have: ", names_of(l));
    bool lower = monitor_.find("acc") == std::string::npos;
    double v = it->second;
    bool better = !seen_ || (lower ? v < best_ - delta_ : v > best_ + delta_);
    if (better) {
      best_ = v;
      seen_ = true;
      wait_ = 0;
    } else if (++wait_ >= patience_) {
      t.stop();
    }
  }

 private:
  std::string monitor_;
  int64_t patience_;
  double delta_, best_ = 0;
  bool seen_ = false;
  int64_t wait_ = 0;
};

class SchedulerCallback : public Callback {
 public:
  SchedulerCallback(optim::LRScheduler& s, bool per_batch) : s_(s), per_batch_(per_batch) {}
  void on_batch_end(Trainer&, int64_t, const Logs&) override {
    if (per_batch_) s_.step();
  }
  void on_epoch_end(Trainer&, int64_t, const Logs&) override {
    if (!per_batch_) s_.step();
  }

 private:
  optim::LRScheduler& s_;
  bool per_batch_;
};

class CsvLogger : public Callback {
 public:
  explicit CsvLogger(std::string path) : path_(std::move(path)) {}
  void on_epoch_end(Trainer& t, int64_t e, const Logs& l) override {
    bool fresh = !std::filesystem::exists(path_) || std::filesystem::file_size(path_) == 0;
    std::ofstream out(path_, std::ios::app);
    TS_CHECK_T(IOError, out.good(), path_, ": cannot open the CSV log for writing");
    if (fresh) {
      out << "epoch,step,lr";
      for (auto& [k, v] : l) out << "," << k;
      out << "\n";
    }
    out << e + 1 << "," << t.global_step() << "," << t.epoch_lr();
    for (auto& [k, v] : l) out << "," << v;
    out << "\n";
  }

 private:
  std::string path_;
};
class TensorBoardCallback : public Callback {
 public:
  TensorBoardCallback(std::string dir, TensorBoardOptions o) : dir_(std::move(dir)), o_(o) {
    TS_CHECK_VALUE(o_.histogram_freq >= 0 && o_.update_freq >= 0, "tensorboard: histogram_freq and update_freq must "
                   "be non-negative (got ", o_.histogram_freq, ", ", o_.update_freq, ")");
  }
  void on_train_begin(Trainer&) override {
    train_ = std::make_unique<log::SummaryWriter>(dir_ + "/train");
    val_.reset();
  }
  void on_batch_end(Trainer& t, int64_t, const Logs& l) override {
    if (o_.update_freq == 0 || t.global_step() % o_.update_freq != 0) return;
    for (auto& [k, v] : l) train_->add_scalar("batch_" + k, v, t.global_step());
  }
  void on_epoch_end(Trainer& t, int64_t e, const Logs& l) override {
    for (auto& [k, v] : l) {
      bool val = k.rfind("val_", 0) == 0;
      if (val && !val_) val_ = std::make_unique<log::SummaryWriter>(dir_ + "/validation");
      (val ? *val_ : *train_).add_scalar("epoch_" + (val ? k.substr(4) : k), v, e);
    }
    if (t.optimizer()) train_->add_scalar("epoch_learning_rate", t.epoch_lr(), e);
    if (o_.histogram_freq > 0 && (e + 1) % o_.histogram_freq == 0)
      for (auto& [name, p] : t.model().named_parameters()) train_->add_histogram(name, p, e);
    train_->flush();
    if (val_) val_->flush();
  }
  void on_interrupt(Trainer&) override { flush_all(); }
  void on_train_end(Trainer&, const Logs&) override {
    flush_all();
    train_.reset();
    val_.reset();
  }

 private:
  void flush_all() {
    if (train_) train_->flush();
    if (val_) val_->flush();
  }
  std::string dir_;
  TensorBoardOptions o_;
  std::unique_ptr<log::SummaryWriter> train_, val_;
};
}  // namespace

std::shared_ptr<Callback> progress_bar() { return std::make_shared<ProgressBar>(); }
std::shared_ptr<Callback> checkpoint(const std::string& dir, const std::string& monitor, optim::LRScheduler* s) {
  return std::make_shared<CheckpointCallback>(dir, monitor, s);
}
std::shared_ptr<Callback> early_stopping(const std::string& monitor, int64_t patience, double min_delta) {
  return std::make_shared<EarlyStopping>(monitor, patience, min_delta);
}
std::shared_ptr<Callback> lr_scheduler(optim::LRScheduler& s, bool per_batch) {
  return std::make_shared<SchedulerCallback>(s, per_batch);
}
std::shared_ptr<Callback> csv_logger(const std::string& path) { return std::make_shared<CsvLogger>(path); }
std::shared_ptr<Callback> tensorboard(const std::string& log_dir, TensorBoardOptions o) {
  return std::make_shared<TensorBoardCallback>(log_dir, o);
}

}  // namespace tessera::train
