// Inference sessions, part 1: the ONNX graph rewritten into steps (inference_impl.h): constants
// folded, batch norms folded into convolutions, activations and residual adds fused into them,
// recurrent layers' weights put in PyTorch's gate order once, dead steps dropped, values given
// slots. inference.cpp plans and runs the steps.
#include <algorithm>
#include <cmath>

#include "tessera/io/inference_impl.h"
#include "tessera/ops/ops.h"

namespace tessera::io {

namespace {
using namespace session_detail;
using dnnl::memory;

const onnx::AttributeProto* attr(const onnx::NodeProto& n, const std::string& name) {
  for (auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}
int64_t attr_i(const onnx::NodeProto& n, const std::string& name, int64_t dflt) {
  auto* a = attr(n, name);
  return a ? a->i() : dflt;
}
std::vector<int64_t> attr_ints(const onnx::NodeProto& n, const std::string& name, std::vector<int64_t> dflt) {
  auto* a = attr(n, name);
  return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : dflt;
}

}  // namespace

void InferenceSession::Impl::build(const InferenceOptions& options) {
  const bool fuse = options.fuse;
  profile = options.profile;
  const auto& g = model.graph();
  opset = internal::default_opset(model);
  for (auto& i : g.initializer()) inits[i.name()] = onnx_proto::from_proto(i, where);
  for (auto& in : g.input())
    if (!inits.count(in.name())) inputs.push_back(in.name());
  for (auto& out : g.output()) outputs.push_back(out.name());
  const int n = g.node_size();
  // Who reads each value (a graph output counts as a reader that is no node).
  std::unordered_map<std::string, std::vector<int>> readers;
  for (int i = 0; i < n; ++i)
    for (auto& name : g.node(i).input())
      if (!name.empty()) readers[name].push_back(i);
  for (auto& out : outputs) readers[out].push_back(-1);
  std::vector<bool> merged(size_t(n), false);
  // The one node that reads v, unless v has other readers or that node is already taken.
  auto sole = [&](const std::string& v) -> int {
    auto it = readers.find(v);
    if (it == readers.end() || it->second.size() != 1 || it->second[0] < 0) return -1;
    return merged[size_t(it->second[0])] ? -1 : it->second[0];
  };
  auto init = [&](const onnx::NodeProto& p, int k) -> const Tensor* {
    if (p.input_size() <= k || p.input(k).empty()) return nullptr;
    auto it = inits.find(p.input(k));
    return it == inits.end() ? nullptr : &it->second;
  };
  // Constant folding: a node that reads only initializers and constants (a Constant node, or
  // the reshuffling of a recurrent layer's weights) runs once, here; its outputs become
  // initializers (Clip's bounds among them).
  for (int i = 0; fuse && i < n; ++i) {
    const onnx::NodeProto& p = g.node(i);
    bool constant = internal::runs(p) && !internal::is_control_flow(p) && !internal::is_sequence_op(p) &&
                    !internal::is_string_op(p) &&
                    p.output_size() >= 1;
    for (auto& name : p.input()) constant = constant && (name.empty() || inits.count(name));
    for (auto& out : outputs)
      for (auto& name : p.output()) constant = constant && name != out;  // graph outputs stay computed
    if (!constant) continue;
    std::vector<Tensor> in;
    for (auto& name : p.input()) in.push_back(name.empty() ? Tensor() : inits[name]);
    std::vector<Tensor> out;
    try {
      out = internal::run_node(p, in, Device::cpu(), opset);
    } catch (const Error&) {
      continue;  // left to run time, where the error names the node
    }
    for (int k = 0; k < p.output_size() && size_t(k) < out.size(); ++k)
      if (!p.output(k).empty()) inits[p.output(k)] = out[size_t(k)].contiguous();
    merged[size_t(i)] = true;
  }
  // Recurrent layers: their weights in PyTorch's gate order once, not at every run.
  for (int i = 0; fuse && i < n; ++i) {
    onnx::NodeProto& p = *model.mutable_graph()->mutable_node(i);
    if (merged[size_t(i)] || !internal::takes_torch_gate_order(p) || !init(p, 1) || !init(p, 2) ||
        (p.input_size() > 3 && !p.input(3).empty() && !init(p, 3)))
      continue;
    try {
      int64_t H = init(p, 2)->dim() == 3 ? init(p, 2)->size(2) : 0;
      std::vector<std::pair<int, Tensor>> reordered;
      for (int k = 1; k <= 3; ++k)
        if (init(p, k)) reordered.emplace_back(k, internal::torch_gate_order(p, *init(p, k), H).contiguous());
      for (auto& [k, t] : reordered) {
        std::string name = p.input(k) + "#torch_gate_order#" + std::to_string(i);
        inits[name] = t;
        p.set_input(k, name);
      }
      auto* a = p.add_attribute();
      a->set_name(internal::kTorchGateOrder);
      a->set_type(onnx::AttributeProto::INT);
      a->set_i(1);
    } catch (const Error&) {
      // (shapes that do not fit: left to run time, where the error names the node)
    }
  }
  for (int i = 0; i < n; ++i) {
    if (merged[size_t(i)]) continue;
    const onnx::NodeProto& p = g.node(i);
    TS_CHECK_T(OnnxError, !internal::is_control_flow(p) && !internal::is_sequence_op(p) && !internal::is_string_op(p),
               "InferenceSession: node '",
               p.name().empty() ? p.output(0) : p.name(), "' (", p.op_type(), "): graphs with If, Loop, Scan or ",
               "sequences run in the module tessera.onnx.load / io::load_onnx makes, not in an InferenceSession");
    Step s;
    s.node = &p;
    s.label = p.op_type();
    s.position = size_t(i);
    for (auto& name : p.input()) s.in.push_back(name);
    for (auto& name : p.output()) s.out.push_back(name);
    const Tensor* w = init(p, 1);
    auto has_ints = [&](const char* name, int n) { return !attr(p, name) || attr(p, name)->ints_size() == n; };
    bool conv_ok = fuse && p.op_type() == "Conv" && p.input_size() >= 2 && w && w->dim() == 4 &&
                   w->dtype() == DType::Float32 && (p.input_size() < 3 || p.input(2).empty() || init(p, 2)) &&
                   (!attr(p, "auto_pad") || attr(p, "auto_pad")->s() == "NOTSET") && has_ints("strides", 2) &&
                   has_ints("dilations", 2) && has_ints("pads", 4);
    if (conv_ok) {
      s.kind = Step::Conv;
      ConvSpec& c = s.conv;
      int64_t OC = w->size(0);
      c.w = w->contiguous();
      c.b = init(p, 2) ? init(p, 2)->contiguous() : zeros({OC});
      c.groups = attr_i(p, "group", 1);
      c.strides = attr_ints(p, "strides", {1, 1});
      auto dil = attr_ints(p, "dilations", {1, 1});
      c.dilates = {dil[0] - 1, dil[1] - 1};
      auto pads = attr_ints(p, "pads", {0, 0, 0, 0});
      c.pad_l = {pads[0], pads[1]};
      c.pad_r = {pads[2], pads[3]};
      std::string cur = p.output(0);
      s.in = {p.input(0)};
      int j = sole(cur);
      if (j >= 0 && g.node(j).op_type() == "BatchNormalization" && g.node(j).input_size() >= 5 &&
          g.node(j).input(0) == cur &&
          g.node(j).output_size() == 1 && init(g.node(j), 1) && init(g.node(j), 2) && init(g.node(j), 3) &&
          init(g.node(j), 4)) {
        const onnx::NodeProto& bn = g.node(j);
        double eps = attr(bn, "epsilon") ? double(attr(bn, "epsilon")->f()) : 1e-5;
        Tensor scale = *init(bn, 1) / ops::sqrt(*init(bn, 4) + eps);
        c.w = (c.w * scale.view({-1, 1, 1, 1})).contiguous();
        c.b = ((c.b - *init(bn, 3)) * scale + *init(bn, 2)).contiguous();
        merged[size_t(j)] = true;
        cur = bn.output(0);
        s.label += "+BatchNormalization";
        s.position = size_t(j);
      }
      j = sole(cur);
      // A bias added by its own node (exporters that write Conv without B, then Add of a
      // [1, OC, 1, 1] constant): folded into the convolution's bias.
      if (j >= 0 && g.node(j).op_type() == "Add" && g.node(j).input_size() == 2) {
        const onnx::NodeProto& add = g.node(j);
        const Tensor* bias = init(add, add.input(0) == cur ? 1 : 0);
        bool per_channel = bias && bias->dtype() == DType::Float32 && bias->numel() == OC &&
                           ((bias->dim() == 4 && bias->size(1) == OC) || (bias->dim() == 3 && bias->size(0) == OC));
        if (per_channel) {
          c.b = (c.b + bias->reshape({OC})).contiguous();
          merged[size_t(j)] = true;
          cur = add.output(0);
          s.label += "+Add";
          s.position = size_t(j);
          j = sole(cur);
        }
      }
      // Clip with constant bounds (ReLU6 and the like).
      auto clip_bounds = [&](const onnx::NodeProto& q, float& lo, float& hi) {
        lo = -INFINITY, hi = INFINITY;
        for (int k : {1, 2}) {
          if (q.input_size() <= k || q.input(k).empty()) continue;
          const Tensor* b = init(q, k);
          if (!b || b->numel() != 1) return false;
          (k == 1 ? lo : hi) = float(b->item<double>());
        }
        return true;
      };
      float lo = 0, hi = 0;
      if (j >= 0 && g.node(j).op_type() == "Relu") {
        c.act = dnnl::algorithm::eltwise_relu;
        merged[size_t(j)] = true;
        cur = g.node(j).output(0);
        s.label += "+Relu";
        s.position = size_t(j);
      } else if (j >= 0 && g.node(j).op_type() == "Clip" && clip_bounds(g.node(j), lo, hi)) {
        c.act = dnnl::algorithm::eltwise_clip;
        c.alpha = lo;
        c.beta = hi;
        merged[size_t(j)] = true;
        cur = g.node(j).output(0);
        s.label += "+Clip";
        s.position = size_t(j);
      } else if (j >= 0 && g.node(j).op_type() == "Add" && g.node(j).input_size() == 2 &&
                 g.node(j).input(0) != g.node(j).input(1) && !init(g.node(j), 0) && !init(g.node(j), 1)) {
        const onnx::NodeProto& add = g.node(j);
        c.sum = true;
        s.in.push_back(add.input(0) == cur ? add.input(1) : add.input(0));
        merged[size_t(j)] = true;
        cur = add.output(0);
        s.label += "+Add";
        s.position = size_t(j);
        int k = sole(cur);
        if (k >= 0 && g.node(k).op_type() == "Relu") {
          c.post_relu = true;
          merged[size_t(k)] = true;
          cur = g.node(k).output(0);
          s.label += "+Relu";
          s.position = size_t(k);
        }
      }
      s.out = {cur};
    } else if (fuse && (p.op_type() == "MaxPool" || p.op_type() == "AveragePool") && p.output_size() == 1 &&
               attr_i(p, "ceil_mode", 0) == 0 && attr_i(p, "storage_order", 0) == 0 &&
               (!attr(p, "auto_pad") || attr(p, "auto_pad")->s() == "NOTSET") && attr(p, "kernel_shape") &&
               attr(p, "kernel_shape")->ints_size() == 2 && attr_ints(p, "dilations", {1, 1}) == std::vector<int64_t>{1, 1} &&
               has_ints("strides", 2) && has_ints("pads", 4) && p.input_size() >= 1) {
      s.kind = Step::Pool;
      PoolSpec& q = s.pool;
      q.alg = p.op_type() == "MaxPool" ? dnnl::algorithm::pooling_max
              : attr_i(p, "count_include_pad", 0) ? dnnl::algorithm::pooling_avg_include_padding
                                                   : dnnl::algorithm::pooling_avg_exclude_padding;
      q.kernel = attr_ints(p, "kernel_shape", {});
      q.strides = attr_ints(p, "strides", {1, 1});
      auto pads = attr_ints(p, "pads", {0, 0, 0, 0});
      q.pad_l = {pads[0], pads[1]};
      q.pad_r = {pads[2], pads[3]};
    } else if (fuse && p.op_type() == "GlobalAveragePool") {
      s.kind = Step::Pool;
      s.pool.alg = dnnl::algorithm::pooling_avg_exclude_padding;
      s.pool.global = true;
    }
    steps.push_back(std::move(s));
  }
  std::stable_sort(steps.begin(), steps.end(), [](const Step& a, const Step& b) { return a.position < b.position; });
  index_values(fuse);
}

// Slots for every value, dead steps dropped (when rewriting), and each value's last reader.
void InferenceSession::Impl::index_values(bool fuse) {
  std::unordered_map<std::string, int> slot_of;
  auto slot = [&](const std::string& name) -> int {
    if (name.empty()) return -1;
    auto [it, fresh] = slot_of.try_emplace(name, int(slot_name.size()));
    if (fresh) {
      slot_name.push_back(name);
      auto init = inits.find(name);
      slot_init.push_back(init == inits.end() ? nullptr : &init->second);
    }
    return it->second;
  };
  for (auto& name : inputs) input_slots.push_back(slot(name));
  for (auto& name : outputs) output_slots.push_back(slot(name));
  for (Step& s : steps) {
    for (auto& name : s.node->input()) s.node_in_slots.push_back(slot(name));
    for (auto& name : s.node->output()) s.node_out_slots.push_back(slot(name));
    if (s.kind == Step::Generic) {
      s.in_slots = s.node_in_slots;
      s.out_slots = s.node_out_slots;
    } else {
      for (auto& name : s.in) s.in_slots.push_back(slot(name));
      for (auto& name : s.out) s.out_slots.push_back(slot(name));
    }
    s.runs = s.kind != Step::Generic || internal::runs(*s.node);
  }
  // Dead steps (what tracing leaves behind, e.g. a recurrent layer's final states nobody reads):
  // a step is kept when something kept, or a graph output, reads one of its outputs. ONNX nodes
  // have no side effects; an unknown op is kept so that the run names it.
  if (fuse) {
    std::vector<bool> live(slot_name.size(), false);
    for (int o : output_slots) live[size_t(o)] = true;
    std::vector<bool> keep(steps.size(), false);
    for (size_t k = steps.size(); k-- > 0;) {
      const Step& s = steps[k];
      bool used = !s.runs;
      for (int o : s.out_slots) used = used || (o >= 0 && live[size_t(o)]);
      if (!used) continue;
      keep[k] = true;
      for (int i : s.in_slots)
        if (i >= 0) live[size_t(i)] = true;
      // (a fused step that falls back to its node's inputs reads no more than in_slots: a
      // Conv's fallback uses its folded weights, a Pool's node inputs are its in)
    }
    std::vector<Step> kept;
    for (size_t k = 0; k < steps.size(); ++k)
      if (keep[k]) kept.push_back(std::move(steps[k]));
    steps = std::move(kept);
  }
  last_use.assign(slot_name.size(), 0);
  std::vector<bool> read(slot_name.size(), false);
  for (size_t si = 0; si < steps.size(); ++si) {
    const Step& s = steps[si];
    for (const auto* list : {&s.in_slots, &s.node_in_slots})
      for (int i : *list)
        if (i >= 0) last_use[size_t(i)] = si, read[size_t(i)] = true;
  }
  for (int o : output_slots) last_use[size_t(o)] = steps.size(), read[size_t(o)] = true;  // never given away
  for (int i : input_slots) read[size_t(i)] = true;
  for (size_t v = 0; v < slot_name.size(); ++v)
    if (read[v] && last_use[v] < steps.size() && !slot_init[v]) steps[last_use[v]].frees.push_back(int(v));
  // Values nobody reads (a layer's optional outputs): given back right after the step makes them.
  for (Step& s : steps)
    for (const auto* list : {&s.out_slots, &s.node_out_slots})
      for (int o : *list)
        if (o >= 0 && !read[size_t(o)] && std::find(s.frees.begin(), s.frees.end(), o) == s.frees.end())
          s.frees.push_back(o);
  prof_seconds.assign(steps.size(), 0.0);
}

}  // namespace tessera::io
