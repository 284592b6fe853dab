#pragma once
// Op tracing: while a Tracer is installed on a thread, every traced op that thread runs at the
// outermost level reports one Call (its name, input and output tensors, and arguments). Ops an
// op calls inside itself are not reported, so a composite op is seen as itself and an op with
// no tracing of its own is seen as the traced ops it is made of. ONNX export is built on it.
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "tessera/core/tensor.h"

namespace tessera::ops::trace {

using AttrValue = std::variant<int64_t, double, std::string, Shape>;

struct Call {
  std::string op;
  std::vector<Tensor> inputs;  // an undefined tensor stands for an absent optional input
  std::vector<bool> constant;  // per input: made by the op from a number argument
  std::vector<Tensor> outputs;
  std::vector<std::pair<std::string, AttrValue>> attrs;

  bool has(const std::string& name) const;
  int64_t i(const std::string& name) const;
  double f(const std::string& name) const;
  const std::string& s(const std::string& name) const;
  const Shape& ints(const std::string& name) const;
};

// Every op name a traced op records (the UnaryOp and BinaryOp names, and the others'): ONNX export
// has an entry for each (a test checks it), and recording a name not listed is an error, so a new
// traced op cannot go unnoticed by the exporter.
const std::vector<std::string>& traced_op_names();

class Tracer {
 public:
  virtual ~Tracer() = default;
  virtual void record(Call call) = 0;
};

// Installs tracer for this thread for its scope (the previous one comes back on exit).
class TracingGuard {
 public:
  explicit TracingGuard(Tracer& tracer);
  ~TracingGuard();
  TracingGuard(const TracingGuard&) = delete;
  TracingGuard& operator=(const TracingGuard&) = delete;

 private:
  Tracer* prev_;
  int prev_depth_;
};

namespace internal {
// The thread's tracer and how deep in traced ops it is. Constant-initialized (constinit),
// so the check every op makes is an inlined load with no TLS wrapper call.
struct State {
  Tracer* tracer = nullptr;
  int depth = 0;
};
extern thread_local constinit State state;
}  // namespace internal

// Opened first thing in a traced op; ops called inside it are not reported.
class Scope {
 public:
  Scope() {
    if (internal::state.tracer != nullptr) [[unlikely]]
      enter();
  }
  ~Scope() {
    if (active_) [[unlikely]]
      --internal::state.depth;
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;
  // True when a tracer is installed and this op was called from outside any traced op. Ops
  // write `if (ts.recording()) ts.record(...)`: building record's arguments allocates.
  bool recording() const { return recording_; }
  void record(const char* op, std::vector<Tensor> inputs, std::vector<Tensor> outputs,
              std::vector<std::pair<std::string, AttrValue>> attrs = {}, std::vector<bool> constant = {});

 private:
  void enter();
  bool active_ = false, recording_ = false;
};

}  // namespace tessera::ops::trace
