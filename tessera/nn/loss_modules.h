#pragma once
// The losses as modules (torch.nn.CrossEntropyLoss and the rest): settings kept, forward(input,
// target) calls the function of tessera/nn/loss.h. Class weights (and BCEWithLogitsLoss's
// pos_weight) are buffers, as in PyTorch: they move with to() and are in the state dict when given.
#include <string>

#include "tessera/nn/holder.h"
#include "tessera/nn/loss.h"

namespace tessera::nn {

// reduction: "mean" (default), "sum" or "none".
class LossModule : public Module {
 public:
  LossModule(const char* type, std::string reduction);
  virtual Tensor forward(const Tensor& input, const Tensor& target) = 0;
  std::string reduction;  // (PyTorch prints no settings for its losses: Module's empty extra_repr)
};

class CrossEntropyLossImpl : public LossModule {
 public:
  explicit CrossEntropyLossImpl(const functional::CrossEntropyOptions& o = {});
  Tensor forward(const Tensor& input, const Tensor& target) override;
  Tensor weight;
  int64_t ignore_index;
  double label_smoothing;
};

class NLLLossImpl : public LossModule {
 public:
  explicit NLLLossImpl(Tensor weight = {}, int64_t ignore_index = -100, std::string reduction = "mean");
  Tensor forward(const Tensor& input, const Tensor& target) override;
  Tensor weight;
  int64_t ignore_index;
};

class MSELossImpl : public LossModule {
 public:
  explicit MSELossImpl(std::string reduction = "mean") : LossModule("MSELoss", std::move(reduction)) {}
  Tensor forward(const Tensor& input, const Tensor& target) override;
};

class L1LossImpl : public LossModule {
 public:
  explicit L1LossImpl(std::string reduction = "mean") : LossModule("L1Loss", std::move(reduction)) {}
  Tensor forward(const Tensor& input, const Tensor& target) override;
};

class SmoothL1LossImpl : public LossModule {
 public:
  explicit SmoothL1LossImpl(std::string reduction = "mean", double beta = 1.0)
      : LossModule("SmoothL1Loss", std::move(reduction)), beta(beta) {}
  Tensor forward(const Tensor& input, const Tensor& target) override;
  double beta;
};

class BCELossImpl : public LossModule {
 public:
  explicit BCELossImpl(Tensor weight = {}, std::string reduction = "mean");
  Tensor forward(const Tensor& input, const Tensor& target) override;
  Tensor weight;
};

class BCEWithLogitsLossImpl : public LossModule {
 public:
  explicit BCEWithLogitsLossImpl(Tensor weight = {}, std::string reduction = "mean", Tensor pos_weight = {});
  Tensor forward(const Tensor& input, const Tensor& target) override;
  Tensor weight, pos_weight;
};

class KLDivLossImpl : public LossModule {
 public:
  explicit KLDivLossImpl(std::string reduction = "mean", bool log_target = false)
      : LossModule("KLDivLoss", std::move(reduction)), log_target(log_target) {}
  Tensor forward(const Tensor& input, const Tensor& target) override;
  bool log_target;
};

TESSERA_NN_NAME(CrossEntropyLoss); TESSERA_NN_NAME(NLLLoss); TESSERA_NN_NAME(MSELoss); TESSERA_NN_NAME(L1Loss);
TESSERA_NN_NAME(SmoothL1Loss); TESSERA_NN_NAME(BCELoss); TESSERA_NN_NAME(BCEWithLogitsLoss); TESSERA_NN_NAME(KLDivLoss);

}  // namespace tessera::nn
