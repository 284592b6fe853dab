// The ONNX operators as tessera ops: one function per op type (with the file's opset for the ops
// whose meaning changed), run node by node by the OnnxModel of onnx_import.cpp; this file holds the
// table and the shape, indexing, product, convolution and pooling operators (what tessera's traced
// ops of those kinds export as is in onnx_ops_tensor_export.cpp).
#include <cmath>
#include <functional>
#include <limits>
#include <unordered_map>
#include <unordered_set>

#include "tessera/io/onnx.h"
#include "tessera/io/onnx_internal.h"
#include "tessera/io/onnx_node.h"
#include "tessera/io/onnx_proto.h"
#include "tessera/ops/ops.h"

namespace tessera::io::internal {

namespace {



// Pads as ONNX lists them ([x1_begin, x2_begin, ..., x1_end, x2_end]) for the spatial dims of x:
// the pads attribute, or what auto_pad SAME_UPPER / SAME_LOWER make (output ceil(in / stride); the
// odd pixel at the end for SAME_UPPER, at the beginning for SAME_LOWER), or none for VALID.
Shape onnx_pads(const Node& n, const Tensor& x, const Shape& kernel, const Shape& strides, const Shape& dilations) {
  const int64_t spatial = x.dim() - 2;
  check_at_least(kernel, 1, "kernel_shape");
  check_at_least(strides, 1, "strides");
  check_at_least(dilations, 1, "dilations");
  TS_CHECK_VALUE(int64_t(kernel.size()) == spatial && int64_t(strides.size()) == spatial &&
                     int64_t(dilations.size()) == spatial, "kernel ", kernel, ", strides ", strides, " and dilations ",
                 dilations, " must each have one value per spatial dim of the input ", x.shape());
  const std::string auto_pad = n.s("auto_pad", "NOTSET");
  if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    Shape p(size_t(2 * spatial), 0);
    for (int64_t d = 0; d < spatial; ++d) {
      int64_t in = x.size(2 + d), s = strides[size_t(d)], out = (in + s - 1) / s;
      int64_t total = std::max<int64_t>(0, (out - 1) * s + (kernel[size_t(d)] - 1) * dilations[size_t(d)] + 1 - in);
      int64_t small = total / 2, large = total - small;
      p[size_t(d)] = auto_pad == "SAME_UPPER" ? small : large;
      p[size_t(d + spatial)] = auto_pad == "SAME_UPPER" ? large : small;
    }
    return p;
  }
  TS_CHECK_VALUE(auto_pad == "NOTSET" || auto_pad == "VALID", "auto_pad '", auto_pad, "' is not an ONNX value");
  if (auto_pad == "VALID") return Shape(size_t(2 * spatial), 0);
  Shape p = n.ints("pads").value_or(Shape(size_t(2 * spatial), 0));
  TS_CHECK_VALUE(int64_t(p.size()) == 2 * spatial, "pads must have ", 2 * spatial, " values, got ", p);
  check_at_least(p, 0, "pads");
  return p;
}

// Symmetric pads as the per-dim padding of the 2-D ops; asymmetric ones are applied to x first
// (with value fill) and the op then pads nothing.
Shape apply_pads(Tensor& x, const Shape& p, double fill) {
  const int64_t spatial = x.dim() - 2;
  bool symmetric = true;
  for (int64_t d = 0; d < spatial; ++d) symmetric = symmetric && p[size_t(d)] == p[size_t(d + spatial)];
  if (symmetric) return Shape(p.begin(), p.begin() + spatial);
  Shape torch_pad;  // (before, after) pairs from the last dim
  for (int64_t d = spatial - 1; d >= 0; --d) {
    torch_pad.push_back(p[size_t(d)]);
    torch_pad.push_back(p[size_t(d + spatial)]);
  }
  x = ops::pad(x, torch_pad, "constant", fill);
  return Shape(size_t(spatial), 0);
}

// A 1-D op's per-dim list (kernel, strides, pads, dilations) for its 2-D form on [N, C, 1, L]:
// fill is the extra height dim's value.
Shape two(const Shape& s, int64_t fill) { return s.size() == 1 ? Shape{fill, s[0]} : s; }

// The pads attribute of a ConvTranspose (VALID: none).
Shape onnx_pads_transposed(const Node& n, int64_t spatial) {
  if (n.s("auto_pad", "NOTSET") == "VALID") return Shape(size_t(2 * spatial), 0);
  Shape p = n.ints("pads").value_or(Shape(size_t(2 * spatial), 0));
  TS_CHECK_VALUE(int64_t(p.size()) == 2 * spatial, "pads must have ", 2 * spatial, " values, got ", p);
  return p;
}

// x [N, C, D, H, W] with the height and width pads of ONNX's 3-D pads list applied.
Tensor apply_pads_2d_of_3d(const Tensor& x, const Shape& pads) {
  return ops::pad(x, {pads[2], pads[5], pads[1], pads[4]}, "constant", 0.0);
}

// 3-D convolution as a sum of 2-D ones over the kernel's depth: output depth slice o reads input
// depth o * stride + k * dilation for each kernel depth k (x already padded in depth).
Tensor conv3d_by_slices(const Tensor& x, const Tensor& w, const Tensor& b, const Shape& strides, const Shape& pads,
                        const Shape& dil, int64_t groups) {
  int64_t D = x.size(2), K = w.size(2);
  int64_t out = (D + pads[0] + pads[3] - dil[0] * (K - 1) - 1) / strides[0] + 1;
  TS_CHECK_SHAPE(out > 0, "input ", x.shape(), " is too small for kernel ", w.shape());
  Tensor xp = ops::pad(x, {0, 0, 0, 0, pads[0], pads[3]}, "constant", 0.0);
  Tensor hw = apply_pads_2d_of_3d(xp, pads);
  Conv2dParams p{{strides[1], strides[2]}, {0, 0}, {dil[1], dil[2]}, groups};
  std::vector<Tensor> slices;
  for (int64_t o = 0; o < out; ++o) {
    Tensor acc;
    for (int64_t k = 0; k < K; ++k) {
      Tensor y = ops::conv2d(hw.select(2, o * strides[0] + k * dil[0]), w.select(2, k), Tensor(), p);
      acc = acc.defined() ? acc + y : y;
    }
    slices.push_back(acc);
  }
  Tensor y = ops::stack(slices, 2);
  if (b.defined()) y = y + b.reshape({-1, 1, 1, 1});
  return y;
}

// The full (uncropped, unbiased) output of a 3-D transposed convolution as 2-D ones: input depth
// slice i with kernel depth k adds to output depth i * stride + k * dilation.
Tensor conv_transpose3d_full(const Tensor& x, const Tensor& w, const Shape& strides, const Shape& dil,
                             int64_t groups) {
  int64_t D = x.size(2), K = w.size(2), out = (D - 1) * strides[0] + dil[0] * (K - 1) + 1;
  Conv2dParams p{{strides[1], strides[2]}, {0, 0}, {dil[1], dil[2]}, groups};
  std::vector<Tensor> slices(static_cast<size_t>(out));
  Tensor any;
  for (int64_t i = 0; i < D; ++i)
    for (int64_t k = 0; k < K; ++k) {
      Tensor& o = slices[size_t(i * strides[0] + k * dil[0])];
      Tensor y = ops::conv_transpose2d(x.select(2, i), w.select(2, k), Tensor(), p, {0, 0});
      o = o.defined() ? o + y : y;
      any = y;
    }
  for (Tensor& o : slices)  // depths no input reaches (strides above the kernel's reach)
    if (!o.defined()) o = zeros_like(any);
  return ops::stack(slices, 2);
}

// A transposed convolution with pads cropped from its full output afterwards: what asymmetric
// pads, auto_pad SAME_*, output_shape and 3-D kernels need.
Tensor conv_transpose_cropped(const Node& n, Tensor x, Tensor w, const Tensor& b, const Shape& strides,
                              const Shape& dil) {
  const int64_t S = x.dim() - 2;
  Shape op = n.ints("output_padding").value_or(Shape(size_t(S), 0)), pads(size_t(2 * S), 0);
  std::optional<Shape> want = n.ints("output_shape");
  if (want && int64_t(want->size()) == S + 2) want = Shape(want->begin() + 2, want->end());
  TS_CHECK_VALUE(!want || int64_t(want->size()) == S, "output_shape ", *want, " must have one value per spatial dim");
  const std::string auto_pad = n.s("auto_pad", "NOTSET");
  for (int64_t d = 0; d < S; ++d) {
    int64_t in = x.size(2 + d), full = (in - 1) * strides[size_t(d)] + dil[size_t(d)] * (w.size(2 + d) - 1) + 1;
    if (want || auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      int64_t target = want ? (*want)[size_t(d)] : in * strides[size_t(d)];
      int64_t total = full + op[size_t(d)] - target;  // negative: the output grows by zeros
      int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);  // rounded down, as ONNX's reference does
      bool upper = auto_pad == "SAME_UPPER";  // otherwise (SAME_LOWER, or output_shape alone) the larger part first
      pads[size_t(d)] = upper ? half : total - half;
      pads[size_t(d + S)] = upper ? total - half : half;
    } else if (auto_pad != "VALID") {
      Shape p = n.ints("pads").value_or(Shape(size_t(2 * S), 0));
      TS_CHECK_VALUE(int64_t(p.size()) == 2 * S, "pads must have ", 2 * S, " values, got ", p);
      pads = p;
    }
  }
  if (S == 1) {
    x = x.unsqueeze(2);
    w = w.unsqueeze(2);
  }
  Tensor y;
  if (S == 3) {
    y = conv_transpose3d_full(x, w, strides, dil, n.i("group", 1));
  } else {
    Shape st = two(strides, 1), dl = two(dil, 1);
    y = ops::conv_transpose2d(x, w, Tensor(), {{st[0], st[1]}, {0, 0}, {dl[0], dl[1]}, n.i("group", 1)}, {0, 0});
  }
  if (S == 1) y = y.squeeze(2);
  for (int64_t d = 0; d < S; ++d) {
    int64_t dim = 2 + d, extra = op[size_t(d)];
    if (extra > 0) {  // output_padding: rows at the end that only the bias reaches
      Shape sh = y.shape();
      sh[size_t(dim)] = extra;
      y = ops::cat({y, zeros(sh, {y.dtype(), y.device()})}, dim);
    }
    Shape grow(size_t(2 * y.dim()), 0);  // negative pads add zeros: (before, after) from the last dim
    grow[size_t(2 * (y.dim() - 1 - dim))] = std::max<int64_t>(0, -pads[size_t(d)]);
    grow[size_t(2 * (y.dim() - 1 - dim) + 1)] = std::max<int64_t>(0, -pads[size_t(d + S)]);
    y = ops::pad(y, grow, "constant", 0.0);
    int64_t begin = std::max<int64_t>(0, pads[size_t(d)]), end = y.size(dim) - std::max<int64_t>(0, pads[size_t(d + S)]);
    TS_CHECK_SHAPE(end > begin, "pads ", pads, " leave no output of ", y.shape());
    y = y.slice(dim, begin, end);
  }
  if (b.defined()) {
    Shape bs{-1};
    for (int64_t d = 0; d < S; ++d) bs.push_back(1);
    y = y + b.reshape(bs);
  }
  return y;
}

Tensor conv(const Node& n, bool transpose) {
  Tensor x = n.at(0), w = n.at(1);
  int64_t spatial = x.dim() - 2;
  TS_CHECK_SHAPE(spatial >= 1 && spatial <= 3 && w.dim() == x.dim(), "convolution input ", x.shape(), " and weight ",
                 w.shape(), ": 1-D, 2-D and 3-D convolutions are supported");
  Shape strides1 = n.ints("strides").value_or(Shape(size_t(spatial), 1));
  Shape dil1 = n.ints("dilations").value_or(Shape(size_t(spatial), 1));
  Shape kernel(w.shape().begin() + 2, w.shape().end());
  check_at_least(strides1, 1, "strides");
  check_at_least(dil1, 1, "dilations");
  Shape out_pad = n.ints("output_padding").value_or(Shape(size_t(spatial), 0));
  check_at_least(out_pad, 0, "output_padding");
  TS_CHECK_VALUE(int64_t(strides1.size()) == spatial && int64_t(dil1.size()) == spatial &&
                     int64_t(out_pad.size()) == spatial, "strides ", strides1, ", dilations ", dil1,
                 " and output_padding ", out_pad, " must each have one value per spatial dim of the input ", x.shape());
  Tensor b = n.has(2) ? n.in[2] : Tensor();
  if (spatial == 3) {
    if (transpose) return conv_transpose_cropped(n, x, w, b, strides1, dil1);
    return conv3d_by_slices(x, w, b, strides1, onnx_pads(n, x, kernel, strides1, dil1), dil1, n.i("group", 1));
  }
  Shape pads;
  if (transpose) {
    Shape p = onnx_pads_transposed(n, spatial);
    bool plain = !n.find("output_shape") && (n.s("auto_pad", "NOTSET") == "NOTSET" || n.s("auto_pad", "") == "VALID");
    for (int64_t d = 0; d < spatial; ++d) plain = plain && p[size_t(d)] == p[size_t(d + spatial)];
    if (!plain) return conv_transpose_cropped(n, x, w, b, strides1, dil1);
    pads = two(Shape(p.begin(), p.begin() + spatial), 0);
  } else {
    pads = two(apply_pads(x, onnx_pads(n, x, kernel, strides1, dil1), 0.0), 0);
  }
  Shape strides = two(strides1, 1);
  Shape dil = two(dil1, 1);
  if (spatial == 1) {
    x = x.unsqueeze(2);
    w = w.unsqueeze(2);
  }
  Conv2dParams p{{strides[0], strides[1]}, {pads[0], pads[1]}, {dil[0], dil[1]}, n.i("group", 1)};
  Tensor y;
  if (transpose) {
    y = ops::conv_transpose2d(x, w, b, p, two(n.ints("output_padding").value_or(Shape(size_t(spatial), 0)), 0));
  } else {
    y = ops::conv2d(x, w, b, p);
  }
  return spatial == 1 ? y.squeeze(2) : y;
}

// Pad (opsets 2 to 23): pads as an attribute or input, for every dim or only `axes` (opset 18);
// negative pads crop; modes constant, reflect, edge and wrap (opset 19).
Tensor onnx_pad(const Node& n) {
  Tensor x = n.at(0);
  const int64_t r = x.dim();
  Shape given = n.has(1) ? n.host_ints(1) : n.ints("pads").value_or(Shape{});
  Shape axes;
  if (n.has(3)) {
    axes = n.host_ints(3);
  } else {
    for (int64_t d = 0; d < r; ++d) axes.push_back(d);
  }
  TS_CHECK_VALUE(given.size() == 2 * axes.size(), "pads must have ", 2 * axes.size(), " values, got ", given);
  Shape p(size_t(2 * r), 0);  // ONNX's layout: begins, then ends
  for (size_t i = 0; i < axes.size(); ++i) {
    int64_t d = wrap(axes[i], r);
    TS_CHECK_VALUE(d >= 0 && d < r, "Pad: axis ", axes[i], " is out of range for ", x.shape());
    p[size_t(d)] = given[i];
    p[size_t(d + r)] = given[i + axes.size()];
  }
  for (int64_t d = 0; d < r; ++d) {  // negative pads crop first
    int64_t b = std::min<int64_t>(0, p[size_t(d)]), e = std::min<int64_t>(0, p[size_t(d + r)]);
    if (b || e) x = x.narrow(d, -b, x.size(d) + b + e);
    p[size_t(d)] = std::max<int64_t>(0, p[size_t(d)]);
    p[size_t(d + r)] = std::max<int64_t>(0, p[size_t(d + r)]);
  }
  std::string mode = n.s("mode", "constant");
  TS_CHECK_VALUE(mode == "constant" || mode == "reflect" || mode == "edge" || mode == "wrap", "Pad mode '", mode,
                 "' is not constant, reflect, edge or wrap");
  if (mode == "wrap") {  // the other end's values, repeated as often as needed
    for (int64_t d = 0; d < r; ++d) {
      int64_t b = p[size_t(d)], e = p[size_t(d + r)], len = x.size(d);
      if (!b && !e) continue;
      TS_CHECK_SHAPE(len > 0, "wrap padding of an empty dim ", d);
      int64_t copies = (b + e) / len + 2;
      Tensor tiled = ops::cat(std::vector<Tensor>(size_t(copies + 1), x), d);
      int64_t start = len * ((b + len - 1) / len) - b;
      x = tiled.narrow(d, start, len + b + e);
    }
    return x;
  }
  double value = n.has(2) ? n.in[2].item().to_double() : n.f("value", 0.0);
  Shape tp;  // tessera's order: (before, after) from the last dim
  for (int64_t d = r - 1; d >= 0; --d) {
    tp.push_back(p[size_t(d)]);
    tp.push_back(p[size_t(d + r)]);
  }
  return ops::pad(x, tp, mode == "edge" ? "replicate" : mode, value);
}

enum class PoolKind { Max, Average, Lp };

// The places i_d * step[d] - pads[d] (i_d < count[d]) in x's spatial dims, flattened row- or
// column-major, as a [count...] Int64 tensor (places outside x keep the same arithmetic).
Tensor flat_places(const Tensor& x, const Shape& count, const Shape& step, const Shape& pads, bool column_major) {
  const int64_t S = x.dim() - 2;
  Tensor r = zeros({1}, {DType::Int64, x.device()});
  for (int64_t d0 = 0; d0 < S; ++d0) {
    int64_t d = column_major ? S - 1 - d0 : d0;
    Shape s1(size_t(S), 1);
    s1[size_t(d)] = count[size_t(d)];
    Tensor along = arange(0, double(count[size_t(d)]), 1, {DType::Int64, x.device()}) * step[size_t(d)] - pads[size_t(d)];
    r = r * x.size(2 + d) + along.reshape(s1);
  }
  return r;
}

// Pooling over any number of spatial dims as a max or sum of the kernel's shifted, strided views
// of the padded input: what the 2-D kernels do not cover (3-D, dilated averages, pads beyond half
// the kernel, MaxPool's Indices, LpPool). pads: ONNX's [begins..., ends...].
Values pool_by_views(const Tensor& x, PoolKind kind, const Shape& kernel, const Shape& strides, const Shape& dil,
                     const Shape& pads, bool ceil_mode, bool count_include_pad, double p_norm, bool want_indices,
                     bool column_major) {
  const int64_t S = x.dim() - 2;
  Shape out = Shape(size_t(S)), torch_pad, extra = Shape(size_t(S));
  for (int64_t d = 0; d < S; ++d) {
    int64_t in = x.size(2 + d), pb = pads[size_t(d)], pe = pads[size_t(d + S)], k = kernel[size_t(d)];
    int64_t s = strides[size_t(d)], span = in + pb + pe - dil[size_t(d)] * (k - 1) - 1;
    TS_CHECK_SHAPE(span >= 0, "input ", x.shape(), " is too small for kernel ", kernel, " with dilations ", dil);
    int64_t n = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (n - 1) * s >= in + pb) --n;  // the last window starts inside the input or its left pad
    out[size_t(d)] = n;
    extra[size_t(d)] = std::max<int64_t>(0, (n - 1) * s + dil[size_t(d)] * (k - 1) + 1 - (in + pb + pe));
  }
  // A MaxPool whose pads reach far beyond the input (fuzzed files: 5x5 inputs with pads of 70):
  // the windows wholly in the padding are -inf, their index the place of their first tap (what
  // the reduction below gives them); only the windows from the first that reaches the input (or
  // earlier, keeping the pads non-negative) to the last are computed.
  static thread_local bool in_core = false;
  if (kind == PoolKind::Max && !in_core && !x.requires_grad()) {
    Shape lo = Shape(size_t(S)), count = Shape(size_t(S)), core_pads = Shape(size_t(2 * S));
    double core = 1, all = 1;
    bool reaches = true;
    for (int64_t d = 0; d < S; ++d) {
      int64_t in = x.size(2 + d), pb = pads[size_t(d)], s = strides[size_t(d)], reach = dil[size_t(d)] * (kernel[size_t(d)] - 1);
      int64_t first = pb - reach <= 0 ? 0 : (pb - reach + s - 1) / s, l = std::min(first, pb / s);
      int64_t h = std::min(out[size_t(d)] - 1, (in - 1 + pb) / s);
      reaches = reaches && in > 0 && h >= l;
      lo[size_t(d)] = l;
      count[size_t(d)] = h - l + 1;
      core_pads[size_t(d)] = pb - l * s;
      core_pads[size_t(d + S)] = std::max<int64_t>(0, h * s - pb + reach - (in - 1));
      core *= double(std::max<int64_t>(h - l + 1, 0));
      all *= double(out[size_t(d)]);
    }
    if (reaches && 2 * core <= all) {
      struct CoreGuard {
        CoreGuard() { in_core = true; }
        ~CoreGuard() { in_core = false; }
      } guard;
      Values c = pool_by_views(x, kind, kernel, strides, dil, core_pads, false, false, p_norm, want_indices, column_major);
      Shape full_shape{x.size(0), x.size(1)};
      full_shape.insert(full_shape.end(), out.begin(), out.end());
      Tensor vals = full(full_shape, -INFINITY, {x.dtype(), x.device()}), idx;
      if (want_indices) {  // every window's first tap, flattened as the reduction flattens places
        idx = flat_places(x, out, strides, pads, column_major);
        int64_t plane = 1;
        for (int64_t d = 0; d < S; ++d) plane *= x.size(2 + d);
        Shape ps{x.size(0), x.size(1)};
        ps.insert(ps.end(), size_t(S), 1);
        idx = (idx + (arange(0, double(x.size(0) * x.size(1)), 1, {DType::Int64, x.device()}) * plane).reshape(ps))
                  .contiguous();
      }
      Tensor v_core = vals, i_core = idx, cv = c[0], ci = want_indices ? c[1] : Tensor();
      for (int64_t d = 0; d < S; ++d) {
        v_core = v_core.narrow(2 + d, lo[size_t(d)], count[size_t(d)]);
        cv = cv.narrow(2 + d, 0, count[size_t(d)]);
        if (want_indices) {
          i_core = i_core.narrow(2 + d, lo[size_t(d)], count[size_t(d)]);
          ci = ci.narrow(2 + d, 0, count[size_t(d)]);
        }
      }
      v_core.copy_(cv);
      if (!want_indices) return {vals};
      i_core.copy_(ci);
      return {vals, idx};
    }
  }
  for (int64_t d = S - 1; d >= 0; --d) {  // (before, after) pairs from the last dim
    torch_pad.push_back(pads[size_t(d)]);
    torch_pad.push_back(pads[size_t(d + S)] + extra[size_t(d)]);
  }
  const double fill = kind == PoolKind::Max ? -INFINITY : 0.0;
  Tensor src = kind == PoolKind::Lp ? ops::pow(ops::abs(x), Scalar(p_norm)) : x;
  Tensor padded = ops::pad(src, torch_pad, "constant", fill);
  // For averages: how many positions each window counts (the pads when count_include_pad, never
  // the extra end that ceil_mode reads).
  Tensor counted;
  if (kind == PoolKind::Average) {
    Shape ones_shape{1, 1};
    ones_shape.insert(ones_shape.end(), x.shape().begin() + 2, x.shape().end());
    counted = ops::pad(ones(ones_shape, {x.dtype(), x.device()}), torch_pad, "constant", 0.0);
    if (count_include_pad) {
      Shape inner;
      for (int64_t d = S - 1; d >= 0; --d) {
        inner.push_back(pads[size_t(d)]);
        inner.push_back(pads[size_t(d + S)]);
      }
      Tensor with_pads = ops::pad(ones(ones_shape, {x.dtype(), x.device()}), inner, "constant", 1.0);
      Shape rest;
      for (int64_t d = S - 1; d >= 0; --d) {
        rest.push_back(0);
        rest.push_back(extra[size_t(d)]);
      }
      counted = ops::pad(with_pads, rest, "constant", 0.0);
    }
  }
  if (!want_indices) {  // a window's max or sum is the max or sum over each dim in turn: Σk ops, not Πk
    Tensor t = padded, c = counted;
    for (int64_t d = 0; d < S; ++d) {
      const int64_t s = strides[size_t(d)], dl = dil[size_t(d)], n = out[size_t(d)];
      auto along_d = [&](const Tensor& v, bool take_max) {
        Tensor r;
        for (int64_t j = 0; j < kernel[size_t(d)]; ++j) {
          Tensor w = v.slice(2 + d, j * dl, j * dl + (n - 1) * s + 1, s);
          r = !r.defined() ? w : take_max ? ops::maximum(r, w) : r + w;
        }
        return r;
      };
      t = along_d(t, kind == PoolKind::Max);
      if (c.defined()) c = along_d(c, false);
    }
    if (kind == PoolKind::Average) return {t / c};
    if (kind == PoolKind::Lp) return {ops::pow(t, Scalar(1.0 / p_norm))};
    return {t};
  }
  // MaxPool with Indices, separably too: along the last dim, then the one before, ..., one
  // arg-max over each dim's windows (a strided view), so the first maximum in the window's row-major
  // order wins, a NaN over any number. pos: where each value came from in the padded plane; the
  // values are gathered from there at the end (so gradients reach the input).
  const int64_t N = x.size(0), C = x.size(1);
  Shape plane_shape{1, 1};
  plane_shape.insert(plane_shape.end(), padded.shape().begin() + 2, padded.shape().end());
  int64_t plane_padded = 1, plane = 1;
  for (int64_t d = 0; d < S; ++d) {
    plane_padded *= padded.size(2 + d);
    plane *= x.size(2 + d);
  }
  Tensor t = padded.detach(),
         pos = arange(0, double(plane_padded), 1, {DType::Int64, x.device()}).reshape(plane_shape).expand(t.shape());
  for (int64_t d = S - 1; d >= 0; --d) {
    auto windows = [&](const Tensor& v) {  // [N, C, ..., out[d], ..., kernel[d]]
      Tensor c = v.contiguous();
      Shape shape = c.shape(), st = c.strides();
      shape[size_t(2 + d)] = out[size_t(d)];
      shape.push_back(kernel[size_t(d)]);
      st.push_back(st[size_t(2 + d)] * dil[size_t(d)]);
      st[size_t(2 + d)] *= strides[size_t(d)];
      return ops::as_strided(c, shape, st);
    };
    auto [best, j] = ops::max(windows(t), -1, true);
    pos = ops::gather(windows(pos), -1, j).squeeze(-1);
    t = best.squeeze(-1);
  }
  // Each padded position's place in the unpadded input, flattened row- or column-major (the pads'
  // places fall outside the input; they win only where a window holds nothing but -inf).
  Shape padded_sizes(padded.shape().begin() + 2, padded.shape().end());
  Tensor place = flat_places(x, padded_sizes, Shape(size_t(S), 1), pads, column_major);
  Shape out_shape{N, C};
  out_shape.insert(out_shape.end(), out.begin(), out.end());
  int64_t out_plane = 1;
  for (int64_t n : out) out_plane *= n;
  Tensor flat_pos = pos.reshape({N, C, out_plane});
  Tensor vals = ops::gather(padded.reshape({N, C, plane_padded}), 2, flat_pos).reshape(out_shape);
  Tensor where_from = ops::gather(place.reshape({1, 1, plane_padded}).expand({N, C, plane_padded}), 2, flat_pos);
  Tensor planes = arange(0, double(N * C), 1, {DType::Int64, x.device()}).reshape({N, C, 1}) * plane;
  return {vals, (where_from + planes).reshape(out_shape)};
}

Values pool(const Node& n, PoolKind kind) {
  Tensor x = n.at(0);
  int64_t spatial = x.dim() - 2;
  TS_CHECK_SHAPE(spatial >= 1, "pooling needs an input [N, C, D...], got shape ", x.shape());
  TS_CHECK_VALUE(n.ints("kernel_shape").has_value(), "kernel_shape is required");
  Shape kernel = *n.ints("kernel_shape"), strides = n.ints("strides").value_or(Shape(size_t(spatial), 1));
  Shape dil = n.ints("dilations").value_or(Shape(size_t(spatial), 1));
  TS_CHECK_VALUE(int64_t(kernel.size()) == spatial && int64_t(strides.size()) == spatial &&
                     int64_t(dil.size()) == spatial, "kernel_shape ", kernel, ", strides ", strides, " and dilations ",
                 dil, " must each have one value per spatial dim of the input ", x.shape());
  Shape p = onnx_pads(n, x, kernel, strides, dil);
  const bool max = kind == PoolKind::Max, indices = max && n.proto.output_size() > 1;
  const bool ceil_mode = n.i("ceil_mode", 0) != 0, include_pad = n.i("count_include_pad", 0) != 0;
  bool native = kind != PoolKind::Lp && spatial <= 2 && !indices;
  for (int64_t d = 0; d < spatial; ++d) {
    native = native && 2 * std::max(p[size_t(d)], p[size_t(d + spatial)]) <= kernel[size_t(d)];
    native = native && (max || dil[size_t(d)] == 1);
  }
  if (!native)
    return pool_by_views(x, kind, kernel, strides, dil, p, ceil_mode, include_pad, double(n.i("p", 2)), indices,
                         n.i("storage_order", 0) != 0);
  ops::PoolOptions o;
  o.kernel_size = two(kernel, 1);
  o.stride = two(strides, 1);
  o.dilation = two(dil, 1);
  o.ceil_mode = ceil_mode;
  o.count_include_pad = include_pad;
  Tensor padded = x;
  o.padding = two(apply_pads(padded, p, max ? -INFINITY : 0.0), 0);
  const bool pre_padded = !padded.is_same(x);
  auto run = [&](Tensor t) {
    if (spatial == 1) t = t.unsqueeze(2);
    Tensor y = max ? ops::max_pool2d(t, o) : ops::avg_pool2d(t, o);
    return spatial == 1 ? y.squeeze(2) : y;
  };
  if (max || !pre_padded || o.count_include_pad) return {run(padded)};
  // An average that leaves the (asymmetric) padding out: window sums over window counts.
  Tensor ones = ones_like(x);
  apply_pads(ones, p, 0.0);
  return {run(padded) / run(ones)};
}

// ONNX Reshape: 0 copies the input's dim (unless allowzero), -1 is inferred.
Tensor reshape(const Node& n) {
  Tensor x = n.at(0);
  Shape s = n.host_ints(1);
  if (!n.i("allowzero", 0))
    for (size_t i = 0; i < s.size(); ++i)
      if (s[i] == 0) {
        TS_CHECK_SHAPE(int64_t(i) < x.dim(), "shape ", s, " copies dim ", i, " of an input of shape ", x.shape());
        s[i] = x.size(int64_t(i));
      }
  return x.reshape(s);
}

Tensor slice(const Node& n) {
  Tensor x = n.at(0);
  Shape starts = n.has(1) ? n.host_ints(1) : *n.ints("starts"), ends = n.has(2) ? n.host_ints(2) : *n.ints("ends");
  Shape axes = n.has(3) ? n.host_ints(3) : n.ints("axes").value_or(Shape{});
  Shape steps = n.has(4) ? n.host_ints(4) : Shape{};
  TS_CHECK_VALUE(starts.size() == ends.size(), "starts ", starts, " and ends ", ends, " differ in length");
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(int64_t(i));
  TS_CHECK_VALUE(axes.size() == starts.size() && (steps.empty() || steps.size() == starts.size()), "starts ", starts,
                 ", axes ", axes, " and steps ", steps, " differ in length");
  for (size_t i = 0; i < axes.size(); ++i) {
    int64_t d = wrap(axes[i], x.dim()), step = steps.empty() ? 1 : steps[i], size = x.size(d);
    TS_CHECK_VALUE(step != 0, "slice step must not be 0");
    auto clampi = [&](int64_t v, int64_t lo, int64_t hi) { return std::max(lo, std::min(hi, v)); };
    int64_t b = starts[i] < 0 ? starts[i] + size : starts[i], e = ends[i] < 0 ? ends[i] + size : ends[i];
    if (step > 0) {
      x = x.slice(d, clampi(b, 0, size), clampi(e, 0, size), step);
    } else {  // a negative step walks backwards: flip, then slice forwards
      b = clampi(b, -1, size - 1);
      e = clampi(e, -1, size - 1);
      Tensor f = ops::flip(x, {d});
      x = f.slice(d, size - 1 - b, size - 1 - e, -step);
    }
  }
  return x;
}

Tensor gemm(const Node& n) {
  Tensor a = n.at(0), b = n.at(1);
  if (n.i("transA", 0)) a = a.t();
  if (n.i("transB", 0)) b = b.t();
  double alpha = n.f("alpha", 1), beta = n.f("beta", 1);
  // A layer's Gemm (B transposed, alpha = beta = 1, C a bias row): one linear, the bias added in
  // the same pass.
  if (n.i("transB", 0) && alpha == 1 && beta == 1 && a.is_floating_point() && a.dtype() == b.dtype() &&
      a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(0)) {
    const Tensor* c = n.has(2) ? &n.in[2] : nullptr;
    bool row = c && c->dtype() == a.dtype() && c->numel() == b.size(1) &&
               (c->dim() == 1 || (c->dim() == 2 && c->size(0) == 1));
    if (!c || row) return ops::linear(a, n.at(1), c ? c->reshape({-1}) : Tensor());
  }
  Tensor y = ops::matmul(a, b);
  if (alpha != 1) y = y * alpha;
  if (n.has(2)) y = beta == 1 ? y + n.in[2] : y + n.in[2] * beta;
  return y;
}


const OpTable& op_table() {
  static const OpTable t = [] {
    OpTable m;
    add_math_ops(m);
    add_nn_ops(m);
    add_image_ops(m);
    add_quant_ops(m);
    add_contrib_ops(m);
    add_signal_ops(m);
    m["Gemm"] = [](const Node& n) { return one(gemm(n)); };
    m["Conv"] = [](const Node& n) { return one(conv(n, false)); };
    m["ConvTranspose"] = [](const Node& n) { return one(conv(n, true)); };
    m["MaxPool"] = [](const Node& n) { return pool(n, PoolKind::Max); };
    m["AveragePool"] = [](const Node& n) { return pool(n, PoolKind::Average); };
    m["LpPool"] = [](const Node& n) { return pool(n, PoolKind::Lp); };
    m["MaxUnpool"] = [](const Node& n) {  // X's values at MaxPool's flattened indices, zeros elsewhere
      const Tensor& x = n.at(0);
      const int64_t S = x.dim() - 2;
      Shape out;
      if (n.has(2)) {
        out = n.host_ints(2);
      } else {
        Shape k = n.ints("kernel_shape").value_or(Shape{}), st = n.ints("strides").value_or(Shape(size_t(S), 1));
        Shape p = n.ints("pads").value_or(Shape(size_t(2 * S), 0));
        TS_CHECK_VALUE(int64_t(k.size()) == S && int64_t(st.size()) == S && int64_t(p.size()) == 2 * S,
                       "kernel_shape ", k, ", strides ", st, " and pads ", p, " do not fit the input ", x.shape());
        out = {x.size(0), x.size(1)};
        for (int64_t d = 0; d < S; ++d)
          out.push_back((x.size(2 + d) - 1) * st[size_t(d)] + k[size_t(d)] - p[size_t(d)] - p[size_t(d + S)]);
      }
      int64_t total = 1;
      for (int64_t v : out) total *= v;
      Tensor flat = zeros({total}, {x.dtype(), x.device()});
      return one(ops::index_copy(flat, 0, n.at(1).to(DType::Int64).reshape({-1}), x.reshape({-1})).reshape(out));
    };
    m["GlobalAveragePool"] = [](const Node& n) {
      const Tensor& x = n.at(0);
      Shape dims;
      for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
      return one(ops::mean(x, dims, true));
    };
    m["GlobalMaxPool"] = [](const Node& n) {
      const Tensor& x = n.at(0);
      Shape dims;
      for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
      return one(ops::amax(x, dims, true));
    };
    m["Flatten"] = [](const Node& n) {
      const Tensor& x = n.at(0);
      int64_t axis = wrap(n.i("axis", 1), x.dim());
      int64_t outer = 1;
      for (int64_t d = 0; d < axis; ++d) outer *= x.size(d);
      return one(x.reshape({outer, -1}));
    };
    m["Reshape"] = [](const Node& n) { return one(reshape(n)); };
    m["Transpose"] = [](const Node& n) {
      const Tensor& x = n.at(0);
      Shape perm = n.ints("perm").value_or(Shape{});
      if (perm.empty())
        for (int64_t d = x.dim() - 1; d >= 0; --d) perm.push_back(d);
      return one(x.permute(perm));
    };
    m["Squeeze"] = [](const Node& n) {
      Tensor x = n.at(0);
      std::optional<Shape> axes = n.axes(1);
      if (!axes) return one(x.squeeze());
      Shape a = *axes;
      for (auto& d : a) d = wrap(d, x.dim());
      std::sort(a.rbegin(), a.rend());
      for (int64_t d : a) {
        TS_CHECK_SHAPE(x.size(d) == 1, "cannot squeeze dim ", d, " of size ", x.size(d));
        x = x.squeeze(d);
      }
      return one(x);
    };
    m["Unsqueeze"] = [](const Node& n) {
      Tensor x = n.at(0);
      Shape a = *n.axes(1);
      int64_t rank = x.dim() + int64_t(a.size());
      for (auto& d : a) d = wrap(d, rank);
      std::sort(a.begin(), a.end());
      for (int64_t d : a) x = x.unsqueeze(d);
      return one(x);
    };
    m["Concat"] = [](const Node& n) {
      Values parts;
      for (size_t k = 0; k < n.in.size(); ++k) parts.push_back(n.at(k));
      return one(ops::cat(parts, n.i("axis", 0)));
    };
    m["Split"] = [](const Node& n) {
      const Tensor& x = n.at(0);
      int64_t d = wrap(n.i("axis", 0), x.dim());
      Shape sizes = n.has(1) ? n.host_ints(1) : n.ints("split").value_or(Shape{});
      if (sizes.empty()) {
        int64_t parts = n.proto.output_size(), size = x.size(d);
        int64_t each = (size + parts - 1) / parts;
        for (int64_t o = 0; o < size; o += each) sizes.push_back(std::min(each, size - o));
      }
      return ops::split(x, sizes, d);
    };
    m["Slice"] = [](const Node& n) { return one(slice(n)); };
    m["Gather"] = [](const Node& n) {
      const Tensor& x = n.at(0);
      int64_t d = wrap(n.i("axis", 0), x.dim());
      TS_CHECK_INDEX(d >= 0 && d < x.dim(), "Gather: axis ", n.i("axis", 0), " is out of range for input ", x.shape());
      // One index on the host (a traced x[:, -1]): a view of that slice, without index ops.
      if (n.at(1).dim() == 0 && n.at(1).device().is_cpu() &&
          (n.at(1).dtype() == DType::Int64 || n.at(1).dtype() == DType::Int32)) {
        int64_t i = n.at(1).item<int64_t>(), size = x.size(d);
        TS_CHECK_INDEX(i >= -size && i < size, "Gather: index ", i, " is out of range for axis ", d, " of input ",
                       x.shape());
        return one(x.select(d, i < 0 ? i + size : i));
      }
      Tensor idx = n.at(1).to(DType::Int64);
      idx = ops::where(idx < int64_t(0), idx + x.size(d), idx);  // negative indices count from the end
      Tensor flat = ops::index_select(x, d, idx.reshape({-1}));
      Shape s(x.shape().begin(), x.shape().begin() + d);
      s.insert(s.end(), idx.shape().begin(), idx.shape().end());
      s.insert(s.end(), x.shape().begin() + d + 1, x.shape().end());
      return one(flat.reshape(s));
    };
    m["GatherElements"] = [](const Node& n) {
      const Tensor& x = n.at(0);
      int64_t d = wrap(n.i("axis", 0), x.dim());
      Tensor idx = n.at(1).to(DType::Int64);
      return one(ops::gather(x, d, ops::where(idx < int64_t(0), idx + x.size(d), idx)));
    };
    m["Shape"] = [](const Node& n) {
      const Shape& s = n.at(0).shape();
      int64_t r = int64_t(s.size()), b = wrap(n.i("start", 0), r), e = n.find("end") ? wrap(n.i("end", r), r) : r;
      b = std::clamp<int64_t>(b, 0, r);
      e = std::clamp<int64_t>(e, b, r);
      return one(from_vector(std::vector<int64_t>(s.begin() + b, s.begin() + e)).to(n.at(0).device()));
    };
    m["Size"] = [](const Node& n) { return one(scalar_tensor(n.at(0).numel(), DType::Int64, n.at(0).device())); };
    m["Expand"] = [](const Node& n) {
      const Tensor& x = n.at(0);
      Shape want = n.host_ints(1);
      Shape s = broadcast_shapes(x.shape(), want, "Expand");
      return one(x.expand(s).contiguous());
    };
    m["Tile"] = [](const Node& n) { return one(ops::repeat(n.at(0), n.host_ints(1))); };
    m["ConstantOfShape"] = [](const Node& n) {
      Shape s = n.host_ints(0);
      auto* v = n.find("value");
      Tensor value = v ? onnx_proto::from_proto(v->t(), "ConstantOfShape") : zeros({1}, {DType::Float32});
      return one(value.reshape({}).expand(s).contiguous().to(n.at(0).device()));
    };
    m["Range"] = [](const Node& n) {
      Tensor s = n.at(0);
      double a = s.item().to_double(), b = n.at(1).item().to_double(), d = n.at(2).item().to_double();
      return one(arange(a, b, d, {s.dtype(), s.device()}));
    };
    m["Pad"] = [](const Node& n) { return one(onnx_pad(n)); };
    m["CenterCropPad"] = [](const Node& n) {  // crop or pad each of axes to shape, centered
      Tensor x = n.at(0);
      Shape shape = n.host_ints(1), axes = n.ints("axes").value_or(Shape{});
      if (axes.empty())
        for (int64_t d = 0; d < x.dim(); ++d) axes.push_back(d);
      TS_CHECK_VALUE(shape.size() == axes.size(), "shape ", shape, " has one size per axis of ", axes);
      for (size_t i = 0; i < axes.size(); ++i) {
        int64_t d = wrap(axes[i], x.dim()), have = x.size(d), want = shape[i];
        if (want < have) {
          x = x.narrow(d, (have - want) / 2, want);
        } else if (want > have) {
          Shape p(size_t(2 * x.dim()), 0);
          p[size_t(2 * (x.dim() - 1 - d))] = (want - have) / 2;
          p[size_t(2 * (x.dim() - 1 - d) + 1)] = want - have - (want - have) / 2;
          x = ops::pad(x, p, "constant", 0.0);
        }
      }
      return one(x);
    };
    return m;
  }();
  return t;
}

}  // namespace

Tensor run_conv(const Node& n) { return conv(n, false); }
Tensor run_gemm(const Node& n) { return gemm(n); }
Tensor run_average_pool(const Node& n) { return pool(n, PoolKind::Average)[0]; }

}  // namespace tessera::io::internal

namespace tessera::io {
std::vector<std::string> onnx_operator_names() { return internal::operator_names(); }
}  // namespace tessera::io

namespace tessera::io::internal {

std::vector<std::string> operator_names() {
  std::vector<std::string> r{"Constant", "If", "Loop", "Scan"};  // (is_control_flow's, with Constant)
  r.insert(r.end(), sequence_op_names().begin(), sequence_op_names().end());
  r.insert(r.end(), string_op_names().begin(), string_op_names().end());
  for (const auto& [name, fn] : op_table()) r.push_back(name);
  std::sort(r.begin(), r.end());
  return r;
}

bool runs(const onnx::NodeProto& p) {
  if (!in_default_domain(p)) return op_table().count(op_key(p)) > 0;
  return p.op_type() == "Constant" || is_control_flow(p) || is_sequence_op(p) || is_string_op(p) ||
         op_table().count(p.op_type());
}

Values run_node(const onnx::NodeProto& p, const Values& in, Device dev, int64_t opset) {
  if (in_default_domain(p) && p.op_type() == "Constant") {  // one of value (a tensor), value_float(s), value_int(s)
    TS_CHECK_VALUE(p.attribute_size() == 1, "Constant needs exactly one value attribute, it has ", p.attribute_size());
    const auto& a = p.attribute(0);
    if (a.name() == "value" && a.has_t()) return {onnx_proto::from_proto(a.t(), "Constant").to(dev)};
    if (a.name() == "value_float") return {scalar_tensor(double(a.f()), DType::Float32, dev)};
    if (a.name() == "value_int") return {scalar_tensor(a.i(), DType::Int64, dev)};
    if (a.name() == "value_floats")
      return {from_vector(std::vector<float>(a.floats().begin(), a.floats().end())).to(dev)};
    if (a.name() == "value_ints")
      return {from_vector(std::vector<int64_t>(a.ints().begin(), a.ints().end())).to(dev)};
    throw ValueError(::tessera::detail::str("Constant with attribute '", a.name(),
                                            "' is not supported (value, value_float(s) and value_int(s) are)"));
  }
  TS_CHECK_VALUE(!in_default_domain(p) || (!is_control_flow(p) && !is_sequence_op(p) && !is_string_op(p)),
                 p.op_type(), " runs with the graph around it (an OnnxModel), not on its own");
  const auto& table = op_table();
  auto op = table.find(op_key(p));
  TS_CHECK_VALUE(op != table.end(), "op ", op_key(p), " is not supported by tessera's importer");
  Node n{p, in, opset};
  return op->second(n);
}
}  // namespace tessera::io::internal

