#pragma once
// The node at a leaf: adds the incoming gradient into the leaf's .grad.
#include "tessera/autograd/autograd.h"

namespace tessera::autograd {

class AccumulateGrad : public Node {
 public:
  explicit AccumulateGrad(const Tensor& leaf) : leaf_(leaf) {}
  std::vector<Tensor> apply(const std::vector<Tensor>& grads) override;
  std::string name() const override { return "AccumulateGrad"; }
  // Saves nothing, so it stays usable after a backward pass: a new graph may reuse it while an
  // old one is still alive.
  void release() override {}
  const Tensor& leaf() const { return leaf_; }

 private:
  Tensor leaf_;
};

}  // namespace tessera::autograd
