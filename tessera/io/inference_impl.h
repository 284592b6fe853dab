#pragma once
// An inference session's internals (not installed): the steps a graph is rewritten into, the
// values a run passes between them, the oneDNN plans of the fused steps, and the session's
// state. inference_build.cpp rewrites the graph (folding, fusion, dead steps, value slots);
// inference.cpp plans and runs it.
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "tessera/backend/cpu/dnnl_util.h"
#include "tessera/io/inference.h"
#include "tessera/io/onnx_internal.h"

namespace tessera::io {
namespace session_detail {

using dnnl::memory;

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
  // The values it reads and writes as slots of the run's value table (-1: an empty name); for
  // Generic steps (and a fallback) the node's own inputs and outputs, for fused ones in and out.
  std::vector<int> in_slots, out_slots, node_in_slots, node_out_slots;
  std::vector<int> frees;  // the slots whose last reader it is (given back after it runs)
  bool runs = true;        // whether the importer knows the node's op (Generic)
  ConvSpec conv;
  PoolSpec pool;
};

// A value: a plain tensor, and/or the same data in a oneDNN layout (4-D float32 activations).
struct Val {
  Tensor plain;
  Storage data;
  // (a plan's dst layout, which the session keeps: a run's table holds every value, and a
  // oneDNN memory::desc is over 600 bytes to zero per slot)
  const memory::desc* md = nullptr;
  bool blocked() const { return data != nullptr; }
};

// Channels in blocks of the machine's vector width, as oneDNN's fast kernels want them: 16 with
// AVX-512, 8 with AVX2 (whose kernels given 16-channel blocks are several times slower).
int64_t channel_block();
memory::format_tag block_tag();
bool is_blocked(const memory::desc& md);
// A value as a plain tensor (reordered out of its blocked layout once, and kept).
Tensor plain_of(Val& v);

// One piece of a convolution or pooling: a primitive on a slice of the batch or of the channels
// (both dense in memory for the layouts used), and where its operands start.
struct Piece {
  dnnl::primitive prim;
  memory::desc src, weights, dst, scratchpad;
  size_t src_off = 0, dst_off = 0;  // bytes
  int64_t oc0 = 0;
  Storage w;  // its reordered weights (convolutions)
  // Its primitive arguments and scratchpad, kept from run to run (run_pieces); in_use: taken by
  // a run now.
  struct Args {
    std::unordered_map<int, memory> map;
    Storage pad;
  };
  struct Cached {
    std::atomic<bool> in_use{false};
    Args args;
  };
  std::unique_ptr<Cached> cached = std::make_unique<Cached>();
};
struct Plan {
  memory::desc src, dst;  // the whole operands' layouts
  std::vector<Piece> pieces;
};


inline memory::dims dims4(int64_t a, int64_t b, int64_t c, int64_t d) { return {a, b, c, d}; }

}  // namespace session_detail

struct InferenceSession::Impl {
  using Step = session_detail::Step;
  using Val = session_detail::Val;
  using Plan = session_detail::Plan;
  using memory = dnnl::memory;

  std::string where;
  onnx::ModelProto model;
  std::unordered_map<std::string, Tensor> inits;
  std::vector<std::string> inputs, outputs;
  int64_t opset = kOnnxOpset;
  std::vector<Step> steps;
  // Every value by slot: its name, the initializer it starts as (null for computed ones), the
  // last step that reads it; the inputs' and outputs' slots.
  std::vector<std::string> slot_name;
  std::vector<const Tensor*> slot_init;
  std::vector<size_t> last_use;
  std::vector<int> input_slots, output_slots;
  std::mutex m;
  std::map<std::string, std::shared_ptr<Plan>> plans;  // per step and input layout
  // Profiling (InferenceOptions::profile): the runs timed (every run times every step) and each
  // step's seconds.
  bool profile = false;
  int64_t prof_runs = 0;
  std::vector<double> prof_seconds;

  void build(const InferenceOptions& options);
  void index_values(bool fuse);
  // The plan of step si for an input in layout src, made once (cached); null when oneDNN has only
  // a reference kernel for it.
  std::shared_ptr<Plan> plan_for(size_t si, const Step& s, const memory::desc& src);
  std::shared_ptr<Plan> conv_plan(const Step& s, const memory::desc& src);
  std::shared_ptr<Plan> pool_plan(const Step& s, const memory::desc& src);
  std::optional<Val> run_conv(size_t si, const Step& s, Val& x, Val* other);  // none: no fast plan
  Val run_pool(size_t si, const Step& s, Val& x);
};

}  // namespace tessera::io
