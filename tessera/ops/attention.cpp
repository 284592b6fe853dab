// Scaled dot-product attention (the op under MultiheadAttention and the Transformer layers).
#include <cmath>

#include "tessera/ops/ops.h"

namespace tessera::ops {

std::pair<Tensor, Tensor> attention_with_weights(const Tensor& q, const Tensor& k, const Tensor& v,
                                                 const Tensor& attn_mask, double dropout_p, bool is_causal,
                                                 std::optional<double> scale) {
  const char* op = "scaled_dot_product_attention";
  TS_CHECK_DTYPE(q.is_floating_point(), op, ": expected query to be floating point, got ", q.dtype());
  TS_CHECK_SHAPE(q.dim() >= 2 && k.dim() >= 2 && v.dim() >= 2, op, ": expected query, key and value with at least 2 "
                 "dims, got ", q.shape(), ", ", k.shape(), ", ", v.shape());
  TS_CHECK_SHAPE(q.size(-1) == k.size(-1) && k.size(-2) == v.size(-2), op, ": query ", q.shape(), ", key ", k.shape(),
                 " and value ", v.shape(), " do not match (need q [..., L, E], k [..., S, E], v [..., S, Ev])");
  TS_CHECK_VALUE(!(is_causal && attn_mask.defined()), op, ": give attn_mask or is_causal, not both");
  const int64_t L = q.size(-2), S = k.size(-2);
  const double sc = scale ? *scale : 1.0 / std::sqrt(double(q.size(-1)));
  Tensor scores = matmul(q * sc, k.transpose(-1, -2));  // [..., L, S]
  if (is_causal) {
    Tensor allowed = tril(ones({L, S}, {DType::Bool, q.device()}));
    scores = scores.masked_fill(logical_not(allowed), -INFINITY);
  } else if (attn_mask.defined()) {
    TS_CHECK_SHAPE(broadcast_shapes(attn_mask.shape(), scores.shape(), op) == scores.shape(), op,
                   ": attn_mask of shape ", attn_mask.shape(), " does not broadcast to the scores' ", scores.shape());
    scores = attn_mask.dtype() == DType::Bool ? scores.masked_fill(logical_not(attn_mask), -INFINITY)
                                              : scores + attn_mask.to(scores.dtype());
  }
  Tensor w = softmax(scores, -1);
  return {matmul(dropout(w, dropout_p, dropout_p > 0), v), w};
}

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& attn_mask,
                                    double dropout_p, bool is_causal, std::optional<double> scale) {
  return attention_with_weights(q, k, v, attn_mask, dropout_p, is_causal, scale).first;
}

}  // namespace tessera::ops
