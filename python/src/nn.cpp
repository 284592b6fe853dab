// tessera.nn's C++ layers and tessera.nn.init, bound over the C++ implementations (the
// optimizers and schedulers: optim.cpp).
#include <nanobind/stl/map.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/trampoline.h>

#include <algorithm>

#include "common.h"

namespace nb = nanobind;
using namespace tessera;
using tessera::py::IntPair;

namespace {
using Release = nb::call_guard<nb::gil_scoped_release>;

nn::Pair pair_of(IntPair p) { return {p.h, p.w}; }

nn::ConvConfig conv_opts(IntPair stride, IntPair padding, IntPair dilation, int64_t groups, bool bias,
                          IntPair output_padding = {0, 0}) {
  return {.stride = pair_of(stride),
          .padding = pair_of(padding),
          .dilation = pair_of(dilation),
          .groups = groups,
          .bias = bias,
          .output_padding = pair_of(output_padding)};
}

nn::PoolConfig pool_opts(std::optional<IntPair> s, IntPair p, IntPair d, bool ceil, bool include_pad) {
  return {.stride = s ? std::optional<nn::Pair>(pair_of(*s)) : std::nullopt,
          .padding = pair_of(p),
          .dilation = pair_of(d),
          .ceil_mode = ceil,
          .count_include_pad = include_pad};
}


// A mask argument: None or a tensor.
Tensor optional_tensor(nb::handle h) { return h.is_none() ? Tensor() : nb::cast<Tensor>(h); }

// The forward of TransformerEncoderLayer and TransformerEncoder (mask names differ: torch's own).
template <class E>
Tensor encoder_forward(E& e, const Tensor& src, nb::handle mask, nb::handle kpm, bool causal) {
  Tensor mk = optional_tensor(mask), kp = optional_tensor(kpm);
  nb::gil_scoped_release r;
  return e.forward(src, mk, kp, causal);
}

// The forward of TransformerDecoderLayer and TransformerDecoder (the same arguments as PyTorch's).
template <class D>
Tensor decoder_forward(D& d, const Tensor& tgt, const Tensor& memory, nb::handle tm, nb::handle mm, nb::handle tk,
                       nb::handle mk, bool causal) {
  Tensor a = optional_tensor(tm), b = optional_tensor(mm), c = optional_tensor(tk), e = optional_tensor(mk);
  nb::gil_scoped_release r;
  return d.forward(tgt, memory, a, b, c, e, causal);
}
}  // namespace

// A recurrent layer's or cell's hx argument: None, h, or (h, c) for LSTM.
static std::pair<Tensor, Tensor> hidden_state(nb::handle hx, bool lstm) {
  if (hx.is_none()) return {};
  if (lstm) return nb::cast<std::pair<Tensor, Tensor>>(hx);
  return {nb::cast<Tensor>(hx), Tensor()};
}

namespace {
// A Python hook run from C++: tessera.nn._run_cpp_hook(key, kind, module, input[, output]) looks
// the callable up by key (Python keeps it, so no reference cycle runs through C++ where Python's
// garbage collector cannot see it).
nb::object run_python_hook(int64_t key, const char* kind, nn::Module& self, const Tensor& in, const Tensor* out) {
  nb::gil_scoped_acquire gil;
  nb::object run = nb::module_::import_("tessera.nn").attr("_run_cpp_hook");
  nb::object mod = nb::cast(&self, nb::rv_policy::reference);
  return out ? run(key, kind, mod, in, *out) : run(key, kind, mod, in, nb::none());
}
}  // namespace

namespace {
// tessera.nn.Module, the base of modules written in Python, is this class's Python subclass: the
// C++ calls of forward (containers, the trainer, hooks), train (a parent's train()) and
// extra_repr (printing) reach the Python methods when the subclass defines them.
class PyModule : public nn::Module {
 public:
  NB_TRAMPOLINE(nn::Module, 3);
  Tensor forward(const Tensor& x) override { NB_OVERRIDE(forward, x); }
  void train(bool on) override { NB_OVERRIDE(train, on); }
  std::string extra_repr() const override { NB_OVERRIDE(extra_repr); }
};

// nn::Module's registration tables, for Python's attribute assignment (module.name = value
// registers, replaces or unregisters as PyTorch's does), pickling and the training flag: the
// pointers to protected members are formed through this derived class and applied to any module.
struct Registry : nn::Module {
  enum Kind { None = 0, Parameter = 1, Buffer = 2, Child = 3 };
  static Kind kind(nn::Module& m, const std::string& name) {
    for (auto& [n, t] : m.*(&Registry::params_))
      if (n == name) return Parameter;
    for (auto& [n, t] : m.*(&Registry::buffers_))
      if (n == name) return Buffer;
    for (auto& [n, c] : m.*(&Registry::children_))
      if (n == name) return Child;
    return None;
  }
  // (name, kind, persistent) of the module's own entries, parameters, buffers, then children,
  // each in registration order.
  static std::vector<std::tuple<std::string, int, bool>> entries(nn::Module& m) {
    std::vector<std::tuple<std::string, int, bool>> out;
    for (auto& [n, t] : m.*(&Registry::params_)) out.emplace_back(n, Parameter, true);
    auto& np = m.*(&Registry::non_persistent_);
    for (auto& [n, t] : m.*(&Registry::buffers_))
      out.emplace_back(n, Buffer, std::find(np.begin(), np.end(), n) == np.end());
    for (auto& [n, c] : m.*(&Registry::children_)) out.emplace_back(n, Child, true);
    return out;
  }
  static void set_training(nn::Module& m, bool on) { m.*(&Registry::training_) = on; }
};

Tensor tensor_or_none(std::optional<Tensor> t) { return t ? *t : Tensor(); }

// The child a module registers. A tessera.nn.Module (a Python object that owns its C++ module)
// keeps the child in its __dict__, where Python's garbage collector sees the reference, so the C++
// table holds it without owning it: an owning reference there would be invisible to the
// collector, and a cycle through it (a hook whose closure reaches the parent) never freed. A C++
// layer's table owns its children (its Python wrapper may be a temporary).
std::shared_ptr<nn::Module> child_of(nb::handle child, bool owning) {
  if (owning) return nb::cast<std::shared_ptr<nn::Module>>(child);
  return std::shared_ptr<nn::Module>(nb::cast<nn::Module*>(child), [](nn::Module*) {});
}
}  // namespace

void bind_nn(nb::module_& m) {
  nb::class_<nn::HookHandle>(m, "_HookHandle", "A C++ forward hook's handle.")
      .def("remove", &nn::HookHandle::remove);
  nb::class_<nn::Module, PyModule>(m, "_Module", nb::dynamic_attr(),
                                   "nn::Module: the base of the C++ layers and of tessera.nn.Module.")
      .def(nb::init<std::string>(), nb::arg("type_name") = "Module")
      // The registration tables, for tessera.nn's attribute logic (module.name = value).
      .def("_kind", [](nn::Module& mod, const std::string& name) { return int(Registry::kind(mod, name)); })
      .def("_entries", &Registry::entries)
      .def("_register_parameter",
           [](nn::Module& mod, const std::string& name, std::optional<Tensor> t) {
             mod.register_parameter(name, tensor_or_none(t), /*requires_grad=*/false);
           }, nb::arg("name"), nb::arg("tensor").none())
      .def("_register_buffer",
           [](nn::Module& mod, const std::string& name, std::optional<Tensor> t, bool persistent) {
             mod.register_buffer(name, tensor_or_none(t), persistent);
           }, nb::arg("name"), nb::arg("tensor").none(), nb::arg("persistent"))
      .def("_register_module", [](nn::Module& mod, const std::string& name, nb::handle c,
                                  bool owning) { mod.register_module(name, child_of(c, owning)); })
      .def("_replace_parameter", [](nn::Module& mod, const std::string& name,
                                    std::optional<Tensor> t) { mod.replace_parameter(name, tensor_or_none(t)); },
           nb::arg("name"), nb::arg("tensor").none())
      .def("_replace_buffer", [](nn::Module& mod, const std::string& name,
                                 std::optional<Tensor> t) { mod.replace_buffer(name, tensor_or_none(t)); },
           nb::arg("name"), nb::arg("tensor").none())
      .def("_replace_module", [](nn::Module& mod, const std::string& name, nb::handle c,
                                 bool owning) { mod.replace_module(name, child_of(c, owning)); })
      .def("_unregister", &nn::Module::unregister)
      .def_static("_ready", [](nb::handle h) { return nb::inst_ready(h); }, "Whether __init__ has built the C++ module.")
      .def_static("_owned_by_python", [](nb::handle h) { return nb::inst_state(h).second; },
                  "Whether the Python object owns its C++ module (built from Python), rather than wrapping one "
                  "that C++ holds.")
      .def("extra_repr", &nn::Module::extra_repr, "The layer's settings as printed inside its parentheses.")
      .def(
          "forward", [](nn::Module& mod, const Tensor& x) { return mod.forward(x); }, nb::arg("input"), Release())
      // Python hooks as C++ hooks, for the calls C++ makes (a container calling its children);
      // Python's own calls run them in Python (tessera.nn).
      .def("_register_cpp_forward_pre_hook",
           [](nn::Module& mod, int64_t key) {
             return mod.register_forward_pre_hook([key](nn::Module& self, const Tensor& in) -> std::optional<Tensor> {
               nb::gil_scoped_acquire gil;
               nb::object r = run_python_hook(key, "pre", self, in, nullptr);
               if (r.is_none()) return std::nullopt;
               return nb::cast<Tensor>(r);
             });
           })
      .def("_register_cpp_forward_hook", [](nn::Module& mod, int64_t key) {
        return mod.register_forward_hook(
            [key](nn::Module& self, const Tensor& in, const Tensor& out) -> std::optional<Tensor> {
              nb::gil_scoped_acquire gil;
              nb::object r = run_python_hook(key, "post", self, in, &out);
              if (r.is_none()) return std::nullopt;
              return nb::cast<Tensor>(r);
            });
      })
      .def(
          "parameters", [](const nn::Module& mod, bool r) { return mod.parameters(r); }, nb::arg("recurse") = true)
      .def(
          "named_parameters", [](const nn::Module& mod, bool r) { return mod.named_parameters(r); },
          nb::arg("recurse") = true)
      .def(
          "named_buffers", [](const nn::Module& mod, bool r) { return mod.named_buffers(r); },
          nb::arg("recurse") = true)
      .def(
          "buffers",
          [](const nn::Module& mod, bool r) {
            std::vector<Tensor> out;
            for (auto& [n, t] : mod.named_buffers(r)) out.push_back(t);
            return out;
          },
          nb::arg("recurse") = true)
      .def("named_children", [](const nn::Module& mod) { return mod.named_children(); })
      .def(
          "state_dict",
          [](const nn::Module& mod) {
            nb::dict d;
            for (auto& [k, v] : mod.state_dict()) d[k.c_str()] = v;
            return d;
          },
          "The parameters and buffers by dotted name (a dict, in registration order).")
      .def(
          "load_state_dict",
          [](nn::Module& mod, nb::dict sd, bool strict) {
            nn::StateDict s;
            for (auto [k, v] : sd) s.emplace_back(nb::cast<std::string>(k), nb::cast<Tensor>(v));
            auto r = mod.load_state_dict(s, strict);
            return nb::make_tuple(r.missing, r.unexpected);
          },
          nb::arg("state_dict"), nb::arg("strict") = true,
          "Copies matching entries in; strict raises on missing, unexpected or mis-shaped keys. Returns "
          "(missing, unexpected).")
      .def(
          "train",
          [](nn::Module& mod, bool on) -> nn::Module& {
            mod.train(on);
            return mod;
          },
          nb::arg("mode") = true, nb::rv_policy::reference)
      .def(
          "eval",
          [](nn::Module& mod) -> nn::Module& {
            mod.eval();
            return mod;
          },
          nb::rv_policy::reference)
      .def(
          "to",
          [](nn::Module& mod, std::optional<std::variant<DType, std::string>> a,
             std::optional<MemoryFormat>) -> nn::Module& {
            if (!a) return mod;
            if (auto* d = std::get_if<DType>(&*a)) return mod.to(*d);
            return mod.to(Device::parse(std::get<std::string>(*a)));
          },
          nb::arg("dtype_or_device") = nb::none(), nb::arg("memory_format") = nb::none(), nb::rv_policy::reference,
          "Converts or moves every parameter and buffer in place. memory_format is accepted as in PyTorch: "
          "weights stay [O, I, kH, kW] and each layer's output takes its input's layout.")
      .def(
          "share_memory", [](nn::Module& mod) -> nn::Module& { return mod.share_memory(); }, nb::rv_policy::reference,
          "Moves every parameter, gradient and buffer into shared memory (Hogwild training with "
          "tessera.multiprocessing).")
      .def(
          "double", [](nn::Module& mod) -> nn::Module& { return mod.to(DType::Float64); }, nb::rv_policy::reference,
          "Converts every floating-point parameter and buffer to float64 in place.")
      .def(
          "float", [](nn::Module& mod) -> nn::Module& { return mod.to(DType::Float32); }, nb::rv_policy::reference,
          "Converts every floating-point parameter and buffer to float32 in place.")
      .def(
          "half", [](nn::Module& mod) -> nn::Module& { return mod.to(DType::Float16); }, nb::rv_policy::reference,
          "Converts every floating-point parameter and buffer to float16 in place.")
      .def(
          "bfloat16", [](nn::Module& mod) -> nn::Module& { return mod.to(DType::BFloat16); },
          nb::rv_policy::reference, "Converts every floating-point parameter and buffer to bfloat16 in place.")
      .def(
          "cuda", [](nn::Module& mod, std::optional<int> d) -> nn::Module& { return mod.to(Device::cuda(d.value_or(0))); },
          nb::arg("device") = nb::none(), nb::rv_policy::reference, "Moves every parameter and buffer to a GPU.")
      .def(
          "cpu", [](nn::Module& mod) -> nn::Module& { return mod.to(Device::cpu()); }, nb::rv_policy::reference,
          "Moves every parameter and buffer to the CPU.")
      .def("zero_grad", &nn::Module::zero_grad, nb::arg("set_to_none") = true)
      .def_prop_rw("training", &nn::Module::is_training, &Registry::set_training,
                   "Whether the module is in training mode (assigning it sets this module's flag only; train() "
                   "sets the children's too).")
      .def("num_parameters", &nn::Module::num_parameters)
      .def("__repr__", [](const nn::Module& mod) {
        std::string s = mod.str();
        return s.substr(0, s.rfind("\nparameters:"));
      });

  nb::class_<nn::Identity, nn::Module>(m, "Identity", "Returns its input.").def(nb::init<>());
  nb::class_<nn::Linear, nn::Module>(m, "Linear", "y = x W^T + b, W [out, in] (torch.nn.Linear).")
      .def(nb::init<int64_t, int64_t, bool>(), nb::arg("in_features"), nb::arg("out_features"), nb::arg("bias") = true)
      .def_rw("weight", &nn::Linear::weight)
      .def_rw("bias", &nn::Linear::bias)
      .def_ro("in_features", &nn::Linear::in_features)
      .def_ro("out_features", &nn::Linear::out_features);
  nb::class_<nn::Bilinear, nn::Module>(m, "Bilinear", "y = x1^T A x2 + b (torch.nn.Bilinear).")
      .def(nb::init<int64_t, int64_t, int64_t, bool>(), nb::arg("in1_features"), nb::arg("in2_features"),
           nb::arg("out_features"), nb::arg("bias") = true)
      .def("forward", &nn::Bilinear::forward, nb::arg("input1"), nb::arg("input2"), Release())
      .def_rw("weight", &nn::Bilinear::weight)
      .def_rw("bias", &nn::Bilinear::bias);
  nb::class_<nn::Conv2d, nn::Module>(m, "Conv2d", "2-D convolution over [N, C, H, W] (torch.nn.Conv2d).")
      .def(
          "__init__",
          [](nn::Conv2d* self, int64_t in, int64_t out, IntPair k, IntPair stride, IntPair padding, IntPair dilation,
             int64_t groups, bool bias) {
            new (self) nn::Conv2d(in, out, pair_of(k), conv_opts(stride, padding, dilation, groups, bias));
          },
          nb::arg("in_channels"), nb::arg("out_channels"), nb::arg("kernel_size"), nb::arg("stride") = 1,
          nb::arg("padding") = 0, nb::arg("dilation") = 1, nb::arg("groups") = 1, nb::arg("bias") = true)
      .def_rw("weight", &nn::Conv2d::weight)
      .def_rw("bias", &nn::Conv2d::bias);
  nb::class_<nn::Conv1d, nn::Module>(m, "Conv1d", "1-D convolution over [N, C, L] (torch.nn.Conv1d).")
      .def(
          "__init__",
          [](nn::Conv1d* self, int64_t in, int64_t out, int64_t k, int64_t stride, int64_t padding, int64_t dilation,
             int64_t groups, bool bias) {
            new (self) nn::Conv1d(in, out, k,
                                  conv_opts({stride, stride}, {padding, padding}, {dilation, dilation}, groups, bias));
          },
          nb::arg("in_channels"), nb::arg("out_channels"), nb::arg("kernel_size"), nb::arg("stride") = 1,
          nb::arg("padding") = 0, nb::arg("dilation") = 1, nb::arg("groups") = 1, nb::arg("bias") = true)
      .def_rw("weight", &nn::Conv1d::weight)
      .def_rw("bias", &nn::Conv1d::bias);
  nb::class_<nn::ConvTranspose2d, nn::Module>(m, "ConvTranspose2d",
                                              "Transposed 2-D convolution (torch.nn.ConvTranspose2d).")
      .def(
          "__init__",
          [](nn::ConvTranspose2d* self, int64_t in, int64_t out, IntPair k, IntPair stride, IntPair padding,
             IntPair output_padding, int64_t groups, bool bias, IntPair dilation) {
            new (self) nn::ConvTranspose2d(in, out, pair_of(k),
                                           conv_opts(stride, padding, dilation, groups, bias, output_padding));
          },
          nb::arg("in_channels"), nb::arg("out_channels"), nb::arg("kernel_size"), nb::arg("stride") = 1,
          nb::arg("padding") = 0, nb::arg("output_padding") = 0, nb::arg("groups") = 1, nb::arg("bias") = true,
          nb::arg("dilation") = 1)
      .def_rw("weight", &nn::ConvTranspose2d::weight)
      .def_rw("bias", &nn::ConvTranspose2d::bias);
  nb::class_<nn::MaxPool2d, nn::Module>(m, "MaxPool2d", "2-D max pooling (torch.nn.MaxPool2d).")
      .def(
          "__init__",
          [](nn::MaxPool2d* self, IntPair k, std::optional<IntPair> s, IntPair p, IntPair d, bool ceil) {
            new (self) nn::MaxPool2d(pair_of(k), pool_opts(s, p, d, ceil, true));
          },
          nb::arg("kernel_size"), nb::arg("stride") = nb::none(), nb::arg("padding") = 0, nb::arg("dilation") = 1,
          nb::arg("ceil_mode") = false);
  nb::class_<nn::AvgPool2d, nn::Module>(m, "AvgPool2d", "2-D average pooling (torch.nn.AvgPool2d).")
      .def(
          "__init__",
          [](nn::AvgPool2d* self, IntPair k, std::optional<IntPair> s, IntPair p, bool ceil, bool include) {
            new (self) nn::AvgPool2d(pair_of(k), pool_opts(s, p, {1, 1}, ceil, include));
          },
          nb::arg("kernel_size"), nb::arg("stride") = nb::none(), nb::arg("padding") = 0, nb::arg("ceil_mode") = false,
          nb::arg("count_include_pad") = true);
  nb::class_<nn::AdaptiveAvgPool2d, nn::Module>(m, "AdaptiveAvgPool2d", "Average pooling to a fixed output size.")
      .def(
          "__init__", [](nn::AdaptiveAvgPool2d* self, IntPair s) { new (self) nn::AdaptiveAvgPool2d(pair_of(s)); },
          nb::arg("output_size"));
  nb::class_<nn::BatchNorm, nn::Module>(m, "_BatchNorm", "The base of the batch-norm layers.")
      .def_rw("weight", &nn::BatchNorm::weight)
      .def_rw("bias", &nn::BatchNorm::bias)
      .def_rw("running_mean", &nn::BatchNorm::running_mean)
      .def_rw("running_var", &nn::BatchNorm::running_var);
  nb::class_<nn::BatchNorm1d, nn::BatchNorm>(m, "BatchNorm1d",
                                             "Batch normalization over [N, C] or [N, C, L] (torch.nn.BatchNorm1d).")
      .def(
          "__init__",
          [](nn::BatchNorm1d* self, int64_t n, double eps, double momentum, bool affine, bool track) {
            new (self)
                nn::BatchNorm1d(n, {.eps = eps, .momentum = momentum, .affine = affine, .track_running_stats = track});
          },
          nb::arg("num_features"), nb::arg("eps") = 1e-5, nb::arg("momentum") = 0.1, nb::arg("affine") = true,
          nb::arg("track_running_stats") = true);
  nb::class_<nn::BatchNorm2d, nn::BatchNorm>(m, "BatchNorm2d",
                                             "Batch normalization over [N, C, H, W] (torch.nn.BatchNorm2d).")
      .def(
          "__init__",
          [](nn::BatchNorm2d* self, int64_t n, double eps, double momentum, bool affine, bool track) {
            new (self)
                nn::BatchNorm2d(n, {.eps = eps, .momentum = momentum, .affine = affine, .track_running_stats = track});
          },
          nb::arg("num_features"), nb::arg("eps") = 1e-5, nb::arg("momentum") = 0.1, nb::arg("affine") = true,
          nb::arg("track_running_stats") = true);
  nb::class_<nn::LayerNorm, nn::Module>(m, "LayerNorm", "Normalization over the last dims (torch.nn.LayerNorm).")
      .def(
          "__init__",
          [](nn::LayerNorm* self, std::variant<int64_t, Shape> s, double eps, bool affine) {
            Shape shape = std::holds_alternative<int64_t>(s) ? Shape{std::get<int64_t>(s)} : std::get<Shape>(s);
            new (self) nn::LayerNorm(shape, eps, affine);
          },
          nb::arg("normalized_shape"), nb::arg("eps") = 1e-5, nb::arg("elementwise_affine") = true)
      .def_rw("weight", &nn::LayerNorm::weight)
      .def_rw("bias", &nn::LayerNorm::bias);
  nb::class_<nn::GroupNorm, nn::Module>(m, "GroupNorm", "Group normalization (torch.nn.GroupNorm).")
      .def(nb::init<int64_t, int64_t, double, bool>(), nb::arg("num_groups"), nb::arg("num_channels"),
           nb::arg("eps") = 1e-5, nb::arg("affine") = true)
      .def_rw("weight", &nn::GroupNorm::weight)
      .def_rw("bias", &nn::GroupNorm::bias);
  nb::class_<nn::Dropout, nn::Module>(m, "Dropout",
                                      "Zeroes elements with probability p when training, scaling the rest by 1/(1-p).")
      .def(nb::init<double, bool>(), nb::arg("p") = 0.5, nb::arg("inplace") = false);
  nb::class_<nn::ChannelDropout, nn::Module>(m, "_ChannelDropout", "The base of Dropout1d/2d/3d.")
      .def_rw("p", &nn::ChannelDropout::p)
      .def_rw("inplace", &nn::ChannelDropout::inplace);
  nb::class_<nn::Dropout1d, nn::ChannelDropout>(m, "Dropout1d",
                                                "Zeroes whole channels of [N, C, L] (or [C, L]) with probability p "
                                                "when training, scaling the rest by 1/(1-p).")
      .def(nb::init<double, bool>(), nb::arg("p") = 0.5, nb::arg("inplace") = false);
  nb::class_<nn::Dropout2d, nn::ChannelDropout>(m, "Dropout2d",
                                                "Zeroes whole channels of [N, C, H, W] (or [C, H, W]) with probability "
                                                "p when training, scaling the rest by 1/(1-p).")
      .def(nb::init<double, bool>(), nb::arg("p") = 0.5, nb::arg("inplace") = false);
  nb::class_<nn::Dropout3d, nn::ChannelDropout>(m, "Dropout3d",
                                                "Zeroes whole channels of [N, C, D, H, W] (or [C, D, H, W]) with "
                                                "probability p when training, scaling the rest by 1/(1-p).")
      .def(nb::init<double, bool>(), nb::arg("p") = 0.5, nb::arg("inplace") = false);
  nb::class_<nn::Embedding, nn::Module>(m, "Embedding",
                                        "A lookup table of num_embeddings vectors (torch.nn.Embedding).")
      .def(nb::init<int64_t, int64_t, std::optional<int64_t>>(), nb::arg("num_embeddings"), nb::arg("embedding_dim"),
           nb::arg("padding_idx") = nb::none())
      .def_rw("weight", &nn::Embedding::weight);
  nb::class_<nn::Flatten, nn::Module>(m, "Flatten", "Merges dims start_dim..end_dim.")
      .def(nb::init<int64_t, int64_t>(), nb::arg("start_dim") = 1, nb::arg("end_dim") = -1);
  nb::class_<nn::ReLU, nn::Module>(m, "ReLU", "Rectified linear unit, max(x, 0).")
      .def(nb::init<bool>(), nb::arg("inplace") = false);
  nb::class_<nn::SiLU, nn::Module>(m, "SiLU", "x * sigmoid(x).").def(nb::init<bool>(), nb::arg("inplace") = false);
  nb::class_<nn::Tanh, nn::Module>(m, "Tanh", "Hyperbolic tangent.").def(nb::init<>());
  nb::class_<nn::Sigmoid, nn::Module>(m, "Sigmoid", "1 / (1 + e^-x).").def(nb::init<>());
  nb::class_<nn::LeakyReLU, nn::Module>(m, "LeakyReLU", "x, or negative_slope * x below 0.")
      .def(nb::init<double, bool>(), nb::arg("negative_slope") = 0.01, nb::arg("inplace") = false);
  nb::class_<nn::ELU, nn::Module>(m, "ELU", "x, or alpha * (e^x - 1) below 0.")
      .def(nb::init<double, bool>(), nb::arg("alpha") = 1.0, nb::arg("inplace") = false);
  nb::class_<nn::Softplus, nn::Module>(m, "Softplus", "Smooth ReLU: log(1 + e^(beta x)) / beta, linear above threshold.")
      .def(nb::init<double, double>(), nb::arg("beta") = 1.0, nb::arg("threshold") = 20.0)
      .def_ro("beta", &nn::Softplus::beta)
      .def_ro("threshold", &nn::Softplus::threshold);
  nb::class_<nn::Hardtanh, nn::Module>(m, "Hardtanh", "x clamped to [min_val, max_val].")
      .def(nb::init<double, double, bool>(), nb::arg("min_val") = -1.0, nb::arg("max_val") = 1.0,
           nb::arg("inplace") = false)
      .def_ro("min_val", &nn::Hardtanh::min_val)
      .def_ro("max_val", &nn::Hardtanh::max_val);
  nb::class_<nn::ReLU6, nn::Hardtanh>(m, "ReLU6", "ReLU capped at 6: min(max(x, 0), 6).").def(nb::init<bool>(), nb::arg("inplace") = false);
  nb::class_<nn::Hardsigmoid, nn::Module>(m, "Hardsigmoid", "Piecewise-linear sigmoid: relu6(x + 3) / 6.")
      .def(nb::init<bool>(), nb::arg("inplace") = false);
  nb::class_<nn::Hardswish, nn::Module>(m, "Hardswish", "x * relu6(x + 3) / 6.")
      .def(nb::init<bool>(), nb::arg("inplace") = false);
  nb::class_<nn::Mish, nn::Module>(m, "Mish", "x * tanh(softplus(x)).").def(nb::init<bool>(), nb::arg("inplace") = false);
  nb::class_<nn::PReLU, nn::Module>(m, "PReLU", "x, or a * x below 0, with a learned a (one, or one per channel).")
      .def(nb::init<int64_t, double>(), nb::arg("num_parameters") = 1, nb::arg("init") = 0.25)
      .def_rw("weight", &nn::PReLU::weight)
      .def_ro("num_parameters", &nn::PReLU::num_parameters);
  nb::class_<nn::Unflatten, nn::Module>(m, "Unflatten", "Splits dim into unflattened_size.")
      .def(nb::init<int64_t, Shape>(), nb::arg("dim"), nb::arg("unflattened_size"));
  nb::class_<nn::Upsample, nn::Module>(m, "Upsample",
                                       "Nearest-neighbour upsampling of [N, C, H, W] by integer factors.")
      .def(
          "__init__",
          [](nn::Upsample* self, nb::handle size, nb::handle scale, const std::string& mode) {
            std::optional<Shape> sz;
            std::optional<std::vector<double>> sf;
            if (!size.is_none())
              sz = nb::isinstance<nb::int_>(size) ? Shape{nb::cast<int64_t>(size)} : nb::cast<Shape>(size);
            if (!scale.is_none())
              sf = nb::isinstance<nb::tuple>(scale) || nb::isinstance<nb::list>(scale)
                       ? nb::cast<std::vector<double>>(scale)
                       : std::vector<double>{nb::cast<double>(scale)};
            new (self) nn::Upsample(sz, sf, mode);
          },
          nb::arg("size") = nb::none(), nb::arg("scale_factor") = nb::none(), nb::arg("mode") = "nearest");
  nb::class_<nn::MaxPool1d, nn::Module>(m, "MaxPool1d", "1-D max pooling over [N, C, L].")
      .def(nb::init<int64_t, std::optional<int64_t>, int64_t, int64_t, bool>(), nb::arg("kernel_size"),
           nb::arg("stride") = nb::none(), nb::arg("padding") = 0, nb::arg("dilation") = 1, nb::arg("ceil_mode") = false);
  nb::class_<nn::AvgPool1d, nn::Module>(m, "AvgPool1d", "1-D average pooling over [N, C, L].")
      .def(nb::init<int64_t, std::optional<int64_t>, int64_t, bool, bool>(), nb::arg("kernel_size"),
           nb::arg("stride") = nb::none(), nb::arg("padding") = 0, nb::arg("ceil_mode") = false,
           nb::arg("count_include_pad") = true);
  nb::class_<nn::AdaptiveAvgPool1d, nn::Module>(m, "AdaptiveAvgPool1d", "1-D average pooling to a given length.")
      .def(nb::init<int64_t>(), nb::arg("output_size"));

  // tessera.nn.functional's composites (tessera::nn::functional), under their Python names there.
  nb::module_ f = m.def_submodule("_functional", "tessera::nn::functional's composites (see tessera.nn.functional).");
  f.def("elu", &nn::functional::elu, nb::arg("input"), nb::arg("alpha") = 1.0);
  f.def("leaky_relu", [](const Tensor& x, double s) { return leaky_relu(x, s); }, nb::arg("input"),
        nb::arg("negative_slope") = 0.01);
  f.def("hardtanh", &nn::functional::hardtanh, nb::arg("input"), nb::arg("min_val") = -1.0, nb::arg("max_val") = 1.0);
  f.def("hardsigmoid", &nn::functional::hardsigmoid, nb::arg("input"));
  f.def("hardswish", &nn::functional::hardswish, nb::arg("input"));
  f.def("mish", &nn::functional::mish, nb::arg("input"));
  f.def("prelu", &nn::functional::prelu, nb::arg("input"), nb::arg("weight"));
  f.def("normalize", &nn::functional::normalize, nb::arg("input"), nb::arg("p") = 2.0, nb::arg("dim") = 1,
        nb::arg("eps") = 1e-12);
  f.def("interpolate", &nn::functional::interpolate, nb::arg("input"), nb::arg("size").none(),
        nb::arg("scale_factor").none(), nb::arg("mode") = "nearest");
  f.def("max_pool1d", &nn::functional::max_pool1d, nb::arg("input"), nb::arg("kernel_size"), nb::arg("stride").none(),
        nb::arg("padding"), nb::arg("dilation"), nb::arg("ceil_mode"));
  f.def("max_pool1d_with_indices", &nn::functional::max_pool1d_with_indices, nb::arg("input"), nb::arg("kernel_size"),
        nb::arg("stride").none(), nb::arg("padding"), nb::arg("dilation"), nb::arg("ceil_mode"));
  f.def("avg_pool1d", &nn::functional::avg_pool1d, nb::arg("input"), nb::arg("kernel_size"), nb::arg("stride").none(),
        nb::arg("padding"), nb::arg("ceil_mode"), nb::arg("count_include_pad"));
  f.def("adaptive_avg_pool1d", &nn::functional::adaptive_avg_pool1d, nb::arg("input"), nb::arg("output_size"));

  // The losses as modules (torch.nn.*Loss); class weights are buffers.
  nb::class_<nn::LossModule, nn::Module>(m, "_Loss", "The base of the loss modules.")
      .def("forward", &nn::LossModule::forward, nb::arg("input"), nb::arg("target"), Release())
      .def_ro("reduction", &nn::LossModule::reduction);
  nb::class_<nn::CrossEntropyLoss, nn::LossModule>(
      m, "CrossEntropyLoss", "Softmax cross-entropy of logits and class indices or probabilities (torch.nn.CrossEntropyLoss).")
      .def(
          "__init__",
          [](nn::CrossEntropyLoss* self, std::optional<Tensor> w, int64_t ignore, const std::string& r, double ls) {
            new (self) nn::CrossEntropyLoss(
                {.weight = tensor_or_none(w), .ignore_index = ignore, .reduction = r, .label_smoothing = ls});
          },
          nb::arg("weight").none() = nb::none(), nb::arg("ignore_index") = -100, nb::arg("reduction") = "mean",
          nb::arg("label_smoothing") = 0.0)
      .def_ro("ignore_index", &nn::CrossEntropyLoss::ignore_index)
      .def_ro("label_smoothing", &nn::CrossEntropyLoss::label_smoothing);
  nb::class_<nn::NLLLoss, nn::LossModule>(m, "NLLLoss", "Negative log-likelihood of log-probabilities and class indices.")
      .def(
          "__init__",
          [](nn::NLLLoss* self, std::optional<Tensor> w, int64_t ignore, const std::string& r) {
            new (self) nn::NLLLoss(tensor_or_none(w), ignore, r);
          },
          nb::arg("weight").none() = nb::none(), nb::arg("ignore_index") = -100, nb::arg("reduction") = "mean")
      .def_ro("ignore_index", &nn::NLLLoss::ignore_index);
  nb::class_<nn::MSELoss, nn::LossModule>(m, "MSELoss", "Mean squared error.")
      .def(nb::init<std::string>(), nb::arg("reduction") = "mean");
  nb::class_<nn::L1Loss, nn::LossModule>(m, "L1Loss", "Mean absolute error.")
      .def(nb::init<std::string>(), nb::arg("reduction") = "mean");
  nb::class_<nn::SmoothL1Loss, nn::LossModule>(m, "SmoothL1Loss", "Quadratic below beta, linear above (Huber-style).")
      .def(nb::init<std::string, double>(), nb::arg("reduction") = "mean", nb::arg("beta") = 1.0)
      .def_ro("beta", &nn::SmoothL1Loss::beta);
  nb::class_<nn::BCELoss, nn::LossModule>(m, "BCELoss", "Binary cross-entropy of probabilities.")
      .def(
          "__init__",
          [](nn::BCELoss* self, std::optional<Tensor> w, const std::string& r) {
            new (self) nn::BCELoss(tensor_or_none(w), r);
          },
          nb::arg("weight").none() = nb::none(), nb::arg("reduction") = "mean");
  nb::class_<nn::BCEWithLogitsLoss, nn::LossModule>(m, "BCEWithLogitsLoss",
                                                    "Binary cross-entropy of logits, computed stably (pos_weight for "
                                                    "imbalance).")
      .def(
          "__init__",
          [](nn::BCEWithLogitsLoss* self, std::optional<Tensor> w, const std::string& r, std::optional<Tensor> pw) {
            new (self) nn::BCEWithLogitsLoss(tensor_or_none(w), r, tensor_or_none(pw));
          },
          nb::arg("weight").none() = nb::none(), nb::arg("reduction") = "mean", nb::arg("pos_weight").none() = nb::none());
  nb::class_<nn::KLDivLoss, nn::LossModule>(m, "KLDivLoss",
                                            "Kullback-Leibler divergence of log-probabilities from a target distribution.")
      .def(nb::init<std::string, bool>(), nb::arg("reduction") = "mean", nb::arg("log_target") = false)
      .def_ro("log_target", &nn::KLDivLoss::log_target);
  nb::class_<nn::GELU, nn::Module>(m, "GELU", "Gaussian error linear unit.")
      .def(nb::init<std::string>(), nb::arg("approximate") = "none");
  nb::class_<nn::Softmax, nn::Module>(m, "Softmax", "Softmax along dim.").def(nb::init<int64_t>(), nb::arg("dim"));
  nb::class_<nn::LogSoftmax, nn::Module>(m, "LogSoftmax", "Log-softmax along dim.")
      .def(nb::init<int64_t>(), nb::arg("dim"));
  nb::class_<nn::MultiheadAttention, nn::Module>(m, "MultiheadAttention",
                                                 "Multi-head attention (torch.nn.MultiheadAttention); returns "
                                                 "(output, averaged attention weights or None).")
      .def(nb::init<int64_t, int64_t, double, bool, bool>(), nb::arg("embed_dim"), nb::arg("num_heads"),
           nb::arg("dropout") = 0.0, nb::arg("bias") = true, nb::arg("batch_first") = false)
      .def(
          "forward",
          [](nn::MultiheadAttention& a, const Tensor& q, const Tensor& k, const Tensor& v, std::optional<Tensor> kpm,
             bool need, std::optional<Tensor> am) {
            auto [o, w] = a.forward(q, k, v, kpm.value_or(Tensor()), need, am.value_or(Tensor()));
            return std::make_pair(o, w.defined() ? std::optional<Tensor>(w) : std::nullopt);
          },
          nb::arg("query"), nb::arg("key"), nb::arg("value"), nb::arg("key_padding_mask") = nb::none(),
          nb::arg("need_weights") = true, nb::arg("attn_mask") = nb::none(), Release())
      .def_rw("in_proj_weight", &nn::MultiheadAttention::in_proj_weight)
      .def_rw("in_proj_bias", &nn::MultiheadAttention::in_proj_bias);

  // Recurrent layers: forward(input, hx=None) -> (output, h_n), or (output, (h_n, c_n)) for LSTM.
  nb::class_<nn::RNNBase, nn::Module>(m, "_RNNBase")
      .def("forward", [](nn::RNNBase& r, const Tensor& x, nb::handle hx) -> nb::object {
        auto [h0, c0] = hidden_state(hx, r.cell == nn::RNNBase::Cell::LSTM);
        std::tuple<Tensor, Tensor, Tensor> res;
        {
          nb::gil_scoped_release rel;
          res = r.forward_with_state(x, h0, c0);
        }
        auto& [out, hn, cn] = res;
        if (r.cell == nn::RNNBase::Cell::LSTM) return nb::make_tuple(out, nb::make_tuple(hn, cn));
        return nb::make_tuple(out, hn);
      }, nb::arg("input"), nb::arg("hx") = nb::none(),
         "The output sequence and the final hidden state ((h_n, c_n) for LSTM), as torch.nn.RNN/LSTM/GRU.")
      .def_ro("input_size", &nn::RNNBase::input_size)
      .def_ro("hidden_size", &nn::RNNBase::hidden_size);
  auto rnn_opts = [](int64_t layers, bool bias, bool batch_first, double dropout, bool bidirectional) {
    return nn::RNNConfig{layers, bias, batch_first, dropout, bidirectional};
  };
  nb::class_<nn::RNN, nn::RNNBase>(m, "RNN", "Elman RNN, tanh or relu (torch.nn.RNN).")
      .def("__init__", [rnn_opts](nn::RNN* self, int64_t in, int64_t hidden, int64_t layers, const std::string& nl,
                                  bool bias, bool bf, double dropout, bool bidi) {
        new (self) nn::RNN(in, hidden, rnn_opts(layers, bias, bf, dropout, bidi), nl);
      }, nb::arg("input_size"), nb::arg("hidden_size"), nb::arg("num_layers") = 1, nb::arg("nonlinearity") = "tanh",
         nb::arg("bias") = true, nb::arg("batch_first") = false, nb::arg("dropout") = 0.0,
         nb::arg("bidirectional") = false);
  nb::class_<nn::LSTM, nn::RNNBase>(m, "LSTM", "Long short-term memory (torch.nn.LSTM; gates i, f, g, o).")
      .def("__init__", [rnn_opts](nn::LSTM* self, int64_t in, int64_t hidden, int64_t layers, bool bias, bool bf,
                                  double dropout, bool bidi) {
        new (self) nn::LSTM(in, hidden, rnn_opts(layers, bias, bf, dropout, bidi));
      }, nb::arg("input_size"), nb::arg("hidden_size"), nb::arg("num_layers") = 1, nb::arg("bias") = true,
         nb::arg("batch_first") = false, nb::arg("dropout") = 0.0, nb::arg("bidirectional") = false);
  nb::class_<nn::GRU, nn::RNNBase>(m, "GRU", "Gated recurrent unit (torch.nn.GRU; gates r, z, n).")
      .def("__init__", [rnn_opts](nn::GRU* self, int64_t in, int64_t hidden, int64_t layers, bool bias, bool bf,
                                  double dropout, bool bidi) {
        new (self) nn::GRU(in, hidden, rnn_opts(layers, bias, bf, dropout, bidi));
      }, nb::arg("input_size"), nb::arg("hidden_size"), nb::arg("num_layers") = 1, nb::arg("bias") = true,
         nb::arg("batch_first") = false, nb::arg("dropout") = 0.0, nb::arg("bidirectional") = false);

  // Recurrent cells: forward(input, hx=None) -> h' (or (h', c') for LSTMCell, hx = (h, c)).
  nb::class_<nn::RNNCellBase, nn::Module>(m, "_RNNCellBase")
      .def("forward", [](nn::RNNCellBase& r, const Tensor& x, nb::handle hx) -> nb::object {
        auto [h, c] = hidden_state(hx, r.cell == nn::RNNCellBase::Cell::LSTM);
        std::pair<Tensor, Tensor> res;
        {
          nb::gil_scoped_release rel;
          res = r.forward_with_state(x, h, c);
        }
        if (r.cell == nn::RNNCellBase::Cell::LSTM) return nb::make_tuple(res.first, res.second);
        return nb::cast(res.first);
      }, nb::arg("input"), nb::arg("hx") = nb::none(),
         "The next hidden state ((h', c') for LSTMCell), as torch.nn.RNNCell/LSTMCell/GRUCell.")
      .def_ro("input_size", &nn::RNNCellBase::input_size)
      .def_ro("hidden_size", &nn::RNNCellBase::hidden_size)
      .def_rw("weight_ih", &nn::RNNCellBase::weight_ih)
      .def_rw("weight_hh", &nn::RNNCellBase::weight_hh)
      .def_rw("bias_ih", &nn::RNNCellBase::bias_ih)
      .def_rw("bias_hh", &nn::RNNCellBase::bias_hh);
  nb::class_<nn::RNNCell, nn::RNNCellBase>(m, "RNNCell", "One step of an Elman RNN, tanh or relu (torch.nn.RNNCell).")
      .def(nb::init<int64_t, int64_t, bool, const std::string&>(), nb::arg("input_size"), nb::arg("hidden_size"),
           nb::arg("bias") = true, nb::arg("nonlinearity") = "tanh");
  nb::class_<nn::LSTMCell, nn::RNNCellBase>(m, "LSTMCell", "One step of an LSTM (torch.nn.LSTMCell; gates i, f, g, o).")
      .def(nb::init<int64_t, int64_t, bool>(), nb::arg("input_size"), nb::arg("hidden_size"), nb::arg("bias") = true);
  nb::class_<nn::GRUCell, nn::RNNCellBase>(m, "GRUCell", "One step of a GRU (torch.nn.GRUCell; gates r, z, n).")
      .def(nb::init<int64_t, int64_t, bool>(), nb::arg("input_size"), nb::arg("hidden_size"), nb::arg("bias") = true);

  // Transformer layers: masks and key-padding masks are optional tensors (None).
  auto opt_t = [](nb::handle h) { return optional_tensor(h); };
  auto tf_opts = [](int64_t dff, double dropout, nb::handle activation, double eps, bool bf, bool nf) {
    std::string act;
    if (nb::isinstance<nb::str>(activation)) act = nb::cast<std::string>(activation);
    else if (nb::hasattr(activation, "__name__")) act = nb::cast<std::string>(activation.attr("__name__"));
    if (act != "relu" && act != "gelu")
      throw ValueError("Transformer: activation must be 'relu' or 'gelu' (or F.relu / F.gelu), got " +
                       tessera::py::py_str(activation));
    return nn::TransformerConfig{dff, dropout, act, eps, bf, nf};
  };
  nb::class_<nn::TransformerEncoderLayer, nn::Module>(
      m, "TransformerEncoderLayer", "Self-attention and a feed-forward block, post- or pre-norm (torch.nn.TransformerEncoderLayer).")
      .def("__init__", [tf_opts](nn::TransformerEncoderLayer* self, int64_t d, int64_t h, int64_t dff, double dropout,
                                 nb::handle act, double eps, bool bf, bool nf) {
        new (self) nn::TransformerEncoderLayer(d, h, tf_opts(dff, dropout, act, eps, bf, nf));
      }, nb::arg("d_model"), nb::arg("nhead"), nb::arg("dim_feedforward") = 2048, nb::arg("dropout") = 0.1,
         nb::arg("activation") = "relu", nb::arg("layer_norm_eps") = 1e-5, nb::arg("batch_first") = false,
         nb::arg("norm_first") = false)
      .def("forward", &encoder_forward<nn::TransformerEncoderLayer>, nb::arg("src"), nb::arg("src_mask") = nb::none(), nb::arg("src_key_padding_mask") = nb::none(),
         nb::arg("is_causal") = false)
      .def_ro("self_attn", &nn::TransformerEncoderLayer::self_attn)
      .def_ro("linear1", &nn::TransformerEncoderLayer::linear1)
      .def_ro("linear2", &nn::TransformerEncoderLayer::linear2)
      .def_ro("norm1", &nn::TransformerEncoderLayer::norm1)
      .def_ro("norm2", &nn::TransformerEncoderLayer::norm2)
      .def_prop_ro("norm_first", [](const nn::TransformerEncoderLayer& l) { return l.options.norm_first; });
  nb::class_<nn::TransformerDecoderLayer, nn::Module>(
      m, "TransformerDecoderLayer",
      "Self-attention, attention over the encoder's memory and a feed-forward block (torch.nn.TransformerDecoderLayer).")
      .def("__init__", [tf_opts](nn::TransformerDecoderLayer* self, int64_t d, int64_t h, int64_t dff, double dropout,
                                 nb::handle act, double eps, bool bf, bool nf) {
        new (self) nn::TransformerDecoderLayer(d, h, tf_opts(dff, dropout, act, eps, bf, nf));
      }, nb::arg("d_model"), nb::arg("nhead"), nb::arg("dim_feedforward") = 2048, nb::arg("dropout") = 0.1,
         nb::arg("activation") = "relu", nb::arg("layer_norm_eps") = 1e-5, nb::arg("batch_first") = false,
         nb::arg("norm_first") = false)
      .def("forward", &decoder_forward<nn::TransformerDecoderLayer>, nb::arg("tgt"), nb::arg("memory"), nb::arg("tgt_mask") = nb::none(), nb::arg("memory_mask") = nb::none(),
         nb::arg("tgt_key_padding_mask") = nb::none(), nb::arg("memory_key_padding_mask") = nb::none(),
         nb::arg("tgt_is_causal") = false)
      .def_ro("self_attn", &nn::TransformerDecoderLayer::self_attn)
      .def_ro("multihead_attn", &nn::TransformerDecoderLayer::multihead_attn);
  nb::class_<nn::TransformerEncoder, nn::Module>(m, "TransformerEncoder",
                                                 "num_layers copies of an encoder layer, then an optional norm.")
      .def("__init__", [](nn::TransformerEncoder* self, const nn::TransformerEncoderLayer& layer, int64_t n,
                          std::shared_ptr<nn::LayerNorm> norm, bool) { new (self) nn::TransformerEncoder(layer, n, norm); },
           nb::arg("encoder_layer"), nb::arg("num_layers"), nb::arg("norm") = nb::none(),
           nb::arg("enable_nested_tensor") = true)
      .def("forward", &encoder_forward<nn::TransformerEncoder>, nb::arg("src"), nb::arg("mask") = nb::none(), nb::arg("src_key_padding_mask") = nb::none(),
         nb::arg("is_causal") = false);
  nb::class_<nn::TransformerDecoder, nn::Module>(m, "TransformerDecoder",
                                                 "num_layers copies of a decoder layer, then an optional norm.")
      .def("__init__", [](nn::TransformerDecoder* self, const nn::TransformerDecoderLayer& layer, int64_t n,
                          std::shared_ptr<nn::LayerNorm> norm) { new (self) nn::TransformerDecoder(layer, n, norm); },
           nb::arg("decoder_layer"), nb::arg("num_layers"), nb::arg("norm") = nb::none())
      .def("forward", &decoder_forward<nn::TransformerDecoder>, nb::arg("tgt"), nb::arg("memory"), nb::arg("tgt_mask") = nb::none(), nb::arg("memory_mask") = nb::none(),
         nb::arg("tgt_key_padding_mask") = nb::none(), nb::arg("memory_key_padding_mask") = nb::none(),
         nb::arg("tgt_is_causal") = false);
  nb::class_<nn::Transformer, nn::Module>(m, "Transformer", "Encoder-decoder Transformer (torch.nn.Transformer).")
      .def("__init__", [tf_opts](nn::Transformer* self, int64_t d, int64_t h, int64_t ne, int64_t nd, int64_t dff,
                                 double dropout, nb::handle act, nb::handle ce, nb::handle cd, double eps, bool bf,
                                 bool nf) {
        if (!ce.is_none() || !cd.is_none())
          throw ValueError("Transformer: custom_encoder/custom_decoder are not supported; build TransformerEncoder and "
                           "TransformerDecoder and call them in your own module");
        new (self) nn::Transformer(d, h, ne, nd, tf_opts(dff, dropout, act, eps, bf, nf));
      }, nb::arg("d_model") = 512, nb::arg("nhead") = 8, nb::arg("num_encoder_layers") = 6,
         nb::arg("num_decoder_layers") = 6, nb::arg("dim_feedforward") = 2048, nb::arg("dropout") = 0.1,
         nb::arg("activation") = "relu", nb::arg("custom_encoder") = nb::none(), nb::arg("custom_decoder") = nb::none(),
         nb::arg("layer_norm_eps") = 1e-5, nb::arg("batch_first") = false, nb::arg("norm_first") = false)
      .def("forward", [opt_t](nn::Transformer& t, const Tensor& src, const Tensor& tgt, nb::handle sm, nb::handle tm,
                              nb::handle mm, nb::handle sk, nb::handle tk, nb::handle mk) {
        Tensor a = opt_t(sm), b = opt_t(tm), c = opt_t(mm), d = opt_t(sk), e = opt_t(tk), f = opt_t(mk);
        nb::gil_scoped_release r;
        return t.forward(src, tgt, a, b, c, d, e, f);
      }, nb::arg("src"), nb::arg("tgt"), nb::arg("src_mask") = nb::none(), nb::arg("tgt_mask") = nb::none(),
         nb::arg("memory_mask") = nb::none(), nb::arg("src_key_padding_mask") = nb::none(),
         nb::arg("tgt_key_padding_mask") = nb::none(), nb::arg("memory_key_padding_mask") = nb::none())
      .def_ro("encoder", &nn::Transformer::encoder)
      .def_ro("decoder", &nn::Transformer::decoder)
      .def_static("generate_square_subsequent_mask", [](int64_t sz, DType d, const std::string& dev) {
        return nn::Transformer::generate_square_subsequent_mask(sz, {d, Device::parse(dev)});
      }, nb::arg("sz"), nb::arg("dtype") = DType::Float32, nb::arg("device") = "cpu",
         "[sz, sz]: 0 on and below the diagonal, -inf above (a causal mask).");

  // --- tessera.nn.init ---------------------------------------------------------------------------
  nb::module_ init = m.def_submodule("init", "Parameter initialization in place (torch.nn.init).");
  init.def("calculate_gain", &nn::init::calculate_gain, nb::arg("nonlinearity"), nb::arg("param") = 0.01,
           "The recommended gain of a nonlinearity ('relu', 'tanh', 'leaky_relu', ...).");
  init.def(
      "uniform_", [](Tensor t, double a, double b) { return nn::init::uniform_(t, a, b); }, nb::arg("tensor"),
      nb::arg("a") = 0.0, nb::arg("b") = 1.0, "Fills with U(a, b), in place; returns the tensor.");
  init.def(
      "normal_", [](Tensor t, double mean, double std) { return nn::init::normal_(t, mean, std); }, nb::arg("tensor"),
      nb::arg("mean") = 0.0, nb::arg("std") = 1.0, "Fills with N(mean, std^2), in place; returns the tensor.");
  init.def("constant_", &nn::init::constant_, nb::arg("tensor"), nb::arg("val"), "Fills with val, in place.");
  init.def("zeros_", &nn::init::zeros_, nb::arg("tensor"), "Fills with 0, in place.");
  init.def("ones_", &nn::init::ones_, nb::arg("tensor"), "Fills with 1, in place.");
  init.def(
      "xavier_uniform_", [](Tensor t, double g) { return nn::init::xavier_uniform_(t, g); }, nb::arg("tensor"),
      nb::arg("gain") = 1.0, "Glorot uniform: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)), in place.");
  init.def(
      "xavier_normal_", [](Tensor t, double g) { return nn::init::xavier_normal_(t, g); }, nb::arg("tensor"),
      nb::arg("gain") = 1.0, "Glorot normal: std = gain * sqrt(2 / (fan_in + fan_out)), in place.");
  init.def(
      "kaiming_uniform_",
      [](Tensor t, double a, const std::string& mode, const std::string& nl) {
        return nn::init::kaiming_uniform_(t, a, mode, nl);
      },
      nb::arg("tensor"), nb::arg("a") = 0.0, nb::arg("mode") = "fan_in", nb::arg("nonlinearity") = "leaky_relu",
      "He uniform (bound gain * sqrt(3 / fan)), in place.");
  init.def(
      "kaiming_normal_",
      [](Tensor t, double a, const std::string& mode, const std::string& nl) {
        return nn::init::kaiming_normal_(t, a, mode, nl);
      },
      nb::arg("tensor"), nb::arg("a") = 0.0, nb::arg("mode") = "fan_in", nb::arg("nonlinearity") = "leaky_relu",
      "He normal (std gain / sqrt(fan)), in place.");
  init.def(
      "orthogonal_", [](Tensor t, double g) { return nn::init::orthogonal_(t, g); }, nb::arg("tensor"),
      nb::arg("gain") = 1.0, "A (semi-)orthogonal matrix times gain, in place.");
}
