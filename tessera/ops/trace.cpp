#include "tessera/ops/trace.h"

#include "tessera/core/error.h"

namespace tessera::ops::trace {

namespace {
thread_local Tracer* current = nullptr;
thread_local int depth = 0;

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

TracingGuard::TracingGuard(Tracer& tracer) : prev_(current), prev_depth_(depth) {
  current = &tracer;
  depth = 0;
}
TracingGuard::~TracingGuard() {
  current = prev_;
  depth = prev_depth_;
}

Scope::Scope() {
  if (current == nullptr) return;
  active_ = true;
  recording_ = depth == 0;
  ++depth;
}
Scope::~Scope() {
  if (active_) --depth;
}

void Scope::record(const char* op, std::vector<Tensor> inputs, std::vector<Tensor> outputs,
                   std::vector<std::pair<std::string, AttrValue>> attrs, std::vector<bool> constant) {
  if (!recording_) return;
  constant.resize(inputs.size(), false);
  current->record(Call{op, std::move(inputs), std::move(constant), std::move(outputs), std::move(attrs)});
}

}  // namespace tessera::ops::trace
