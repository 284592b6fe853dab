#pragma once
// Loss functions (torch.nn.functional's). reduction: "mean" (default), "sum" or "none".
#include <string>

#include "tessera/core/tensor.h"

namespace tessera::nn::functional {

struct CrossEntropyOptions {
  Tensor weight{};            // [C] per-class weights, or undefined
  int64_t ignore_index = -100;  // targets equal to this contribute nothing (class-index targets)
  std::string reduction = "mean";
  double label_smoothing = 0.0;
};
// input: logits [N, C] or [N, C, d1, ...]; target: class indices (integer, [N] or [N, d1, ...])
// or class probabilities (floating, input's shape).
Tensor cross_entropy(const Tensor& input, const Tensor& target, const CrossEntropyOptions& o = {});
// input: log-probabilities; target: class indices.
Tensor nll_loss(const Tensor& input, const Tensor& target, const Tensor& weight = {}, int64_t ignore_index = -100,
                const std::string& reduction = "mean");
Tensor mse_loss(const Tensor& input, const Tensor& target, const std::string& reduction = "mean");
Tensor l1_loss(const Tensor& input, const Tensor& target, const std::string& reduction = "mean");
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, const std::string& reduction = "mean", double beta = 1.0);
// input: probabilities in [0, 1].
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight = {},
                            const std::string& reduction = "mean");
// input: logits (numerically stable form); pos_weight [C] scales the positive term.
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, const Tensor& weight = {},
                                        const Tensor& pos_weight = {}, const std::string& reduction = "mean");
// input: log-probabilities; target: probabilities (or log-probabilities with log_target).
// reduction also accepts "batchmean" (sum / batch size, the mathematically correct KL).
Tensor kl_div(const Tensor& input, const Tensor& target, const std::string& reduction = "mean", bool log_target = false);

}  // namespace tessera::nn::functional
