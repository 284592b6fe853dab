#pragma once
// The functional API: every op checks its arguments (errors name the op, shapes and dtypes),
// broadcasts and promotes like PyTorch, and runs on the backend of its inputs' device.
// Most are also Tensor methods (t.sum(), t.view()).
#include <functional>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include "tessera/backend/backend.h"
#include "tessera/ops/factory.h"

namespace tessera::ops {

// --- type promotion ---------------------------------------------------------------------------
// The dtype of a binary op's result (PyTorch's rules: 0-d tensors and scalars only raise the
// category, never the size, of dimensioned operands).
DType result_type(const Tensor& a, const Tensor& b);
DType result_type(const Tensor& a, const Scalar& b);

// --- elementwise unary (integer inputs to floating functions give float32) --------------------
Tensor abs(const Tensor& x);
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor expm1(const Tensor& x);
Tensor log(const Tensor& x);
Tensor log1p(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
// approximate: "none" (erf form) or "tanh".
Tensor gelu(const Tensor& x, const std::string& approximate = "none");
Tensor silu(const Tensor& x);
Tensor softplus(const Tensor& x, double beta = 1, double threshold = 20);
Tensor erf(const Tensor& x);
Tensor floor(const Tensor& x);
Tensor ceil(const Tensor& x);
Tensor round(const Tensor& x);
Tensor sign(const Tensor& x);
Tensor reciprocal(const Tensor& x);
Tensor square(const Tensor& x);
Tensor clamp(const Tensor& x, std::optional<Scalar> min, std::optional<Scalar> max);
Tensor logical_not(const Tensor& x);
// ~x on integer tensors, not x on bool ones (torch.bitwise_not).
Tensor bitwise_not(const Tensor& x);
// Composed of the ops above (autograd flows through them): tan, atan, asin, acos (NaN outside
// [-1, 1]), sinh, cosh, log2, log10, exp2.
Tensor tan(const Tensor& x);
Tensor atan(const Tensor& x);
Tensor asin(const Tensor& x);
Tensor acos(const Tensor& x);
Tensor sinh(const Tensor& x);
Tensor cosh(const Tensor& x);
Tensor log2(const Tensor& x);
Tensor log10(const Tensor& x);
Tensor exp2(const Tensor& x);
// Runs a unary op by enum (the in-place form writes into x).
Tensor unary(UnaryOp op, const Tensor& x);
Tensor& unary_(UnaryOp op, Tensor& x);
// Runs an in-place op on t when autograd is recording: outplace(old value of t) computes the
// result, which is written into t, and t's history becomes the result's. (Leaves that require
// grad and views of such tensors are refused.)
Tensor& rebind_inplace(Tensor& t, const char* op, const std::function<Tensor(const Tensor&)>& outplace);

// --- elementwise binary (broadcasting, promotion) ----------------------------------------------
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);
Tensor binary(BinaryOp op, const Tensor& a, Scalar b);
// a op= b in place; throws when the result dtype cannot be cast to a's, or b does not broadcast to a.
Tensor& binary_(BinaryOp op, Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, const Tensor& b, Scalar alpha = 1);
Tensor sub(const Tensor& a, const Tensor& b, Scalar alpha = 1);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);  // true division: integers give float32
Tensor pow(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, Scalar b);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor atan2(const Tensor& a, const Tensor& b);
Tensor fmod(const Tensor& a, const Tensor& b);
// Python's % and // (torch.remainder, torch.floor_divide): the remainder takes the divisor's sign,
// the quotient rounds down.
Tensor remainder(const Tensor& a, const Tensor& b);
Tensor floor_divide(const Tensor& a, const Tensor& b);
// x + weight * (end - x).
Tensor lerp(const Tensor& x, const Tensor& end, const Tensor& weight);
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);
Tensor logical_xor(const Tensor& a, const Tensor& b);
// &, | and ^ of integer or bool tensors, broadcasting (torch.bitwise_and/or/xor).
Tensor bitwise_and(const Tensor& a, const Tensor& b);
Tensor bitwise_or(const Tensor& a, const Tensor& b);
Tensor bitwise_xor(const Tensor& a, const Tensor& b);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
// a * b + c in one pass (broadcasting, promotion to a floating dtype).
Tensor fma(const Tensor& a, const Tensor& b, const Tensor& c);
Tensor where(const Tensor& cond, const Tensor& a, Scalar b);
Tensor where(const Tensor& cond, Scalar a, const Tensor& b);
// True when shapes and values are equal (NaN != NaN).
bool equal(const Tensor& a, const Tensor& b);
// |a - b| <= atol + rtol * |b| elementwise, after broadcasting.
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8, bool equal_nan = false);
Tensor isclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8, bool equal_nan = false);
Tensor isnan(const Tensor& x);
Tensor isinf(const Tensor& x);
Tensor isfinite(const Tensor& x);  // neither inf nor NaN

// --- reductions ------------------------------------------------------------------------------
// An empty dims list reduces every dim. Integer and bool sums give int64.
Tensor sum(const Tensor& x, const Shape& dims = {}, bool keepdim = false, std::optional<DType> dtype = std::nullopt);
Tensor mean(const Tensor& x, const Shape& dims = {}, bool keepdim = false);
Tensor prod(const Tensor& x, const Shape& dims = {}, bool keepdim = false);
Tensor amax(const Tensor& x, const Shape& dims = {}, bool keepdim = false);
Tensor amin(const Tensor& x, const Shape& dims = {}, bool keepdim = false);
// (values, indices) along dim.
std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim = false);
std::pair<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false);
Tensor argmin(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false);
// correction 1 is Bessel's (unbiased) estimate, 0 the population variance.
Tensor var(const Tensor& x, const Shape& dims = {}, int64_t correction = 1, bool keepdim = false);
Tensor std(const Tensor& x, const Shape& dims = {}, int64_t correction = 1, bool keepdim = false);
// p-norm; p = INFINITY gives the max-abs norm.
Tensor norm(const Tensor& x, double p = 2, const Shape& dims = {}, bool keepdim = false);
Tensor logsumexp(const Tensor& x, const Shape& dims, bool keepdim = false);
Tensor all(const Tensor& x, const Shape& dims = {}, bool keepdim = false);
Tensor any(const Tensor& x, const Shape& dims = {}, bool keepdim = false);
Tensor cumsum(const Tensor& x, int64_t dim, std::optional<DType> dtype = std::nullopt);
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);
// (values, indices), sorted; stable.
std::pair<Tensor, Tensor> sort(const Tensor& x, int64_t dim = -1, bool descending = false);
std::pair<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim = -1, bool largest = true);

// --- shape and movement ------------------------------------------------------------------------
// zeros of base_shape with g written into the view `view_of` takes of them; the gradient of a
// narrowing view (select, narrow, slice), recorded so that it differentiates again.
Tensor embed_in_zeros(const Tensor& g, const Shape& base_shape, std::function<Tensor(const Tensor&)> view_of);
Tensor as_strided(const Tensor& x, const Shape& shape, const Shape& strides, std::optional<int64_t> offset = std::nullopt);
Tensor cat(const std::vector<Tensor>& xs, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& xs, int64_t dim = 0);
// Pieces of split_size along dim (the last may be smaller), or of the given sizes.
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim = 0);
std::vector<Tensor> split(const Tensor& x, const Shape& sizes, int64_t dim = 0);
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim = 0);
// The slices along dim, that dim removed (views; one autograd node for all of them).
std::vector<Tensor> unbind(const Tensor& x, int64_t dim = 0);
Tensor flip(const Tensor& x, const Shape& dims);
Tensor roll(const Tensor& x, const Shape& shifts, const Shape& dims);
Tensor repeat(const Tensor& x, const Shape& repeats);
// pad lists (before, after) pairs starting from the last dim, as torch.nn.functional.pad.
// mode: "constant", "reflect" or "replicate".
Tensor pad(const Tensor& x, const Shape& pad, const std::string& mode = "constant", double value = 0);
Tensor tril(const Tensor& x, int64_t diagonal = 0);
Tensor triu(const Tensor& x, int64_t diagonal = 0);

// --- indexing ----------------------------------------------------------------------------------
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
// x with src's slices added at index along dim (out of place; index 1-D).
Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
// x with its slices at index along dim replaced by src's (out of place; index 1-D).
Tensor index_copy(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor& scatter_(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor& scatter_add_(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
// x[dim-slices at index] += src (index_add) or = src (index_copy).
Tensor& index_add_(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor& index_copy_(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor masked_fill(const Tensor& x, const Tensor& mask, Scalar value);
Tensor masked_select(const Tensor& x, const Tensor& mask);
Tensor nonzero(const Tensor& x);

// --- linear algebra and neural-network ops -------------------------------------------------------
// The outer product of two 1-D tensors.
Tensor outer(const Tensor& a, const Tensor& b);
// A 1-D tensor placed on diagonal d of a square matrix, or a 2-D tensor's diagonal d (torch.diag).
Tensor diag(const Tensor& x, int64_t diagonal = 0);
// The sum of a 2-D tensor's main diagonal (torch.trace; ops::trace names graph tracing).
Tensor matrix_trace(const Tensor& x);
// Coordinate grids from 1-D tensors; indexing "ij" (matrix) or "xy" (Cartesian).
std::vector<Tensor> meshgrid(const std::vector<Tensor>& tensors, const std::string& indexing = "ij");
// Einstein summation (torch.einsum): "ij,jk->ik", batch dims, "...", implicit outputs, diagonals
// ("ii->i"), any number of operands (contracted left to right as batched matmuls).
Tensor einsum(const std::string& equation, const std::vector<Tensor>& operands);
// matmul with NumPy semantics: 1-D operands are promoted, batch dims broadcast.
Tensor matmul(const Tensor& a, const Tensor& b);
// x [..., in] @ weight[out, in]^T + bias[out].
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = {});
// One recurrent layer and direction over x [T, N, I] from h0 [N, H] (and c0 for LSTM), with
// PyTorch's weight layouts and gate orders: (y [T, N, H], h_n, c_n). A fused kernel where the
// backend has one (see set_fused_kernels_enabled), the steps as ops otherwise.
std::tuple<Tensor, Tensor, Tensor> rnn_layer(RnnCell cell, const Tensor& x, const Tensor& h0, const Tensor& c0,
                                             const Tensor& w_ih, const Tensor& w_hh, const Tensor& b_ih,
                                             const Tensor& b_hh, bool reverse);
// softmax(q k^T * scale + mask) v (torch.nn.functional.scaled_dot_product_attention): q [..., L, E],
// k [..., S, E], v [..., S, Ev]. attn_mask broadcasts to [..., L, S]: bool (true = may attend)
// or float (added); is_causal masks j > i; scale defaults to 1/sqrt(E); dropout on the weights.
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& attn_mask = {},
                                    double dropout_p = 0, bool is_causal = false,
                                    std::optional<double> scale = std::nullopt);
// The same, also returning the attention weights [..., L, S] (before dropout).
std::pair<Tensor, Tensor> attention_with_weights(const Tensor& q, const Tensor& k, const Tensor& v,
                                                 const Tensor& attn_mask = {}, double dropout_p = 0,
                                                 bool is_causal = false, std::optional<double> scale = std::nullopt);
Tensor conv1d(const Tensor& x, const Tensor& w, const Tensor& bias = {}, int64_t stride = 1, int64_t padding = 0,
              int64_t dilation = 1, int64_t groups = 1);
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias = {}, const Conv2dParams& p = {});
Tensor conv2d_backward_input(const Tensor& grad_out, const Tensor& w, const Shape& input_shape, const Conv2dParams& p);
// (grad_weight, grad_bias); grad_bias is computed when with_bias.
std::pair<Tensor, Tensor> conv2d_backward_weight(const Tensor& grad_out, const Tensor& x, const Shape& weight_shape,
                                                 const Conv2dParams& p, bool with_bias);
// w [in, out/groups, kh, kw]; output_padding adds rows/cols to the output's far side.
Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& bias = {}, const Conv2dParams& p = {},
                        Shape output_padding = {0, 0});
struct PoolOptions {
  Shape kernel_size{};
  Shape stride = {};  // defaults to kernel_size
  Shape padding = {0, 0};
  Shape dilation = {1, 1};
  bool ceil_mode = false;
  bool count_include_pad = true;
};
// (output, indices): indices are flat positions h * W + w within each input plane.
std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x, const PoolOptions& o);
Tensor max_pool2d(const Tensor& x, const PoolOptions& o);
Tensor max_pool2d_backward(const Tensor& grad_out, const Tensor& x, const Tensor& indices);
Tensor avg_pool2d(const Tensor& x, const PoolOptions& o);
Tensor avg_pool2d_backward(const Tensor& grad_out, const Tensor& x, const PoolOptions& o);
Tensor adaptive_avg_pool2d(const Tensor& x, const Shape& output_size);
// Normalizes over (N, H, W) per channel of x [N, C, ...]. In training, updates the running
// stats (when defined) with momentum as PyTorch does (unbiased variance).
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum = 0.1, double eps = 1e-5);
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = {}, const Tensor& bias = {},
                  double eps = 1e-5);
Tensor group_norm(const Tensor& x, int64_t num_groups, const Tensor& weight = {}, const Tensor& bias = {},
                  double eps = 1e-5);
// Zeroes elements with probability p and scales the rest by 1/(1-p) when training.
Tensor dropout(const Tensor& x, double p = 0.5, bool training = true, Generator* gen = nullptr);
// Channel dropout (torch's feature_dropout): zeroes whole x[n, c] slices of [N, C, ...] with
// probability p, scaling the rest by 1 / (1 - p).
Tensor feature_dropout(const Tensor& x, double p = 0.5, bool training = true, Generator* gen = nullptr);
// dropout1d/2d/3d: channel dropout of batched or unbatched inputs with 1, 2 or 3 spatial dims
// ([N, C, L] or [C, L]; [N, C, H, W] or [C, H, W]; ...). dropout2d and dropout3d take other
// ranks as PyTorch does, with its deprecation warning (a 2-D input to dropout2d loses whole rows).
Tensor dropout1d(const Tensor& x, double p = 0.5, bool training = true, Generator* gen = nullptr);
Tensor dropout2d(const Tensor& x, double p = 0.5, bool training = true, Generator* gen = nullptr);
Tensor dropout3d(const Tensor& x, double p = 0.5, bool training = true, Generator* gen = nullptr);
// Rows of weight [num, dim] picked by integer indices of any shape.
Tensor embedding(const Tensor& indices, const Tensor& weight);
// int64 one-hot of integer labels; num_classes -1 infers max + 1.
Tensor one_hot(const Tensor& labels, int64_t num_classes = -1);

}  // namespace tessera::ops
