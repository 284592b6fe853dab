// Ops composed of other ops (autograd flows through them): the trigonometric and logarithmic
// variants, Python's % and //, lerp, outer, diag, trace, meshgrid and einsum.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "tessera/ops/ops.h"

namespace tessera::ops {

namespace {
constexpr double kLn2 = 0.6931471805599453, kLn10 = 2.302585092994046;

Tensor eye_like(int64_t n, const Tensor& like) {
  return eye(n, std::nullopt, {like.is_floating_point() ? like.dtype() : DType::Float32, like.device()}).to(like.dtype());
}
}  // namespace

Tensor tan(const Tensor& x) { return sin(x) / cos(x); }
Tensor atan(const Tensor& x) { return atan2(x, ones_like(x)); }
Tensor asin(const Tensor& x) { return atan2(x, sqrt(1.0 - x * x)); }
Tensor acos(const Tensor& x) { return atan2(sqrt(1.0 - x * x), x); }
Tensor sinh(const Tensor& x) { return (expm1(x) - expm1(neg(x))) * 0.5; }
Tensor cosh(const Tensor& x) { return (exp(x) + exp(neg(x))) * 0.5; }
Tensor log2(const Tensor& x) { return log(x) / kLn2; }
Tensor log10(const Tensor& x) { return log(x) / kLn10; }
Tensor exp2(const Tensor& x) { return exp(x * kLn2); }

Tensor remainder(const Tensor& a, const Tensor& b) {
  Tensor r = fmod(a, b);
  Tensor fix = logical_and(r != 0.0, logical_xor(r < 0.0, b < 0.0));
  return where(fix, r + b, r);
}

Tensor floor_divide(const Tensor& a, const Tensor& b) {
  if (a.is_floating_point() || b.is_floating_point()) return floor(a / b);
  Tensor q = (a - remainder(a, b)) / b;  // exact: the numerator is a multiple of b
  return round(q).to(result_type(a, b));
}

Tensor lerp(const Tensor& x, const Tensor& end, const Tensor& weight) { return x + (end - x) * weight; }

Tensor outer(const Tensor& a, const Tensor& b) {
  TS_CHECK_SHAPE(a.dim() == 1 && b.dim() == 1, "outer: expected two 1-D tensors, got shapes ", a.shape(), " and ",
                 b.shape());
  return a.unsqueeze(1) * b.unsqueeze(0);
}

Tensor diag(const Tensor& x, int64_t d) {
  if (x.dim() == 1) {
    Tensor square = eye_like(x.size(0), x) * x.unsqueeze(0);  // x on the main diagonal
    const int64_t a = d < 0 ? -d : d;
    // (before, after) pairs from the last dim: columns, then rows
    return pad(square, d >= 0 ? Shape{a, 0, 0, a} : Shape{0, a, a, 0});
  }
  TS_CHECK_SHAPE(x.dim() == 2, "diag: expected a 1-D or 2-D tensor, got shape ", x.shape());
  const int64_t rows = x.size(0), cols = x.size(1);
  Tensor m = d >= 0 ? x.narrow(1, std::min(d, cols), std::max<int64_t>(cols - d, 0))
                    : x.narrow(0, std::min(-d, rows), std::max<int64_t>(rows + d, 0));
  const int64_t k = std::min(m.size(0), m.size(1));
  return einsum("ii->i", {m.narrow(0, 0, k).narrow(1, 0, k)});
}

Tensor matrix_trace(const Tensor& x) {
  TS_CHECK_SHAPE(x.dim() == 2, "trace: expected a 2-D tensor, got shape ", x.shape());
  return sum(diag(x));
}

std::vector<Tensor> meshgrid(const std::vector<Tensor>& tensors, const std::string& indexing) {
  TS_CHECK_VALUE(indexing == "ij" || indexing == "xy", "meshgrid: indexing must be 'ij' or 'xy', got '", indexing, "'");
  std::vector<Tensor> t = tensors;
  const bool xy = indexing == "xy" && t.size() >= 2;
  if (xy) std::swap(t[0], t[1]);
  Shape shape;
  for (const Tensor& v : t) shape.push_back(v.numel());
  std::vector<Tensor> grids;
  for (size_t i = 0; i < t.size(); ++i) {
    Shape view(t.size(), 1);
    view[i] = -1;
    grids.push_back(t[i].reshape(view).expand(shape));
  }
  if (xy) std::swap(grids[0], grids[1]);  // the first two inputs' grids, back in their order
  return grids;
}

// --- einsum --------------------------------------------------------------------------------------
namespace {
using Term = std::string;

// The operands' subscripts with "..." spelled out in free letters, and the output's.
std::pair<std::vector<Term>, Term> parse_einsum(const std::string& equation, const std::vector<Tensor>& operands) {
  std::string eq;
  for (char c : equation)
    if (c != ' ') eq += c;
  const size_t arrow = eq.find("->");
  const std::string lhs = eq.substr(0, arrow), rhs = arrow == std::string::npos ? "" : eq.substr(arrow + 2);
  std::vector<Term> terms;
  for (size_t start = 0;;) {
    size_t comma = lhs.find(',', start);
    terms.push_back(lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  TS_CHECK_VALUE(terms.size() == operands.size(), "einsum: the equation has ", terms.size(), " operands, ",
                 operands.size(), " tensors were given");
  std::set<char> used;
  for (char c : eq)
    if (std::isalpha(static_cast<unsigned char>(c))) used.insert(c);
  std::string free;
  for (char c = 'A'; c <= 'z'; ++c)
    if (std::isalpha(static_cast<unsigned char>(c)) && !used.count(c)) free += c;
  std::string ell;  // the letters "..." stands for (the most dims any operand gives it)
  auto ell_dims = [](const Term& term, const Tensor& op) { return op.dim() - int64_t(term.size() - 3); };
  for (size_t k = 0; k < terms.size(); ++k) {
    const Term& term = terms[k];
    for (char c : term)
      TS_CHECK_VALUE(std::isalpha(static_cast<unsigned char>(c)) || c == '.', "einsum: invalid subscript '", term,
                     "' (letters and '...' only)");
    if (term.find("...") != std::string::npos) {
      int64_t n = ell_dims(term, operands[k]);
      TS_CHECK_VALUE(n >= 0, "einsum: operand with shape ", operands[k].shape(), " has fewer dims than '", term,
                     "' names");
      if (n > int64_t(ell.size())) ell = free.substr(0, size_t(n));
    } else {
      TS_CHECK_VALUE(int64_t(term.size()) == operands[k].dim(), "einsum: subscript '", term, "' names ", term.size(),
                     " dims, the operand has shape ", operands[k].shape());
    }
  }
  std::vector<Term> out_terms;
  for (size_t k = 0; k < terms.size(); ++k) {
    Term t = terms[k];
    size_t at = t.find("...");
    if (at != std::string::npos) {
      int64_t n = ell_dims(t, operands[k]);
      t.replace(at, 3, ell.substr(ell.size() - size_t(n)));
    }
    out_terms.push_back(t);
  }
  Term out;
  if (arrow != std::string::npos) {
    out = rhs;
    size_t at = out.find("...");
    if (at != std::string::npos) out.replace(at, 3, ell);
  } else {  // implicit output: "..." first, then the letters that appear once, sorted
    std::map<char, int> counts;
    for (const Term& t : out_terms)
      for (char c : t) ++counts[c];
    out = ell;
    std::string once;
    for (auto& [c, k] : counts)
      if (k == 1 && ell.find(c) == std::string::npos) once += c;
    std::sort(once.begin(), once.end());
    out += once;
  }
  for (char c : out) {
    bool found = false;
    for (const Term& t : out_terms) found = found || t.find(c) != std::string::npos;
    TS_CHECK_VALUE(found, "einsum: output subscript '", c, "' does not appear in the inputs");
  }
  TS_CHECK_VALUE(std::set<char>(out.begin(), out.end()).size() == out.size(), "einsum: output subscript '", out,
                 "' repeats a letter");
  return {out_terms, out};
}

// The diagonal over repeated letters in one operand (ii -> i).
void take_diagonals(Tensor& op, Term& term) {
  for (;;) {
    size_t i = 0, j = std::string::npos;
    for (; i < term.size(); ++i) {
      j = term.find(term[i], i + 1);
      if (j != std::string::npos) break;
    }
    if (j == std::string::npos) return;
    const int64_t n = op.size(int64_t(i));
    TS_CHECK_VALUE(op.size(int64_t(j)) == n, "einsum: subscript '", term[i], "' has sizes ", n, " and ",
                   op.size(int64_t(j)), " in one operand");
    Shape shape(size_t(op.dim()), 1);
    shape[i] = shape[j] = n;
    op = sum(op * eye_like(n, op).reshape(shape), {int64_t(j)});
    term.erase(j, 1);
  }
}

// Sums the letters of term not in keep.
void sum_out(Tensor& op, Term& term, const std::set<char>& keep) {
  Shape dims;
  Term kept;
  for (size_t k = 0; k < term.size(); ++k) {
    if (keep.count(term[k])) kept += term[k];
    else dims.push_back(int64_t(k));
  }
  if (dims.empty()) return;
  op = sum(op, dims);
  term = kept;
}

// a (letters ta) times b (letters tb), summed over the shared letters not in keep, as one batched
// matmul.
std::pair<Tensor, Term> contract(const Tensor& a, const Term& ta, const Tensor& b, const Term& tb,
                                 const std::set<char>& keep) {
  Term batch, inner, left, right;
  for (char c : ta) {
    bool in_b = tb.find(c) != std::string::npos;
    if (in_b && keep.count(c)) batch += c;
    else if (in_b) inner += c;
    else left += c;
  }
  for (char c : tb)
    if (ta.find(c) == std::string::npos) right += c;
  std::map<char, int64_t> size;
  for (auto [t, op] : {std::pair<const Term*, const Tensor*>{&ta, &a}, {&tb, &b}})
    for (size_t k = 0; k < t->size(); ++k) {
      char c = (*t)[k];
      int64_t n = op->size(int64_t(k));
      auto it = size.find(c);
      TS_CHECK_VALUE(it == size.end() || it->second == n || n == 1 || it->second == 1, "einsum: subscript '", c,
                     "' has sizes ", it == size.end() ? 0 : it->second, " and ", n);
      size[c] = it == size.end() ? n : std::max(it->second, n);
    }
  auto positions = [](const Term& t, const Term& order) {
    Shape p;
    for (char c : order) p.push_back(int64_t(t.find(c)));
    return p;
  };
  auto sizes = [&](const Term& order) {
    Shape s;
    for (char c : order) s.push_back(size[c]);
    return s;
  };
  auto prod = [&](const Term& cs) {
    int64_t p = 1;
    for (char c : cs) p *= size[c];
    return p;
  };
  Tensor pa = ta.empty() ? a : a.permute(positions(ta, batch + left + inner)).expand(sizes(batch + left + inner));
  Tensor pb = tb.empty() ? b : b.permute(positions(tb, batch + inner + right)).expand(sizes(batch + inner + right));
  const int64_t nb = prod(batch), nl = prod(left), nk = prod(inner), nr = prod(right);
  Tensor out = matmul(pa.reshape({nb, nl, nk}), pb.reshape({nb, nk, nr}));
  return {out.reshape(sizes(batch + left + right)), batch + left + right};
}
}  // namespace

Tensor einsum(const std::string& equation, const std::vector<Tensor>& operands) {
  TS_CHECK_VALUE(!operands.empty(), "einsum: at least one operand is needed");
  auto [terms, out] = parse_einsum(equation, operands);
  std::vector<std::pair<Tensor, Term>> ops;
  for (size_t k = 0; k < operands.size(); ++k) {
    Tensor op = operands[k];
    Term t = terms[k];
    take_diagonals(op, t);
    ops.emplace_back(op, t);
  }
  // Letters needed after step k: the output's and those of the operands still to come.
  auto [acc, ta] = ops[0];
  for (size_t k = 1; k <= ops.size(); ++k) {
    std::set<char> later(out.begin(), out.end());
    for (size_t j = k + 1; j < ops.size(); ++j) later.insert(ops[j].second.begin(), ops[j].second.end());
    if (k == ops.size()) {
      sum_out(acc, ta, later);
      break;
    }
    auto [b, tb] = ops[k];
    std::set<char> keep = later;
    for (char c : ta)
      if (tb.find(c) == std::string::npos) keep.insert(c);
    for (char c : tb)
      if (ta.find(c) == std::string::npos) keep.insert(c);
    std::set<char> for_a = later, for_b = later;
    for_a.insert(tb.begin(), tb.end());
    sum_out(acc, ta, for_a);
    for_b.insert(ta.begin(), ta.end());
    sum_out(b, tb, for_b);
    std::tie(acc, ta) = contract(acc, ta, b, tb, keep);
  }
  if (out.empty()) return acc.reshape({});
  Shape perm;
  for (char c : out) perm.push_back(int64_t(ta.find(c)));
  return acc.permute(perm);
}

}  // namespace tessera::ops
