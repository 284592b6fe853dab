#pragma once
// The node at a leaf: adds the incoming gradient into the leaf's .grad.
#include "tessera/autograd/autograd.h"

namespace tessera::autograd {

class AccumulateGrad : public Node {
 public:
  explicit AccumulateGrad(const Tensor& leaf) : leaf_(leaf) {}
  std::vector<Tensor> apply(const std::vector<Tensor>& grads) override;
  std::string name() const override { return "AccumulateGrad"; }
  const Tensor& leaf() const { return leaf_; }

 private:
  Tensor leaf_;
};

}  // namespace tessera::autograd
