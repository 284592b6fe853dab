// tessera.nn's C++ layers, tessera.nn.init, and tessera.optim's optimizers and LR schedulers,
// bound over the C++ implementations.
#include <nanobind/stl/map.h>
#include <nanobind/stl/shared_ptr.h>

#include <algorithm>

#include "common.h"

namespace nb = nanobind;
using namespace tessera;
using tessera::py::IntPair;

namespace {
using Release = nb::call_guard<nb::gil_scoped_release>;

nn::Pair pair_of(IntPair p) { return {p.h, p.w}; }

nn::ConvOptions conv_opts(IntPair stride, IntPair padding, IntPair dilation, int64_t groups, bool bias,
                          IntPair output_padding = {0, 0}) {
  return {.stride = pair_of(stride),
          .padding = pair_of(padding),
          .dilation = pair_of(dilation),
          .groups = groups,
          .bias = bias,
          .output_padding = pair_of(output_padding)};
}

nn::PoolModuleOptions pool_opts(std::optional<IntPair> s, IntPair p, IntPair d, bool ceil, bool include_pad) {
  return {.stride = s ? std::optional<nn::Pair>(pair_of(*s)) : std::nullopt,
          .padding = pair_of(p),
          .dilation = pair_of(d),
          .ceil_mode = ceil,
          .count_include_pad = include_pad};
}

// Parameters as PyTorch takes them: an iterable of tensors, or of dicts {"params": [...], "lr": ...}
// (parameter groups with their own options).
std::vector<optim::ParamGroup> param_groups(nb::handle params) {
  std::vector<optim::ParamGroup> groups;
  std::vector<Tensor> plain;
  for (nb::handle item : nb::iter(params)) {
    if (nb::isinstance<Tensor>(item)) {
      plain.push_back(nb::cast<Tensor>(item));
      continue;
    }
    if (!nb::isinstance<nb::dict>(item))
      throw nb::type_error("optimizer params: expected tensors or dicts {'params': [...], option: value}");
    optim::ParamGroup g;
    for (auto [k, v] : nb::borrow<nb::dict>(item)) {
      std::string key = nb::cast<std::string>(k);
      if (key == "params") {
        for (nb::handle p : nb::iter(v)) g.params.push_back(nb::cast<Tensor>(p));
      } else if (key == "betas") {
        auto b = nb::cast<std::pair<double, double>>(v);
        g.options["beta1"] = b.first;
        g.options["beta2"] = b.second;
      } else {
        g.options[key] = nb::cast<double>(v);
      }
    }
    groups.push_back(std::move(g));
  }
  if (!plain.empty()) {
    if (!groups.empty()) throw nb::type_error("optimizer params: mix of tensors and parameter-group dicts");
    groups.push_back({std::move(plain), {}});
  }
  if (groups.empty()) throw ValueError("optimizer got an empty parameter list");
  return groups;
}

// optimizer.param_groups[i] as torch's dict: a live view, so writing g["lr"] (what schedulers and
// hand-written decay loops do) changes the optimizer. Options are numbers (bools as 0/1);
// "betas" reads and writes beta1/beta2; "params" the group's tensors.
struct GroupView {
  optim::Optimizer* opt;
  size_t index;
  optim::ParamGroup& group() const {
    auto& gs = opt->param_groups();
    if (index >= gs.size()) throw nb::index_error("param_groups: the group no longer exists");
    return gs[index];
  }
  std::vector<std::string> keys() const {
    std::vector<std::string> k{"params"};
    const auto& o = group().options;
    for (auto& [name, v] : o)
      if (name != "beta1" && name != "beta2") k.push_back(name);
    if (o.count("beta1") && o.count("beta2")) k.push_back("betas");
    return k;
  }
  nb::object get(const std::string& key) const {
    auto& g = group();
    if (key == "params") return nb::cast(g.params);
    if (key == "betas" && g.options.count("beta1") && g.options.count("beta2"))
      return nb::make_tuple(g.options.at("beta1"), g.options.at("beta2"));
    auto it = g.options.find(key);
    if (it == g.options.end()) throw nb::key_error(key.c_str());
    return nb::cast(it->second);
  }
  void set(const std::string& key, nb::handle v) {
    auto& g = group();
    if (key == "params") {
      std::vector<Tensor> ps;
      for (nb::handle p : nb::iter(v)) ps.push_back(nb::cast<Tensor>(p));
      g.params = std::move(ps);
    } else if (key == "betas") {
      auto b = nb::cast<std::pair<double, double>>(v);
      g.options["beta1"] = b.first;
      g.options["beta2"] = b.second;
    } else {
      double d;
      if (!nb::try_cast(v, d))
        throw DTypeError(opt->name() + ".param_groups: option '" + key + "' must be a number, got a " +
                         tessera::py::py_type_name(v));
      if (key == "lr" && d < 0) throw ValueError(opt->name() + ": invalid learning rate " + std::to_string(d));
      g.options[key] = d;
    }
  }
};

nb::list groups_view(nb::handle self) {
  auto& o = nb::cast<optim::Optimizer&>(self);
  nb::list out;
  for (size_t i = 0; i < o.param_groups().size(); ++i) {
    nb::object v = nb::cast(GroupView{&o, i});
    nb::detail::keep_alive(v.ptr(), self.ptr());
    out.append(v);
  }
  return out;
}
}  // namespace

// A recurrent layer's or cell's hx argument: None, h, or (h, c) for LSTM.
static std::pair<Tensor, Tensor> hidden_state(nb::handle hx, bool lstm) {
  if (hx.is_none()) return {};
  if (lstm) return nb::cast<std::pair<Tensor, Tensor>>(hx);
  return {nb::cast<Tensor>(hx), Tensor()};
}

// A tensor or any iterable of tensors (torch's `parameters` arguments: lists, generators).
static std::vector<Tensor> tensors_of(nb::handle h, const char* op) {
  if (nb::isinstance<Tensor>(h)) return {nb::cast<Tensor>(h)};
  std::vector<Tensor> v;
  for (nb::handle e : nb::iter(h)) {
    if (!nb::isinstance<Tensor>(e))
      throw DTypeError(std::string(op) + ": parameters must be tensors, got a " + tessera::py::py_type_name(e));
    v.push_back(nb::cast<Tensor>(e));
  }
  return v;
}

void bind_nn(nb::module_& m) {
  nb::class_<nn::Module>(m, "_Module", nb::dynamic_attr(), "A layer implemented in C++ (tessera::nn).")
      .def(
          "forward", [](nn::Module& mod, const Tensor& x) { return mod.forward(x); }, nb::arg("input"), Release())
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
          "cuda", [](nn::Module& mod, std::optional<int> d) -> nn::Module& { return mod.to(Device::cuda(d.value_or(0))); },
          nb::arg("device") = nb::none(), nb::rv_policy::reference, "Moves every parameter and buffer to a GPU.")
      .def(
          "cpu", [](nn::Module& mod) -> nn::Module& { return mod.to(Device::cpu()); }, nb::rv_policy::reference,
          "Moves every parameter and buffer to the CPU.")
      .def("zero_grad", &nn::Module::zero_grad, nb::arg("set_to_none") = true)
      .def_prop_ro("training", &nn::Module::is_training)
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
    return nn::RNNOptions{layers, bias, batch_first, dropout, bidirectional};
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
  auto opt_t = [](nb::handle h) { return h.is_none() ? Tensor() : nb::cast<Tensor>(h); };
  auto tf_opts = [](int64_t dff, double dropout, nb::handle activation, double eps, bool bf, bool nf) {
    std::string act;
    if (nb::isinstance<nb::str>(activation)) act = nb::cast<std::string>(activation);
    else if (nb::hasattr(activation, "__name__")) act = nb::cast<std::string>(activation.attr("__name__"));
    if (act != "relu" && act != "gelu")
      throw ValueError("Transformer: activation must be 'relu' or 'gelu' (or F.relu / F.gelu), got " +
                       tessera::py::py_str(activation));
    return nn::TransformerOptions{dff, dropout, act, eps, bf, nf};
  };
  nb::class_<nn::TransformerEncoderLayer, nn::Module>(
      m, "TransformerEncoderLayer", "Self-attention and a feed-forward block, post- or pre-norm (torch.nn.TransformerEncoderLayer).")
      .def("__init__", [tf_opts](nn::TransformerEncoderLayer* self, int64_t d, int64_t h, int64_t dff, double dropout,
                                 nb::handle act, double eps, bool bf, bool nf) {
        new (self) nn::TransformerEncoderLayer(d, h, tf_opts(dff, dropout, act, eps, bf, nf));
      }, nb::arg("d_model"), nb::arg("nhead"), nb::arg("dim_feedforward") = 2048, nb::arg("dropout") = 0.1,
         nb::arg("activation") = "relu", nb::arg("layer_norm_eps") = 1e-5, nb::arg("batch_first") = false,
         nb::arg("norm_first") = false)
      .def("forward", [opt_t](nn::TransformerEncoderLayer& l, const Tensor& src, nb::handle mask, nb::handle kpm,
                              bool causal) {
        Tensor mk = opt_t(mask), kp = opt_t(kpm);
        nb::gil_scoped_release r;
        return l.forward(src, mk, kp, causal);
      }, nb::arg("src"), nb::arg("src_mask") = nb::none(), nb::arg("src_key_padding_mask") = nb::none(),
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
      .def("forward", [opt_t](nn::TransformerDecoderLayer& l, const Tensor& tgt, const Tensor& memory, nb::handle tm,
                              nb::handle mm, nb::handle tk, nb::handle mk, bool causal) {
        Tensor a = opt_t(tm), b = opt_t(mm), c = opt_t(tk), d = opt_t(mk);
        nb::gil_scoped_release r;
        return l.forward(tgt, memory, a, b, c, d, causal);
      }, nb::arg("tgt"), nb::arg("memory"), nb::arg("tgt_mask") = nb::none(), nb::arg("memory_mask") = nb::none(),
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
      .def("forward", [opt_t](nn::TransformerEncoder& e, const Tensor& src, nb::handle mask, nb::handle kpm, bool causal) {
        Tensor mk = opt_t(mask), kp = opt_t(kpm);
        nb::gil_scoped_release r;
        return e.forward(src, mk, kp, causal);
      }, nb::arg("src"), nb::arg("mask") = nb::none(), nb::arg("src_key_padding_mask") = nb::none(),
         nb::arg("is_causal") = false);
  nb::class_<nn::TransformerDecoder, nn::Module>(m, "TransformerDecoder",
                                                 "num_layers copies of a decoder layer, then an optional norm.")
      .def("__init__", [](nn::TransformerDecoder* self, const nn::TransformerDecoderLayer& layer, int64_t n,
                          std::shared_ptr<nn::LayerNorm> norm) { new (self) nn::TransformerDecoder(layer, n, norm); },
           nb::arg("decoder_layer"), nb::arg("num_layers"), nb::arg("norm") = nb::none())
      .def("forward", [opt_t](nn::TransformerDecoder& dcd, const Tensor& tgt, const Tensor& memory, nb::handle tm,
                              nb::handle mm, nb::handle tk, nb::handle mk, bool causal) {
        Tensor a = opt_t(tm), b = opt_t(mm), c = opt_t(tk), d = opt_t(mk);
        nb::gil_scoped_release r;
        return dcd.forward(tgt, memory, a, b, c, d, causal);
      }, nb::arg("tgt"), nb::arg("memory"), nb::arg("tgt_mask") = nb::none(), nb::arg("memory_mask") = nb::none(),
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

  // --- tessera.optim -----------------------------------------------------------------------------
  nb::class_<GroupView>(m, "ParamGroup", "One of optimizer.param_groups: a dict-like live view of a group's options.")
      .def("__getitem__", &GroupView::get)
      .def("__setitem__", &GroupView::set)
      .def("__contains__", [](const GroupView& g, const std::string& k) {
        auto ks = g.keys();
        return std::find(ks.begin(), ks.end(), k) != ks.end();
      })
      .def("__len__", [](const GroupView& g) { return g.keys().size(); })
      .def("__iter__", [](const GroupView& g) { return nb::iter(nb::cast(g.keys())); })
      .def("keys", &GroupView::keys, "The group's keys: 'params' and its options.")
      .def("values", [](const GroupView& g) {
        nb::list l;
        for (auto& k : g.keys()) l.append(g.get(k));
        return l;
      }, "The values, in the order of keys().")
      .def("items", [](const GroupView& g) {
        nb::list l;
        for (auto& k : g.keys()) l.append(nb::make_tuple(k, g.get(k)));
        return l;
      }, "(key, value) pairs.")
      .def("get", [](const GroupView& g, const std::string& k, nb::handle dflt) -> nb::object {
        auto ks = g.keys();
        return std::find(ks.begin(), ks.end(), k) != ks.end() ? g.get(k) : nb::borrow(dflt);
      }, nb::arg("key"), nb::arg("default") = nb::none(), "The value of key, or default.")
      .def("setdefault", [](GroupView& g, const std::string& k, nb::handle dflt) -> nb::object {
        auto ks = g.keys();
        if (std::find(ks.begin(), ks.end(), k) == ks.end()) g.set(k, dflt);
        return g.get(k);
      }, nb::arg("key"), nb::arg("default") = nb::none(), "The value of key, set to default first when missing.")
      .def("__repr__", [](const GroupView& g) {
        nb::dict d;
        for (auto& k : g.keys()) d[k.c_str()] = g.get(k);
        return tessera::py::py_str(nb::repr(d));
      });
  nb::class_<optim::Optimizer>(m, "Optimizer", "The base of the C++ optimizers (torch.optim.Optimizer).")
      .def("step", &optim::Optimizer::step, Release(), "One update of every parameter that has a gradient.")
      .def("zero_grad", &optim::Optimizer::zero_grad, nb::arg("set_to_none") = true)
      .def_prop_rw(
          "lr", [](const optim::Optimizer& o) { return o.lr(); }, [](optim::Optimizer& o, double v) { o.set_lr(v); },
          "The learning rate (of every group when set).")
      .def_prop_ro("param_groups", &groups_view,
                   "The groups, as torch's list of dicts: each a live view (g['lr'] = 0.01 changes the optimizer).")
      .def(
          "set_lr", [](optim::Optimizer& o, double lr, std::optional<size_t> g) { o.set_lr(lr, g); }, nb::arg("lr"),
          nb::arg("group") = nb::none())
      .def(
          "add_param_group",
          [](optim::Optimizer& o, nb::dict g) {
            nb::list l;
            l.append(g);
            o.add_param_group(param_groups(l).front());
          },
          nb::arg("param_group"))
      .def("state_dict", [](const optim::Optimizer& o) {
        // torch's layout: {"state": {index: {"step": n, buffer: tensor}}, "param_groups": [{options, "params": [index]}]}
        optim::OptimizerState st = o.state_dict();
        nb::dict state;
        for (size_t i = 0; i < st.state.size(); ++i) {
          if (st.state[i].empty() && st.steps[i] == 0) continue;
          nb::dict e;
          e["step"] = st.steps[i];
          for (auto& [k, t] : st.state[i]) e[k.c_str()] = t;
          state[nb::int_(i)] = e;
        }
        nb::list groups;
        size_t first = 0;
        auto& pg = const_cast<optim::Optimizer&>(o).param_groups();
        for (size_t g = 0; g < st.groups.size(); ++g) {
          nb::dict d;
          for (auto& [k, v] : st.groups[g]) d[k.c_str()] = v;
          nb::list idx;
          for (size_t i = 0; i < pg[g].params.size(); ++i) idx.append(first + i);
          first += pg[g].params.size();
          d["params"] = idx;
          groups.append(d);
        }
        nb::dict out;
        out["state"] = state;
        out["param_groups"] = groups;
        return out;
      }, "The optimizer's state (buffers and step counts per parameter) and its groups' options, as torch's.")
      .def("load_state_dict", [](optim::Optimizer& o, nb::dict sd) {
        if (!sd.contains("state") || !sd.contains("param_groups"))
          throw ValueError(o.name() + ".load_state_dict: expected a dict with 'state' and 'param_groups'");
        optim::OptimizerState st;
        size_t n = 0;
        for (nb::handle g : nb::iter(sd["param_groups"])) {
          std::map<std::string, double> opts;
          for (auto [k, v] : nb::borrow<nb::dict>(g)) {
            std::string key = nb::cast<std::string>(k);
            if (key != "params") opts[key] = nb::cast<double>(v);
            else n += nb::len(v);
          }
          st.groups.push_back(std::move(opts));
        }
        st.state.resize(n);
        st.steps.resize(n, 0);
        for (auto [k, v] : nb::borrow<nb::dict>(sd["state"])) {
          int64_t i = nb::cast<int64_t>(k);
          if (i < 0 || size_t(i) >= n)
            throw ValueError(o.name() + ".load_state_dict: state for parameter " + std::to_string(i) + " but the groups hold " +
                             std::to_string(n));
          for (auto [name, t] : nb::borrow<nb::dict>(v)) {
            std::string key = nb::cast<std::string>(name);
            if (key == "step") st.steps[size_t(i)] = nb::cast<int64_t>(nb::int_(t));
            else st.state[size_t(i)][key] = nb::cast<Tensor>(t);
          }
        }
        o.load_state_dict(st);
      }, nb::arg("state_dict"), "Restores a state_dict() (shapes and group counts are checked).")
      .def("__repr__", [](const optim::Optimizer& o) { return o.name() + "(lr=" + std::to_string(o.lr()) + ")"; });
  nb::class_<optim::SGD, optim::Optimizer>(
      m, "SGD", "Stochastic gradient descent with momentum, dampening, Nesterov and weight decay (torch.optim.SGD).")
      .def(
          "__init__",
          [](optim::SGD* self, nb::handle params, double lr, double momentum, double dampening, double weight_decay,
             bool nesterov) {
            new (self) optim::SGD(param_groups(params), {lr, momentum, dampening, weight_decay, nesterov});
          },
          nb::arg("params"), nb::arg("lr") = 1e-3, nb::arg("momentum") = 0.0, nb::arg("dampening") = 0.0,
          nb::arg("weight_decay") = 0.0, nb::arg("nesterov") = false);
  nb::class_<optim::Adam, optim::Optimizer>(m, "Adam", "Adam, with L2 weight decay and amsgrad (torch.optim.Adam).")
      .def(
          "__init__",
          [](optim::Adam* self, nb::handle params, double lr, std::pair<double, double> betas, double eps,
             double weight_decay, bool amsgrad) {
            new (self) optim::Adam(param_groups(params), {lr, betas.first, betas.second, eps, weight_decay, amsgrad});
          },
          nb::arg("params"), nb::arg("lr") = 1e-3, nb::arg("betas") = std::make_pair(0.9, 0.999), nb::arg("eps") = 1e-8,
          nb::arg("weight_decay") = 0.0, nb::arg("amsgrad") = false);
  nb::class_<optim::AdamW, optim::Adam>(m, "AdamW", "Adam with decoupled weight decay (torch.optim.AdamW).")
      .def(
          "__init__",
          [](optim::AdamW* self, nb::handle params, double lr, std::pair<double, double> betas, double eps,
             double weight_decay, bool amsgrad) {
            new (self) optim::AdamW(param_groups(params), {lr, betas.first, betas.second, eps, weight_decay, amsgrad});
          },
          nb::arg("params"), nb::arg("lr") = 1e-3, nb::arg("betas") = std::make_pair(0.9, 0.999), nb::arg("eps") = 1e-8,
          nb::arg("weight_decay") = 1e-2, nb::arg("amsgrad") = false);
  nb::class_<optim::RMSprop, optim::Optimizer>(m, "RMSprop",
                                               "RMSprop, centered and with momentum (torch.optim.RMSprop).")
      .def(
          "__init__",
          [](optim::RMSprop* self, nb::handle params, double lr, double alpha, double eps, double weight_decay,
             double momentum, bool centered) {
            new (self) optim::RMSprop(param_groups(params), {lr, alpha, eps, weight_decay, momentum, centered});
          },
          nb::arg("params"), nb::arg("lr") = 1e-2, nb::arg("alpha") = 0.99, nb::arg("eps") = 1e-8,
          nb::arg("weight_decay") = 0.0, nb::arg("momentum") = 0.0, nb::arg("centered") = false);
  nb::class_<optim::Adagrad, optim::Optimizer>(m, "Adagrad", "Adagrad (torch.optim.Adagrad).")
      .def(
          "__init__",
          [](optim::Adagrad* self, nb::handle params, double lr, double lr_decay, double weight_decay, double init_acc,
             double eps) {
            new (self) optim::Adagrad(param_groups(params), {lr, lr_decay, weight_decay, init_acc, eps});
          },
          nb::arg("params"), nb::arg("lr") = 1e-2, nb::arg("lr_decay") = 0.0, nb::arg("weight_decay") = 0.0,
          nb::arg("initial_accumulator_value") = 0.0, nb::arg("eps") = 1e-10);

  nb::class_<optim::Adadelta, optim::Optimizer>(m, "Adadelta", "Adadelta (torch.optim.Adadelta).")
      .def("__init__", [](optim::Adadelta* self, nb::handle params, double lr, double rho, double eps,
                          double weight_decay) {
        new (self) optim::Adadelta(param_groups(params), {lr, rho, eps, weight_decay});
      }, nb::arg("params"), nb::arg("lr") = 1.0, nb::arg("rho") = 0.9, nb::arg("eps") = 1e-6,
         nb::arg("weight_decay") = 0.0);
  nb::class_<optim::LBFGS, optim::Optimizer>(m, "LBFGS",
                                             "L-BFGS (torch.optim.LBFGS): step(closure) re-evaluates the loss as "
                                             "often as it needs; line_search_fn=None or 'strong_wolfe'.")
      .def("__init__", [](optim::LBFGS* self, nb::handle params, double lr, int64_t max_iter,
                          std::optional<int64_t> max_eval, double tolerance_grad, double tolerance_change,
                          int64_t history_size, std::optional<std::string> line_search_fn) {
        auto groups = param_groups(params);
        if (groups.size() != 1) throw ValueError("LBFGS doesn't support per-parameter options (parameter groups)");
        new (self) optim::LBFGS(groups[0].params, {lr, max_iter, max_eval, tolerance_grad, tolerance_change,
                                                  history_size, line_search_fn.value_or("")});
      }, nb::arg("params"), nb::arg("lr") = 1.0, nb::arg("max_iter") = 20, nb::arg("max_eval") = nb::none(),
         nb::arg("tolerance_grad") = 1e-7, nb::arg("tolerance_change") = 1e-9, nb::arg("history_size") = 100,
         nb::arg("line_search_fn") = nb::none())
      .def("step", [](optim::LBFGS& o, nb::handle closure) {
        if (closure.is_none())
          throw ValueError("LBFGS: step() needs a closure that re-evaluates the model and returns the loss");
        return o.step([closure] {
          nb::object r = closure();
          if (!nb::isinstance<Tensor>(r))
            throw DTypeError("LBFGS: the closure must return the loss tensor, got a " + tessera::py::py_type_name(r));
          return nb::cast<Tensor>(r);
        });
      }, nb::arg("closure") = nb::none(), "One L-BFGS step; returns the closure's first loss.");
  m.def(
      "clip_grad_norm_",
      [](nb::handle p, double max_norm, double norm_type) {
        std::vector<Tensor> v = tensors_of(p, "clip_grad_norm_");
        nb::gil_scoped_release r;
        return optim::clip_grad_norm_(v, max_norm, norm_type);
      },
      nb::arg("parameters"), nb::arg("max_norm"), nb::arg("norm_type") = 2.0,
      "Scales the gradients so that their joint norm is at most max_norm; returns the norm before.");
  m.def("clip_grad_value_", [](nb::handle p, double v) {
          std::vector<Tensor> ts = tensors_of(p, "clip_grad_value_");
          nb::gil_scoped_release r;
          optim::clip_grad_value_(ts, v);
        }, nb::arg("parameters"), nb::arg("clip_value"),
        "Clamps every gradient element into [-clip_value, clip_value].");

  // LR schedulers hold a reference to their optimizer: keep_alive ties its lifetime to theirs.
  nb::class_<optim::LRScheduler>(m, "LRScheduler", "The base of the epoch-indexed LR schedulers.")
      .def("step", &optim::LRScheduler::step)
      .def("get_last_lr", &optim::LRScheduler::get_last_lr)
      .def_prop_ro("last_epoch", &optim::LRScheduler::last_epoch);
  using KA = nb::keep_alive<1, 2>;
  nb::class_<optim::StepLR, optim::LRScheduler>(m, "StepLR", "Multiplies the rate by gamma every step_size epochs.")
      .def(nb::init<optim::Optimizer&, int64_t, double>(), nb::arg("optimizer"), nb::arg("step_size"),
           nb::arg("gamma") = 0.1, KA());
  nb::class_<optim::MultiStepLR, optim::LRScheduler>(m, "MultiStepLR",
                                                     "Multiplies the rate by gamma at each milestone.")
      .def(nb::init<optim::Optimizer&, std::vector<int64_t>, double>(), nb::arg("optimizer"), nb::arg("milestones"),
           nb::arg("gamma") = 0.1, KA());
  nb::class_<optim::ExponentialLR, optim::LRScheduler>(m, "ExponentialLR", "Multiplies the rate by gamma every epoch.")
      .def(nb::init<optim::Optimizer&, double>(), nb::arg("optimizer"), nb::arg("gamma"), KA());
  nb::class_<optim::CosineAnnealingLR, optim::LRScheduler>(m, "CosineAnnealingLR",
                                                           "Cosine from the base rate to eta_min over T_max epochs.")
      .def(nb::init<optim::Optimizer&, int64_t, double>(), nb::arg("optimizer"), nb::arg("T_max"),
           nb::arg("eta_min") = 0.0, KA());
  nb::class_<optim::OneCycleLR, optim::LRScheduler>(m, "OneCycleLR",
                                                    "The one-cycle policy: up to max_lr, then down, over total_steps.")
      .def(nb::init<optim::Optimizer&, double, int64_t, double, double, double>(), nb::arg("optimizer"),
           nb::arg("max_lr"), nb::arg("total_steps"), nb::arg("pct_start") = 0.3, nb::arg("div_factor") = 25.0,
           nb::arg("final_div_factor") = 1e4, KA());
  nb::class_<optim::LinearWarmup, optim::LRScheduler>(
      m, "LinearWarmup", "Scales the rate from start_factor to 1 over warmup_steps, then keeps it.")
      .def(nb::init<optim::Optimizer&, int64_t, double>(), nb::arg("optimizer"), nb::arg("warmup_steps"),
           nb::arg("start_factor") = 1.0 / 3, KA());
  nb::class_<optim::ReduceLROnPlateau>(
      m, "ReduceLROnPlateau", "Multiplies the rate by factor when the metric stops improving for patience epochs.")
      .def(
          "__init__",
          [](optim::ReduceLROnPlateau* self, optim::Optimizer& o, const std::string& mode, double factor,
             int64_t patience, double threshold, int64_t cooldown, double min_lr) {
            if (mode != "min" && mode != "max")
              throw ValueError("ReduceLROnPlateau: mode must be 'min' or 'max', got '" + mode + "'");
            new (self) optim::ReduceLROnPlateau(o, {mode == "max", factor, patience, threshold, cooldown, min_lr});
          },
          nb::arg("optimizer"), nb::arg("mode") = "min", nb::arg("factor") = 0.1, nb::arg("patience") = 10,
          nb::arg("threshold") = 1e-4, nb::arg("cooldown") = 0, nb::arg("min_lr") = 0.0, KA())
      .def("step", &optim::ReduceLROnPlateau::step, nb::arg("metrics"))
      .def("get_last_lr", &optim::ReduceLROnPlateau::get_last_lr);
}
