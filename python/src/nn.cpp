// tessera.nn's C++ layers and tessera.optim's optimizers, bound over the C++ implementations.
#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "tessera/tessera.h"

namespace nb = nanobind;
using namespace tessera;

namespace {
nn::ConvOptions conv_opts(int64_t stride, int64_t padding, int64_t dilation, int64_t groups, bool bias) {
  return {.stride = stride, .padding = padding, .dilation = dilation, .groups = groups, .bias = bias};
}
}  // namespace

void bind_nn(nb::module_& m) {
  nb::class_<nn::Module>(m, "_Module", "A layer implemented in C++ (tessera::nn).")
      .def("forward", [](nn::Module& mod, const Tensor& x) {
        nb::gil_scoped_release r;
        return mod.forward(x);
      })
      .def("__call__", [](nn::Module& mod, const Tensor& x) {
        nb::gil_scoped_release r;
        return mod.forward(x);
      })
      .def("parameters", [](const nn::Module& mod) { return mod.parameters(); })
      .def("named_parameters", [](const nn::Module& mod) { return mod.named_parameters(); })
      .def("named_buffers", [](const nn::Module& mod) { return mod.named_buffers(); })
      .def("state_dict", [](const nn::Module& mod) { return mod.state_dict(); })
      .def("load_state_dict", [](nn::Module& mod, const nn::StateDict& sd, bool strict) { mod.load_state_dict(sd, strict); },
           nb::arg("state_dict"), nb::arg("strict") = true)
      .def("train", [](nn::Module& mod, bool on) { mod.train(on); }, nb::arg("mode") = true)
      .def("eval", [](nn::Module& mod) { mod.eval(); })
      .def_prop_ro("training", &nn::Module::is_training)
      .def("num_parameters", &nn::Module::num_parameters)
      .def("__repr__", [](const nn::Module& mod) {
        std::string s = mod.str();
        return s.substr(0, s.rfind("\nparameters:"));
      });

  nb::class_<nn::Linear, nn::Module>(m, "Linear")
      .def(nb::init<int64_t, int64_t, bool>(), nb::arg("in_features"), nb::arg("out_features"), nb::arg("bias") = true)
      .def_rw("weight", &nn::Linear::weight)
      .def_rw("bias", &nn::Linear::bias);
  nb::class_<nn::Conv2d, nn::Module>(m, "Conv2d")
      .def("__init__", [](nn::Conv2d* self, int64_t in, int64_t out, int64_t k, int64_t stride, int64_t padding,
                          int64_t dilation, int64_t groups, bool bias) {
        new (self) nn::Conv2d(in, out, k, conv_opts(stride, padding, dilation, groups, bias));
      }, nb::arg("in_channels"), nb::arg("out_channels"), nb::arg("kernel_size"), nb::arg("stride") = 1,
         nb::arg("padding") = 0, nb::arg("dilation") = 1, nb::arg("groups") = 1, nb::arg("bias") = true)
      .def_rw("weight", &nn::Conv2d::weight)
      .def_rw("bias", &nn::Conv2d::bias);
  nb::class_<nn::MaxPool2d, nn::Module>(m, "MaxPool2d")
      .def("__init__", [](nn::MaxPool2d* self, int64_t k, std::optional<int64_t> s, int64_t p) {
        new (self) nn::MaxPool2d(k, {.stride = s ? std::optional<nn::Pair>(nn::Pair(*s)) : std::nullopt, .padding = p});
      }, nb::arg("kernel_size"), nb::arg("stride") = nb::none(), nb::arg("padding") = 0);
  nb::class_<nn::BatchNorm2d, nn::Module>(m, "BatchNorm2d")
      .def("__init__", [](nn::BatchNorm2d* self, int64_t n, double eps, double momentum) {
        new (self) nn::BatchNorm2d(n, {.eps = eps, .momentum = momentum});
      }, nb::arg("num_features"), nb::arg("eps") = 1e-5, nb::arg("momentum") = 0.1);
  nb::class_<nn::Dropout, nn::Module>(m, "Dropout").def(nb::init<double>(), nb::arg("p") = 0.5);
  nb::class_<nn::Flatten, nn::Module>(m, "Flatten")
      .def(nb::init<int64_t, int64_t>(), nb::arg("start_dim") = 1, nb::arg("end_dim") = -1);
  nb::class_<nn::ReLU, nn::Module>(m, "ReLU").def(nb::init<>());
  nb::class_<nn::Tanh, nn::Module>(m, "Tanh").def(nb::init<>());
  nb::class_<nn::Sigmoid, nn::Module>(m, "Sigmoid").def(nb::init<>());
  nb::class_<nn::Embedding, nn::Module>(m, "Embedding")
      .def(nb::init<int64_t, int64_t, std::optional<int64_t>>(), nb::arg("num_embeddings"), nb::arg("embedding_dim"),
           nb::arg("padding_idx") = nb::none())
      .def_rw("weight", &nn::Embedding::weight);
  nb::class_<nn::LayerNorm, nn::Module>(m, "LayerNorm")
      .def(nb::init<Shape, double, bool>(), nb::arg("normalized_shape"), nb::arg("eps") = 1e-5,
           nb::arg("elementwise_affine") = true);

  nb::class_<optim::Optimizer>(m, "Optimizer")
      .def("step", [](optim::Optimizer& o) {
        nb::gil_scoped_release r;
        o.step();
      })
      .def("zero_grad", &optim::Optimizer::zero_grad, nb::arg("set_to_none") = true)
      .def_prop_rw("lr", [](const optim::Optimizer& o) { return o.lr(); },
                   [](optim::Optimizer& o, double v) { o.set_lr(v); });
  nb::class_<optim::SGD, optim::Optimizer>(m, "SGD")
      .def("__init__", [](optim::SGD* self, std::vector<Tensor> params, double lr, double momentum, double dampening,
                          double weight_decay, bool nesterov) {
        new (self) optim::SGD(std::move(params), {lr, momentum, dampening, weight_decay, nesterov});
      }, nb::arg("params"), nb::arg("lr") = 1e-3, nb::arg("momentum") = 0.0, nb::arg("dampening") = 0.0,
         nb::arg("weight_decay") = 0.0, nb::arg("nesterov") = false);
  nb::class_<optim::Adam, optim::Optimizer>(m, "Adam")
      .def("__init__", [](optim::Adam* self, std::vector<Tensor> params, double lr, std::pair<double, double> betas,
                          double eps, double weight_decay, bool amsgrad) {
        new (self) optim::Adam(std::move(params), {lr, betas.first, betas.second, eps, weight_decay, amsgrad});
      }, nb::arg("params"), nb::arg("lr") = 1e-3, nb::arg("betas") = std::make_pair(0.9, 0.999), nb::arg("eps") = 1e-8,
         nb::arg("weight_decay") = 0.0, nb::arg("amsgrad") = false);
  nb::class_<optim::AdamW, optim::Adam>(m, "AdamW")
      .def("__init__", [](optim::AdamW* self, std::vector<Tensor> params, double lr, std::pair<double, double> betas,
                          double eps, double weight_decay, bool amsgrad) {
        new (self) optim::AdamW(std::move(params), {lr, betas.first, betas.second, eps, weight_decay, amsgrad});
      }, nb::arg("params"), nb::arg("lr") = 1e-3, nb::arg("betas") = std::make_pair(0.9, 0.999), nb::arg("eps") = 1e-8,
         nb::arg("weight_decay") = 1e-2, nb::arg("amsgrad") = false);
}
