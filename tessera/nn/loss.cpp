#include "tessera/nn/loss.h"

#include "tessera/ops/autocast.h"
#include "tessera/ops/ops.h"

namespace tessera::nn::functional {

namespace {
Tensor reduce(const Tensor& l, const std::string& reduction, const char* op) {
  if (reduction == "mean") return l.mean();
  if (reduction == "sum") return l.sum();
  if (reduction == "none") return l;
  throw ValueError(::tessera::detail::str(op, ": reduction must be 'mean', 'sum' or 'none', got '", reduction, "'"));
}
void check_same_shape(const char* op, const Tensor& a, const Tensor& b) {
  TS_CHECK_SHAPE(a.shape() == b.shape(), op, ": input shape ", a.shape(), " and target shape ", b.shape(), " differ");
  TS_CHECK_DTYPE(a.is_floating_point(), op, ": expected a floating-point input, got ", a.dtype());
}
// Moves the class dim (1) last and flattens: [N, C, d...] -> [N*d..., C].
Tensor classes_last(const Tensor& x) {
  if (x.dim() == 2) return x;
  Shape perm{0};
  for (int64_t d = 2; d < x.dim(); ++d) perm.push_back(d);
  perm.push_back(1);
  return x.permute(perm).reshape({-1, x.size(1)});
}
}  // namespace

Tensor nll_loss(const Tensor& input_, const Tensor& target_, const Tensor& weight_, int64_t ignore_index,
                const std::string& reduction) {
  autocast::Operands ac("nll_loss", {&input_, &target_, &weight_});
  const Tensor &input = ac[0], &target = ac[1], &weight = ac[2];
  TS_CHECK_SHAPE(input.dim() >= 2, "nll_loss: expected input [N, C, ...], got ", input.shape());
  TS_CHECK_DTYPE(is_integral(target.dtype()), "nll_loss: expected integer class indices as target, got ",
                 target.dtype());
  Shape want = input.shape();
  want.erase(want.begin() + 1);
  TS_CHECK_SHAPE(target.shape() == want, "nll_loss: expected target of shape ", want, " for input ", input.shape(),
                 ", got ", target.shape());
  int64_t C = input.size(1);
  Tensor logp = classes_last(input), t = target.reshape({-1}).to(DType::Int64);
  Tensor valid = t != ignore_index;
  if (t.numel()) {
    Tensor bad = ops::logical_and(valid, ops::logical_or(t < int64_t(0), t >= C));
    TS_CHECK_INDEX(!bad.any().item<bool>(), "nll_loss: target class ", ops::masked_select(t, bad).to_vector()[0],
                   " is out of range for ", C, " classes");
  }
  Tensor safe = ops::where(valid, t, zeros({}, {DType::Int64, input.device()}));
  Tensor picked = -ops::gather(logp, 1, safe.unsqueeze(1)).squeeze(1);
  Tensor w = valid.to(input.dtype());
  if (weight.defined()) {
    TS_CHECK_SHAPE(weight.dim() == 1 && weight.size(0) == C, "nll_loss: weight must be [", C, "], got ", weight.shape());
    w = w * ops::index_select(weight.to(input.dtype()), 0, safe);
  }
  // Ignored rows are selected away (not multiplied by 0), so that their gradient is exactly 0 even
  // when every row is ignored and the mean divides by a zero total weight (PyTorch's behaviour).
  Tensor l = ops::where(valid, picked * w, zeros({}, {input.dtype(), input.device()}));
  if (reduction == "mean") return l.sum() / w.sum();
  if (reduction == "none") return l.view(target.shape());
  return reduce(l, reduction, "nll_loss");
}

Tensor cross_entropy(const Tensor& input_, const Tensor& target_, const CrossEntropyOptions& o) {
  autocast::Operands ac("cross_entropy", {&input_, &target_});
  const Tensor &input = ac[0], &target = ac[1];
  TS_CHECK_SHAPE(input.dim() >= 2, "cross_entropy: expected input [N, C, ...], got ", input.shape());
  TS_CHECK_DTYPE(input.is_floating_point(), "cross_entropy: expected floating-point logits, got ", input.dtype());
  TS_CHECK_VALUE(o.label_smoothing >= 0 && o.label_smoothing <= 1, "cross_entropy: label_smoothing must be in "
                 "[0, 1], got ", o.label_smoothing);
  int64_t C = input.size(1);
  Tensor logp = ops::log_softmax(input, 1);
  Tensor w = o.weight.defined() ? o.weight.to(input.dtype()) : Tensor();
  if (w.defined())
    TS_CHECK_SHAPE(w.dim() == 1 && w.size(0) == C, "cross_entropy: weight must be [", C, "], got ", w.shape());
  double eps = o.label_smoothing;
  if (target.is_floating_point()) {  // class probabilities
    TS_CHECK_SHAPE(target.shape() == input.shape(), "cross_entropy: probability targets must have the input's shape ",
                   input.shape(), ", got ", target.shape());
    Tensor p = eps > 0 ? target * (1 - eps) + eps / double(C) : target;
    Tensor lp = classes_last(logp), pp = classes_last(p.to(input.dtype()));
    Tensor terms = w.defined() ? lp * pp * w : lp * pp;
    Tensor l = -terms.sum({1});
    if (o.reduction == "none") {
      Shape s = input.shape();
      s.erase(s.begin() + 1);
      return l.view(s);
    }
    return reduce(l, o.reduction, "cross_entropy");
  }
  Tensor nll = nll_loss(logp, target, w, o.ignore_index, "none");
  if (eps == 0) {
    if (o.reduction == "none") return nll;
    Tensor t = target.reshape({-1}).to(DType::Int64);
    Tensor valid = t != o.ignore_index;
    Tensor wsum = w.defined() ? (ops::index_select(w, 0, ops::where(valid, t, zeros({}, {DType::Int64, input.device()}))) *
                                 valid.to(input.dtype())).sum()
                              : valid.to(input.dtype()).sum();
    return o.reduction == "mean" ? nll.sum() / wsum : reduce(nll, o.reduction, "cross_entropy");
  }
  // Label smoothing (PyTorch's form): (1 - eps) * nll + eps * smooth, smooth = -sum_c w_c logp_c / C.
  Tensor lp = classes_last(logp);
  Tensor smooth = -(w.defined() ? lp * w : lp).sum({1}) / double(C);
  Tensor t = target.reshape({-1}).to(DType::Int64);
  Tensor valid = (t != o.ignore_index).to(input.dtype());
  smooth = ops::where(t != o.ignore_index, smooth, zeros({}, {input.dtype(), input.device()}));
  Tensor l = nll.reshape({-1}) * (1 - eps) + smooth * eps;
  if (o.reduction == "none") return l.view(target.shape());
  if (o.reduction == "sum") return l.sum();
  Tensor wsum = w.defined() ? (ops::index_select(w, 0, ops::where(t != o.ignore_index, t, zeros({}, {DType::Int64, input.device()}))) * valid).sum()
                            : valid.sum();
  TS_CHECK_VALUE(o.reduction == "mean", "cross_entropy: reduction must be 'mean', 'sum' or 'none', got '", o.reduction, "'");
  return l.sum() / wsum;
}

Tensor mse_loss(const Tensor& input_, const Tensor& target_, const std::string& reduction) {
  autocast::Operands ac("mse_loss", {&input_, &target_});
  const Tensor &input = ac[0], &target = ac[1];
  check_same_shape("mse_loss", input, target);
  return reduce(ops::square(input - target), reduction, "mse_loss");
}

Tensor l1_loss(const Tensor& input_, const Tensor& target_, const std::string& reduction) {
  autocast::Operands ac("l1_loss", {&input_, &target_});
  const Tensor &input = ac[0], &target = ac[1];
  check_same_shape("l1_loss", input, target);
  return reduce(ops::abs(input - target), reduction, "l1_loss");
}

Tensor smooth_l1_loss(const Tensor& input_, const Tensor& target_, const std::string& reduction, double beta) {
  autocast::Operands ac("smooth_l1_loss", {&input_, &target_});
  const Tensor &input = ac[0], &target = ac[1];
  check_same_shape("smooth_l1_loss", input, target);
  TS_CHECK_VALUE(beta >= 0, "smooth_l1_loss: beta must be non-negative, got ", beta);
  Tensor d = ops::abs(input - target);
  Tensor l = beta == 0 ? d : ops::where(d < beta, ops::square(d) * (0.5 / beta), d - 0.5 * beta);
  return reduce(l, reduction, "smooth_l1_loss");
}

Tensor binary_cross_entropy(const Tensor& input_, const Tensor& target_, const Tensor& weight_,
                            const std::string& reduction) {
  autocast::Operands ac("binary_cross_entropy", {&input_, &target_, &weight_});
  const Tensor &input = ac[0], &target = ac[1], &weight = ac[2];
  check_same_shape("binary_cross_entropy", input, target);
  if (input.numel())
    TS_CHECK_VALUE(input.min().item<double>() >= 0 && input.max().item<double>() <= 1,
                   "binary_cross_entropy: all elements of input should be between 0 and 1");
  // log is clamped at -100, as in PyTorch, so that a 0 or 1 input gives a finite loss.
  Tensor l = -(target * ops::clamp(ops::log(input), -100.0, std::nullopt) +
               (1.0 - target) * ops::clamp(ops::log(1.0 - input), -100.0, std::nullopt));
  if (weight.defined()) l = l * weight;
  return reduce(l, reduction, "binary_cross_entropy");
}

Tensor binary_cross_entropy_with_logits(const Tensor& input_, const Tensor& target_, const Tensor& weight_,
                                        const Tensor& pos_weight_, const std::string& reduction) {
  autocast::Operands ac("binary_cross_entropy_with_logits", {&input_, &target_, &weight_, &pos_weight_});
  const Tensor &input = ac[0], &target = ac[1], &weight = ac[2], &pos_weight = ac[3];
  check_same_shape("binary_cross_entropy_with_logits", input, target);
  // log(sigmoid(x)) = -softplus(-x), log(1 - sigmoid(x)) = -softplus(x): stable for any x.
  Tensor pos = ops::softplus(-input), neg = ops::softplus(input);
  Tensor l = pos_weight.defined() ? target * pos * pos_weight + (1.0 - target) * neg : target * pos + (1.0 - target) * neg;
  if (weight.defined()) l = l * weight;
  return reduce(l, reduction, "binary_cross_entropy_with_logits");
}

Tensor kl_div(const Tensor& input_, const Tensor& target_, const std::string& reduction, bool log_target) {
  autocast::Operands ac("kl_div", {&input_, &target_});
  const Tensor &input = ac[0], &target = ac[1];
  check_same_shape("kl_div", input, target);
  Tensor l = log_target ? ops::exp(target) * (target - input)
                        : ops::where(target > 0.0, target * (ops::log(target) - input), zeros_like(target));
  if (reduction == "batchmean") return l.sum() / double(input.dim() ? input.size(0) : 1);
  return reduce(l, reduction, "kl_div");
}

}  // namespace tessera::nn::functional
