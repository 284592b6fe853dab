// ONNX operators, part 4: images (Resize, Upsample, GridSample, AffineGrid, NonMaxSuppression,
// RoiAlign, Col2Im, DeformConv) (the table is in onnx_ops.cpp).
//
// Resize is separable: each resized axis is planned on the host (for every output position, the
// input positions it reads and their weights, from the coordinate transformation, the mode's
// kernel and exclude_outside, exactly as ONNX's reference computes them), then applied with
// index_select and a weighted sum, so gradients reach the input.
#include <array>
#include <cmath>
#include <limits>
#include <optional>

#include "tessera/io/onnx_node.h"
#include "tessera/io/onnx_proto.h"

namespace tessera::io::internal {

namespace {

struct ResizeOptions {
  std::string mode = "nearest", transform = "half_pixel", nearest = "round_prefer_floor";
  double cubic_a = -0.75, extrapolation = 0.0;
  bool exclude_outside = false, antialias = false;
};

// One axis: out positions, each reading taps inputs at idx[o * taps + k] with weight w[...];
// extrapolated[o]: the position lies outside the input (tf_crop_and_resize), its value is fixed.
struct AxisPlan {
  int64_t out = 0, taps = 0;
  std::vector<int64_t> idx;
  std::vector<double> w;
  std::vector<bool> extrapolated;
};

std::vector<double> kernel_weights(const ResizeOptions& o, double ratio, double scale) {
  if (o.mode == "nearest") {
    if (ratio == std::floor(ratio)) return {0, 1};
    if (o.nearest == "round_prefer_floor") return {double(ratio <= 0.5), double(ratio > 0.5)};
    if (o.nearest == "round_prefer_ceil") return {double(ratio < 0.5), double(ratio >= 0.5)};
    if (o.nearest == "floor") return {1, 0};
    return {0, 1};  // ceil
  }
  if (o.mode == "linear") {
    if (!o.antialias) return {1 - ratio, ratio};
    double s = std::min(scale, 1.0);
    int64_t start = int64_t(std::floor(-1 / s) + 1), footprint = 2 - 2 * start;
    std::vector<double> c;
    double sum = 0;
    for (int64_t i = start; i < start + footprint; ++i) {
      c.push_back(std::clamp(1 - std::abs((double(i) - ratio) * s), 0.0, 1.0));
      sum += c.back();
    }
    for (double& v : c) v /= sum;
    return c;
  }
  const double A = o.cubic_a;  // cubic
  if (!o.antialias) {
    double r = ratio, q = 1 - ratio;
    return {((A * (r + 1) - 5 * A) * (r + 1) + 8 * A) * (r + 1) - 4 * A, ((A + 2) * r - (A + 3)) * r * r + 1,
            ((A + 2) * q - (A + 3)) * q * q + 1, ((A * (q + 1) - 5 * A) * (q + 1) + 8 * A) * (q + 1) - 4 * A};
  }
  double s = std::min(scale, 1.0);
  auto coeff = [A](double x) {
    x = std::abs(x);
    if (x <= 1) return (A + 2) * x * x * x - (A + 3) * x * x + 1;
    if (x < 2) return A * x * x * x - 5 * A * x * x + 8 * A * x - 4 * A;
    return 0.0;
  };
  int64_t start = int64_t(std::floor(-2 / s) + 1), end = 2 - start;
  std::vector<double> c;
  double sum = 0;
  for (int64_t i = start; i < end; ++i) {
    c.push_back(coeff(s * (double(i) - ratio)));
    sum += c.back();
  }
  for (double& v : c) v /= sum;
  return c;
}

AxisPlan plan_axis(const ResizeOptions& o, int64_t in, int64_t out, double scale, double roi_start, double roi_end) {
  AxisPlan p;
  p.out = out;
  const double out_width = scale * double(in);
  for (int64_t y = 0; y < out; ++y) {
    double x = 0;
    bool extrapolated = false;
    const std::string& t = o.transform;
    if (t == "align_corners") {
      x = out_width == 1 ? 0.0 : double(y) * double(in - 1) / (out_width - 1);
    } else if (t == "asymmetric") {
      x = double(y) / scale;
    } else if (t == "tf_crop_and_resize") {
      x = out_width == 1 ? (roi_end - roi_start) * double(in - 1) / 2
                         : double(y) * (roi_end - roi_start) * double(in - 1) / (out_width - 1);
      x += roi_start * double(in - 1);
      extrapolated = x < 0 || x > double(in - 1);
    } else if (t == "pytorch_half_pixel") {
      x = out_width == 1 ? -0.5 : (double(y) + 0.5) / scale - 0.5;
    } else if (t == "half_pixel") {
      x = (double(y) + 0.5) / scale - 0.5;
    } else if (t == "half_pixel_symmetric") {
      double adjustment = double(out) / out_width, center = double(in) / 2;
      x = center * (1 - adjustment) + (double(y) + 0.5) / scale - 0.5;
    } else {
      throw ValueError(::tessera::detail::str("coordinate_transformation_mode '", t, "' is not an ONNX value"));
    }
    double ratio = x == std::floor(x) ? 1.0 : x - std::floor(x);
    std::vector<double> c = kernel_weights(o, ratio, scale);
    int64_t n = int64_t(c.size());
    if (p.taps == 0) p.taps = n;
    TS_CHECK_VALUE(n == p.taps, "Resize: kernel sizes differ along one axis");
    // The n inputs nearest x (ties to the smaller index), as the reference picks them.
    int64_t pad = (n + 1) / 2;
    double xp = x + double(pad), fl = std::floor(xp), frac = xp - fl;
    int64_t offset = n % 2 == 0 ? (frac == 0 ? -(n / 2) : -(n / 2) + 1)
                                : (frac <= 0.5 ? -((n - 1) / 2) : -((n - 1) / 2) + 1);
    int64_t start = int64_t(fl) + offset - pad;
    if (o.exclude_outside) {
      double sum = 0;
      for (int64_t k = 0; k < n; ++k) {
        if (start + k < 0 || start + k >= in) c[size_t(k)] = 0;
        sum += c[size_t(k)];
      }
      for (double& v : c) v /= sum == 0 ? 1.0 : sum;
    }
    for (int64_t k = 0; k < n; ++k) {
      p.idx.push_back(std::clamp<int64_t>(start + k, 0, in - 1));
      p.w.push_back(c[size_t(k)]);
    }
    p.extrapolated.push_back(extrapolated);
  }
  return p;
}

// x resized along dim d by plan p (computed in x's floating dtype).
Tensor apply_plan(const Tensor& x, int64_t d, const AxisPlan& p, double extrapolation) {
  const Device dev = x.device();
  Tensor idx = from_vector(p.idx).to(dev);
  Tensor picked = ops::index_select(x, d, idx);  // [..., out * taps, ...]
  Shape s = x.shape();
  s[size_t(d)] = p.out;
  s.insert(s.begin() + d + 1, p.taps);
  picked = picked.reshape(s);
  Shape ws(size_t(x.dim() + 1), 1);
  ws[size_t(d)] = p.out;
  ws[size_t(d + 1)] = p.taps;
  Tensor w = from_vector(p.w).to(x.dtype()).reshape(ws).to(dev);
  Tensor y = ops::sum(picked * w, {d + 1});
  bool any = false;
  for (bool e : p.extrapolated) any = any || e;
  if (any) {
    Shape ms(size_t(x.dim()), 1);
    ms[size_t(d)] = p.out;
    std::vector<uint8_t> m(p.extrapolated.begin(), p.extrapolated.end());
    Tensor mask = from_vector(m).to(DType::Bool).reshape(ms).to(dev);
    y = ops::where(mask, full_like(y, extrapolation), y);
  }
  return y;
}

// Resize (opsets 10 to 19) and Upsample: output sizes from `scales` (floor(in * scale)) or
// `sizes` (with keep_aspect_ratio_policy), over all dims or `axes`.
Tensor resize(const Node& n, const ResizeOptions& o, std::vector<double> scales, Shape sizes, std::vector<double> roi) {
  const Tensor& x = n.at(0);
  const int64_t r = x.dim();
  Shape axes = n.ints("axes").value_or(Shape{});
  for (auto& a : axes) a = wrap(a, r);
  if (axes.empty())
    for (int64_t d = 0; d < r; ++d) axes.push_back(d);
  const size_t na = axes.size();
  TS_CHECK_VALUE(scales.empty() != sizes.empty(), "Resize needs exactly one of scales and sizes");
  TS_CHECK_VALUE(scales.empty() || scales.size() == na, "scales has ", scales.size(), " values for ", na, " axes");
  TS_CHECK_VALUE(sizes.empty() || sizes.size() == na, "sizes has ", sizes.size(), " values for ", na, " axes");
  TS_CHECK_VALUE(roi.empty() || roi.size() == 2 * na, "roi has ", roi.size(), " values for ", na, " axes");
  std::vector<double> scale(na);
  Shape out(na);
  for (size_t i = 0; i < na; ++i) {
    TS_CHECK_VALUE(axes[i] >= 0 && axes[i] < r, "Resize: axis ", axes[i], " is out of range for ", x.shape());
    int64_t in = x.size(axes[i]);
    TS_CHECK_SHAPE(in > 0, "Resize: dim ", axes[i], " of ", x.shape(), " is empty");
    if (!scales.empty()) {
      TS_CHECK_VALUE(scales[i] > 0, "scales must be positive, got ", scales[i]);
      scale[i] = scales[i];
      out[i] = int64_t(scales[i] * double(in));
    } else {
      scale[i] = double(sizes[i]) / double(in);
      out[i] = sizes[i];
    }
  }
  std::string policy = n.s("keep_aspect_ratio_policy", "stretch");
  if (!sizes.empty() && policy != "stretch") {
    TS_CHECK_VALUE(policy == "not_larger" || policy == "not_smaller", "keep_aspect_ratio_policy '", policy,
                   "' is not stretch, not_larger or not_smaller");
    double s = policy == "not_larger" ? *std::min_element(scale.begin(), scale.end())
                                      : *std::max_element(scale.begin(), scale.end());
    for (size_t i = 0; i < na; ++i) {
      scale[i] = s;
      out[i] = int64_t(s * double(x.size(axes[i])) + 0.5);
    }
  }
  const DType work = x.is_floating_point() ? x.dtype() : DType::Float64;
  Tensor y = x.to(work);
  for (size_t i = 0; i < na; ++i) {
    double rs = roi.empty() ? 0.0 : roi[i], re = roi.empty() ? 1.0 : roi[i + na];
    bool identity = std::abs(scale[i] - 1.0) < 1e-9 && out[i] == x.size(axes[i]) &&
                    (o.transform != "tf_crop_and_resize" || (rs == 0.0 && re == 1.0));
    if (identity) continue;
    y = apply_plan(y, axes[i], plan_axis(o, x.size(axes[i]), out[i], scale[i], rs, re), o.extrapolation);
  }
  if (x.is_floating_point()) return y;
  auto [lo, hi] = integer_range(x.dtype());
  return ops::clamp(ops::round(y), Scalar(lo), Scalar(hi)).to(x.dtype());
}

Tensor resize_op(const Node& n) {
  ResizeOptions o;
  o.mode = n.s("mode", "nearest");
  TS_CHECK_VALUE(o.mode == "nearest" || o.mode == "linear" || o.mode == "cubic", "mode '", o.mode,
                 "' is not nearest, linear or cubic");
  if (n.opset < 11) {  // opset 10: Resize(X, scales), asymmetric coordinates
    o.transform = "asymmetric";
    o.nearest = "floor";
    return resize(n, o, host_doubles(n.at(1)), {}, {});
  }
  o.transform = n.s("coordinate_transformation_mode", "half_pixel");
  o.nearest = n.s("nearest_mode", "round_prefer_floor");
  TS_CHECK_VALUE(o.nearest == "round_prefer_floor" || o.nearest == "round_prefer_ceil" || o.nearest == "floor" ||
                     o.nearest == "ceil", "nearest_mode '", o.nearest, "' is not an ONNX value");
  o.cubic_a = n.f("cubic_coeff_a", -0.75);
  o.exclude_outside = n.i("exclude_outside", 0) != 0;
  o.extrapolation = n.f("extrapolation_value", 0.0);
  o.antialias = n.i("antialias", 0) != 0;
  TS_CHECK_VALUE(!(o.antialias && o.mode == "nearest"), "antialias is not defined for mode nearest");
  std::vector<double> roi, scales;
  Shape sizes;
  if (n.has(1) && n.in[1].numel() > 0) roi = host_doubles(n.in[1]);
  if (n.has(2) && n.in[2].numel() > 0) scales = host_doubles(n.in[2]);
  if (n.has(3) && n.in[3].numel() > 0) sizes = n.host_ints(3);
  if (o.transform != "tf_crop_and_resize") roi.clear();
  return resize(n, o, scales, sizes, roi);
}

// Upsample (opsets 7 to 9; Resize's forerunner): asymmetric coordinates, nearest rounds down.
Tensor upsample(const Node& n) {
  ResizeOptions o;
  o.mode = n.s("mode", "nearest");
  TS_CHECK_VALUE(o.mode == "nearest" || o.mode == "linear" || o.mode == "bilinear", "mode '", o.mode,
                 "' is not nearest or linear");
  if (o.mode == "bilinear") o.mode = "linear";
  o.transform = "asymmetric";
  o.nearest = "floor";
  std::vector<double> scales;
  if (n.has(1)) {
    scales = host_doubles(n.in[1]);
  } else {
    auto* a = n.find("scales");
    TS_CHECK_VALUE(a, "Upsample needs scales");
    scales.assign(a->floats().begin(), a->floats().end());
  }
  return resize(n, o, scales, {}, {});
}

// Reflects v into [lo, hi] by the nearer border until it lies inside (GridSample's reflection).
Tensor reflect(const Tensor& v, double lo, double hi) {
  double range = hi - lo;
  auto fold = [&](const Tensor& dx, double near, double far, bool below) {
    Tensor k = ops::floor(dx / range);
    Tensor r = dx - k * range;
    Tensor even = (k - ops::floor(k / 2.0) * 2.0) == 0.0;
    Tensor from_near = below ? r + near : near - r, from_far = below ? far - r : r + far;
    return ops::where(even, from_near, from_far);
  };
  Tensor low = fold(lo - v, lo, hi, true), high = fold(v - hi, hi, lo, false);
  return ops::where(v < lo, low, ops::where(v > hi, high, v));
}

// GridSample (opsets 16, 20, 22): X [N, C, D...] sampled at grid [N, out..., D] (normalized
// coordinates, the last spatial dim first), nearest/linear/cubic, zeros/border/reflection padding.
Tensor grid_sample(const Node& n) {
  const Tensor& x = n.at(0);
  Tensor grid = n.at(1);
  const int64_t dims = x.dim() - 2;
  TS_CHECK_SHAPE(dims >= 1 && grid.dim() == x.dim() && grid.size(0) == x.size(0) && grid.size(-1) == dims, "X ",
                 x.shape(), " and grid ", grid.shape(), " do not fit ([N, C, D...] and [N, out..., D])");
  std::string mode = n.s("mode", n.opset >= 20 ? "linear" : "bilinear");
  if (mode == "bilinear") mode = "linear";
  if (mode == "bicubic") mode = "cubic";
  TS_CHECK_VALUE(mode == "nearest" || mode == "linear" || mode == "cubic", "mode '", mode, "' is not an ONNX value");
  const std::string padding = n.s("padding_mode", "zeros");
  TS_CHECK_VALUE(padding == "zeros" || padding == "border" || padding == "reflection", "padding_mode '", padding,
                 "' is not zeros, border or reflection");
  const bool align = n.i("align_corners", 0) != 0;
  const int64_t N = x.size(0), C = x.size(1);
  Shape out(grid.shape().begin() + 1, grid.shape().end() - 1);
  int64_t points = 1, pixels = 1;
  for (int64_t o : out) points *= o;
  for (int64_t d = 0; d < dims; ++d) pixels *= x.size(2 + d);
  grid = grid.to(x.dtype()).reshape({N, points, dims});
  // Per spatial dim d (0 = the first after C): continuous coordinates, then the taps' indices and weights.
  using Taps = std::vector<std::vector<Tensor>>;
  Taps tap_index = Taps(size_t(dims)), tap_weight = Taps(size_t(dims)), tap_valid = Taps(size_t(dims));
  for (int64_t d = 0; d < dims; ++d) {
    const double size = double(x.size(2 + d));
    Tensor g = grid.select(2, dims - 1 - d);  // [N, points]
    Tensor c = align ? (g + 1.0) * 0.5 * (size - 1) : ((g + 1.0) * size - 1.0) * 0.5;
    if (mode == "nearest") c = ops::round(c);
    const double lo = align ? 0.0 : -0.5, hi = align ? size - 1 : size - 0.5;
    if (padding == "border")  // only points outside [lo, hi] move (to [0, size - 1])
      c = ops::where((c < lo) || (c > hi), ops::clamp(c, Scalar(0.0), Scalar(size - 1)), c);
    if (padding == "reflection") c = reflect(c, lo, hi);
    Tensor base = mode == "nearest" ? c : ops::floor(c);
    Tensor f = c - base;
    std::vector<std::pair<int64_t, Tensor>> taps;  // offset from base, weight
    if (mode == "nearest") {
      taps = {{0, ones_like(c)}};
    } else if (mode == "linear") {
      taps = {{0, 1.0 - f}, {1, f}};
    } else {
      const double A = -0.75;
      Tensor f1 = f + 1.0, q = 1.0 - f, q1 = q + 1.0;
      taps = {{-1, ((f1 * A - 5 * A) * f1 + 8 * A) * f1 - 4 * A},
              {0, (f * (A + 2) - (A + 3)) * f * f + 1.0},
              {1, (q * (A + 2) - (A + 3)) * q * q + 1.0},
              {2, ((q1 * A - 5 * A) * q1 + 8 * A) * q1 - 4 * A}};
    }
    for (auto& [offset, w] : taps) {
      Tensor i = base + double(offset);
      Tensor valid = (i >= 0.0) && (i <= size - 1);
      if (padding == "border") i = ops::clamp(i, Scalar(0.0), Scalar(size - 1));
      if (padding == "reflection") {
        i = reflect(i, lo, hi);
        i = ops::sign(i) * ops::floor(ops::abs(i));  // truncated toward zero, as the reference does
        valid = ones_like(valid);
      }
      if (padding == "border") valid = ones_like(valid);
      tap_index[size_t(d)].push_back(ops::clamp(i, Scalar(0.0), Scalar(size - 1)).to(DType::Int64));
      tap_weight[size_t(d)].push_back(w);
      tap_valid[size_t(d)].push_back(valid);
    }
  }
  Tensor flat = x.reshape({N, C, pixels});
  Tensor y = zeros({N, C, points}, {x.dtype(), x.device()});
  std::vector<size_t> pick(size_t(dims), 0);
  while (true) {  // every combination of one tap per dim
    Tensor index = zeros({N, points}, {DType::Int64, x.device()});
    Tensor weight = ones({N, points}, {x.dtype(), x.device()});
    Tensor valid = ones({N, points}, {DType::Bool, x.device()});
    for (int64_t d = 0; d < dims; ++d) {
      index = index * x.size(2 + d) + tap_index[size_t(d)][pick[size_t(d)]];
      weight = weight * tap_weight[size_t(d)][pick[size_t(d)]];
      valid = valid && tap_valid[size_t(d)][pick[size_t(d)]];
    }
    weight = ops::where(valid, weight, zeros_like(weight));
    Tensor values = ops::gather(flat, 2, index.unsqueeze(1).expand({N, C, points}).contiguous());
    y = y + values * weight.unsqueeze(1);
    int64_t d = dims - 1;
    while (d >= 0 && ++pick[size_t(d)] == tap_index[size_t(d)].size()) pick[size_t(d--)] = 0;
    if (d < 0) break;
  }
  Shape ys{N, C};
  ys.insert(ys.end(), out.begin(), out.end());
  return y.reshape(ys);
}

// AffineGrid (opset 20): theta [N, 2, 3] or [N, 3, 4] applied to the normalized coordinates of
// an output of size [N, C, H, W] or [N, C, D, H, W]; the grid's last dim is x, y(, z).
Tensor affine_grid(const Node& n) {
  const Tensor& theta = n.at(0);
  Shape size = n.host_ints(1);
  const int64_t S = int64_t(size.size()) - 2;
  TS_CHECK_SHAPE((S == 2 || S == 3) && theta.dim() == 3 && theta.size(1) == S && theta.size(2) == S + 1, "theta ",
                 theta.shape(), " and size ", size, " do not fit ([N, 2, 3] with 4 sizes, or [N, 3, 4] with 5)");
  const bool align = n.i("align_corners", 0) != 0;
  const TensorOptions opt{theta.dtype(), theta.device()};
  // Normalized positions along each spatial dim, last dim (x) first.
  std::vector<Tensor> axes;
  for (int64_t d = S - 1; d >= 0; --d) {
    int64_t len = size[size_t(2 + d)];
    Tensor i = arange(0, double(len), 1, opt);
    axes.push_back(align ? (len > 1 ? i * (2.0 / double(len - 1)) - 1.0 : zeros_like(i)) : (i * 2.0 + 1.0) / double(len) - 1.0);
  }
  Shape out(size.begin() + 2, size.end());
  int64_t points = 1;
  for (int64_t o : out) points *= o;
  std::vector<Tensor> coords;  // x, y(, z), each [points], then 1
  for (int64_t c = 0; c < S; ++c) {
    int64_t d = S - 1 - c;  // spatial dim this coordinate runs along
    Shape s(size_t(S), 1);
    s[size_t(d)] = out[size_t(d)];
    coords.push_back(axes[size_t(c)].reshape(s).expand(out).reshape({points}));
  }
  coords.push_back(ones({points}, opt));
  Tensor base = ops::stack(coords, 1);                                  // [points, S + 1]
  Tensor grid = ops::matmul(base.unsqueeze(0), theta.transpose(1, 2));  // [N, points, S]
  Shape gs{theta.size(0)};
  gs.insert(gs.end(), out.begin(), out.end());
  gs.push_back(S);
  return grid.reshape(gs);
}

// NonMaxSuppression, on the host: per batch and class, boxes above score_threshold from the
// highest score down (ties: the lower index), each kept unless its IoU with a kept box exceeds
// iou_threshold, at most max_output_boxes_per_class. Output [selected, 3]: batch, class, box.
Tensor non_max_suppression(const Node& n) {
  const Tensor& boxes_t = n.at(0);
  const Tensor& scores_t = n.at(1);
  TS_CHECK_SHAPE(boxes_t.dim() == 3 && boxes_t.size(2) == 4 && scores_t.dim() == 3 &&
                     scores_t.size(0) == boxes_t.size(0) && scores_t.size(2) == boxes_t.size(1),
                 "boxes ", boxes_t.shape(), " and scores ", scores_t.shape(), " do not fit ([B, N, 4] and [B, C, N])");
  const int64_t B = boxes_t.size(0), N = boxes_t.size(1), C = scores_t.size(1);
  int64_t max_out = n.has(2) && n.in[2].numel() ? std::max<int64_t>(0, n.in[2].to(Device::cpu()).to(DType::Int64).reshape({-1}).tolist<int64_t>()[0]) : 0;
  double iou_threshold = n.has(3) && n.in[3].numel() ? host_doubles(n.in[3])[0] : 0.0;
  std::optional<double> score_threshold;
  if (n.has(4) && n.in[4].numel()) score_threshold = host_doubles(n.in[4])[0];
  const bool center = n.i("center_point_box", 0) != 0;
  std::vector<double> boxes = host_doubles(boxes_t), scores = host_doubles(scores_t);
  auto extent = [&](int64_t b, int64_t i) {  // x_min, x_max, y_min, y_max
    const double* v = &boxes[size_t((b * N + i) * 4)];
    if (center) return std::array<double, 4>{v[0] - v[2] / 2, v[0] + v[2] / 2, v[1] - v[3] / 2, v[1] + v[3] / 2};
    return std::array<double, 4>{std::min(v[1], v[3]), std::max(v[1], v[3]), std::min(v[0], v[2]), std::max(v[0], v[2])};
  };
  auto suppresses = [&](int64_t b, int64_t i, int64_t j) {
    auto a = extent(b, i), c = extent(b, j);
    double ix = std::min(a[1], c[1]) - std::max(a[0], c[0]), iy = std::min(a[3], c[3]) - std::max(a[2], c[2]);
    if (ix <= 0 || iy <= 0) return false;
    double inter = ix * iy, area_a = (a[1] - a[0]) * (a[3] - a[2]), area_c = (c[1] - c[0]) * (c[3] - c[2]);
    double uni = area_a + area_c - inter;
    if (area_a <= 0 || area_c <= 0 || uni <= 0) return false;
    return inter / uni > iou_threshold;
  };
  std::vector<int64_t> picked;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c) {
      const double* sc = &scores[size_t((b * C + c) * N)];
      std::vector<int64_t> order;
      for (int64_t i = 0; i < N; ++i)
        if (!score_threshold || sc[i] > *score_threshold) order.push_back(i);
      std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return sc[x] > sc[y]; });
      std::vector<int64_t> kept;
      for (int64_t i : order) {
        if (int64_t(kept.size()) >= max_out) break;
        bool keep = true;
        for (int64_t k : kept) keep = keep && !suppresses(b, i, k);
        if (!keep) continue;
        kept.push_back(i);
        picked.insert(picked.end(), {b, c, i});
      }
    }
  return from_vector(picked).reshape({int64_t(picked.size() / 3), 3}).to(boxes_t.device());
}

// Col2Im (opset 18): sums the blocks of input [N, C * prod(block), L] back into an image [N, C,
// image...]: block l at position (l's place in the grid of blocks) * strides - pads, its element k
// at k * dilations from there.
Tensor col2im(const Node& n) {
  const Tensor& x = n.at(0);
  Shape image = n.host_ints(1), block = n.host_ints(2);
  const int64_t S = int64_t(image.size());
  TS_CHECK_SHAPE(S >= 1 && int64_t(block.size()) == S && x.dim() == 3, "input ", x.shape(), ", image_shape ", image,
                 " and block_shape ", block, " do not fit");
  Shape dil = n.ints("dilations").value_or(Shape(size_t(S), 1)), st = n.ints("strides").value_or(Shape(size_t(S), 1));
  Shape pads = n.ints("pads").value_or(Shape(size_t(2 * S), 0));
  check_at_least(image, 1, "image_shape");
  check_at_least(block, 1, "block_shape");
  check_at_least(dil, 1, "dilations");
  check_at_least(st, 1, "strides");
  check_at_least(pads, 0, "pads");
  TS_CHECK_VALUE(int64_t(dil.size()) == S && int64_t(st.size()) == S && int64_t(pads.size()) == 2 * S, "dilations ",
                 dil, ", strides ", st, " and pads ", pads, " do not fit ", S, " spatial dims");
  int64_t K = 1, L = 1, P = 1;
  Shape grid = Shape(size_t(S)), padded = Shape(size_t(S));
  for (int64_t d = 0; d < S; ++d) {
    K *= block[size_t(d)];
    padded[size_t(d)] = image[size_t(d)] + pads[size_t(d)] + pads[size_t(d + S)];
    grid[size_t(d)] = (padded[size_t(d)] - dil[size_t(d)] * (block[size_t(d)] - 1) - 1) / st[size_t(d)] + 1;
    L *= grid[size_t(d)];
    P *= padded[size_t(d)];
  }
  TS_CHECK_SHAPE(x.size(1) % K == 0 && x.size(2) == L, "input ", x.shape(), " must be [N, C * ", K, ", ", L, "]");
  std::vector<int64_t> at;  // the flat padded-image position of (k, l), k major
  for (int64_t k = 0; k < K; ++k)
    for (int64_t l = 0; l < L; ++l) {
      int64_t kr = k, lr = l, flat = 0;
      Shape kk = Shape(size_t(S)), ll = Shape(size_t(S));
      for (int64_t d = S - 1; d >= 0; --d) {
        kk[size_t(d)] = kr % block[size_t(d)];
        kr /= block[size_t(d)];
        ll[size_t(d)] = lr % grid[size_t(d)];
        lr /= grid[size_t(d)];
      }
      for (int64_t d = 0; d < S; ++d)
        flat = flat * padded[size_t(d)] + ll[size_t(d)] * st[size_t(d)] + kk[size_t(d)] * dil[size_t(d)];
      at.push_back(flat);
    }
  const int64_t N = x.size(0), C = x.size(1) / K;
  Tensor out = zeros({N, C, P}, {x.dtype(), x.device()});
  out = ops::index_add(out, 2, from_vector(at).to(x.device()), x.reshape({N, C, K * L}));
  Shape full{N, C};
  full.insert(full.end(), padded.begin(), padded.end());
  Tensor y = out.reshape(full);
  for (int64_t d = 0; d < S; ++d) y = y.narrow(2 + d, pads[size_t(d)], image[size_t(d)]);
  return y;
}

// DeformConv (opset 19): a 2-D convolution whose kernel taps sample X bilinearly at offsets
// learned per output position (offset [N, offset_group * kH * kW * 2, oH, oW], (y, x) pairs), each
// tap scaled by an optional mask; samples outside X read 0.
Tensor deform_conv(const Node& n) {
  const Tensor& x = n.at(0);
  const Tensor& w = n.at(1);
  const Tensor& offset = n.at(2);
  TS_CHECK_SHAPE(x.dim() == 4 && w.dim() == 4, "DeformConv supports 2-D inputs [N, C, H, W], got ", x.shape());
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), oC = w.size(0);
  const int64_t kH = w.size(2), kW = w.size(3), K = kH * kW;
  const int64_t group = n.i("group", 1), og = n.i("offset_group", 1);
  Shape st = n.ints("strides").value_or(Shape{1, 1}), dil = n.ints("dilations").value_or(Shape{1, 1});
  Shape pads = n.ints("pads").value_or(Shape{0, 0, 0, 0});
  check_at_least(st, 1, "strides");
  check_at_least(dil, 1, "dilations");
  check_at_least(pads, 0, "pads");
  TS_CHECK_VALUE(st.size() == 2 && dil.size() == 2 && pads.size() == 4 && group >= 1 && og >= 1, "DeformConv: strides ",
                 st, ", dilations ", dil, ", pads ", pads, ", group ", group, " and offset_group ", og, " do not fit 2-D");
  const int64_t oH = (H + pads[0] + pads[2] - dil[0] * (kH - 1) - 1) / st[0] + 1;
  const int64_t oW = (W + pads[1] + pads[3] - dil[1] * (kW - 1) - 1) / st[1] + 1, P = oH * oW;
  TS_CHECK_SHAPE(C % og == 0 && C % group == 0 && w.size(1) * group == C && offset.dim() == 4 &&
                     offset.size(1) == og * K * 2 && offset.size(2) == oH && offset.size(3) == oW,
                 "DeformConv: X ", x.shape(), ", W ", w.shape(), " and offset ", offset.shape(), " do not fit (group ",
                 group, ", offset_group ", og, ")");
  const TensorOptions opt{x.dtype(), x.device()};
  Tensor xf = x.reshape({N, og, C / og, H * W});
  Tensor off = offset.reshape({N, og, K, 2, oH, oW});
  Tensor mask = n.has(4) ? n.in[4].reshape({N, og, K, oH, oW}) : Tensor();
  std::vector<Tensor> cols;
  for (int64_t k = 0; k < K; ++k) {
    int64_t i = k / kW, j = k % kW;
    Tensor by = (arange(0, double(oH), 1, opt) * double(st[0]) + double(i * dil[0] - pads[0])).reshape({1, 1, oH, 1});
    Tensor bx = (arange(0, double(oW), 1, opt) * double(st[1]) + double(j * dil[1] - pads[1])).reshape({1, 1, 1, oW});
    Tensor py = by + off.select(2, k).select(2, 0), px = bx + off.select(2, k).select(2, 1);  // [N, og, oH, oW]
    Tensor y0 = ops::floor(py), x0 = ops::floor(px), fy = py - y0, fx = px - x0;
    Tensor acc = zeros({N, og, C / og, P}, opt);
    for (int64_t dy = 0; dy < 2; ++dy)
      for (int64_t dx = 0; dx < 2; ++dx) {
        Tensor yy = y0 + double(dy), xx = x0 + double(dx);
        Tensor weight = (dy ? fy : 1.0 - fy) * (dx ? fx : 1.0 - fx);
        Tensor valid = (yy >= 0.0) && (yy <= double(H - 1)) && (xx >= 0.0) && (xx <= double(W - 1));
        weight = ops::where(valid, weight, zeros_like(weight));
        if (mask.defined()) weight = weight * mask.select(2, k);
        Tensor idx = (ops::clamp(yy, Scalar(0.0), Scalar(double(H - 1))) * double(W) +
                      ops::clamp(xx, Scalar(0.0), Scalar(double(W - 1)))).to(DType::Int64).reshape({N, og, 1, P});
        Tensor vals = ops::gather(xf, 3, idx.expand({N, og, C / og, P}).contiguous());
        acc = acc + vals * weight.reshape({N, og, 1, P});
      }
    cols.push_back(acc.reshape({N, C, P}));
  }
  Tensor columns = ops::stack(cols, 2).reshape({N, group, (C / group) * K, P});
  Tensor y = ops::matmul(w.reshape({group, oC / group, (C / group) * K}), columns).reshape({N, oC, oH, oW});
  if (n.has(3)) y = y + n.in[3].reshape({1, oC, 1, 1});
  return y;
}

// RoiAlign: for each region of interest (x1, y1, x2, y2 in input pixels times spatial_scale) of
// image batch_indices[r], output_height x output_width bins, each the average (or max) of a grid of
// bilinear samples (sampling_ratio per side, or as many as the bin spans in pixels), as ONNX's
// reference and onnxruntime compute it (max takes the largest weighted corner of each sample).
// The weights are planned on the host per region and applied as tessera ops when possible.
Tensor roi_align(const Node& n) {
  const Tensor& x = n.at(0);
  TS_CHECK_SHAPE(x.dim() == 4, "RoiAlign: X ", x.shape(), " must be [N, C, H, W]");
  Tensor rois = n.at(1), batch = n.at(2);
  TS_CHECK_SHAPE(rois.dim() == 2 && rois.size(1) == 4 && batch.dim() == 1 && batch.size(0) == rois.size(0),
                 "RoiAlign: rois ", rois.shape(), " must be [R, 4] and batch_indices ", batch.shape(), " [R]");
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), R = rois.size(0);
  const int64_t ph = n.i("output_height", 1), pw = n.i("output_width", 1), ratio = n.i("sampling_ratio", 0);
  TS_CHECK_VALUE(ph >= 1 && pw >= 1 && ratio >= 0, "RoiAlign: output_height ", ph, " and output_width ", pw,
                 " must be positive and sampling_ratio ", ratio, " not negative");
  const double scale = n.f("spatial_scale", 1.0);
  const bool half_pixel = n.s("coordinate_transformation_mode", n.opset >= 16 ? "half_pixel" : "output_half_pixel") ==
                          "half_pixel";
  const bool max_mode = n.s("mode", "avg") == "max";
  std::vector<double> box = host_doubles(rois), data = host_doubles(x.contiguous());
  std::vector<int64_t> which = batch.to(Device::cpu()).to(DType::Int64).tolist<int64_t>();
  std::vector<double> out(size_t(R * C * ph * pw), 0.0);
  for (int64_t r = 0; r < R; ++r) {
    TS_CHECK_INDEX(which[size_t(r)] >= 0 && which[size_t(r)] < N, "RoiAlign: batch index ", which[size_t(r)],
                   " of roi ", r, " is outside the batch of ", N);
    const double* b = &box[size_t(r * 4)];
    for (int k = 0; k < 4; ++k)
      TS_CHECK_VALUE(std::isfinite(b[k]), "RoiAlign: roi ", r, " has a coordinate that is not finite");
    double offset = half_pixel ? 0.5 : 0.0;
    double x0 = b[0] * scale - offset, y0 = b[1] * scale - offset;
    double rw = b[2] * scale - offset - x0, rh = b[3] * scale - offset - y0;
    if (!half_pixel) rw = std::max(rw, 1.0), rh = std::max(rh, 1.0);  // malformed regions become 1x1
    double bh = rh / double(ph), bw = rw / double(pw);
    double gh_d = ratio > 0 ? double(ratio) : std::ceil(rh / double(ph)), gw_d = ratio > 0 ? double(ratio) : std::ceil(rw / double(pw));
    TS_CHECK_VALUE(gh_d * gw_d * double(ph * pw) * double(C) <= double(int64_t(1) << 28), "RoiAlign: roi ", r, " [",
                   b[0], ", ", b[1], ", ", b[2], ", ", b[3], "] needs ", gh_d * gw_d, " samples per bin for each of ", C,
                   " channels (set sampling_ratio)");
    const int64_t gh = std::max<int64_t>(int64_t(gh_d), 0), gw = std::max<int64_t>(int64_t(gw_d), 0);
    const double count = double(std::max<int64_t>(gh * gw, 1));
    const double* img = &data[size_t(which[size_t(r)] * C * H * W)];
    for (int64_t oy = 0; oy < ph; ++oy)
      for (int64_t ox = 0; ox < pw; ++ox)
        for (int64_t iy = 0; iy < gh; ++iy)
          for (int64_t ix = 0; ix < gw; ++ix) {
            double y = y0 + double(oy) * bh + (double(iy) + 0.5) * bh / double(gh);
            double xx = x0 + double(ox) * bw + (double(ix) + 0.5) * bw / double(gw);
            bool outside = y < -1.0 || y > double(H) || xx < -1.0 || xx > double(W);
            int64_t yl = 0, xl = 0, yh = 0, xh = 0;
            double w[4] = {0, 0, 0, 0};
            if (!outside) {
              y = std::max(y, 0.0), xx = std::max(xx, 0.0);
              yl = int64_t(y), xl = int64_t(xx);
              if (yl >= H - 1) yh = yl = H - 1, y = double(yl);
              else yh = yl + 1;
              if (xl >= W - 1) xh = xl = W - 1, xx = double(xl);
              else xh = xl + 1;
              double ly = y - double(yl), lx = xx - double(xl);
              w[0] = (1 - ly) * (1 - lx), w[1] = (1 - ly) * lx, w[2] = ly * (1 - lx), w[3] = ly * lx;
            }
            const int64_t pos[4] = {yl * W + xl, yl * W + xh, yh * W + xl, yh * W + xh};
            bool first = iy == 0 && ix == 0;
            for (int64_t c = 0; c < C; ++c) {
              const double* plane = img + c * H * W;
              double& o = out[size_t(((r * C + c) * ph + oy) * pw + ox)];
              if (max_mode) {
                double v = std::max({w[0] * plane[pos[0]], w[1] * plane[pos[1]], w[2] * plane[pos[2]], w[3] * plane[pos[3]]});
                o = first ? v : std::max(o, v);
              } else {
                o += (w[0] * plane[pos[0]] + w[1] * plane[pos[1]] + w[2] * plane[pos[2]] + w[3] * plane[pos[3]]) / count;
              }
            }
          }
  }
  return from_vector(out, Shape{R, C, ph, pw}).to(x.dtype()).to(x.device());
}

}  // namespace

void add_image_ops(OpTable& m) {
  m["RoiAlign"] = [](const Node& n) { return one(roi_align(n)); };
  m["Resize"] = [](const Node& n) { return one(resize_op(n)); };
  m["Upsample"] = [](const Node& n) { return one(upsample(n)); };
  m["GridSample"] = [](const Node& n) { return one(grid_sample(n)); };
  m["AffineGrid"] = [](const Node& n) { return one(affine_grid(n)); };
  m["NonMaxSuppression"] = [](const Node& n) { return one(non_max_suppression(n)); };
  m["Col2Im"] = [](const Node& n) { return one(col2im(n)); };
  m["DeformConv"] = [](const Node& n) { return one(deform_conv(n)); };
}

}  // namespace tessera::io::internal
