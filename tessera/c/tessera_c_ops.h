/* tessera's C API: the table of the ops that have an entry point of their own. Each line is one
 * op, by signature; tessera_c.h declares ts_NAME for each, and the library defines them from the
 * same table (C++ ops::NAME), so a new op is one line here. Include tessera_c.h, not this file.
 * Whoever includes it defines the six macros first; the table undefines them at its end.
 *
 *   TS_OP_UNARY(name)          ts_status ts_name(ts_tensor x, ts_tensor* out)
 *   TS_OP_BINARY(name)         ts_status ts_name(ts_tensor a, ts_tensor b, ts_tensor* out)
 *   TS_OP_SCALAR(name)         ts_status ts_name_scalar(ts_tensor a, double b, ts_tensor* out)
 *   TS_OP_DIM(name)            ts_status ts_name(ts_tensor x, int64_t dim, ts_tensor* out)
 *   TS_OP_REDUCE(name)         ts_status ts_name(ts_tensor x, const int64_t* dims, int ndims, int keepdim,
 *                                                ts_tensor* out)    (ndims 0: every dim)
 *   TS_OP_LOSS(name)           ts_status ts_name(ts_tensor input, ts_tensor target, ts_tensor* out)  (mean)
 */

TS_OP_UNARY(abs)
TS_OP_UNARY(neg)
TS_OP_UNARY(exp)
TS_OP_UNARY(expm1)
TS_OP_UNARY(log)
TS_OP_UNARY(log1p)
TS_OP_UNARY(sqrt)
TS_OP_UNARY(rsqrt)
TS_OP_UNARY(sin)
TS_OP_UNARY(cos)
TS_OP_UNARY(tan)
TS_OP_UNARY(tanh)
TS_OP_UNARY(sigmoid)
TS_OP_UNARY(relu)
TS_OP_UNARY(silu)
TS_OP_UNARY(erf)
TS_OP_UNARY(floor)
TS_OP_UNARY(ceil)
TS_OP_UNARY(round)
TS_OP_UNARY(sign)
TS_OP_UNARY(reciprocal)
TS_OP_UNARY(square)
TS_OP_UNARY(logical_not)

TS_OP_BINARY(add)
TS_OP_BINARY(sub)
TS_OP_BINARY(mul)
TS_OP_BINARY(div)
TS_OP_BINARY(pow)
TS_OP_BINARY(maximum)
TS_OP_BINARY(minimum)
TS_OP_BINARY(eq)
TS_OP_BINARY(ne)
TS_OP_BINARY(lt)
TS_OP_BINARY(le)
TS_OP_BINARY(gt)
TS_OP_BINARY(ge)
TS_OP_BINARY(matmul)

TS_OP_SCALAR(add)
TS_OP_SCALAR(sub)
TS_OP_SCALAR(mul)
TS_OP_SCALAR(div)
TS_OP_SCALAR(pow)

TS_OP_DIM(softmax)
TS_OP_DIM(log_softmax)
TS_OP_DIM(cumsum)

TS_OP_REDUCE(sum)
TS_OP_REDUCE(mean)
TS_OP_REDUCE(amax)
TS_OP_REDUCE(amin)

TS_OP_LOSS(cross_entropy)
TS_OP_LOSS(nll_loss)
TS_OP_LOSS(mse_loss)
TS_OP_LOSS(l1_loss)
TS_OP_LOSS(binary_cross_entropy)
TS_OP_LOSS(binary_cross_entropy_with_logits)

#undef TS_OP_UNARY
#undef TS_OP_BINARY
#undef TS_OP_SCALAR
#undef TS_OP_DIM
#undef TS_OP_REDUCE
#undef TS_OP_LOSS
