// tessera's C API: the ops, every entry point generated from the one table
// (tessera_c_ops.h). capi::NAME is the C++ call behind ts_NAME.
#include <cmath>
#include <functional>
#include <optional>

#include "tessera/c/internal.h"
#include "tessera/nn/functional.h"

using tessera::DType;
using tessera::Shape;
using tessera::Tensor;
using namespace tessera::c_api;

namespace capi {
// The table's ops as C++ calls: capi::NAME is ops::NAME (or the loss of that name), except where
// an adapter below gives the C signature its meaning.
using namespace tessera::ops;
using tessera::nn::functional::binary_cross_entropy;
using tessera::nn::functional::binary_cross_entropy_with_logits;
using tessera::nn::functional::cross_entropy;
using tessera::nn::functional::kl_div;
using tessera::nn::functional::l1_loss;
using tessera::nn::functional::mse_loss;
using tessera::nn::functional::nll_loss;
using tessera::nn::functional::smooth_l1_loss;

Tensor add_scalar(const Tensor& a, double b) { return a + b; }
Tensor sub_scalar(const Tensor& a, double b) { return a - b; }
Tensor mul_scalar(const Tensor& a, double b) { return a * b; }
Tensor div_scalar(const Tensor& a, double b) { return a / b; }
Tensor pow_scalar(const Tensor& a, double b) { return tessera::ops::pow(a, tessera::Scalar(b)); }
std::optional<tessera::Scalar> bound(double v) {
  return std::isnan(v) ? std::nullopt : std::optional<tessera::Scalar>(v);
}
Tensor clamp(const Tensor& x, double lo, double hi) { return tessera::ops::clamp(x, bound(lo), bound(hi)); }
Tensor dropout(const Tensor& x, double p, double training) { return tessera::ops::dropout(x, p, training != 0); }
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) { return tessera::ops::argmax(x, dim, keepdim); }
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim) { return tessera::ops::argmin(x, dim, keepdim); }
Tensor var(const Tensor& x, const Shape& dims, bool keepdim) { return tessera::ops::var(x, dims, 1, keepdim); }
Tensor std(const Tensor& x, const Shape& dims, bool keepdim) { return tessera::ops::std(x, dims, 1, keepdim); }
Tensor norm(const Tensor& x, const Shape& dims, bool keepdim) { return tessera::ops::norm(x, 2, dims, keepdim); }
Tensor permute(const Tensor& x, const Shape& dims) { return x.permute(dims); }
Tensor expand(const Tensor& x, const Shape& sizes) { return x.expand(sizes); }
Tensor one_hot(const Tensor& x, int64_t n) { return tessera::ops::one_hot(x, n); }
Tensor conv1d(const Tensor& x, const Tensor& w, const Tensor& b, int64_t s, int64_t p, int64_t d, int64_t g) {
  return tessera::ops::conv1d(x, w, b, s, p, d, g);
}
tessera::Conv2dParams conv_params(int64_t s, int64_t p, int64_t d, int64_t g) { return {{s, s}, {p, p}, {d, d}, g}; }
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, int64_t s, int64_t p, int64_t d, int64_t g) {
  return tessera::ops::conv2d(x, w, b, conv_params(s, p, d, g));
}
Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& b, int64_t s, int64_t p, int64_t d,
                        int64_t g) {
  return tessera::ops::conv_transpose2d(x, w, b, conv_params(s, p, d, g));
}
PoolOptions pool(int64_t k, int64_t s, int64_t p, bool ceil) {
  PoolOptions o;
  o.kernel_size = {k, k};
  o.stride = {s ? s : k, s ? s : k};
  o.padding = {p, p};
  o.ceil_mode = ceil;
  return o;
}
Tensor max_pool2d(const Tensor& x, int64_t k, int64_t s, int64_t p, bool ceil) {
  return tessera::ops::max_pool2d(x, pool(k, s, p, ceil));
}
Tensor avg_pool2d(const Tensor& x, int64_t k, int64_t s, int64_t p, bool ceil) {
  return tessera::ops::avg_pool2d(x, pool(k, s, p, ceil));
}
Tensor layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, int64_t n, double eps) {
  if (n < 1 || n > x.dim())
    raise(TS_VALUE_ERROR, "ts_layer_norm: n (the trailing dims normalized) must be 1 to " + std::to_string(x.dim()) +
                              " for an input of shape " + tessera::detail::str(x.shape()) + ", got " + std::to_string(n));
  Shape normalized(x.shape().end() - n, x.shape().end());
  return tessera::ops::layer_norm(x, normalized, w, b, eps);
}
Tensor group_norm(const Tensor& x, const Tensor& w, const Tensor& b, int64_t groups, double eps) {
  return tessera::ops::group_norm(x, groups, w, b, eps);
}
std::pair<Tensor, Tensor> sort(const Tensor& x, int64_t dim, bool descending) {
  return tessera::ops::sort(x, dim, descending);
}
std::vector<Tensor> split(const Tensor& x, int64_t size, int64_t dim) { return tessera::ops::split(x, size, dim); }
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  return tessera::ops::masked_fill(x, mask, tessera::Scalar(value));
}
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, double p,
                                    bool causal) {
  return tessera::ops::scaled_dot_product_attention(q, k, v, mask, p, causal);
}
}  // namespace capi

namespace {
// Runs body, which returns (values, indices), giving each a handle through a and b.
template <class F>
ts_status producing_pair(ts_tensor* a, ts_tensor* b, const char* fn, F&& body) {
  if (a == nullptr || b == nullptr) return fail(TS_NULL_ARGUMENT, std::string(fn) + ": values or indices is NULL");
  *a = *b = nullptr;
  return guarded([&] {
    auto [x, y] = body();
    give(std::move(x), a);
    try {
      give(std::move(y), b);
    } catch (...) {
      ts_tensor_free(*a);
      *a = nullptr;
      throw;
    }
  });
}

// Gives the pieces handles through the caller's array; *count is how many there are (set also
// when the array is too short, which is an error).
ts_status giving_pieces(ts_tensor* pieces, int capacity, int* count, const char* fn,
                        const std::function<std::vector<Tensor>()>& body) {
  if (count == nullptr) return fail(TS_NULL_ARGUMENT, std::string(fn) + ": count is NULL");
  *count = 0;
  return guarded([&] {
    std::vector<Tensor> parts = body();
    *count = int(parts.size());
    if (int(parts.size()) > capacity)
      raise(TS_VALUE_ERROR, std::string(fn) + ": " + std::to_string(parts.size()) + " pieces; the array holds " +
                                std::to_string(capacity));
    if (!parts.empty()) need(pieces, fn, "pieces");
    for (size_t i = 0; i < parts.size(); ++i) pieces[i] = nullptr;
    for (size_t i = 0; i < parts.size(); ++i) give(std::move(parts[i]), &pieces[i]);
  });
}

}  // namespace

#define TS_OP_UNARY(name)                                                                                 \
  ts_status ts_##name(ts_tensor x, ts_tensor* out) {                                                      \
    return producing(out, "ts_" #name, [&] { return capi::name(tensor_of(x, "ts_" #name)); });             \
  }
#define TS_OP_BINARY(name)                                                                                \
  ts_status ts_##name(ts_tensor a, ts_tensor b, ts_tensor* out) {                                         \
    return producing(out, "ts_" #name,                                                                    \
                     [&] { return capi::name(tensor_of(a, "ts_" #name, "a"), tensor_of(b, "ts_" #name, "b")); }); \
  }
#define TS_OP_TERNARY(name)                                                                               \
  ts_status ts_##name(ts_tensor a, ts_tensor b, ts_tensor c, ts_tensor* out) {                            \
    return producing(out, "ts_" #name, [&] {                                                              \
      return capi::name(tensor_of(a, "ts_" #name, "a"), tensor_of(b, "ts_" #name, "b"),                   \
                        tensor_of(c, "ts_" #name, "c"));                                                  \
    });                                                                                                   \
  }
#define TS_OP_SCALAR(name)                                                                                \
  ts_status ts_##name##_scalar(ts_tensor a, double b, ts_tensor* out) {                                   \
    return producing(out, "ts_" #name "_scalar",                                                          \
                     [&] { return capi::name##_scalar(tensor_of(a, "ts_" #name "_scalar"), b); });           \
  }
#define TS_OP_SCALAR2(name)                                                                               \
  ts_status ts_##name(ts_tensor x, double a, double b, ts_tensor* out) {                                  \
    return producing(out, "ts_" #name, [&] { return capi::name(tensor_of(x, "ts_" #name), a, b); });       \
  }
#define TS_OP_DIM(name)                                                                                   \
  ts_status ts_##name(ts_tensor x, int64_t n, ts_tensor* out) {                                           \
    return producing(out, "ts_" #name, [&] { return capi::name(tensor_of(x, "ts_" #name), n); });          \
  }
#define TS_OP_DIM_KEEP(name)                                                                              \
  ts_status ts_##name(ts_tensor x, int64_t dim, int keepdim, ts_tensor* out) {                            \
    return producing(out, "ts_" #name,                                                                    \
                     [&] { return capi::name(tensor_of(x, "ts_" #name), dim, keepdim != 0); });           \
  }
#define TS_OP_REDUCE(name)                                                                                \
  ts_status ts_##name(ts_tensor x, const int64_t* dims, int ndims, int keepdim, ts_tensor* out) {         \
    return producing(out, "ts_" #name, [&] {                                                              \
      const Tensor& t = tensor_of(x, "ts_" #name);                                                         \
      return capi::name(t, sizes_of(dims, ndims, "ts_" #name, "dims"), keepdim != 0);                     \
    });                                                                                                   \
  }
#define TS_OP_SHAPE(name)                                                                                 \
  ts_status ts_##name(ts_tensor x, const int64_t* sizes, int n, ts_tensor* out) {                         \
    return producing(out, "ts_" #name, [&] {                                                              \
      const Tensor& t = tensor_of(x, "ts_" #name);                                                         \
      return capi::name(t, sizes_of(sizes, n, "ts_" #name, "sizes"));                                      \
    });                                                                                                   \
  }
#define TS_OP_INDEX(name)                                                                                 \
  ts_status ts_##name(ts_tensor x, int64_t dim, ts_tensor index, ts_tensor* out) {                        \
    return producing(out, "ts_" #name, [&] {                                                              \
      return capi::name(tensor_of(x, "ts_" #name, "x"), dim, tensor_of(index, "ts_" #name, "index"));      \
    });                                                                                                   \
  }
#define TS_OP_INDEX_SRC(name)                                                                             \
  ts_status ts_##name(ts_tensor x, int64_t dim, ts_tensor index, ts_tensor src, ts_tensor* out) {         \
    return producing(out, "ts_" #name, [&] {                                                              \
      return capi::name(tensor_of(x, "ts_" #name, "x"), dim, tensor_of(index, "ts_" #name, "index"),      \
                        tensor_of(src, "ts_" #name, "src"));                                              \
    });                                                                                                   \
  }
#define TS_OP_LIST(name)                                                                                  \
  ts_status ts_##name(const ts_tensor* tensors, int count, int64_t dim, ts_tensor* out) {                 \
    return producing(out, "ts_" #name, [&] { return capi::name(tensor_list(tensors, count, "ts_" #name), dim); }); \
  }
#define TS_OP_CONV(name)                                                                                  \
  ts_status ts_##name(ts_tensor x, ts_tensor weight, ts_tensor bias, int64_t stride, int64_t padding,     \
                      int64_t dilation, int64_t groups, ts_tensor* out) {                                 \
    return producing(out, "ts_" #name, [&] {                                                              \
      return capi::name(tensor_of(x, "ts_" #name, "x"), tensor_of(weight, "ts_" #name, "weight"),         \
                        optional_tensor(bias, "ts_" #name, "bias"), stride, padding, dilation, groups);   \
    });                                                                                                   \
  }
#define TS_OP_POOL(name)                                                                                  \
  ts_status ts_##name(ts_tensor x, int64_t kernel, int64_t stride, int64_t padding, int ceil_mode,        \
                      ts_tensor* out) {                                                                   \
    return producing(out, "ts_" #name, [&] {                                                              \
      return capi::name(tensor_of(x, "ts_" #name), kernel, stride, padding, ceil_mode != 0);              \
    });                                                                                                   \
  }
#define TS_OP_NORM(name)                                                                                  \
  ts_status ts_##name(ts_tensor x, ts_tensor weight, ts_tensor bias, int64_t n, double eps, ts_tensor* out) { \
    return producing(out, "ts_" #name, [&] {                                                              \
      return capi::name(tensor_of(x, "ts_" #name, "x"), optional_tensor(weight, "ts_" #name, "weight"),   \
                        optional_tensor(bias, "ts_" #name, "bias"), n, eps);                              \
    });                                                                                                   \
  }
#define TS_OP_LOSS(name)                                                                                  \
  ts_status ts_##name(ts_tensor input, ts_tensor target, ts_tensor* out) {                                \
    return producing(out, "ts_" #name, [&] {                                                              \
      return capi::name(tensor_of(input, "ts_" #name, "input"), tensor_of(target, "ts_" #name, "target")); \
    });                                                                                                   \
  }
#define TS_OP_SORT(name)                                                                                  \
  ts_status ts_##name(ts_tensor x, int64_t dim, int descending, ts_tensor* values, ts_tensor* indices) {  \
    return producing_pair(values, indices, "ts_" #name,                                                   \
                          [&] { return capi::name(tensor_of(x, "ts_" #name), dim, descending != 0); });    \
  }
#define TS_OP_TOPK(name)                                                                                  \
  ts_status ts_##name(ts_tensor x, int64_t k, int64_t dim, int largest, ts_tensor* values, ts_tensor* indices) { \
    return producing_pair(values, indices, "ts_" #name,                                                   \
                          [&] { return capi::name(tensor_of(x, "ts_" #name), k, dim, largest != 0); });    \
  }
#define TS_OP_VALUES_INDICES(name)                                                                        \
  ts_status ts_##name(ts_tensor x, int64_t dim, int keepdim, ts_tensor* values, ts_tensor* indices) {     \
    return producing_pair(values, indices, "ts_" #name,                                                   \
                          [&] { return capi::name(tensor_of(x, "ts_" #name), dim, keepdim != 0); });       \
  }
#define TS_OP_PIECES(name)                                                                                \
  ts_status ts_##name(ts_tensor x, int64_t n, int64_t dim, ts_tensor* pieces, int capacity, int* count) { \
    return giving_pieces(pieces, capacity, count, "ts_" #name,                                            \
                         [&] { return capi::name(tensor_of(x, "ts_" #name), n, dim); });                   \
  }
#define TS_OP_EQUATION(name)                                                                              \
  ts_status ts_##name(const char* equation, const ts_tensor* operands, int count, ts_tensor* out) {       \
    return producing(out, "ts_" #name, [&] {                                                              \
      return capi::name(text_of(equation, "ts_" #name, "equation"), tensor_list(operands, count, "ts_" #name)); \
    });                                                                                                   \
  }
#define TS_OP_PAD(name)                                                                                   \
  ts_status ts_##name(ts_tensor x, const int64_t* pads, int n, const char* mode, double value, ts_tensor* out) { \
    return producing(out, "ts_" #name, [&] {                                                              \
      const Tensor& t = tensor_of(x, "ts_" #name);                                                         \
      return capi::name(t, sizes_of(pads, n, "ts_" #name, "pads"), mode ? mode : "constant", value);      \
    });                                                                                                   \
  }
#define TS_OP_ROLL(name)                                                                                  \
  ts_status ts_##name(ts_tensor x, const int64_t* shifts, const int64_t* dims, int n, ts_tensor* out) {   \
    return producing(out, "ts_" #name, [&] {                                                              \
      const Tensor& t = tensor_of(x, "ts_" #name);                                                         \
      return capi::name(t, sizes_of(shifts, n, "ts_" #name, "shifts"), sizes_of(dims, n, "ts_" #name, "dims")); \
    });                                                                                                   \
  }
#define TS_OP_MASK_FILL(name)                                                                             \
  ts_status ts_##name(ts_tensor x, ts_tensor mask, double value, ts_tensor* out) {                        \
    return producing(out, "ts_" #name, [&] {                                                              \
      return capi::name(tensor_of(x, "ts_" #name, "x"), tensor_of(mask, "ts_" #name, "mask"), value);     \
    });                                                                                                   \
  }
#define TS_OP_BATCH_NORM(name)                                                                            \
  ts_status ts_##name(ts_tensor x, ts_tensor running_mean, ts_tensor running_var, ts_tensor weight,       \
                      ts_tensor bias, int training, double momentum, double eps, ts_tensor* out) {        \
    return producing(out, "ts_" #name, [&] {                                                              \
      return capi::name(tensor_of(x, "ts_" #name, "x"), optional_tensor(running_mean, "ts_" #name, "running_mean"), \
                        optional_tensor(running_var, "ts_" #name, "running_var"),                         \
                        optional_tensor(weight, "ts_" #name, "weight"), optional_tensor(bias, "ts_" #name, "bias"), \
                        training != 0, momentum, eps);                                                    \
    });                                                                                                   \
  }
#define TS_OP_ATTENTION(name)                                                                             \
  ts_status ts_##name(ts_tensor q, ts_tensor k, ts_tensor v, ts_tensor mask, double dropout_p, int is_causal, \
                      ts_tensor* out) {                                                                   \
    return producing(out, "ts_" #name, [&] {                                                              \
      return capi::name(tensor_of(q, "ts_" #name, "q"), tensor_of(k, "ts_" #name, "k"),                  \
                        tensor_of(v, "ts_" #name, "v"), optional_tensor(mask, "ts_" #name, "mask"), dropout_p, \
                        is_causal != 0);                                                                  \
    });                                                                                                   \
  }
#include "tessera/c/tessera_c_ops.h"

namespace {
const char* const op_names[] = {
#define TS_OP_NAMED(name) #name,
#define TS_OP_UNARY TS_OP_NAMED
#define TS_OP_BINARY TS_OP_NAMED
#define TS_OP_TERNARY TS_OP_NAMED
#define TS_OP_SCALAR(name) #name "_scalar",
#define TS_OP_SCALAR2 TS_OP_NAMED
#define TS_OP_DIM TS_OP_NAMED
#define TS_OP_DIM_KEEP TS_OP_NAMED
#define TS_OP_REDUCE TS_OP_NAMED
#define TS_OP_SHAPE TS_OP_NAMED
#define TS_OP_INDEX TS_OP_NAMED
#define TS_OP_INDEX_SRC TS_OP_NAMED
#define TS_OP_LIST TS_OP_NAMED
#define TS_OP_CONV TS_OP_NAMED
#define TS_OP_POOL TS_OP_NAMED
#define TS_OP_NORM TS_OP_NAMED
#define TS_OP_LOSS TS_OP_NAMED
#define TS_OP_SORT TS_OP_NAMED
#define TS_OP_TOPK TS_OP_NAMED
#define TS_OP_VALUES_INDICES TS_OP_NAMED
#define TS_OP_PIECES TS_OP_NAMED
#define TS_OP_EQUATION TS_OP_NAMED
#define TS_OP_PAD TS_OP_NAMED
#define TS_OP_ROLL TS_OP_NAMED
#define TS_OP_MASK_FILL TS_OP_NAMED
#define TS_OP_BATCH_NORM TS_OP_NAMED
#define TS_OP_ATTENTION TS_OP_NAMED
#include "tessera/c/tessera_c_ops.h"
#undef TS_OP_NAMED
};
}  // namespace

int ts_op_count(void) { return int(sizeof(op_names) / sizeof(op_names[0])); }

const char* ts_op_name(int i) { return i >= 0 && i < ts_op_count() ? op_names[i] : nullptr; }

