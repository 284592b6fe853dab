#include "tessera/data/transforms.h"

#include "tessera/ops/ops.h"

namespace tessera::data {

namespace {
void check_images(const Tensor& x, const char* op) {
  TS_CHECK_SHAPE(x.dim() == 4, op, ": expected images [N, C, H, W], got ", x.shape());
}
}  // namespace

Tensor to_float(const Tensor& images, double scale) { return images.to(DType::Float32) * scale; }

Tensor normalize(const Tensor& images, const std::vector<double>& mean, const std::vector<double>& std) {
  check_images(images, "normalize");
  int64_t C = images.size(1);
  TS_CHECK_SHAPE(int64_t(mean.size()) == C && int64_t(std.size()) == C, "normalize: ", C, " channels but ",
                 mean.size(), " means and ", std.size(), " stds");
  std::vector<double> inv;
  for (double s : std) {
    TS_CHECK_VALUE(s > 0, "normalize: std must be positive, got ", s);
    inv.push_back(1 / s);
  }
  Tensor m = from_vector(mean, Shape{1, C, 1, 1}).to(images.dtype()), k = from_vector(inv, Shape{1, C, 1, 1}).to(images.dtype());
  return ops::fma(images, k, -(m * k));
}

Tensor random_horizontal_flip(const Tensor& images, Generator& g, double p) {
  check_images(images, "random_horizontal_flip");
  Tensor flip = bernoulli({images.size(0), 1, 1, 1}, p, {DType::Float32}, &g) > 0.5;
  return ops::where(flip, ops::flip(images, {3}), images);
}

Tensor random_crop(const Tensor& images, int64_t size, int64_t padding, Generator& g) {
  check_images(images, "random_crop");
  TS_CHECK_VALUE(padding >= 0 && size > 0, "random_crop: need size > 0 and padding >= 0");
  Tensor padded = padding ? ops::pad(images, {padding, padding, padding, padding}) : images;
  int64_t H = padded.size(2), W = padded.size(3), N = images.size(0);
  TS_CHECK_SHAPE(size <= H && size <= W, "random_crop: crop ", size, " is larger than the padded image ", H, "x", W);
  Tensor oy = randint(0, H - size + 1, {N}, {DType::Int64}, &g), ox = randint(0, W - size + 1, {N}, {DType::Int64}, &g);
  std::vector<int64_t> ys = oy.tolist<int64_t>(), xs = ox.tolist<int64_t>();
  std::vector<Tensor> crops;
  for (int64_t i = 0; i < N; ++i) crops.push_back(padded.select(0, i).narrow(1, ys[size_t(i)], size).narrow(2, xs[size_t(i)], size));
  return ops::stack(crops);
}

}  // namespace tessera::data
