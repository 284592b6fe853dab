// ONNX's operators on tensors of strings, which tessera's tensors do not hold: the interpreter
// carries them as StringTensor values (onnx_control.cpp). Case changes and whitespace splitting
// act on ASCII characters; other UTF-8 bytes pass through unchanged.
#include <algorithm>
#include <cctype>
#include <regex>
#include <unordered_set>
#include <vector>

#include "tessera/io/onnx_internal.h"
#include "tessera/ops/ops.h"

namespace tessera::io::internal {

namespace {

using Values = std::vector<Value>;

const StringTensor& strings_of(const Values& in, size_t k, const std::string& op) {
  TS_CHECK_VALUE(k < in.size() && in[k].is_strings(), op, ": input ", k, " must be a tensor of strings");
  return *in[k].strings;
}

std::string attr_s(const onnx::NodeProto& p, const std::string& name, const std::string& dflt) {
  for (auto& a : p.attribute())
    if (a.name() == name) return a.s();
  return dflt;
}

const onnx::AttributeProto* find_attr(const onnx::NodeProto& p, const std::string& name) {
  for (auto& a : p.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

// f(i, j) for every element of the broadcast shape of a and b, with i and j their flat positions.
template <class F>
Shape broadcast_each(const Shape& a, const Shape& b, F&& f) {
  Shape s = broadcast_shapes(a, b, "strings");
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  for (int64_t flat = 0; flat < n; ++flat) {
    int64_t rest = flat, ia = 0, ib = 0, sa = 1, sb = 1;
    for (int64_t d = int64_t(s.size()) - 1; d >= 0; --d) {
      int64_t c = rest % s[size_t(d)];
      rest /= s[size_t(d)];
      int64_t da = d - (int64_t(s.size()) - int64_t(a.size())), db = d - (int64_t(s.size()) - int64_t(b.size()));
      if (da >= 0) {
        ia += (a[size_t(da)] == 1 ? 0 : c) * sa;
        sa *= a[size_t(da)];
      }
      if (db >= 0) {
        ib += (b[size_t(db)] == 1 ? 0 : c) * sb;
        sb *= b[size_t(db)];
      }
    }
    f(ia, ib);
  }
  return s;
}

// Python's str.split: on runs of whitespace (no delimiter; ends trimmed) or on each delimiter, at
// most maxsplit times (negative: no limit).
std::vector<std::string> split(const std::string& s, const std::string& delim, int64_t maxsplit) {
  std::vector<std::string> parts;
  if (delim.empty()) {
    size_t i = 0;
    while (true) {
      while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
      if (i >= s.size()) break;
      if (maxsplit >= 0 && int64_t(parts.size()) == maxsplit) {
        size_t end = s.size();
        while (end > i && std::isspace(static_cast<unsigned char>(s[end - 1]))) --end;
        parts.push_back(s.substr(i, end - i));
        break;
      }
      size_t j = i;
      while (j < s.size() && !std::isspace(static_cast<unsigned char>(s[j]))) ++j;
      parts.push_back(s.substr(i, j - i));
      i = j;
    }
    return parts;
  }
  size_t start = 0;
  while (true) {
    size_t at = s.find(delim, start);
    if (at == std::string::npos || (maxsplit >= 0 && int64_t(parts.size()) == maxsplit)) break;
    parts.push_back(s.substr(start, at - start));
    start = at + delim.size();
  }
  parts.push_back(s.substr(start));
  return parts;
}

std::string change_case(std::string s, const std::string& action) {
  if (action == "LOWER")
    for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (action == "UPPER")
    for (char& c : s) c = char(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// StringNormalizer: stopwords removed (compared as written when case-sensitive, else after the
// case change), the case changed; a 1-D or [1, N] input loses its empty strings (all empty: [""]).
StringTensor normalize(const onnx::NodeProto& p, const StringTensor& x) {
  const std::string action = attr_s(p, "case_change_action", "NONE");
  TS_CHECK_VALUE(action == "NONE" || action == "LOWER" || action == "UPPER", "case_change_action '", action,
                 "' is not NONE, LOWER or UPPER");
  TS_CHECK_SHAPE(x.shape.size() == 1 || x.shape.size() == 2, "StringNormalizer needs a 1-D or 2-D input, got ",
                 x.shape);
  bool sensitive = false;
  if (auto* a = find_attr(p, "is_case_sensitive")) sensitive = a->i() != 0;
  std::unordered_set<std::string> stops;
  if (auto* a = find_attr(p, "stopwords"))
    for (auto& w : a->strings()) stops.insert(sensitive ? w : change_case(w, action == "NONE" ? "NONE" : action));
  StringTensor y = x;
  for (auto& v : y.values) {
    if (sensitive && stops.count(v)) v.clear();
    v = change_case(v, action);
    if (!sensitive && stops.count(v)) v.clear();
  }
  const bool vector = x.shape.size() == 1 || x.shape[0] == 1;
  if (!vector) return y;
  std::vector<std::string> kept;
  for (auto& v : y.values)
    if (!v.empty()) kept.push_back(v);
  if (kept.empty()) kept.push_back("");
  y.shape = x.shape.size() == 1 ? Shape{int64_t(kept.size())} : Shape{1, int64_t(kept.size())};
  y.values = kept;
  return y;
}

}  // namespace

const std::vector<std::string>& string_op_names() {
  static const std::vector<std::string> ops{"StringConcat", "StringSplit", "StringNormalizer", "RegexFullMatch"};
  return ops;
}

bool is_string_op(const onnx::NodeProto& p) {
  const auto& ops = string_op_names();
  return std::find(ops.begin(), ops.end(), p.op_type()) != ops.end();
}

Values run_string_op(const onnx::NodeProto& p, const Values& in, Device dev) {
  const std::string& op = p.op_type();
  if (op == "Identity") return {in.at(0)};
  if (op == "Equal") {
    const StringTensor &a = strings_of(in, 0, op), &b = strings_of(in, 1, op);
    std::vector<uint8_t> eq;
    Shape s = broadcast_each(a.shape, b.shape,
                             [&](int64_t i, int64_t j) { eq.push_back(a.values[size_t(i)] == b.values[size_t(j)]); });
    return {Value(from_vector(eq).to(DType::Bool).reshape(s).to(dev))};
  }
  if (op == "StringConcat") {
    const StringTensor &a = strings_of(in, 0, op), &b = strings_of(in, 1, op);
    StringTensor y;
    y.shape = broadcast_each(a.shape, b.shape, [&](int64_t i, int64_t j) {
      y.values.push_back(a.values[size_t(i)] + b.values[size_t(j)]);
    });
    return {Value::of_strings(std::move(y))};
  }
  if (op == "StringSplit") {
    const StringTensor& x = strings_of(in, 0, op);
    const std::string delim = attr_s(p, "delimiter", "");
    auto* m = find_attr(p, "maxsplit");
    int64_t maxsplit = m ? m->i() : -1;
    std::vector<std::vector<std::string>> parts;
    size_t widest = 0;
    for (const auto& v : x.values) {
      parts.push_back(split(v, delim, maxsplit));
      widest = std::max(widest, parts.back().size());
    }
    StringTensor y;
    y.shape = x.shape;
    y.shape.push_back(int64_t(widest));
    std::vector<int64_t> counts;
    for (auto& row : parts) {
      counts.push_back(int64_t(row.size()));
      row.resize(widest);  // padded with ""
      y.values.insert(y.values.end(), row.begin(), row.end());
    }
    return {Value::of_strings(std::move(y)), Value(from_vector(counts).reshape(x.shape).to(dev))};
  }
  if (op == "StringNormalizer") return {Value::of_strings(normalize(p, strings_of(in, 0, op)))};
  // RegexFullMatch (ONNX names RE2's syntax; std::regex's ECMAScript grammar reads the common subset)
  const StringTensor& x = strings_of(in, 0, op);
  std::regex pattern;
  try {
    pattern = std::regex(attr_s(p, "pattern", ""), std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    throw ValueError(::tessera::detail::str("RegexFullMatch: invalid pattern '", attr_s(p, "pattern", ""), "': ",
                                            e.what()));
  }
  std::vector<uint8_t> match;
  for (const auto& v : x.values) match.push_back(std::regex_match(v, pattern));
  return {Value(from_vector(match).to(DType::Bool).reshape(x.shape).to(dev))};
}

}  // namespace tessera::io::internal
