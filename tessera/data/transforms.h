#pragma once
// Batch transforms for images [N, C, H, W] (use them in LoaderOptions::collate).
#include <vector>

#include "tessera/core/generator.h"
#include "tessera/core/tensor.h"

namespace tessera::data {

// uint8 pixels to float32 in [0, 1].
Tensor to_float(const Tensor& images, double scale = 1.0 / 255);
// (x - mean[c]) / std[c] per channel.
Tensor normalize(const Tensor& images, const std::vector<double>& mean, const std::vector<double>& std);
// Each image flipped left-right with probability p.
Tensor random_horizontal_flip(const Tensor& images, Generator& g, double p = 0.5);
// Zero-pads each side by padding, then takes a random size x size crop of each image.
Tensor random_crop(const Tensor& images, int64_t size, int64_t padding, Generator& g);

}  // namespace tessera::data
