// Inference sessions, part 2 (part 1, the rewrite, is inference_build.cpp): the steps planned
// and run, convolutions and poolings on oneDNN in blocked layouts, every other node as is.
#include "tessera/io/inference_impl.h"

#include <algorithm>
#include <chrono>
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

namespace session_detail {

using tag = memory::format_tag;
constexpr auto f32 = memory::data_type::f32;

// Channels in blocks of the machine's vector width, as oneDNN's fast kernels want them: 16 with
// AVX-512, 8 with AVX2 (whose kernels given 16-channel blocks are several times slower).
int64_t channel_block() { return cpu::dnnl_avx512() ? 16 : 8; }
tag block_tag() { return channel_block() == 16 ? tag::nChw16c : tag::nChw8c; }
bool is_blocked(const memory::desc& md) { return md == memory::desc(md.dims(), f32, block_tag()); }

Tensor plain_of(Val& v) {
  if (v.plain.defined() || !v.blocked()) return v.plain;
  memory::dims d = v.md->dims();
  Shape s(d.begin(), d.end());
  memory::desc nchw(d, f32, tag::nchw);
  if (*v.md == nchw) {
    v.plain = Tensor(v.data, s, contiguous_strides(s), 0, DType::Float32);
  } else {
    Storage out = cpu::dnnl_scratch(nchw.get_size());
    cpu::dnnl_reorder(*v.md, v.data->data(), nchw, out->data());
    v.plain = Tensor(out, s, contiguous_strides(s), 0, DType::Float32);
  }
  return v.plain;
}

}  // namespace session_detail

namespace {
using namespace session_detail;
using cpu::dnnl_engine;
}  // namespace

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
// A piece's arguments (memory objects, scratchpad) are made at its first run and pointed at each
// run's buffers after that (making them cost an allocation or two apiece, a few microseconds a
// convolution); a run that finds them in use (the session run on two threads at once) makes its
// own.
void run_pieces(const Plan& plan, const char* src_base, char* dst_base, const float* bias) {
  cpu::parallel_chunks(int64_t(plan.pieces.size()), [&](int64_t k) {
    const Piece& pc = plan.pieces[size_t(k)];
    cpu::DnnlSerial serial;
    auto& eng = dnnl_engine();
    void* src = const_cast<char*>(src_base) + pc.src_off;
    void* dst = dst_base + pc.dst_off;
    Piece::Args local;
    bool mine = !pc.cached->in_use.exchange(true, std::memory_order_acquire);
    Piece::Args& a = mine ? pc.cached->args : local;
    struct Release {
      const Piece& pc;
      bool mine;
      ~Release() {
        if (mine) pc.cached->in_use.store(false, std::memory_order_release);
      }
    } release{pc, mine};
    if (a.map.empty()) {
      a.map.emplace(DNNL_ARG_SRC, memory(pc.src, eng, src));
      a.map.emplace(DNNL_ARG_DST, memory(pc.dst, eng, dst));
      if (pc.w) {
        a.map.emplace(DNNL_ARG_WEIGHTS, memory(pc.weights, eng, pc.w->data()));
        a.map.emplace(DNNL_ARG_BIAS, memory(memory::desc({pc.dst.dims()[1]}, f32, tag::x), eng,
                                            const_cast<float*>(bias) + pc.oc0));
      }
      if (size_t nb = pc.scratchpad.get_size()) {
        a.pad = cpu::dnnl_scratch(nb);
        a.map.emplace(DNNL_ARG_SCRATCHPAD, memory(pc.scratchpad, eng, a.pad->data()));
      }
    } else {
      a.map.at(DNNL_ARG_SRC).set_data_handle(src);
      a.map.at(DNNL_ARG_DST).set_data_handle(dst);
      // (the weights and the bias are the session's, fixed once the plan exists)
    }
    dnnl::stream& st = cpu::dnnl_stream();
    pc.prim.execute(st, a.map);
    st.wait();
  });
}

// x in layout md (a reorder into scratch when it is in another one).
const char* in_layout(Val& x, const memory::desc& md, Storage& keep) {
  if (x.blocked() && *x.md == md) return static_cast<const char*>(x.data->data());
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
  if (x.blocked()) return *x.md;
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
  y.md = &plan->dst;
  if (other) {  // the residual, in the output's layout: the convolution adds to it
    Storage k2;
    memory::dims dd = plan->dst.dims(), od = other->blocked() ? other->md->dims() : memory::dims();
    Shape os = other->blocked() ? Shape(od.begin(), od.end()) : other->plain.shape();
    // A residual that broadcasts (not the output's shape): the ops path adds it.
    if (os != Shape(dd.begin(), dd.end())) return std::nullopt;
    // The residual's own buffer when this step is its last reader and nothing else holds it
    // (no plain view of it lives on); a copy otherwise.
    if (s.in_slots[1] != s.in_slots[0] && other->blocked() && *other->md == plan->dst && last_use[size_t(s.in_slots[1])] == si &&
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
  auto plan = plan_for(si, s, *x.md);
  Val y;
  y.md = &plan->dst;
  y.data = cpu::dnnl_scratch(plan->dst.get_size());
  run_pieces(*plan, static_cast<const char*>(x.data->data()), static_cast<char*>(y.data->data()), nullptr);
  return y;
}

InferenceSession::InferenceSession(const std::string& onnx_path, InferenceOptions options)
    : impl_(std::make_shared<Impl>()) {
  impl_->where = onnx_path;
  impl_->model = internal::read_model(onnx_path);
  impl_->build(options);
}

InferenceSession::InferenceSession(const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& fn,
                                   const std::vector<Tensor>& example_inputs, const nn::StateDict& params,
                                   InferenceOptions options)
    : impl_(std::make_shared<Impl>()) {
  impl_->where = "traced function";  // (messages read "InferenceSession: traced function: ...")
  bool dynamic = !example_inputs.empty();
  for (auto& x : example_inputs) dynamic = dynamic && x.defined() && x.dim() >= 1 && x.size(0) >= 2;
  impl_->model = internal::trace_model(fn, example_inputs, params, {.dynamic_batch = dynamic}, "InferenceSession");
  impl_->build(options);
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
  impl_->build(options);
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
  // The run's values by slot; a value is given back after its last reader.
  std::vector<Val> values(m.slot_name.size());
  std::vector<bool> have(m.slot_name.size(), false);
  for (size_t i = 0; i < inputs.size(); ++i) {
    TS_CHECK_VALUE(inputs[i].defined(), "InferenceSession: input '", m.inputs[i], "' is undefined");
    TS_CHECK_VALUE(inputs[i].device().is_cpu(), "InferenceSession: runs on the CPU; input '", m.inputs[i], "' is on ",
                   inputs[i].device().str(), " (run the module or OnnxModel there instead)");
    size_t v = size_t(m.input_slots[i]);
    values[v].plain = inputs[i].detach();
    have[v] = true;
  }
  auto get = [&](const Step& s, int slot) -> Val& {
    size_t v = size_t(slot);
    if (!have[v]) {  // (initializers enter the table when first read)
      TS_CHECK_VALUE(m.slot_init[v] != nullptr, "InferenceSession: ", m.where, ": step ", s.label, " reads '",
                     m.slot_name[v], "', which no earlier node makes");
      values[v] = Val{*m.slot_init[v], nullptr, {}};
      have[v] = true;
    }
    return values[v];
  };
  auto put = [&](int slot, Val v) {
    if (slot < 0) return;
    values[size_t(slot)] = std::move(v);
    have[size_t(slot)] = true;
  };
  std::vector<double> seconds(m.profile ? m.steps.size() : 0);
  for (size_t si = 0; si < m.steps.size(); ++si) {
    const Step& s = m.steps[si];
    auto t0 = m.profile ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
    // (the step's name for errors, made only when one is thrown)
    auto label = [&] { return "'" + (s.node->name().empty() ? s.node->output(0) : s.node->name()) + "' (" + s.label + ")"; };
    TS_CHECK_VALUE(s.runs, "InferenceSession: ", m.where, ": node ", label(), ": op ", s.node->op_type(),
                   " is not supported by tessera's importer");
    try {
      bool done = false;
      if (s.kind != Step::Generic) {
        Val& x = get(s, s.in_slots[0]);
        bool four_d_float = x.blocked() || (x.plain.dtype() == DType::Float32 && x.plain.dim() == 4);
        bool ok = four_d_float && (s.kind == Step::Conv || (x.blocked() && is_blocked(*x.md)));
        if (ok) {
          std::optional<Val> y = s.kind == Step::Conv
                                     ? m.run_conv(si, s, x, s.conv.sum ? &get(s, s.in_slots[1]) : nullptr)
                                     : m.run_pool(si, s, x);
          if (y) {
            put(s.out_slots[0], std::move(*y));
            done = true;
          }
        }
        // No oneDNN plan (not a 4-D float32 input, or only a reference kernel): the same math
        // with ops.
        if (!done && s.kind == Step::Conv) {
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
          if (s.conv.sum) y = y + plain_of(get(s, s.in_slots[1]));
          if (s.conv.post_relu) y = ops::relu(y);
          put(s.out_slots[0], Val{y, nullptr, {}});
          done = true;
        }
      }
      if (!done) {  // node by node (pools on a plain input too)
        std::vector<Tensor> in;
        in.reserve(s.node_in_slots.size());
        for (int v : s.node_in_slots) in.push_back(v < 0 ? Tensor() : plain_of(get(s, v)));
        std::vector<Tensor> out = internal::run_node(*s.node, in, Device::cpu(), m.opset);
        for (size_t k = 0; k < s.node_out_slots.size() && k < out.size(); ++k)
          put(s.node_out_slots[k], Val{std::move(out[k]), nullptr, {}});
      }
    } catch (const Error& e) {
      throw Error(::tessera::detail::str("InferenceSession: ", m.where, ": node ", label(), ": ", e.what()));
    }
    for (int v : s.frees) values[size_t(v)] = Val{};
    if (m.profile) seconds[si] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  std::vector<Tensor> r;
  for (size_t k = 0; k < m.outputs.size(); ++k) {
    size_t v = size_t(m.output_slots[k]);
    TS_CHECK_VALUE(have[v] || m.slot_init[v], "InferenceSession: ", m.where, ": output '", m.outputs[k],
                   "' is never computed");
    r.push_back(have[v] ? plain_of(values[v]) : *m.slot_init[v]);
  }
  if (m.profile) {
    std::lock_guard<std::mutex> lock(m.m);
    m.prof_runs += 1;
    for (size_t si = 0; si < seconds.size(); ++si) m.prof_seconds[si] += seconds[si];
  }
  return r;
}

std::vector<StepProfile> InferenceSession::profile(bool reset) {
  Impl& m = *impl_;
  TS_CHECK_VALUE(m.profile, "InferenceSession: ", m.where, ": profiling is off (create the session with ",
                 "InferenceOptions::profile = true; Python: profile=True)");
  std::lock_guard<std::mutex> lock(m.m);
  std::vector<StepProfile> r;
  for (size_t si = 0; si < m.steps.size(); ++si) {
    r.push_back({m.steps[si].label, m.prof_runs, m.prof_seconds[si]});
    if (reset) m.prof_seconds[si] = 0.0;
  }
  if (reset) m.prof_runs = 0;
  return r;
}

}  // namespace tessera::io
