#include "tessera/nn/loss_modules.h"

namespace tessera::nn {
namespace F = functional;

LossModule::LossModule(const char* type, std::string r) : Module(type), reduction(std::move(r)) {
  TS_CHECK_VALUE(reduction == "mean" || reduction == "sum" || reduction == "none" ||
                     (reduction == "batchmean" && type_name() == "KLDivLoss"),
                 type, ": reduction must be 'mean', 'sum' or 'none', got '", reduction, "'");
}

CrossEntropyLossImpl::CrossEntropyLossImpl(const F::CrossEntropyOptions& o)
    : LossModule("CrossEntropyLoss", o.reduction), ignore_index(o.ignore_index), label_smoothing(o.label_smoothing) {
  TS_CHECK_VALUE(label_smoothing >= 0 && label_smoothing <= 1,
                 "CrossEntropyLoss: label_smoothing must be between 0 and 1, got ", label_smoothing);
  weight = register_buffer("weight", o.weight);
}
Tensor CrossEntropyLossImpl::forward(const Tensor& input, const Tensor& target) {
  return F::cross_entropy(input, target, {.weight = weight, .ignore_index = ignore_index, .reduction = reduction,
                                          .label_smoothing = label_smoothing});
}

NLLLossImpl::NLLLossImpl(Tensor w, int64_t ignore, std::string r)
    : LossModule("NLLLoss", std::move(r)), ignore_index(ignore) {
  weight = register_buffer("weight", std::move(w));
}
Tensor NLLLossImpl::forward(const Tensor& input, const Tensor& target) {
  return F::nll_loss(input, target, weight, ignore_index, reduction);
}

Tensor MSELossImpl::forward(const Tensor& input, const Tensor& target) { return F::mse_loss(input, target, reduction); }
Tensor L1LossImpl::forward(const Tensor& input, const Tensor& target) { return F::l1_loss(input, target, reduction); }
Tensor SmoothL1LossImpl::forward(const Tensor& input, const Tensor& target) {
  return F::smooth_l1_loss(input, target, reduction, beta);
}

BCELossImpl::BCELossImpl(Tensor w, std::string r) : LossModule("BCELoss", std::move(r)) {
  weight = register_buffer("weight", std::move(w));
}
Tensor BCELossImpl::forward(const Tensor& input, const Tensor& target) {
  return F::binary_cross_entropy(input, target, weight, reduction);
}

BCEWithLogitsLossImpl::BCEWithLogitsLossImpl(Tensor w, std::string r, Tensor pw)
    : LossModule("BCEWithLogitsLoss", std::move(r)) {
  weight = register_buffer("weight", std::move(w));
  pos_weight = register_buffer("pos_weight", std::move(pw));
}
Tensor BCEWithLogitsLossImpl::forward(const Tensor& input, const Tensor& target) {
  return F::binary_cross_entropy_with_logits(input, target, weight, pos_weight, reduction);
}

Tensor KLDivLossImpl::forward(const Tensor& input, const Tensor& target) {
  return F::kl_div(input, target, reduction, log_target);
}

}  // namespace tessera::nn
