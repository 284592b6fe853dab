// Running ONNX graphs node by node, the control-flow operators whose bodies are graphs of their
// own (If, Loop, Scan), and the operators on sequences of tensors. A body reads its inputs, its
// initializers and any value of the graphs around it (outer scope); autograd records the ops it
// runs, so gradients flow through the branch taken and through every iteration.
#include <algorithm>

#include "tessera/io/onnx_internal.h"
#include "tessera/io/onnx_proto.h"
#include "tessera/ops/ops.h"

namespace tessera::io::internal {

namespace {

using Values = std::vector<Value>;
using Tensors = std::vector<Tensor>;

const onnx::GraphProto& body(const onnx::NodeProto& p, const std::string& name) {
  for (auto& a : p.attribute())
    if (a.name() == name && a.has_g()) return a.g();
  throw ValueError(::tessera::detail::str(p.op_type(), " needs the graph attribute '", name, "'"));
}

int64_t attr_i(const onnx::NodeProto& p, const std::string& name, int64_t dflt) {
  for (auto& a : p.attribute())
    if (a.name() == name) return a.i();
  return dflt;
}

Shape attr_ints(const onnx::NodeProto& p, const std::string& name, size_t n, int64_t dflt) {
  for (auto& a : p.attribute())
    if (a.name() == name) {
      TS_CHECK_VALUE(size_t(a.ints_size()) == n, name, " has ", a.ints_size(), " values, expected ", n);
      return Shape(a.ints().begin(), a.ints().end());
    }
  return Shape(n, dflt);
}

bool truth(const Tensor& t, const char* what) {
  TS_CHECK_SHAPE(t.numel() == 1, what, " must hold one value, got shape ", t.shape());
  return t.to(Device::cpu()).to(DType::Float64).item().to_double() != 0;
}

// g's outputs for inputs bound to its inputs in order, outer values visible.
Values run_body(const onnx::GraphProto& g, const Values& inputs, const Scope& outer, Device dev, int64_t opset,
                const std::string& where) {
  TS_CHECK_VALUE(size_t(g.input_size()) == inputs.size(), "the body graph '", g.name(), "' takes ", g.input_size(),
                 " inputs, given ", inputs.size());
  Scope s;
  s.outer = &outer;
  for (auto& init : g.initializer()) s.values[init.name()] = Value(onnx_proto::from_proto(init, where).to(dev));
  for (int i = 0; i < g.input_size(); ++i) s.values[g.input(i).name()] = inputs[size_t(i)];
  run_graph(g, s, dev, opset, where);
  Values out;
  for (auto& o : g.output()) {
    const Value* v = s.find(o.name());
    TS_CHECK_VALUE(v, "the body graph '", g.name(), "' never computes its output '", o.name(), "'");
    out.push_back(*v);
  }
  return out;
}

Values run_if(const onnx::NodeProto& p, const Values& in, const Scope& scope, Device dev, int64_t opset,
              const std::string& where) {
  TS_CHECK_VALUE(!in.empty() && in[0].tensor.defined(), "If needs its condition input");
  return run_body(body(p, truth(in[0].tensor, "If's condition") ? "then_branch" : "else_branch"), {}, scope, dev, opset,
                  where);
}

Values run_loop(const onnx::NodeProto& p, const Values& in, const Scope& scope, Device dev, int64_t opset,
                const std::string& where) {
  const onnx::GraphProto& g = body(p, "body");
  const bool has_trips = in.size() > 0 && in[0].tensor.defined(), has_cond = in.size() > 1 && in[1].tensor.defined();
  TS_CHECK_VALUE(has_trips || has_cond, "Loop with neither a trip count nor a condition never ends");
  int64_t trips = has_trips ? in[0].tensor.to(Device::cpu()).to(DType::Int64).item().to_int()
                            : std::numeric_limits<int64_t>::max();
  bool cond = has_cond ? truth(in[1].tensor, "Loop's condition") : true;
  Values carried(in.begin() + long(std::min<size_t>(2, in.size())), in.end());
  const size_t n = carried.size();
  TS_CHECK_VALUE(size_t(g.output_size()) >= 1 + n, "Loop's body makes ", g.output_size(), " outputs for ", n,
                 " loop-carried values");
  const size_t scans = size_t(g.output_size()) - 1 - n;
  std::vector<Tensors> scanned(scans);
  for (int64_t i = 0; i < trips && cond; ++i) {
    Values step{Value(scalar_tensor(i, DType::Int64, dev)), Value(scalar_tensor(cond, DType::Bool, dev))};
    step.insert(step.end(), carried.begin(), carried.end());
    Values out = run_body(g, step, scope, dev, opset, where);
    cond = truth(out[0].tensor, "Loop's body condition");
    for (size_t k = 0; k < n; ++k) carried[k] = out[1 + k];
    for (size_t k = 0; k < scans; ++k) {
      TS_CHECK_VALUE(!out[1 + n + k].is_sequence(), "Loop's scan outputs must be tensors");
      scanned[k].push_back(out[1 + n + k].tensor);
    }
  }
  Values r = carried;
  for (auto& s : scanned) {
    TS_CHECK_VALUE(!s.empty(), "Loop ran no iteration, so its scan outputs have no shape");
    r.push_back(Value(ops::stack(s, 0)));
  }
  return r;
}

Tensors tensors_of(const Values& v, const std::string& what) {
  Tensors r;
  for (const Value& x : v) {
    TS_CHECK_VALUE(!x.is_sequence() && !x.is_strings(), what, " takes and makes numeric tensors, not sequences or strings");
    r.push_back(x.tensor);
  }
  return r;
}

Tensors run_body_tensors(const onnx::GraphProto& g, const Tensors& inputs, const Scope& outer, Device dev,
                         int64_t opset, const std::string& where) {
  return tensors_of(run_body(g, Values(inputs.begin(), inputs.end()), outer, dev, opset, where), "Scan's body");
}

// Scan from opset 9: states, then scan inputs sliced along their axes.
Values scan(const onnx::NodeProto& p, const Tensors& in, const Scope& scope, Device dev, int64_t opset,
            const std::string& where) {
  const onnx::GraphProto& g = body(p, "body");
  const size_t m = size_t(attr_i(p, "num_scan_inputs", 0));
  TS_CHECK_VALUE(m >= 1 && m <= in.size(), "Scan: num_scan_inputs ", m, " with ", in.size(), " inputs");
  const size_t n = in.size() - m, k = size_t(g.output_size()) - n;
  TS_CHECK_VALUE(size_t(g.output_size()) >= n, "Scan's body makes ", g.output_size(), " outputs for ", n, " states");
  Shape in_axes = attr_ints(p, "scan_input_axes", m, 0), in_dirs = attr_ints(p, "scan_input_directions", m, 0);
  Shape out_axes = attr_ints(p, "scan_output_axes", k, 0), out_dirs = attr_ints(p, "scan_output_directions", k, 0);
  int64_t T = -1;
  for (size_t j = 0; j < m; ++j) {
    const Tensor& x = in[n + j];
    int64_t axis = in_axes[j] < 0 ? in_axes[j] + x.dim() : in_axes[j];
    in_axes[j] = axis;
    TS_CHECK_SHAPE(T < 0 || x.size(axis) == T, "Scan inputs differ in length along their scan axes");
    T = x.size(axis);
  }
  Tensors states(in.begin(), in.begin() + long(n));
  std::vector<Tensors> outs(k);
  for (int64_t t = 0; t < T; ++t) {
    Tensors step = states;
    for (size_t j = 0; j < m; ++j) step.push_back(in[n + j].select(in_axes[j], in_dirs[j] ? T - 1 - t : t));
    Tensors out = run_body_tensors(g, step, scope, dev, opset, where);
    for (size_t s = 0; s < n; ++s) states[s] = out[s];
    for (size_t s = 0; s < k; ++s) outs[s].push_back(out[n + s]);
  }
  Values r(states.begin(), states.end());
  for (size_t s = 0; s < k; ++s) {
    TS_CHECK_VALUE(!outs[s].empty(), "Scan over length 0 has no scan outputs to shape");
    if (out_dirs[s]) std::reverse(outs[s].begin(), outs[s].end());
    int64_t rank = outs[s][0].dim() + 1, axis = out_axes[s] < 0 ? out_axes[s] + rank : out_axes[s];
    r.push_back(Value(ops::stack(outs[s], axis)));
  }
  return r;
}

// Scan in opset 8: a batch dim in front of everything, the scan axis 1, an optional
// sequence_lens first input (per batch entry; shorter ones leave their outputs zero-padded).
Values scan8(const onnx::NodeProto& p, const Tensors& in, const Scope& scope, Device dev, int64_t opset,
             const std::string& where) {
  const onnx::GraphProto& g = body(p, "body");
  const size_t m = size_t(attr_i(p, "num_scan_inputs", 0));
  TS_CHECK_VALUE(m >= 1 && m + 1 <= in.size(), "Scan: num_scan_inputs ", m, " with ", in.size(), " inputs");
  const size_t n = in.size() - 1 - m;
  TS_CHECK_VALUE(size_t(g.output_size()) >= n, "Scan's body makes ", g.output_size(), " outputs for ", n, " states");
  const size_t k = size_t(g.output_size()) - n;
  Shape dirs = attr_ints(p, "directions", m, 0);
  const int64_t batch = in[1].size(0), T = in[1 + n].size(1);
  Shape lens(size_t(batch), T);
  if (in[0].defined()) lens = in[0].to(Device::cpu()).to(DType::Int64).reshape({-1}).tolist<int64_t>();
  TS_CHECK_SHAPE(int64_t(lens.size()) == batch, "Scan: sequence_lens has ", lens.size(), " lengths for a batch of ",
                 batch);
  std::vector<Tensors> states(n), outs(k);
  for (int64_t b = 0; b < batch; ++b) {
    Tensors st;
    for (size_t s = 0; s < n; ++s) st.push_back(in[1 + s].select(0, b));
    std::vector<Tensors> seq(k);
    int64_t L = lens[size_t(b)];
    TS_CHECK_VALUE(L >= 0 && L <= T, "Scan: sequence length ", L, " outside [0, ", T, "]");
    for (int64_t t = 0; t < L; ++t) {
      Tensors step = st;
      for (size_t j = 0; j < m; ++j) step.push_back(in[1 + n + j].select(0, b).select(0, dirs[j] ? L - 1 - t : t));
      Tensors out = run_body_tensors(g, step, scope, dev, opset, where);
      for (size_t s = 0; s < n; ++s) st[s] = out[s];
      for (size_t s = 0; s < k; ++s) seq[s].push_back(out[n + s]);
    }
    for (size_t s = 0; s < n; ++s) states[s].push_back(st[s]);
    for (size_t s = 0; s < k; ++s) {
      TS_CHECK_VALUE(!seq[s].empty(), "Scan over length 0 has no scan outputs to shape");
      Tensor y = ops::stack(seq[s], 0);
      if (L < T) {
        Shape pad(size_t(2 * y.dim()), 0);
        pad.back() = T - L;
        y = ops::pad(y, pad, "constant", 0.0);
      }
      outs[s].push_back(y);
    }
  }
  Values r;
  for (auto& s : states) r.push_back(Value(ops::stack(s, 0)));
  for (auto& s : outs) r.push_back(Value(ops::stack(s, 0)));
  return r;
}


const Tensors& seq_of(const Values& in, size_t k, const char* op) {
  TS_CHECK_VALUE(k < in.size() && in[k].is_sequence(), op, ": input ", k, " must be a sequence");
  return *in[k].sequence;
}

const Tensor& tensor_of(const Values& in, size_t k, const char* op) {
  TS_CHECK_VALUE(k < in.size() && in[k].tensor.defined() && !in[k].is_sequence(), op, ": input ", k,
                 " must be a tensor");
  return in[k].tensor;
}

// A position in a sequence of n (negative: from the end); the end itself only when `end_ok`.
int64_t position(const Values& in, size_t k, int64_t n, int64_t dflt, bool end_ok, const char* op) {
  if (k >= in.size() || !in[k].tensor.defined()) return dflt;
  int64_t i = in[k].tensor.to(Device::cpu()).to(DType::Int64).item().to_int();
  int64_t w = i < 0 ? i + n : i;
  TS_CHECK_VALUE(w >= 0 && (w < n || (end_ok && w == n)), op, ": position ", i, " is outside a sequence of ", n);
  return w;
}

Values sequence_op(const onnx::NodeProto& p, const Values& in, const Scope& scope, Device dev, int64_t opset,
                   const std::string& where) {
  const std::string& op = p.op_type();
  // Optionals (opsets 15+): an empty value is "none"; otherwise the tensor or sequence itself.
  if (op == "Optional") return {in.empty() ? Value() : in[0]};
  auto has = [&] { return !in.empty() && (in[0].is_sequence() || in[0].tensor.defined()); };
  if (op == "OptionalHasElement") return {Value(scalar_tensor(has(), DType::Bool, dev))};
  if (op == "OptionalGetElement") {
    TS_CHECK_VALUE(has(), "OptionalGetElement: the optional is empty");
    return {in[0]};
  }
  if (op == "SequenceEmpty") return {Value::of_sequence({})};
  if (op == "SequenceConstruct") {
    Tensors items;
    for (size_t k = 0; k < in.size(); ++k) items.push_back(tensor_of(in, k, "SequenceConstruct"));
    return {Value::of_sequence(std::move(items))};
  }
  if (op == "SequenceInsert") {
    Tensors items = seq_of(in, 0, "SequenceInsert");
    int64_t at = position(in, 2, int64_t(items.size()), int64_t(items.size()), true, "SequenceInsert");
    items.insert(items.begin() + at, tensor_of(in, 1, "SequenceInsert"));
    return {Value::of_sequence(std::move(items))};
  }
  if (op == "SequenceErase") {
    Tensors items = seq_of(in, 0, "SequenceErase");
    TS_CHECK_VALUE(!items.empty(), "SequenceErase: the sequence is empty");
    items.erase(items.begin() + position(in, 1, int64_t(items.size()), int64_t(items.size()) - 1, false,
                                         "SequenceErase"));
    return {Value::of_sequence(std::move(items))};
  }
  if (op == "SequenceAt") {
    const Tensors& items = seq_of(in, 0, "SequenceAt");
    TS_CHECK_VALUE(in.size() > 1 && in[1].tensor.defined(), "SequenceAt needs a position");
    return {Value(items[size_t(position(in, 1, int64_t(items.size()), 0, false, "SequenceAt"))])};
  }
  if (op == "SequenceLength")
    return {Value(scalar_tensor(int64_t(seq_of(in, 0, "SequenceLength").size()), DType::Int64, dev))};
  if (op == "ConcatFromSequence") {
    const Tensors& items = seq_of(in, 0, "ConcatFromSequence");
    TS_CHECK_VALUE(!items.empty(), "ConcatFromSequence: the sequence is empty");
    int64_t axis = attr_i(p, "axis", 0);
    if (attr_i(p, "new_axis", 0)) return {Value(ops::stack(items, axis))};
    return {Value(ops::cat(items, axis))};
  }
  if (op == "SplitToSequence") {
    const Tensor& x = tensor_of(in, 0, "SplitToSequence");
    int64_t axis = attr_i(p, "axis", 0);
    axis = axis < 0 ? axis + x.dim() : axis;
    TS_CHECK_VALUE(axis >= 0 && axis < x.dim(), "SplitToSequence: axis out of range for shape ", x.shape());
    Shape sizes;
    if (in.size() > 1 && in[1].tensor.defined()) {
      const Tensor& split = in[1].tensor;
      if (split.dim() == 0) {  // chunks of that size (the last may be smaller)
        int64_t each = split.to(Device::cpu()).to(DType::Int64).item().to_int();
        TS_CHECK_VALUE(each > 0, "SplitToSequence: split must be positive, got ", each);
        for (int64_t o = 0; o < x.size(axis); o += each) sizes.push_back(std::min(each, x.size(axis) - o));
      } else {
        sizes = split.to(Device::cpu()).to(DType::Int64).tolist<int64_t>();
      }
      return {Value::of_sequence(ops::split(x, sizes, axis))};
    }
    Tensors parts;  // no split: every slice along axis, the axis kept unless keepdims=0
    for (int64_t i = 0; i < x.size(axis); ++i)
      parts.push_back(attr_i(p, "keepdims", 1) ? x.narrow(axis, i, 1) : x.select(axis, i));
    return {Value::of_sequence(std::move(parts))};
  }
  // SequenceMap: the body runs once per position of the first (sequence) input; other sequence
  // inputs give their element at that position, tensor inputs are passed whole.
  const onnx::GraphProto& g = body(p, "body");
  int64_t n = int64_t(seq_of(in, 0, "SequenceMap").size());
  std::vector<Tensors> outs(size_t(g.output_size()));
  for (int64_t i = 0; i < n; ++i) {
    Values step;
    for (const Value& v : in) {
      if (v.is_sequence()) {
        TS_CHECK_VALUE(int64_t(v.sequence->size()) == n, "SequenceMap: the input sequences differ in length");
        step.push_back(Value((*v.sequence)[size_t(i)]));
      } else {
        step.push_back(v);
      }
    }
    Tensors r = tensors_of(run_body(g, step, scope, dev, opset, where), "SequenceMap's body");
    for (size_t k = 0; k < r.size(); ++k) outs[k].push_back(r[k]);
  }
  Values r;
  for (auto& o : outs) r.push_back(Value::of_sequence(std::move(o)));
  return r;
}

}  // namespace

bool is_control_flow(const onnx::NodeProto& p) {
  return p.op_type() == "If" || p.op_type() == "Loop" || p.op_type() == "Scan";
}

const std::vector<std::string>& sequence_op_names() {
  static const std::vector<std::string> ops{"SequenceEmpty", "SequenceConstruct", "SequenceInsert", "SequenceErase",
                                            "SequenceAt", "SequenceLength", "ConcatFromSequence", "SplitToSequence",
                                            "SequenceMap", "Optional", "OptionalHasElement", "OptionalGetElement"};
  return ops;
}

bool is_sequence_op(const onnx::NodeProto& p) {
  const auto& ops = sequence_op_names();
  return std::find(ops.begin(), ops.end(), p.op_type()) != ops.end();
}

const Value* Scope::find(const std::string& name) const {
  for (const Scope* s = this; s; s = s->outer) {
    auto it = s->values.find(name);
    if (it != s->values.end()) return &it->second;
  }
  return nullptr;
}

void run_graph(const onnx::GraphProto& g, Scope& scope, Device dev, int64_t opset, const std::string& where) {
  for (const onnx::NodeProto& p : g.node()) {
    std::string label = "'" + (p.name().empty() ? (p.output_size() ? p.output(0) : p.op_type()) : p.name()) + "' (" +
                        p.op_type() + ")";
    Values in;
    for (const std::string& name : p.input()) {
      if (name.empty()) {
        in.emplace_back();
        continue;
      }
      const Value* v = scope.find(name);
      TS_CHECK_VALUE(v, "OnnxModel: ", where, ": node ", label, " reads '", name, "', which no earlier node makes");
      in.push_back(*v);
    }
    TS_CHECK_VALUE(runs(p), "OnnxModel: ", where, ": node ", label, ": op ", p.op_type(),
                   " is not supported by tessera's importer");
    Values out;
    try {
      if (p.op_type() == "If") {
        out = run_if(p, in, scope, dev, opset, where);
      } else if (p.op_type() == "Loop") {
        out = run_loop(p, in, scope, dev, opset, where);
      } else if (p.op_type() == "Scan") {
        Tensors t = tensors_of(in, "Scan");
        out = opset < 9 ? scan8(p, t, scope, dev, opset, where) : scan(p, t, scope, dev, opset, where);
      } else if (is_string_op(p) || std::any_of(in.begin(), in.end(), [](const Value& v) { return v.is_strings(); })) {
        TS_CHECK_VALUE(is_string_op(p) || p.op_type() == "Identity" || p.op_type() == "Equal", p.op_type(),
                       " does not take tensors of strings");
        out = run_string_op(p, in, dev);
      } else if (is_sequence_op(p)) {
        out = sequence_op(p, in, scope, dev, opset, where);
      } else if (p.op_type() == "Identity" && !in.empty() && (in[0].is_sequence() || !in[0].tensor.defined())) {
        out = {in[0]};
      } else {
        Tensors t = tensors_of(in, p.op_type());
        for (Tensor& x : run_node(p, t, dev, opset)) out.push_back(Value(std::move(x)));
      }
    } catch (const Error& e) {
      std::string msg = e.what();
      if (msg.rfind("OnnxModel: ", 0) == 0) throw;  // from a body: already names its node
      throw Error(::tessera::detail::str("OnnxModel: ", where, ": node ", label, ": ", msg));
    } catch (const std::exception& e) {  // (a standard library error: still one that names the node)
      throw Error(::tessera::detail::str("OnnxModel: ", where, ": node ", label, ": ", e.what()));
    }
    TS_CHECK_VALUE(out.size() >= size_t(p.output_size()), "OnnxModel: ", where, ": node ", label, " makes ",
                   out.size(), " outputs, the graph names ", p.output_size());
    for (int k = 0; k < p.output_size(); ++k)
      if (!p.output(k).empty()) scope.values[p.output(k)] = out[size_t(k)];
  }
}

}  // namespace tessera::io::internal
