/* tessera's C API: the table of the ops, one line per op, by signature; tessera_c.h declares
 * ts_NAME for each, and the library defines them from the same table (over C++ ops::NAME), so a
 * new op is one line here. Include tessera_c.h, not this file. Whoever includes it defines the
 * macros first; the table undefines them at its end. Every entry returns its result through out.
 *
 *   TS_OP_UNARY(name)        ts_name(ts_tensor x, ts_tensor* out)
 *   TS_OP_BINARY(name)       ts_name(ts_tensor a, ts_tensor b, ts_tensor* out)       (broadcasting)
 *   TS_OP_TERNARY(name)      ts_name(ts_tensor a, ts_tensor b, ts_tensor c, ts_tensor* out)
 *   TS_OP_SCALAR(name)       ts_name_scalar(ts_tensor a, double b, ts_tensor* out)
 *   TS_OP_SCALAR2(name)      ts_name(ts_tensor x, double a, double b, ts_tensor* out)
 *                            clamp: a = min, b = max (NaN: no bound); dropout: a = p, b = training (0/1)
 *   TS_OP_DIM(name)          ts_name(ts_tensor x, int64_t n, ts_tensor* out)   (a dim, a diagonal, a count)
 *   TS_OP_DIM_KEEP(name)     ts_name(ts_tensor x, int64_t dim, int keepdim, ts_tensor* out)
 *   TS_OP_REDUCE(name)       ts_name(ts_tensor x, const int64_t* dims, int ndims, int keepdim, ts_tensor* out)
 *                            (ndims 0: every dim; var and std are Bessel-corrected, norm is the 2-norm)
 *   TS_OP_SHAPE(name)        ts_name(ts_tensor x, const int64_t* sizes, int n, ts_tensor* out)
 *   TS_OP_INDEX(name)        ts_name(ts_tensor x, int64_t dim, ts_tensor index, ts_tensor* out)
 *   TS_OP_INDEX_SRC(name)    ts_name(ts_tensor x, int64_t dim, ts_tensor index, ts_tensor src, ts_tensor* out)
 *   TS_OP_LIST(name)         ts_name(const ts_tensor* tensors, int count, int64_t dim, ts_tensor* out)
 *   TS_OP_CONV(name)         ts_name(ts_tensor x, ts_tensor weight, ts_tensor bias, int64_t stride,
 *                                    int64_t padding, int64_t dilation, int64_t groups, ts_tensor* out)
 *                            (bias may be NULL; the same stride, padding and dilation in every dim)
 *   TS_OP_POOL(name)         ts_name(ts_tensor x, int64_t kernel, int64_t stride, int64_t padding,
 *                                    int ceil_mode, ts_tensor* out)   (stride 0: the kernel size)
 *   TS_OP_NORM(name)         ts_name(ts_tensor x, ts_tensor weight, ts_tensor bias, int64_t n, double eps,
 *                                    ts_tensor* out)
 *                            layer_norm: n = the number of trailing dims normalized; group_norm: n = groups
 *                            (weight and bias may be NULL)
 *   TS_OP_LOSS(name)         ts_name(ts_tensor input, ts_tensor target, ts_tensor* out)  (mean over the batch)
 *   TS_OP_SORT(name)         ts_name(ts_tensor x, int64_t dim, int descending, ts_tensor* values,
 *                                    ts_tensor* indices)
 *   TS_OP_TOPK(name)         ts_name(ts_tensor x, int64_t k, int64_t dim, int largest, ts_tensor* values,
 *                                    ts_tensor* indices)
 *   TS_OP_VALUES_INDICES(name) ts_name(ts_tensor x, int64_t dim, int keepdim, ts_tensor* values,
 *                                    ts_tensor* indices)
 *   TS_OP_PIECES(name)       ts_name(ts_tensor x, int64_t n, int64_t dim, ts_tensor* pieces, int capacity,
 *                                    int* count)   (chunk: n pieces; split: pieces of n along dim)
 *   TS_OP_EQUATION(name)     ts_name(const char* equation, const ts_tensor* operands, int count, ts_tensor* out)
 *   TS_OP_PAD(name)          ts_name(ts_tensor x, const int64_t* pads, int n, const char* mode, double value,
 *                                    ts_tensor* out)   (pads: (before, after) pairs from the last dim)
 *   TS_OP_ROLL(name)         ts_name(ts_tensor x, const int64_t* shifts, const int64_t* dims, int n,
 *                                    ts_tensor* out)
 *   TS_OP_MASK_FILL(name)    ts_name(ts_tensor x, ts_tensor mask, double value, ts_tensor* out)
 *   TS_OP_BATCH_NORM(name)   ts_name(ts_tensor x, ts_tensor running_mean, ts_tensor running_var,
 *                                    ts_tensor weight, ts_tensor bias, int training, double momentum,
 *                                    double eps, ts_tensor* out)   (any of the four may be NULL)
 *   TS_OP_ATTENTION(name)    ts_name(ts_tensor q, ts_tensor k, ts_tensor v, ts_tensor mask, double dropout_p,
 *                                    int is_causal, ts_tensor* out)   (mask may be NULL)
 */

TS_OP_UNARY(abs)
TS_OP_UNARY(neg)
TS_OP_UNARY(exp)
TS_OP_UNARY(expm1)
TS_OP_UNARY(exp2)
TS_OP_UNARY(log)
TS_OP_UNARY(log1p)
TS_OP_UNARY(log2)
TS_OP_UNARY(log10)
TS_OP_UNARY(sqrt)
TS_OP_UNARY(rsqrt)
TS_OP_UNARY(sin)
TS_OP_UNARY(cos)
TS_OP_UNARY(tan)
TS_OP_UNARY(asin)
TS_OP_UNARY(acos)
TS_OP_UNARY(atan)
TS_OP_UNARY(sinh)
TS_OP_UNARY(cosh)
TS_OP_UNARY(tanh)
TS_OP_UNARY(sigmoid)
TS_OP_UNARY(relu)
TS_OP_UNARY(gelu)
TS_OP_UNARY(silu)
TS_OP_UNARY(softplus)
TS_OP_UNARY(erf)
TS_OP_UNARY(floor)
TS_OP_UNARY(ceil)
TS_OP_UNARY(round)
TS_OP_UNARY(sign)
TS_OP_UNARY(reciprocal)
TS_OP_UNARY(square)
TS_OP_UNARY(logical_not)
TS_OP_UNARY(bitwise_not)
TS_OP_UNARY(isnan)
TS_OP_UNARY(isinf)
TS_OP_UNARY(isfinite)
TS_OP_UNARY(nonzero)
TS_OP_UNARY(matrix_trace)

TS_OP_BINARY(add)
TS_OP_BINARY(sub)
TS_OP_BINARY(mul)
TS_OP_BINARY(div)
TS_OP_BINARY(pow)
TS_OP_BINARY(maximum)
TS_OP_BINARY(minimum)
TS_OP_BINARY(atan2)
TS_OP_BINARY(fmod)
TS_OP_BINARY(remainder)
TS_OP_BINARY(floor_divide)
TS_OP_BINARY(eq)
TS_OP_BINARY(ne)
TS_OP_BINARY(lt)
TS_OP_BINARY(le)
TS_OP_BINARY(gt)
TS_OP_BINARY(ge)
TS_OP_BINARY(logical_and)
TS_OP_BINARY(logical_or)
TS_OP_BINARY(logical_xor)
TS_OP_BINARY(bitwise_and)
TS_OP_BINARY(bitwise_or)
TS_OP_BINARY(bitwise_xor)
TS_OP_BINARY(matmul)
TS_OP_BINARY(outer)
TS_OP_BINARY(masked_select)
TS_OP_BINARY(embedding)

TS_OP_TERNARY(where)
TS_OP_TERNARY(lerp)
TS_OP_TERNARY(fma)

TS_OP_SCALAR(add)
TS_OP_SCALAR(sub)
TS_OP_SCALAR(mul)
TS_OP_SCALAR(div)
TS_OP_SCALAR(pow)

TS_OP_SCALAR2(clamp)
TS_OP_SCALAR2(dropout)

TS_OP_DIM(softmax)
TS_OP_DIM(log_softmax)
TS_OP_DIM(cumsum)
TS_OP_DIM(tril)
TS_OP_DIM(triu)
TS_OP_DIM(diag)
TS_OP_DIM(one_hot)

TS_OP_DIM_KEEP(argmax)
TS_OP_DIM_KEEP(argmin)

TS_OP_REDUCE(sum)
TS_OP_REDUCE(mean)
TS_OP_REDUCE(prod)
TS_OP_REDUCE(amax)
TS_OP_REDUCE(amin)
TS_OP_REDUCE(var)
TS_OP_REDUCE(std)
TS_OP_REDUCE(norm)
TS_OP_REDUCE(logsumexp)
TS_OP_REDUCE(all)
TS_OP_REDUCE(any)

TS_OP_SHAPE(permute)
TS_OP_SHAPE(expand)
TS_OP_SHAPE(flip)
TS_OP_SHAPE(repeat)
TS_OP_SHAPE(adaptive_avg_pool2d)

TS_OP_INDEX(index_select)
TS_OP_INDEX(gather)

TS_OP_INDEX_SRC(scatter)
TS_OP_INDEX_SRC(scatter_add)
TS_OP_INDEX_SRC(index_add)
TS_OP_INDEX_SRC(index_copy)

TS_OP_LIST(stack)

TS_OP_CONV(conv1d)
TS_OP_CONV(conv2d)
TS_OP_CONV(conv_transpose2d)

TS_OP_POOL(max_pool2d)
TS_OP_POOL(avg_pool2d)

TS_OP_NORM(layer_norm)
TS_OP_NORM(group_norm)

TS_OP_LOSS(cross_entropy)
TS_OP_LOSS(nll_loss)
TS_OP_LOSS(mse_loss)
TS_OP_LOSS(l1_loss)
TS_OP_LOSS(smooth_l1_loss)
TS_OP_LOSS(binary_cross_entropy)
TS_OP_LOSS(binary_cross_entropy_with_logits)
TS_OP_LOSS(kl_div)

TS_OP_SORT(sort)
TS_OP_TOPK(topk)
TS_OP_VALUES_INDICES(max)
TS_OP_VALUES_INDICES(min)
TS_OP_PIECES(chunk)
TS_OP_PIECES(split)
TS_OP_EQUATION(einsum)
TS_OP_PAD(pad)
TS_OP_ROLL(roll)
TS_OP_MASK_FILL(masked_fill)
TS_OP_BATCH_NORM(batch_norm)
TS_OP_ATTENTION(scaled_dot_product_attention)

#undef TS_OP_UNARY
#undef TS_OP_BINARY
#undef TS_OP_TERNARY
#undef TS_OP_SCALAR
#undef TS_OP_SCALAR2
#undef TS_OP_DIM
#undef TS_OP_DIM_KEEP
#undef TS_OP_REDUCE
#undef TS_OP_SHAPE
#undef TS_OP_INDEX
#undef TS_OP_INDEX_SRC
#undef TS_OP_LIST
#undef TS_OP_CONV
#undef TS_OP_POOL
#undef TS_OP_NORM
#undef TS_OP_LOSS
#undef TS_OP_SORT
#undef TS_OP_TOPK
#undef TS_OP_VALUES_INDICES
#undef TS_OP_PIECES
#undef TS_OP_EQUATION
#undef TS_OP_PAD
#undef TS_OP_ROLL
#undef TS_OP_MASK_FILL
#undef TS_OP_BATCH_NORM
#undef TS_OP_ATTENTION
