#pragma once
// Parameter initialization, in place, as torch.nn.init. Every function runs without recording
// gradients and returns its argument (a handle to the same data, so views like w[0] work).
#include <string>

#include "tessera/core/generator.h"
#include "tessera/core/tensor.h"

namespace tessera::nn::init {

// (fan_in, fan_out) of a weight: dims 1 and 0 times the receptive field (dims 2...).
std::pair<int64_t, int64_t> fans(const Tensor& w);
// The recommended gain of a nonlinearity: "linear", "conv2d", "sigmoid", "tanh", "relu",
// "leaky_relu" (with param = negative slope), "selu".
double calculate_gain(const std::string& nonlinearity, double param = 0.01);

Tensor uniform_(Tensor t, double lo = 0, double hi = 1, Generator* g = nullptr);
Tensor normal_(Tensor t, double mean = 0, double std = 1, Generator* g = nullptr);
Tensor constant_(Tensor t, double v);
Tensor zeros_(Tensor t);
Tensor ones_(Tensor t);
// Glorot: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)); normal with std gain * sqrt(2 / (fan_in + fan_out)).
Tensor xavier_uniform_(Tensor t, double gain = 1, Generator* g = nullptr);
Tensor xavier_normal_(Tensor t, double gain = 1, Generator* g = nullptr);
// He: bound = gain * sqrt(3 / fan), gain from nonlinearity (a = leaky_relu slope); mode
// "fan_in" or "fan_out".
Tensor kaiming_uniform_(Tensor t, double a = 0, const std::string& mode = "fan_in",
                        const std::string& nonlinearity = "leaky_relu", Generator* g = nullptr);
Tensor kaiming_normal_(Tensor t, double a = 0, const std::string& mode = "fan_in",
                        const std::string& nonlinearity = "leaky_relu", Generator* g = nullptr);
// A (semi-)orthogonal matrix (rows or columns orthonormal) times gain, from the QR
// decomposition of a normal matrix; dims after the first are flattened.
Tensor orthogonal_(Tensor t, double gain = 1, Generator* g = nullptr);

}  // namespace tessera::nn::init
