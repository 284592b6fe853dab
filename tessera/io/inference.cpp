// Inference sessions (inference.h): an ONNX graph rewritten for inference and run with oneDNN
// convolutions and poolings in blocked layouts, everything else node by node.
#include "tessera/io/inference.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <unordered_map>

#include "tessera/autograd/autograd.h"
#include "tessera/backend/cpu/dnnl_util.h"
#include "tessera/backend/cpu/loops.h"
#include "tessera/backend/cpu/thread_pool.h"
#include "tessera/io/onnx_internal.h"
#include "tessera/ops/ops.h"

namespace tessera::io {

namespace {

using dnnl::memory;
using tag = memory::format_tag;
constexpr auto f32 = memory::data_type::f32;
using cpu::dnnl_engine;

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

// A convolution with what was folded and fused into it.
struct ConvSpec {
  Tensor w, b;  // [OC, IC/groups, kh, kw] and [OC], float32, batch norm folded in
  int64_t groups = 1;
  memory::dims strides, dilates, pad_l, pad_r;  // dilates as oneDNN counts them (d - 1)
  // An activation on the convolution's result: ReLU, or Clip to [alpha, beta] (ReLU6).
  dnnl::algorithm act = dnnl::algorithm::undef;
  float alpha = 0, beta = 0;
  bool sum = false;        // plus the step's second input (a residual)
  bool post_relu = false;  // ReLU on the sum
};

struct PoolSpec {
  dnnl::algorithm alg = dnnl::algorithm::pooling_max;
  bool global = false;
  memory::dims kernel, strides, pad_l, pad_r;
};

struct Step {
  enum Kind { Generic, Conv, Pool } kind = Generic;
  const onnx::NodeProto* node = nullptr;  // Generic: the node run as is
  std::vector<std::string> in, out;
  std::string label;
  size_t position = 0;  // where it runs: after the last node merged into it
  ConvSpec conv;
  PoolSpec pool;
};

// A value: a plain tensor, and/or the same data in a oneDNN layout (4-D float32 activations).
struct Val {
  Tensor plain;
  Storage data;
  memory::desc md;
  bool blocked() const { return data != nullptr; }
};

// Channels in blocks of the machine's vector width, as oneDNN's fast kernels want them: 16 with
// AVX-512, 8 with AVX2 (whose kernels given 16-channel blocks are several times slower).
int64_t channel_block() { return cpu::dnnl_avx512() ? 16 : 8; }
tag block_tag() { return channel_block() == 16 ? tag::nChw16c : tag::nChw8c; }
bool is_blocked(const memory::desc& md) { return md == memory::desc(md.dims(), f32, block_tag()); }

Tensor plain_of(Val& v) {
  if (v.plain.defined() || !v.blocked()) return v.plain;
  memory::dims d = v.md.dims();
  Shape s(d.begin(), d.end());
  memory::desc nchw(d, f32, tag::nchw);
  if (v.md == nchw) {
    v.plain = Tensor(v.data, s, contiguous_strides(s), 0, DType::Float32);
  } else {
    Storage out = cpu::dnnl_scratch(nchw.get_size());
    cpu::dnnl_reorder(v.md, v.data->data(), nchw, out->data());
    v.plain = Tensor(out, s, contiguous_strides(s), 0, DType::Float32);
  }
  return v.plain;
}

// One piece of a convolution or pooling: a primitive on a slice of the batch or of the channels
// (both dense in memory for the layouts used), and where its operands start.
struct Piece {
  dnnl::primitive prim;
  memory::desc src, weights, dst, scratchpad;
  size_t src_off = 0, dst_off = 0;  // bytes
  int64_t oc0 = 0;
  Storage w;  // its reordered weights (convolutions)
};
struct Plan {
  memory::desc src, dst;  // the whole operands' layouts
  std::vector<Piece> pieces;
};


memory::dims dims4(int64_t a, int64_t b, int64_t c, int64_t d) { return {a, b, c, d}; }

}  // namespace

struct InferenceSession::Impl {
  std::string where;
  onnx::ModelProto model;
  std::unordered_map<std::string, Tensor> inits;
  std::vector<std::string> inputs, outputs;
  int64_t opset = kOnnxOpset;
  std::vector<Step> steps;
  std::unordered_map<std::string, size_t> last_use;  // the last step that reads each value
  std::mutex m;
  std::map<std::string, std::shared_ptr<Plan>> plans;  // per step and input layout

  void build(bool fuse);
  // The plan of step si for an input in layout src, made once (cached); null when oneDNN has only
  // a reference kernel for it.
  std::shared_ptr<Plan> plan_for(size_t si, const Step& s, const memory::desc& src);
  std::shared_ptr<Plan> conv_plan(const Step& s, const memory::desc& src);
  std::shared_ptr<Plan> pool_plan(const Step& s, const memory::desc& src);
  std::optional<Val> run_conv(size_t si, const Step& s, Val& x, Val* other);  // none: no fast plan
  Val run_pool(size_t si, const Step& s, Val& x);
};

void InferenceSession::Impl::build(bool fuse) {
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
  for (size_t si = 0; si < steps.size(); ++si) {
    const Step& s = steps[si];
    if (s.kind == Step::Generic) {
      for (auto& name : s.node->input()) last_use[name] = si;
    } else {
      for (auto& name : s.in) last_use[name] = si;
    }
  }
  for (auto& out : outputs) last_use[out] = steps.size();  // never given away
}

std::shared_ptr<Plan> InferenceSession::Impl::plan_for(size_t si, const Step& s, const memory::desc& src) {
  std::string key = std::to_string(si) + cpu::dnnl_key(src);
  {
    std::lock_guard<std::mutex> lock(m);
    auto it = plans.find(key);
    if (it != plans.end()) return it->second;
  }
  std::shared_ptr<Plan> plan = s.kind == Step::Conv ? conv_plan(s, src) : pool_plan(s, src);  // null: no fast plan
  std::lock_guard<std::mutex> lock(m);
  plans[key] = plan;
  return plan;
}

std::shared_ptr<Plan> InferenceSession::Impl::conv_plan(const Step& s, const memory::desc& src) {
  const ConvSpec& c = s.conv;
  memory::dims d = src.dims();
  int64_t N = d[0], IC = d[1], H = d[2], W = d[3], OC = c.w.size(0), KH = c.w.size(2), KW = c.w.size(3);
  int64_t OH = (H + c.pad_l[0] + c.pad_r[0] - ((KH - 1) * (c.dilates[0] + 1) + 1)) / c.strides[0] + 1;
  int64_t OW = (W + c.pad_l[1] + c.pad_r[1] - ((KW - 1) * (c.dilates[1] + 1) + 1)) / c.strides[1] + 1;
  TS_CHECK_SHAPE(IC == c.w.size(1) * c.groups && OH > 0 && OW > 0, "Conv: input shape ",
                 Shape(d.begin(), d.end()), " does not fit weight ", c.w.shape(), " with groups ", c.groups);
  // A plain input with channels in whole blocks is reordered into the blocked layout first
  // (oneDNN's kernels for plain layouts are much slower, its depthwise ones above all).
  const int64_t B = channel_block();
  bool blocked_src = is_blocked(src) || IC % B == 0;
  tag dst_tag = OC % B == 0 ? block_tag() : tag::nchw;
  auto plan = std::make_shared<Plan>();
  plan->src = blocked_src ? memory::desc(d, f32, block_tag()) : src;
  plan->dst = memory::desc(dims4(N, OC, OH, OW), f32, dst_tag);
  // Pieces: batch slices, or at batch 1 blocks of 16 output channels (dense in both layouts).
  double flops = 2.0 * double(N * OC * OH * OW) * double(IC / c.groups * KH * KW);
  int64_t threads = cpu::pool_threads();
  bool depthwise = c.groups == IC && c.groups == OC;
  int64_t n_pieces = cpu::dnnl_pieces(flops, N), oc_pieces = 1;
  if (n_pieces == 1 && N == 1 && flops >= 4e6 && threads > 1 && OC % 16 == 0 && dst_tag == block_tag() &&
      (c.groups == 1 || (depthwise && blocked_src)))
    oc_pieces = std::min<int64_t>(OC / 16, threads);
  cpu::Pieces np{N, n_pieces}, cp{OC / (oc_pieces > 1 ? 16 : OC), oc_pieces};
  size_t src_image = plan->src.get_size() / size_t(N), dst_image = plan->dst.get_size() / size_t(N);
  cpu::DnnlSerial serial;
  auto& eng = dnnl_engine();
  for (int64_t a = 0; a < np.count; ++a)
    for (int64_t b = 0; b < cp.count; ++b) {
      int64_t n0 = np.begin(a), n = np.size(a);
      int64_t oc0 = oc_pieces > 1 ? cp.begin(b) * 16 : 0, ocn = oc_pieces > 1 ? cp.size(b) * 16 : OC;
      int64_t ic0 = depthwise ? oc0 : 0, icn = depthwise ? ocn : IC, g = depthwise ? ocn : c.groups;
      Piece pc;
      pc.src = memory::desc(dims4(n, icn, H, W), f32, blocked_src ? block_tag() : tag::nchw);
      pc.dst = memory::desc(dims4(n, ocn, OH, OW), f32, dst_tag);
      pc.src_off = size_t(n0) * src_image + size_t(ic0 * H * W) * sizeof(float);
      pc.dst_off = size_t(n0) * dst_image + size_t(oc0 * OH * OW) * sizeof(float);
      pc.oc0 = oc0;
      memory::dims wd = g > 1 ? memory::dims{g, ocn / g, icn / g, KH, KW} : memory::dims{ocn, icn, KH, KW};
      memory::desc wany(wd, f32, tag::any), bmd({ocn}, f32, tag::x);
      dnnl::post_ops po;
      if (c.act != dnnl::algorithm::undef) po.append_eltwise(1.f, c.act, c.alpha, c.beta);
      if (c.sum) po.append_sum(1.f);
      if (c.post_relu) po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
      dnnl::primitive_attr pa;
      pa.set_scratchpad_mode(dnnl::scratchpad_mode::user);
      pa.set_post_ops(po);
      dnnl::convolution_forward::primitive_desc pd(
          dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                          pc.src, wany, bmd, pc.dst, c.strides, c.dilates, c.pad_l, c.pad_r),
          pa, eng);
      // oneDNN's reference kernels (what it falls back to for some plain layouts) are far slower
      // than the backend's convolution: no plan, the step runs with ops.
      if (std::string(pd.impl_info_str()).rfind("ref", 0) == 0) return nullptr;
      pc.prim = dnnl::convolution_forward(pd);
      pc.weights = pd.weights_desc();
      pc.scratchpad = pd.scratchpad_desc();
      // The piece's weights, reordered once (pieces of one output-channel range share them).
      bool shared = false;
      for (auto& q : plan->pieces)
        if (q.oc0 == oc0 && q.weights == pc.weights) {
          pc.w = q.w;
          shared = true;
          break;
        }
      if (!shared) {
        memory::desc plain(wd, f32, g > 1 ? tag::goihw : tag::oihw);
        pc.w = cpu::dnnl_scratch(pc.weights.get_size());
        const float* wp = static_cast<const float*>(c.w.data_ptr()) + oc0 * (IC / c.groups) * KH * KW;
        cpu::dnnl_reorder(plain, wp, pc.weights, pc.w->data());
      }
      plan->pieces.push_back(std::move(pc));
    }
  return plan;
}

std::shared_ptr<Plan> InferenceSession::Impl::pool_plan(const Step& s, const memory::desc& src) {
  const PoolSpec& q = s.pool;
  memory::dims d = src.dims();
  int64_t N = d[0], C = d[1], H = d[2], W = d[3];
  memory::dims kernel = q.global ? memory::dims{H, W} : q.kernel, strides = q.global ? memory::dims{1, 1} : q.strides;
  memory::dims pl = q.global ? memory::dims{0, 0} : q.pad_l, pr = q.global ? memory::dims{0, 0} : q.pad_r;
  int64_t OH = (H + pl[0] + pr[0] - kernel[0]) / strides[0] + 1, OW = (W + pl[1] + pr[1] - kernel[1]) / strides[1] + 1;
  TS_CHECK_SHAPE(OH > 0 && OW > 0, s.label, ": the window ", Shape(kernel.begin(), kernel.end()),
                 " does not fit input shape ", Shape(d.begin(), d.end()));
  auto plan = std::make_shared<Plan>();
  plan->src = src;
  plan->dst = memory::desc(dims4(N, C, OH, OW), f32, block_tag());
  double work = double(N * C * OH * OW) * double(kernel[0] * kernel[1]);
  int64_t threads = cpu::pool_threads();
  int64_t n_pieces = work < 1e6 || threads < 2 ? 1 : std::min<int64_t>(N, threads), c_pieces = 1;
  if (n_pieces < threads && N == 1 && work >= 1e6) c_pieces = std::min<int64_t>((C + 15) / 16, threads);
  cpu::Pieces np{N, n_pieces}, cp{(C + 15) / 16, c_pieces};
  size_t src_image = src.get_size() / size_t(N), dst_image = plan->dst.get_size() / size_t(N);
  cpu::DnnlSerial serial;
  for (int64_t a = 0; a < np.count; ++a)
    for (int64_t b = 0; b < cp.count; ++b) {
      int64_t n0 = np.begin(a), n = np.size(a);
      int64_t c0 = c_pieces > 1 ? cp.begin(b) * 16 : 0, cn = c_pieces > 1 ? std::min(cp.size(b) * 16, C - c0) : C;
      Piece pc;
      pc.src = memory::desc(dims4(n, cn, H, W), f32, block_tag());
      pc.dst = memory::desc(dims4(n, cn, OH, OW), f32, block_tag());
      pc.src_off = size_t(n0) * src_image + size_t(c0 * H * W) * sizeof(float);
      pc.dst_off = size_t(n0) * dst_image + size_t(c0 * OH * OW) * sizeof(float);
      dnnl::primitive_attr pa;
      pa.set_scratchpad_mode(dnnl::scratchpad_mode::user);
      dnnl::pooling_forward::primitive_desc pd(
          dnnl::pooling_forward::desc(dnnl::prop_kind::forward_inference, q.alg, pc.src, pc.dst, strides, kernel, pl, pr),
          pa, dnnl_engine());
      pc.prim = dnnl::pooling_forward(pd);
      pc.scratchpad = pd.scratchpad_desc();
      plan->pieces.push_back(std::move(pc));
    }
  return plan;
}

namespace {
// Runs the pieces of a plan on the pool, each a single-threaded primitive with its own scratchpad.
void run_pieces(const Plan& plan, const char* src_base, char* dst_base, const float* bias) {
  cpu::parallel_chunks(int64_t(plan.pieces.size()), [&](int64_t k) {
    const Piece& pc = plan.pieces[size_t(k)];
    cpu::DnnlSerial serial;
    auto& eng = dnnl_engine();
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, memory(pc.src, eng, const_cast<char*>(src_base) + pc.src_off)},
        {DNNL_ARG_DST, memory(pc.dst, eng, dst_base + pc.dst_off)}};
    if (pc.w) {
      args.emplace(DNNL_ARG_WEIGHTS, memory(pc.weights, eng, pc.w->data()));
      args.emplace(DNNL_ARG_BIAS, memory(memory::desc({pc.dst.dims()[1]}, f32, tag::x), eng,
                                         const_cast<float*>(bias) + pc.oc0));
    }
    Storage pad;
    if (size_t nb = pc.scratchpad.get_size()) {
      pad = cpu::dnnl_scratch(nb);
      args.emplace(DNNL_ARG_SCRATCHPAD, memory(pc.scratchpad, eng, pad->data()));
    }
    dnnl::stream st(eng);
    pc.prim.execute(st, args);
    st.wait();
  });
}

// x in layout md (a reorder into scratch when it is in another one).
const char* in_layout(Val& x, const memory::desc& md, Storage& keep) {
  if (x.blocked() && x.md == md) return static_cast<const char*>(x.data->data());
  Tensor p = plain_of(x).contiguous();
  memory::desc from(md.dims(), f32, tag::nchw);
  if (from == md) {
    keep = p.storage();
    return static_cast<const char*>(p.data_ptr());
  }
  keep = cpu::dnnl_scratch(md.get_size());
  cpu::dnnl_reorder(from, p.data_ptr(), md, keep->data());
  return static_cast<const char*>(keep->data());
}

memory::desc layout_of(Val& x) {
  if (x.blocked()) return x.md;
  const Tensor& t = x.plain;
  return memory::desc(dims4(t.size(0), t.size(1), t.size(2), t.size(3)), f32, tag::nchw);
}
}  // namespace

std::optional<Val> InferenceSession::Impl::run_conv(size_t si, const Step& s, Val& x, Val* other) {
  auto plan = plan_for(si, s, layout_of(x));
  if (!plan) return std::nullopt;
  Storage keep;
  const char* src = in_layout(x, plan->src, keep);
  Val y;
  y.md = plan->dst;
  if (other) {  // the residual, in the output's layout: the convolution adds to it
    Storage k2;
    memory::dims dd = plan->dst.dims(), od = other->blocked() ? other->md.dims() : memory::dims();
    Shape os = other->blocked() ? Shape(od.begin(), od.end()) : other->plain.shape();
    // A residual that broadcasts (not the output's shape): the ops path adds it.
    if (os != Shape(dd.begin(), dd.end())) return std::nullopt;
    // The residual's own buffer when this step is its last reader and nothing else holds it
    // (no plain view of it lives on); a copy otherwise.
    auto last = last_use.find(s.in[1]);
    if (s.in[1] != s.in[0] && other->blocked() && other->md == plan->dst && last != last_use.end() && last->second == si &&
        other->data.use_count() == 1 && !other->plain.defined()) {
      y.data = std::move(other->data);
    } else {
      y.data = cpu::dnnl_scratch(plan->dst.get_size());
      const char* p = in_layout(*other, plan->dst, k2);
      std::memcpy(y.data->data(), p, plan->dst.get_size());
    }
  }
  if (!y.data) y.data = cpu::dnnl_scratch(plan->dst.get_size());
  run_pieces(*plan, src, static_cast<char*>(y.data->data()), static_cast<const float*>(s.conv.b.data_ptr()));
  return y;
}

Val InferenceSession::Impl::run_pool(size_t si, const Step& s, Val& x) {
  auto plan = plan_for(si, s, x.md);
  Val y;
  y.md = plan->dst;
  y.data = cpu::dnnl_scratch(plan->dst.get_size());
  run_pieces(*plan, static_cast<const char*>(x.data->data()), static_cast<char*>(y.data->data()), nullptr);
  return y;
}

InferenceSession::InferenceSession(const std::string& onnx_path, InferenceOptions options)
    : impl_(std::make_shared<Impl>()) {
  impl_->where = onnx_path;
  impl_->model = internal::read_model(onnx_path);
  impl_->build(options.fuse);
}

InferenceSession::InferenceSession(const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& fn,
                                   const std::vector<Tensor>& example_inputs, const nn::StateDict& params,
                                   InferenceOptions options)
    : impl_(std::make_shared<Impl>()) {
  impl_->where = "InferenceSession";
  bool dynamic = !example_inputs.empty();
  for (auto& x : example_inputs) dynamic = dynamic && x.defined() && x.dim() >= 1 && x.size(0) >= 2;
  impl_->model = internal::trace_model(fn, example_inputs, params, {.dynamic_batch = dynamic}, "InferenceSession");
  impl_->build(options.fuse);
}

InferenceSession::InferenceSession(nn::Module& model, const std::vector<Tensor>& example_inputs,
                                   InferenceOptions options)
    : impl_(std::make_shared<Impl>()) {
  nn::EvalModeGuard eval(model);
  nn::StateDict params = model.named_parameters();
  for (auto& b : model.named_buffers()) params.push_back(b);
  TS_CHECK_VALUE(example_inputs.size() == 1, "InferenceSession: a Module takes one input, got ", example_inputs.size());
  impl_->where = "InferenceSession(" + model.type_name() + ")";
  bool dynamic = example_inputs[0].defined() && example_inputs[0].dim() >= 1 && example_inputs[0].size(0) >= 2;
  impl_->model = internal::trace_model([&](const std::vector<Tensor>& xs) { return std::vector<Tensor>{model(xs[0])}; },
                                     example_inputs, params, {.dynamic_batch = dynamic}, impl_->where);
  impl_->build(options.fuse);
}

InferenceSession::~InferenceSession() = default;

std::vector<std::string> InferenceSession::steps() const {
  std::vector<std::string> r;
  for (auto& s : impl_->steps) r.push_back(s.label);
  return r;
}

Tensor InferenceSession::operator()(const Tensor& x) {
  TS_CHECK_VALUE(impl_->inputs.size() == 1, "InferenceSession: ", impl_->where, " has ", impl_->inputs.size(),
                 " inputs; call run() with all of them");
  return run({x})[0];
}

std::vector<Tensor> InferenceSession::run(const std::vector<Tensor>& inputs) {
  Impl& m = *impl_;
  TS_CHECK_VALUE(inputs.size() == m.inputs.size(), "InferenceSession: ", m.where, " takes ", m.inputs.size(),
                 " inputs, got ", inputs.size());
  autograd::NoGradGuard ng;
  std::unordered_map<std::string, Val> values;
  for (size_t i = 0; i < inputs.size(); ++i) {
    TS_CHECK_VALUE(inputs[i].defined(), "InferenceSession: input '", m.inputs[i], "' is undefined");
    TS_CHECK_VALUE(inputs[i].device().is_cpu(), "InferenceSession: runs on the CPU; input '", m.inputs[i], "' is on ",
                   inputs[i].device().str(), " (run the module or OnnxModel there instead)");
    values[m.inputs[i]].plain = inputs[i].detach();
  }
  auto get = [&](const Step& s, const std::string& name) -> Val& {
    auto it = values.find(name);
    if (it != values.end()) return it->second;
    auto init = m.inits.find(name);  // (initializers enter the map when first read)
    TS_CHECK_VALUE(init != m.inits.end(), "InferenceSession: ", m.where, ": step ", s.label, " reads '", name,
                   "', which no earlier node makes");
    return values[name] = Val{init->second, nullptr, {}};
  };
  for (size_t si = 0; si < m.steps.size(); ++si) {
    const Step& s = m.steps[si];
    // (the step's name for errors, made only when one is thrown)
    auto label = [&] { return "'" + (s.node->name().empty() ? s.node->output(0) : s.node->name()) + "' (" + s.label + ")"; };
    TS_CHECK_VALUE(s.kind != Step::Generic || internal::runs(*s.node), "InferenceSession: ", m.where, ": node ", label(),
                   ": op ", s.node->op_type(), " is not supported by tessera's importer");
    try {
      if (s.kind != Step::Generic) {
        Val& x = get(s, s.in[0]);
        bool four_d_float = x.blocked() || (x.plain.dtype() == DType::Float32 && x.plain.dim() == 4);
        bool ok = four_d_float && (s.kind == Step::Conv || (x.blocked() && is_blocked(x.md)));
        if (ok) {
          std::optional<Val> y = s.kind == Step::Conv ? m.run_conv(si, s, x, s.conv.sum ? &get(s, s.in[1]) : nullptr)
                                                      : m.run_pool(si, s, x);
          if (y) {
            values[s.out[0]] = std::move(*y);
            continue;
          }
        }
        // No oneDNN plan (not a 4-D float32 input, or only a reference kernel): the same math
        // with ops.
        if (s.kind == Step::Conv) {
          Tensor xp = plain_of(x);
          const auto &pl = s.conv.pad_l, &pr = s.conv.pad_r;
          // Asymmetric pads (SAME_UPPER convolutions from tf2onnx): zeros added first.
          bool asym = pl != pr;
          if (asym) xp = ops::pad(xp, {pl[1], pr[1], pl[0], pr[0]});
          Conv2dParams p{{s.conv.strides[0], s.conv.strides[1]},
                         {asym ? 0 : pl[0], asym ? 0 : pl[1]},
                         {s.conv.dilates[0] + 1, s.conv.dilates[1] + 1},
                         s.conv.groups};
          Tensor y = ops::conv2d(xp, s.conv.w, s.conv.b, p);
          if (s.conv.act == dnnl::algorithm::eltwise_relu) y = ops::relu(y);
          if (s.conv.act == dnnl::algorithm::eltwise_clip) y = ops::clamp(y, double(s.conv.alpha), double(s.conv.beta));
          if (s.conv.sum) y = y + plain_of(get(s, s.in[1]));
          if (s.conv.post_relu) y = ops::relu(y);
          values[s.out[0]].plain = y;
          continue;
        }
      }
      // Node by node (pools on a plain input too).
      std::vector<Tensor> in;
      for (auto& name : s.node->input()) in.push_back(name.empty() ? Tensor() : plain_of(get(s, name)));
      std::vector<Tensor> out = internal::run_node(*s.node, in, Device::cpu(), m.opset);
      for (int k = 0; k < s.node->output_size() && size_t(k) < out.size(); ++k)
        if (!s.node->output(k).empty()) values[s.node->output(k)] = Val{out[size_t(k)], nullptr, {}};
    } catch (const Error& e) {
      throw Error(::tessera::detail::str("InferenceSession: ", m.where, ": node ", label(), ": ", e.what()));
    }
  }
  std::vector<Tensor> r;
  for (auto& name : m.outputs) {
    auto it = values.find(name);
    TS_CHECK_VALUE(it != values.end() || m.inits.count(name), "InferenceSession: ", m.where, ": output '", name,
                   "' is never computed");
    r.push_back(it != values.end() ? plain_of(it->second) : m.inits[name]);
  }
  return r;
}

}  // namespace tessera::io
