// examples/autograd.cpp: gradients, a tiny fit, and the tools for checking and debugging them.
#include <iostream>

#include "tessera/tessera.h"

using namespace tessera;

int main() {
  // d/dx of sum(x^3) is 3x^2; grad() gives it without touching x.grad().
  Tensor x = tensor({1., 2., 3.}).requires_grad_();
  Tensor y = (x * x * x).sum();
  y.backward();
  std::cout << "dy/dx = " << x.grad() << "\n";  // tensor([ 3., 12., 27.])

  // Fit w in y = w * t to data made with w = 2, by plain gradient descent.
  manual_seed(0);
  Tensor t = randn({100}), target = t * 2.0;
  Tensor w = zeros({1}).requires_grad_();
  for (int step = 0; step < 50; ++step) {
    Tensor loss = ops::square(w * t - target).mean();
    w.set_grad({});
    loss.backward();
    autograd::NoGradGuard no_grad;  // updates are not part of the graph
    w.sub_(w.grad() * 0.1);
  }
  std::cout << "fitted w = " << w.item<float>() << "\n";

  // Second derivatives: create_graph keeps the backward pass differentiable.
  Tensor a = tensor({0.5}, {dtype::float64}).requires_grad_();
  Tensor da = autograd::grad({ops::sin(a).sum()}, {a}, {}, false, /*create_graph=*/true)[0];
  Tensor dda = autograd::grad({da.sum()}, {a})[0];
  std::cout << "d2/da2 sin(a) = " << dda.item<double>() << " (= -sin(0.5))\n";

  // Check a function's gradients against finite differences (float64 inputs).
  bool ok = autograd::gradcheck([](const std::vector<Tensor>& in) { return std::vector<Tensor>{ops::softmax(in[0], 1)}; },
                                {randn({2, 3}, {dtype::float64}).requires_grad_()});
  std::cout << "gradcheck(softmax): " << (ok ? "ok" : "mismatch") << "\n";

  // Anomaly mode names the op whose backward produced NaN/Inf, and where it was called.
  autograd::DetectAnomalyGuard anomaly;
  Tensor z = tensor({0.}).requires_grad_();
  try {
    ops::sqrt(z).sum().backward();
  } catch (const ValueError& e) {
    std::cout << "anomaly: " << std::string(e.what()).substr(0, 55) << "...\n";
  }
  return ok ? 0 : 1;
}
