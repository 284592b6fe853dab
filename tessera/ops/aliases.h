#pragma once
// Every op of tessera::ops also at namespace scope, as LibTorch has them (tessera::matmul,
// tessera::relu, tessera::cat): using-declarations, one implementation under both spellings.
// tests/tools/check_aliases.py checks this list against ops.h. Not here: log (tessera::log is the
// TensorBoard writer's namespace; use ops::log or x.log()).
#include "tessera/autograd/autograd.h"
#include "tessera/ops/ops.h"

namespace tessera {
using ops::abs; using ops::acos; using ops::adaptive_avg_pool2d; using ops::add; using ops::all;
using ops::allclose; using ops::amax; using ops::amin; using ops::any; using ops::argmax; using ops::argmin;
using ops::as_strided; using ops::asin; using ops::atan; using ops::atan2; using ops::attention_with_weights;
using ops::avg_pool2d; using ops::avg_pool2d_backward; using ops::batch_norm; using ops::binary;
using ops::binary_; using ops::cat; using ops::ceil; using ops::chunk; using ops::clamp; using ops::conv1d;
using ops::conv2d; using ops::conv2d_backward_input; using ops::conv2d_backward_weight;
using ops::conv_transpose2d; using ops::cos; using ops::cosh; using ops::cumsum; using ops::diag; using ops::div;
using ops::dropout; using ops::dropout1d; using ops::dropout2d; using ops::dropout3d; using ops::einsum;
using ops::embed_in_zeros; using ops::embedding; using ops::eq; using ops::equal; using ops::erf; using ops::exp;
using ops::exp2; using ops::expm1; using ops::feature_dropout; using ops::flip; using ops::floor;
using ops::floor_divide; using ops::fma; using ops::fmod; using ops::gather; using ops::ge; using ops::gelu;
using ops::group_norm; using ops::gt; using ops::index_add; using ops::index_add_; using ops::index_copy;
using ops::index_copy_; using ops::index_select; using ops::isclose; using ops::isfinite; using ops::isinf;
using ops::isnan; using ops::layer_norm; using ops::le; using ops::lerp; using ops::linear;
using ops::log10; using ops::log1p; using ops::log2; using ops::log_softmax; using ops::logical_and;
using ops::bitwise_and; using ops::bitwise_not; using ops::bitwise_or; using ops::bitwise_xor;
using ops::logical_not; using ops::logical_or; using ops::logical_xor; using ops::logsumexp; using ops::lt;
using ops::masked_fill; using ops::masked_select; using ops::matmul; using ops::matrix_trace; using ops::max;
using ops::max_pool2d; using ops::max_pool2d_backward; using ops::max_pool2d_with_indices; using ops::maximum;
using ops::mean; using ops::meshgrid; using ops::min; using ops::minimum; using ops::mul; using ops::ne;
using ops::neg; using ops::nonzero; using ops::norm; using ops::one_hot; using ops::outer; using ops::pad;
using ops::pow; using ops::prod; using ops::rebind_inplace; using ops::reciprocal; using ops::relu;
using ops::remainder; using ops::repeat; using ops::result_type; using ops::rnn_layer; using ops::roll;
using ops::round; using ops::rsqrt; using ops::scaled_dot_product_attention; using ops::scatter;
using ops::scatter_; using ops::scatter_add; using ops::scatter_add_; using ops::sigmoid; using ops::sign;
using ops::silu; using ops::sin; using ops::sinh; using ops::softmax; using ops::softplus; using ops::sort;
using ops::split; using ops::sqrt; using ops::square; using ops::stack; using ops::std; using ops::sub;
using ops::sum; using ops::tan; using ops::tanh; using ops::topk; using ops::tril; using ops::triu;
using ops::unary; using ops::unary_; using ops::unbind; using ops::var; using ops::where;
// The grad-mode guards too (tessera::NoGradGuard, as torch::NoGradGuard).
using autograd::EnableGradGuard;
using autograd::NoGradGuard;
}  // namespace tessera
