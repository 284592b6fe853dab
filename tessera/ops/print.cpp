// Printing in PyTorch's format: tensor([[1.0000, 2.5000], ...]), summarized past 1000 elements.
#include <cmath>
#include <cstdio>
#include <ostream>
#include <sstream>

#include "tessera/ops/ops.h"

namespace tessera {

namespace {
constexpr int64_t kThreshold = 1000, kEdge = 3;

struct Formatter {
  enum Mode { Bool, Int, FloatInt, Fixed, Sci } mode;
  int width = 1;

  std::string fmt(double v) const {
    char buf[64];
    if (mode == Bool) return v != 0 ? "True" : "False";
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    if (mode == Int) std::snprintf(buf, sizeof buf, "%lld", (long long)v);
    else if (mode == FloatInt) std::snprintf(buf, sizeof buf, "%.0f.", v);
    else if (mode == Fixed) std::snprintf(buf, sizeof buf, "%.4f", v);
    else std::snprintf(buf, sizeof buf, "%.4e", v);
    return buf;
  }
  std::string pad(double v) const {
    std::string s = fmt(v);
    return std::string(size_t(std::max<int>(0, width - int(s.size()))), ' ') + s;
  }
};

// The values shown (edges only when summarizing), gathered to decide the format.
void collect(const Tensor& t, bool summarize, std::vector<double>& out) {
  if (t.dim() == 0) {
    out.push_back(t.item().to_double());
    return;
  }
  int64_t n = t.size(0);
  if (t.dim() == 1) {
    std::vector<double> all = t.to_vector();
    for (int64_t i = 0; i < n; ++i)
      if (!summarize || n <= 2 * kEdge || i < kEdge || i >= n - kEdge) out.push_back(all[size_t(i)]);
    return;
  }
  for (int64_t i = 0; i < n; ++i)
    if (!summarize || n <= 2 * kEdge || i < kEdge || i >= n - kEdge) collect(t.select(0, i), summarize, out);
}

void render(std::ostream& os, const Tensor& t, const Formatter& f, bool summarize, int indent) {
  if (t.dim() == 0) {
    os << f.pad(t.item().to_double());
    return;
  }
  int64_t n = t.size(0);
  os << '[';
  if (t.dim() == 1) {
    std::vector<double> v = t.to_vector();
    for (int64_t i = 0; i < n; ++i) {
      if (summarize && n > 2 * kEdge && i == kEdge) {
        os << "  ...,";
        i = n - kEdge;
      }
      if (i) os << (summarize && n > 2 * kEdge && i == n - kEdge ? " " : " ");
      os << f.pad(v[size_t(i)]) << (i + 1 < n ? "," : "");
    }
    // PyTorch prints "[1, 2, 3]" with ", " separators; fix spacing of the first element.
  } else {
    std::string sep = "," + std::string(size_t(t.dim() - 1), '\n') + std::string(size_t(indent + 1), ' ');
    for (int64_t i = 0; i < n; ++i) {
      if (summarize && n > 2 * kEdge && i == kEdge) {
        os << "..." << sep;
        i = n - kEdge;
      }
      render(os, t.select(0, i), f, summarize, indent + 1);
      if (i + 1 < n) os << sep;
    }
  }
  os << ']';
}
}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  std::ostringstream os;
  bool summarize = numel() > kThreshold;
  // A small tensor on an accelerator comes to the host in one copy; a summarized one is read row
  // by row (only the rows shown).
  Tensor h = device().is_cpu() || summarize ? *this : cpu();
  std::vector<double> vals;
  if (numel() > 0) collect(h, summarize, vals);
  Formatter f{Formatter::Fixed};
  if (dtype() == DType::Bool) {
    f.mode = Formatter::Bool;
  } else if (!is_floating_point()) {
    f.mode = Formatter::Int;
  } else {
    bool all_int = true;
    double amax = 0, amin = INFINITY;
    bool any_finite = false;
    for (double v : vals) {
      if (!std::isfinite(v)) continue;
      any_finite = true;
      all_int = all_int && v == std::ceil(v);
      double a = std::abs(v);
      amax = std::max(amax, a);
      if (a != 0) amin = std::min(amin, a);
    }
    if (!any_finite) f.mode = Formatter::Fixed;
    else if (all_int) f.mode = amax > 1e8 ? Formatter::Sci : Formatter::FloatInt;
    else if (amax / (std::isinf(amin) ? 1 : amin) > 1000 || amax > 1e8 || (amin < 1e-4 && !std::isinf(amin)))
      f.mode = Formatter::Sci;
  }
  for (double v : vals) f.width = std::max<int>(f.width, int(f.fmt(v).size()));
  os << "tensor(";
  if (numel() == 0 && dim() > 0) {
    os << "[]";
    if (dim() > 1) {
      os << ", size=(";
      for (int64_t i = 0; i < dim(); ++i) os << (i ? ", " : "") << size(i);
      os << ")";
    }
  } else {
    render(os, h, f, summarize, 7);
  }
  if (dtype() != DType::Float32 && dtype() != DType::Int64 && dtype() != DType::Bool)
    os << ", dtype=" << dtype();
  if (!device().is_cpu()) os << ", device='" << device() << "'";
  os << ')';
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

}  // namespace tessera
