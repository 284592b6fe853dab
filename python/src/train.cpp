// The trainer (fit / evaluate / predict and its callbacks), checkpoints and the model zoo for
// Python. Models written in Python are nn::Modules (tessera.nn.Module subclasses the C++ class): the
// C++ loop calls their forward, which takes the GIL; everything else runs with the GIL released.
#include <nanobind/stl/function.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/shared_ptr.h>

#include "common.h"
#include "python.h"

namespace nb = nanobind;
using namespace tessera;
using tessera::py::loader_of;
using tessera::py::PyRef;

namespace {

// The model: a C++ layer, or a tessera.nn.Module written in Python (a subclass of nn::Module
// whose forward and train the C++ calls reach).
nn::Module& as_module(nb::handle model) {
  if (nb::isinstance<nn::Module>(model) && nb::inst_ready(model)) return nb::cast<nn::Module&>(model);
  throw nb::type_error(("expected a tessera.nn.Module (a C++ layer or a Python subclass whose __init__ called "
                        "super().__init__()), got " + nb::cast<std::string>(nb::str(model.type()))).c_str());
}

// A Python callback (an object with any of the on_* methods of tessera.train.Callback).
class PyCallback : public train::Callback {
 public:
  explicit PyCallback(nb::handle o) : obj_(nb::borrow(o)) {}
  void on_train_begin(train::Trainer& t) override { call("on_train_begin", t); }
  void on_train_end(train::Trainer& t, const train::Logs& l) override { call("on_train_end", t, l); }
  void on_epoch_begin(train::Trainer& t, int64_t e) override { call("on_epoch_begin", t, e); }
  void on_epoch_end(train::Trainer& t, int64_t e, const train::Logs& l) override { call("on_epoch_end", t, e, l); }
  void on_batch_end(train::Trainer& t, int64_t b, const train::Logs& l) override { call("on_batch_end", t, b, l); }
  void on_interrupt(train::Trainer& t) override { call("on_interrupt", t); }

 private:
  template <class... A>
  void call(const char* name, train::Trainer& t, const A&... a) {
    nb::gil_scoped_acquire g;
    if (nb::hasattr(obj_.get(), name)) obj_.get().attr(name)(nb::cast(&t, nb::rv_policy::reference), a...);
  }
  PyRef obj_;
};

std::vector<std::shared_ptr<train::Callback>> callbacks_of(const std::optional<nb::list>& cbs) {
  std::vector<std::shared_ptr<train::Callback>> out;
  if (!cbs) return out;
  for (nb::handle c : *cbs) {
    std::shared_ptr<train::Callback> cb;
    if (nb::try_cast(c, cb))
      out.push_back(cb);
    else
      out.push_back(std::make_shared<PyCallback>(c));
  }
  return out;
}

train::LossFn loss_of(const std::optional<nb::object>& f) {
  if (!f) return {};
  if (nb::isinstance<nb::str>(*f)) return train::loss_by_name(nb::cast<std::string>(*f));
  PyRef fn(*f);
  return [fn](const Tensor& out, const Tensor& target) {
    nb::gil_scoped_acquire g;
    return nb::cast<Tensor>(fn.get()(out, target));
  };
}

}  // namespace

void bind_train(nb::module_& m) {
  nb::module_ t = m.def_submodule("train", "tessera.train's C++ part");
  nb::class_<train::Trainer>(t, "Trainer", "The running fit, as callbacks see it.")
      .def_prop_ro("epoch", &train::Trainer::epoch)
      .def_prop_ro("global_step", &train::Trainer::global_step)
      .def_prop_ro("num_batches", &train::Trainer::num_batches)
      .def("stop", &train::Trainer::stop, "Stops the run after this epoch.")
      .def_prop_ro("stopping", &train::Trainer::stopping)
      .def_prop_ro("optimizer", &train::Trainer::optimizer, nb::rv_policy::reference);
  nb::class_<train::Callback>(t, "CppCallback", "A callback implemented in C++.");

  t.def(
      "fit",
      [](nb::handle model, nb::handle train_loader, int64_t epochs, nb::handle optimizer,
         std::optional<nb::object> loss, std::vector<std::string> metrics, nb::handle validation,
         std::optional<nb::list> callbacks, int64_t initial_epoch, std::optional<std::string> device,
         std::optional<DType> mixed_precision) {
        nn::Module& mod = as_module(model);
        if (optimizer.is_none()) throw ValueError("fit: an optimizer is required");
        optim::Optimizer* opt = nullptr;
        std::unique_ptr<optim::Optimizer> named;  // optimizer="adam": made here, for this run
        if (nb::isinstance<nb::str>(optimizer)) {
          std::vector<Tensor> params;
          for (nb::handle p : nb::iter(model.attr("parameters")())) params.push_back(nb::cast<Tensor>(p));
          named = optim::make_optimizer(nb::cast<std::string>(optimizer), std::move(params));
          opt = named.get();
        } else if (!nb::try_cast(optimizer, opt) || !opt) {
          throw nb::type_error(("fit: optimizer must be a tessera optimizer or a name such as 'adam', got a " +
                                tessera::py::py_type_name(optimizer)).c_str());
        }
        train::FitOptions o{.epochs = epochs,
                            .optimizer = opt,
                            .loss = loss_of(loss),
                            .metrics = std::move(metrics),
                            .validation = validation.is_none() ? nullptr : &loader_of(validation),
                            .callbacks = callbacks_of(callbacks),
                            .initial_epoch = initial_epoch};
        if (device) o.device = Device::parse(*device);
        o.mixed_precision = mixed_precision;
        data::DataLoader& tl = loader_of(train_loader);
        train::History h;
        {
          nb::gil_scoped_release r;
          h = train::fit(mod, tl, std::move(o));
        }
        nb::dict out;
        out["epochs"] = nb::cast(h.epochs);
        out["stopped_early"] = h.stopped_early;
        out["interrupted"] = h.interrupted;
        return out;
      },
      nb::arg("model"), nb::arg("train_loader"), nb::arg("epochs") = 1, nb::arg("optimizer") = nb::none(),
      nb::arg("loss") = nb::none(), nb::arg("metrics") = std::vector<std::string>{"accuracy"},
      nb::arg("validation") = nb::none(), nb::arg("callbacks") = nb::none(), nb::arg("initial_epoch") = 0,
      nb::arg("device") = nb::none(), nb::arg("mixed_precision") = nb::none(),
      "Trains model on train_loader for epochs with optimizer; returns the history {'epochs': [logs...], "
      "'stopped_early', 'interrupted'}. Batches go to device (by default the model's). mixed_precision "
      "(tessera.bfloat16 or tessera.float16) runs the forward pass and the loss under autocast, float16 with a "
      "GradScaler.");
  t.def(
      "evaluate",
      [](nb::handle model, nb::handle loader, std::optional<nb::object> loss, std::vector<std::string> metrics) {
        nn::Module& mod = as_module(model);
        data::DataLoader& l = loader_of(loader);
        auto f = loss_of(loss);
        nb::gil_scoped_release r;
        return train::evaluate(mod, l, f, metrics);
      },
      nb::arg("model"), nb::arg("loader"), nb::arg("loss") = nb::none(),
      nb::arg("metrics") = std::vector<std::string>{"accuracy"},
      "Loss and metrics over a loader, in eval mode without gradients.");
  t.def(
      "predict",
      [](nb::handle model, nb::handle loader) {
        nn::Module& mod = as_module(model);
        data::DataLoader& l = loader_of(loader);
        nb::gil_scoped_release r;
        return train::predict(mod, l);
      },
      nb::arg("model"), nb::arg("loader"), "The model's outputs over a loader, concatenated.");

  t.def("progress_bar", &train::progress_bar,
        "A live bar with rate, ETA, loss and metrics on a terminal; one line per epoch otherwise.");
  t.def(
      "checkpoint",
      [](const std::string& dir, const std::string& monitor, optim::LRScheduler* s) {
        return train::checkpoint(dir, monitor, s);
      },
      nb::arg("dir"), nb::arg("monitor") = "val_loss", nb::arg("scheduler") = nb::none(), nb::keep_alive<0, 3>(),
      "Writes dir/last.ckpt every epoch, dir/best.ckpt when monitor improves, and dir/model.safetensors.");
  t.def("early_stopping", &train::early_stopping, nb::arg("monitor") = "val_loss", nb::arg("patience") = 3,
        nb::arg("min_delta") = 0.0, "Stops when monitor has not improved by min_delta for patience epochs.");
  t.def("lr_scheduler", &train::lr_scheduler, nb::arg("scheduler"), nb::arg("per_batch") = false,
        nb::keep_alive<0, 1>(), "Steps a scheduler every epoch (or every batch).");
  t.def("csv_logger", &train::csv_logger, nb::arg("path"), "Appends one CSV row of logs per epoch to path.");
  t.def(
      "tensorboard",
      [](const std::string& log_dir, int64_t histogram_freq, nb::handle update_freq) {
        int64_t every = 0;
        if (nb::isinstance<nb::str>(update_freq)) {
          std::string s = nb::cast<std::string>(update_freq);
          if (s != "epoch" && s != "batch")
            throw ValueError("tensorboard: update_freq is 'epoch', 'batch' or a number of batches, not '" + s + "'");
          every = s == "batch" ? 1 : 0;
        } else if (nb::isinstance<nb::int_>(update_freq) && !nb::isinstance<nb::bool_>(update_freq)) {
          every = nb::cast<int64_t>(update_freq);
        } else {
          throw DTypeError("tensorboard: update_freq is 'epoch', 'batch' or an int, not " + py::py_type_name(update_freq));
        }
        return train::tensorboard(log_dir, {.histogram_freq = histogram_freq, .update_freq = every});
      },
      nb::arg("log_dir"), nb::arg("histogram_freq") = 0, nb::arg("update_freq") = "epoch",
      "TensorBoard logs as Keras writes them: log_dir/train and log_dir/validation with epoch_loss and "
      "epoch_<metric>, epoch_learning_rate; parameter histograms every histogram_freq epochs; batch_<metric> "
      "every update_freq batches ('batch': every one).");

  t.def(
      "save_checkpoint",
      [](const std::string& path, nb::handle model, optim::Optimizer* opt, optim::LRScheduler* sched, int64_t epoch,
         int64_t step, std::map<std::string, std::string> extra) {
        nn::Module& mod = as_module(model);
        nb::gil_scoped_release r;
        train::save_checkpoint(path, mod, opt, sched, {epoch, step, std::move(extra)});
      },
      nb::arg("path"), nb::arg("model"), nb::arg("optimizer") = nb::none(), nb::arg("scheduler") = nb::none(),
      nb::arg("epoch") = 0, nb::arg("step") = 0, nb::arg("extra") = std::map<std::string, std::string>{},
      "Writes model, optimizer, scheduler, epoch, step and RNG state to path, atomically.");
  t.def(
      "load_checkpoint",
      [](const std::string& path, nb::handle model, optim::Optimizer* opt, optim::LRScheduler* sched) {
        nn::Module& mod = as_module(model);
        train::CheckpointInfo info;
        {
          nb::gil_scoped_release r;
          info = train::load_checkpoint(path, mod, opt, sched);
        }
        nb::dict d;
        d["epoch"] = info.epoch;
        d["step"] = info.step;
        d["extra"] = nb::cast(info.extra);
        return d;
      },
      nb::arg("path"), nb::arg("model"), nb::arg("optimizer") = nb::none(), nb::arg("scheduler") = nb::none(),
      "Restores a checkpoint into model (and optimizer, scheduler); returns {'epoch', 'step', 'extra'}.");

  // C++ containers, as the zoo's models are built from them.
  nb::class_<nn::ModuleList, nn::Module>(m, "_ModuleList", "A list of C++ modules.")
      .def("__len__", &nn::ModuleList::size)
      .def("__getitem__", [](const nn::ModuleList& l, int64_t i) {
        int64_t n = int64_t(l.size());
        if (i < 0) i += n;
        if (i < 0 || i >= n) throw nb::index_error("ModuleList index out of range");
        return l.at(size_t(i));
      });
  nb::class_<nn::Sequential, nn::ModuleList>(m, "_Sequential", "C++ modules run in order.");
  nb::module_ z = m.def_submodule("zoo", "Ready-made models (C++): mlp, lenet5, cifar_cnn, vgg11, resnet18, resnet50.");
  z.def("mlp", &zoo::mlp, nb::arg("in_features"), nb::arg("hidden"), nb::arg("classes"),
        "A multilayer perceptron with ReLU between the layers.");
  z.def("lenet5", &zoo::lenet5, nb::arg("in_channels") = 1, nb::arg("classes") = 10,
        "LeNet-5 (ReLU, max pooling) for 28x28 inputs.");
  z.def("cifar_cnn", &zoo::cifar_cnn, nb::arg("classes") = 10, "The Rosetta CIFAR-10 CNN (3,441,592 parameters).");
  z.def("vgg11", &zoo::vgg11, nb::arg("classes") = 10, "VGG-11 for 32x32 inputs.");
  z.def("resnet18", &zoo::resnet18, nb::arg("classes") = 10, "ResNet-18 for 32x32 inputs.");
  z.def("resnet50", &zoo::resnet50, nb::arg("classes") = 1000, "ResNet-50 with torchvision's layout (ImageNet-sized).");
  z.def("create", &zoo::create, nb::arg("name"), nb::arg("in_channels"), nb::arg("classes"), "A zoo model by name.");
  z.def("names", &zoo::names, "The zoo's model names.");
}
