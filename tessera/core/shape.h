#pragma once
// Shapes and strides (in elements), and the rules that relate them.
#include <cstdint>
#include <string_view>
#include <vector>

namespace tessera {

using Shape = std::vector<int64_t>;
inline constexpr int kMaxDims = 16;

int64_t numel_of(const Shape& shape);
// Row-major strides of a contiguous tensor of this shape.
Shape contiguous_strides(const Shape& shape);
// The strides of a 4-D [N, C, H, W] shape laid out as [N, H, W, C] in memory (channels last).
Shape channels_last_strides(const Shape& shape);
// Maps a possibly negative dim into [0, ndim); throws IndexError naming op otherwise.
int64_t wrap_dim(int64_t dim, int64_t ndim, std::string_view op);
// NumPy broadcasting of two shapes; throws ShapeError naming op when they are incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, std::string_view op);
// Checks a shape given by the user (no negative sizes, at most kMaxDims dims).
void check_shape(const Shape& shape, std::string_view op);
// Resolves one -1 entry of a requested view/reshape shape against numel.
Shape infer_shape(const Shape& requested, int64_t numel, std::string_view op);

}  // namespace tessera
