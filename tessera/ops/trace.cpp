#include "tessera/ops/trace.h"

#include <algorithm>

#include "tessera/backend/backend.h"
#include "tessera/core/error.h"

namespace tessera::ops::trace {

thread_local constinit internal::State internal::state;

namespace {

template <class T>
const T& get(const Call& c, const std::string& name) {
  for (auto& [k, v] : c.attrs)
    if (k == name) {
      const T* p = std::get_if<T>(&v);
      TS_CHECK(p != nullptr, "trace: attribute '", name, "' of ", c.op, " has another type");
      return *p;
    }
  throw Error(detail::str("trace: ", c.op, " has no attribute '", name, "'"));
}
}  // namespace

bool Call::has(const std::string& name) const {
  for (auto& a : attrs)
    if (a.first == name) return true;
  return false;
}
int64_t Call::i(const std::string& name) const { return get<int64_t>(*this, name); }
double Call::f(const std::string& name) const { return get<double>(*this, name); }
const std::string& Call::s(const std::string& name) const { return get<std::string>(*this, name); }
const Shape& Call::ints(const std::string& name) const { return get<Shape>(*this, name); }

TracingGuard::TracingGuard(Tracer& tracer) : prev_(internal::state.tracer), prev_depth_(internal::state.depth) {
  internal::state.tracer = &tracer;
  internal::state.depth = 0;
}
TracingGuard::~TracingGuard() {
  internal::state.tracer = prev_;
  internal::state.depth = prev_depth_;
}

void Scope::enter() {
  active_ = true;
  recording_ = internal::state.depth == 0;
  ++internal::state.depth;
}

const std::vector<std::string>& traced_op_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> r;
    for (int i = 0; i < kNumUnaryOps; ++i) r.push_back(op_name(UnaryOp(i)));
    for (int i = 0; i < kNumBinaryOps; ++i) r.push_back(op_name(BinaryOp(i)));
    // (tests/tools/check_traced_ops.py checks this list against the names the ops' sources record)
    for (const char* n : {"constant", "clone", "reshape", "expand", "permute", "slice", "select", "cat", "pad",
                          "embedding", "index_select", "gather", "matmul", "linear", "conv2d", "conv_transpose2d",
                          "max_pool2d", "avg_pool2d", "global_avg_pool2d", "batch_norm", "layer_norm", "group_norm",
                          "rnn", "where", "clamp", "fma", "to", "sum", "prod", "mean", "amax", "amin", "all", "any",
                          "argmax", "argmin", "softmax", "log_softmax"})
      r.push_back(n);
    return r;
  }();
  return names;
}

void Scope::record(const char* op, std::vector<Tensor> inputs, std::vector<Tensor> outputs,
                   std::vector<std::pair<std::string, AttrValue>> attrs, std::vector<bool> constant) {
  if (!recording_) return;
  const auto& names = traced_op_names();
  TS_CHECK(std::find(names.begin(), names.end(), op) != names.end(), "trace: op '", op,
           "' records a name missing from ops::trace::traced_op_names()");
  constant.resize(inputs.size(), false);
  internal::state.tracer->record(Call{op, std::move(inputs), std::move(constant), std::move(outputs), std::move(attrs)});
}

}  // namespace tessera::ops::trace
