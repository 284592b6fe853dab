// tessera's C API over the C++ library (tessera_c.h). Every entry point runs its body inside
// guarded(), which turns each C++ exception into a status and the calling thread's last error
// message, so none crosses into C. Handles are checked against the set of live ones before use.
#include "tessera/c/tessera_c.h"

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <new>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "tessera/autograd/autograd.h"
#include "tessera/data/formats.h"
#include "tessera/data/transforms.h"
#include "tessera/io/onnx.h"
#include "tessera/nn/functional.h"
#include "tessera/tessera.h"
#include "tessera/train/checkpoint.h"
#include "tessera/train/serialize.h"
#include "tessera/train/trainer.h"
#include "tessera/zoo/zoo.h"

struct ts_tensor_s {
  tessera::Tensor t;
};
struct ts_module_s {
  std::shared_ptr<tessera::nn::Module> m;
};
struct ts_optimizer_s {
  std::shared_ptr<tessera::optim::Optimizer> o;  // (shared with the trainers made over it)
};
struct ts_data_loader_s {
  std::unique_ptr<tessera::data::DataLoader> l;
};
// A training run over a model and an optimizer (both kept alive by it): fit continues from the
// epochs it has done.
struct ts_trainer_s {
  std::shared_ptr<tessera::nn::Module> model;
  std::shared_ptr<tessera::optim::Optimizer> optimizer;
  std::string loss;
  int64_t epochs_done = 0;
};

namespace {
using tessera::DType;
using tessera::Shape;
using tessera::Tensor;

thread_local std::string last_error;

// The live handles of each kind: a handle is checked here before it is used, so a NULL, freed or
// foreign pointer (or a handle of another kind) is an error, not a crash.
std::mutex handles_mu;
template <class H>
std::unordered_set<const H*>& live_handles() {
  static auto* set = new std::unordered_set<const H*>();  // (never destroyed: used at exit)
  return *set;
}

ts_status fail(ts_status s, std::string message) {
  last_error = std::move(message);
  return s;
}

// An error raised inside an entry point, with its status.
struct CError {
  ts_status status;
  std::string message;
};

template <class F>
ts_status guarded(F&& body) {
  try {
    body();
    return TS_OK;
  } catch (const CError& e) {
    return fail(e.status, e.message);
  } catch (const tessera::ShapeError& e) {
    return fail(TS_SHAPE_ERROR, e.what());
  } catch (const tessera::DTypeError& e) {
    return fail(TS_DTYPE_ERROR, e.what());
  } catch (const tessera::DeviceError& e) {
    return fail(TS_DEVICE_ERROR, e.what());
  } catch (const tessera::IndexError& e) {
    return fail(TS_INDEX_ERROR, e.what());
  } catch (const tessera::ValueError& e) {
    return fail(TS_VALUE_ERROR, e.what());
  } catch (const tessera::IOError& e) {
    return fail(TS_IO_ERROR, e.what());
  } catch (const std::bad_alloc&) {
    return fail(TS_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return fail(TS_ERROR, e.what());
  } catch (...) {
    return fail(TS_ERROR, "an unknown C++ exception");
  }
}

[[noreturn]] void raise(ts_status s, const std::string& message) { throw CError{s, message}; }

template <class P>
void need(const P* p, const char* fn, const char* what) {
  if (p == nullptr) raise(TS_NULL_ARGUMENT, std::string(fn) + ": " + what + " is NULL");
}

template <class H>
H* checked(H* h, const char* fn, const char* what, const char* kind) {
  need(h, fn, what);
  std::lock_guard<std::mutex> lock(handles_mu);
  if (!live_handles<H>().count(h))
    raise(TS_INVALID_HANDLE, std::string(fn) + ": " + what + " is not a live " + kind + " handle (freed, or not one)");
  return h;
}

const Tensor& tensor_of(ts_tensor h, const char* fn, const char* what = "the tensor") {
  return checked(h, fn, what, "tensor")->t;
}

tessera::nn::Module& module_of(ts_module h, const char* fn) { return *checked(h, fn, "the module", "module")->m; }
tessera::optim::Optimizer& optimizer_of(ts_optimizer h, const char* fn) {
  return *checked(h, fn, "the optimizer", "optimizer")->o;
}
tessera::data::DataLoader& loader_of(ts_data_loader h, const char* fn, const char* what = "the data loader") {
  return *checked(h, fn, what, "data loader")->l;
}
std::string text_of(const char* s, const char* fn, const char* what) {
  need(s, fn, what);
  return s;
}

// A new handle, registered as live, through out.
template <class H>
void give_handle(H* h, H** out) {
  std::lock_guard<std::mutex> lock(handles_mu);
  live_handles<H>().insert(h);
  *out = h;
}

void give(Tensor t, ts_tensor* out) { give_handle(new ts_tensor_s{std::move(t)}, out); }

// Frees a handle of kind H (NULL: nothing), refusing one that is not live.
template <class H>
ts_status free_handle(H* h, const char* fn, const char* kind) {
  if (h == nullptr) return TS_OK;
  return guarded([&] {
    {
      std::lock_guard<std::mutex> lock(handles_mu);
      if (live_handles<H>().erase(h) == 0)
        raise(TS_INVALID_HANDLE, std::string(fn) + ": not a live " + kind + " handle (freed already, or not one)");
    }
    delete h;
  });
}

// Runs body (which gives *out a new handle) with out checked and cleared first.
template <class F>
ts_status producing(ts_tensor* out, const char* fn, F&& body) {
  if (out == nullptr) return fail(TS_NULL_ARGUMENT, std::string(fn) + ": out is NULL");
  *out = nullptr;
  return guarded([&] { give(body(), out); });
}

DType dtype_of(ts_dtype d, const char* fn) {
  switch (d) {
    case TS_BOOL: return DType::Bool;
    case TS_UINT8: return DType::UInt8;
    case TS_INT8: return DType::Int8;
    case TS_INT32: return DType::Int32;
    case TS_INT64: return DType::Int64;
    case TS_FLOAT16: return DType::Float16;
    case TS_BFLOAT16: return DType::BFloat16;
    case TS_FLOAT32: return DType::Float32;
    case TS_FLOAT64: return DType::Float64;
    default: break;
  }
  raise(TS_DTYPE_ERROR, std::string(fn) + ": unknown dtype code " + std::to_string(int(d)));
}

ts_dtype code_of(DType d) {
  switch (d) {
    case DType::Bool: return TS_BOOL;
    case DType::UInt8: return TS_UINT8;
    case DType::Int8: return TS_INT8;
    case DType::Int32: return TS_INT32;
    case DType::Int64: return TS_INT64;
    case DType::Float16: return TS_FLOAT16;
    case DType::BFloat16: return TS_BFLOAT16;
    case DType::Float32: return TS_FLOAT32;
    case DType::Float64: return TS_FLOAT64;
  }
  return TS_FLOAT32;  // (every DType is listed above)
}

Shape shape_of(const int64_t* shape, int ndim, const char* fn) {
  if (ndim < 0) raise(TS_VALUE_ERROR, std::string(fn) + ": ndim is negative (" + std::to_string(ndim) + ")");
  if (ndim > 0) need(shape, fn, "shape");
  Shape s(shape, shape + ndim);
  for (int64_t d : s)
    if (d < 0) raise(TS_SHAPE_ERROR, std::string(fn) + ": a negative size in shape " + tessera::detail::str(s));
  return s;
}

// Writes text into buf (size bytes, NUL-terminated); an error when it does not fit and exact.
void write_text(const std::string& text, char* buf, size_t size, const char* fn, bool truncate) {
  need(buf, fn, "buf");
  if (size == 0) raise(TS_VALUE_ERROR, std::string(fn) + ": size is 0");
  if (text.size() + 1 > size && !truncate)
    raise(TS_VALUE_ERROR, std::string(fn) + ": the buffer holds " + std::to_string(size) + " bytes; " +
                              std::to_string(text.size() + 1) + " are needed");
  size_t n = std::min(text.size(), size - 1);
  std::memcpy(buf, text.data(), n);
  buf[n] = '\0';
}

// The tensors of a C array of handles (count at least 1).
std::vector<Tensor> tensor_list(const ts_tensor* tensors, int count, const char* fn) {
  if (count <= 0) raise(TS_VALUE_ERROR, std::string(fn) + ": count must be at least 1, got " + std::to_string(count));
  need(tensors, fn, "tensors");
  std::vector<Tensor> parts;
  for (int i = 0; i < count; ++i) {
    std::string what = "tensors[" + std::to_string(i) + "]";
    parts.push_back(tensor_of(tensors[i], fn, what.c_str()));
  }
  return parts;
}

Tensor scalar_op(const char* name, const Tensor& a, double b) {
  std::string op = name;
  if (op == "add") return a + b;
  if (op == "sub") return a - b;
  if (op == "mul") return a * b;
  if (op == "div") return a / b;
  return tessera::ops::pow(a, tessera::Scalar(b));
}

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

// (The entry points have C linkage from their declarations in tessera_c.h.)

// --- the library -------------------------------------------------------------------------------
const char* ts_version(void) { return tessera::version(); }
int ts_api_version(void) { return TS_C_API_VERSION; }
const char* ts_last_error(void) { return last_error.c_str(); }

const char* ts_status_name(ts_status s) {
  switch (s) {
    case TS_OK: return "TS_OK";
    case TS_ERROR: return "TS_ERROR";
    case TS_VALUE_ERROR: return "TS_VALUE_ERROR";
    case TS_SHAPE_ERROR: return "TS_SHAPE_ERROR";
    case TS_DTYPE_ERROR: return "TS_DTYPE_ERROR";
    case TS_DEVICE_ERROR: return "TS_DEVICE_ERROR";
    case TS_INDEX_ERROR: return "TS_INDEX_ERROR";
    case TS_IO_ERROR: return "TS_IO_ERROR";
    case TS_OUT_OF_MEMORY: return "TS_OUT_OF_MEMORY";
    case TS_NULL_ARGUMENT: return "TS_NULL_ARGUMENT";
    case TS_INVALID_HANDLE: return "TS_INVALID_HANDLE";
    default: break;
  }
  return "TS_UNKNOWN_STATUS";
}

ts_status ts_manual_seed(uint64_t seed) {
  return guarded([&] { tessera::manual_seed(seed); });
}

ts_status ts_set_num_threads(int threads) {
  return guarded([&] {
    if (threads < 1) raise(TS_VALUE_ERROR, "ts_set_num_threads: threads must be at least 1, got " + std::to_string(threads));
    tessera::set_num_threads(threads);
  });
}

size_t ts_dtype_size(ts_dtype d) {
  if (int(d) < 0 || int(d) > int(TS_FLOAT64)) return 0;
  return tessera::dtype_size(DType(int(d)));
}

// --- tensors -----------------------------------------------------------------------------------
ts_status ts_tensor_from_data(const void* data, const int64_t* shape, int ndim, ts_dtype dtype, ts_tensor* out) {
  return producing(out, "ts_tensor_from_data", [&] {
    Shape s = shape_of(shape, ndim, "ts_tensor_from_data");
    Tensor t = tessera::empty(s, dtype_of(dtype, "ts_tensor_from_data"));
    size_t nbytes = size_t(t.numel()) * t.element_size();
    if (nbytes > 0) {
      need(data, "ts_tensor_from_data", "data");
      std::memcpy(t.data_ptr(), data, nbytes);
    }
    return t;
  });
}

ts_status ts_tensor_from_blob(void* data, const int64_t* shape, int ndim, ts_dtype dtype, ts_release_fn release,
                              void* context, ts_tensor* out) {
  return producing(out, "ts_tensor_from_blob", [&] {
    Shape s = shape_of(shape, ndim, "ts_tensor_from_blob");
    DType dt = dtype_of(dtype, "ts_tensor_from_blob");
    need(data, "ts_tensor_from_blob", "data");
    tessera::StorageImpl::Deleter deleter;
    if (release) deleter = [release, context](void*) { release(context); };
    return tessera::from_blob(data, s, dt, std::move(deleter));
  });
}

#define TS_FACTORY(name, expr)                                                                       \
  ts_status ts_tensor_##name(const int64_t* shape, int ndim, ts_dtype dtype, ts_tensor* out) {       \
    return producing(out, "ts_tensor_" #name, [&] {                                                  \
      Shape s = shape_of(shape, ndim, "ts_tensor_" #name);                                           \
      DType dt = dtype_of(dtype, "ts_tensor_" #name);                                                \
      return expr;                                                                                   \
    });                                                                                              \
  }
TS_FACTORY(zeros, tessera::zeros(s, dt))
TS_FACTORY(ones, tessera::ones(s, dt))
TS_FACTORY(rand, tessera::rand(s, dt))
TS_FACTORY(randn, tessera::randn(s, dt))
#undef TS_FACTORY

ts_status ts_tensor_full(const int64_t* shape, int ndim, double value, ts_dtype dtype, ts_tensor* out) {
  return producing(out, "ts_tensor_full", [&] {
    return tessera::full(shape_of(shape, ndim, "ts_tensor_full"), value, dtype_of(dtype, "ts_tensor_full"));
  });
}

ts_status ts_tensor_arange(double start, double end, double step, ts_dtype dtype, ts_tensor* out) {
  return producing(out, "ts_tensor_arange",
                   [&] { return tessera::arange(start, end, step, dtype_of(dtype, "ts_tensor_arange")); });
}

ts_status ts_tensor_free(ts_tensor t) { return free_handle(t, "ts_tensor_free", "tensor"); }

ts_status ts_tensor_ndim(ts_tensor t, int* out) {
  return guarded([&] {
    const Tensor& x = tensor_of(t, "ts_tensor_ndim");
    need(out, "ts_tensor_ndim", "out");
    *out = int(x.dim());
  });
}

ts_status ts_tensor_shape(ts_tensor t, int64_t* shape, int capacity) {
  return guarded([&] {
    const Tensor& x = tensor_of(t, "ts_tensor_shape");
    if (x.dim() > capacity)
      raise(TS_VALUE_ERROR, "ts_tensor_shape: the tensor has " + std::to_string(x.dim()) + " dims; the array holds " +
                                std::to_string(capacity));
    if (x.dim() > 0) need(shape, "ts_tensor_shape", "shape");
    for (int64_t i = 0; i < x.dim(); ++i) shape[i] = x.size(i);
  });
}

ts_status ts_tensor_numel(ts_tensor t, int64_t* out) {
  return guarded([&] {
    const Tensor& x = tensor_of(t, "ts_tensor_numel");
    need(out, "ts_tensor_numel", "out");
    *out = x.numel();
  });
}

ts_status ts_tensor_dtype(ts_tensor t, ts_dtype* out) {
  return guarded([&] {
    const Tensor& x = tensor_of(t, "ts_tensor_dtype");
    need(out, "ts_tensor_dtype", "out");
    *out = code_of(x.dtype());
  });
}

ts_status ts_tensor_device(ts_tensor t, char* buf, size_t size) {
  return guarded([&] { write_text(tensor_of(t, "ts_tensor_device").device().str(), buf, size, "ts_tensor_device", false); });
}

ts_status ts_tensor_to_string(ts_tensor t, char* buf, size_t size) {
  return guarded([&] { write_text(tensor_of(t, "ts_tensor_to_string").str(), buf, size, "ts_tensor_to_string", true); });
}

ts_status ts_tensor_copy_to(ts_tensor t, void* buf, size_t nbytes) {
  return guarded([&] {
    const Tensor& x = tensor_of(t, "ts_tensor_copy_to");
    size_t need_bytes = size_t(x.numel()) * x.element_size();
    if (nbytes < need_bytes)
      raise(TS_VALUE_ERROR, "ts_tensor_copy_to: the buffer holds " + std::to_string(nbytes) + " bytes; the tensor of shape " +
                                tessera::detail::str(x.shape()) + " needs " + std::to_string(need_bytes));
    if (need_bytes == 0) return;
    need(buf, "ts_tensor_copy_to", "buf");
    Tensor c = x.detach().cpu().contiguous();
    std::memcpy(buf, c.data_ptr(), need_bytes);
  });
}

ts_status ts_tensor_data_ptr(ts_tensor t, void** out) {
  return guarded([&] {
    const Tensor& x = tensor_of(t, "ts_tensor_data_ptr");
    need(out, "ts_tensor_data_ptr", "out");
    if (!x.device().is_cpu())
      raise(TS_DEVICE_ERROR, "ts_tensor_data_ptr: the tensor is on " + x.device().str() + " (copy it to the CPU first)");
    if (!x.is_contiguous())
      raise(TS_VALUE_ERROR, "ts_tensor_data_ptr: the tensor is not contiguous (use ts_tensor_clone first)");
    *out = x.data_ptr();
  });
}

ts_status ts_tensor_item(ts_tensor t, double* out) {
  return guarded([&] {
    const Tensor& x = tensor_of(t, "ts_tensor_item");
    need(out, "ts_tensor_item", "out");
    *out = x.item().to<double>();
  });
}

ts_status ts_tensor_to_device(ts_tensor t, const char* device, ts_tensor* out) {
  return producing(out, "ts_tensor_to_device", [&] {
    const Tensor& x = tensor_of(t, "ts_tensor_to_device");
    need(device, "ts_tensor_to_device", "device");
    return x.to(tessera::Device::parse(device));
  });
}

ts_status ts_tensor_to_dtype(ts_tensor t, ts_dtype dtype, ts_tensor* out) {
  return producing(out, "ts_tensor_to_dtype",
                   [&] { return tensor_of(t, "ts_tensor_to_dtype").to(dtype_of(dtype, "ts_tensor_to_dtype")); });
}

ts_status ts_tensor_clone(ts_tensor t, ts_tensor* out) {
  return producing(out, "ts_tensor_clone", [&] { return tensor_of(t, "ts_tensor_clone").clone(); });
}

ts_status ts_tensor_detach(ts_tensor t, ts_tensor* out) {
  return producing(out, "ts_tensor_detach", [&] { return tensor_of(t, "ts_tensor_detach").detach(); });
}

ts_status ts_tensor_reshape(ts_tensor t, const int64_t* shape, int ndim, ts_tensor* out) {
  return producing(out, "ts_tensor_reshape", [&] {
    const Tensor& x = tensor_of(t, "ts_tensor_reshape");
    if (ndim < 0) raise(TS_VALUE_ERROR, "ts_tensor_reshape: ndim is negative (" + std::to_string(ndim) + ")");
    if (ndim > 0) need(shape, "ts_tensor_reshape", "shape");
    return x.reshape(Shape(shape, shape + ndim));  // (-1 allowed: one size inferred)
  });
}

ts_status ts_tensor_transpose(ts_tensor t, int64_t dim0, int64_t dim1, ts_tensor* out) {
  return producing(out, "ts_tensor_transpose", [&] { return tensor_of(t, "ts_tensor_transpose").transpose(dim0, dim1); });
}

ts_status ts_tensor_cat(const ts_tensor* tensors, int count, int64_t dim, ts_tensor* out) {
  return producing(out, "ts_tensor_cat", [&] { return tessera::ops::cat(tensor_list(tensors, count, "ts_tensor_cat"), dim); });
}

ts_status ts_tensor_copy_(ts_tensor dst, ts_tensor src) {
  return guarded([&] {
    Tensor d = tensor_of(dst, "ts_tensor_copy_", "dst");
    d.copy_(tensor_of(src, "ts_tensor_copy_", "src"));
  });
}

// --- autograd ----------------------------------------------------------------------------------
ts_status ts_tensor_set_requires_grad(ts_tensor t, int requires_grad) {
  return guarded([&] {
    Tensor x = tensor_of(t, "ts_tensor_set_requires_grad");
    x.requires_grad_(requires_grad != 0);
  });
}

ts_status ts_tensor_requires_grad(ts_tensor t, int* out) {
  return guarded([&] {
    const Tensor& x = tensor_of(t, "ts_tensor_requires_grad");
    need(out, "ts_tensor_requires_grad", "out");
    *out = x.requires_grad() ? 1 : 0;
  });
}

ts_status ts_tensor_backward(ts_tensor t) {
  return guarded([&] { tensor_of(t, "ts_tensor_backward").backward(); });
}

ts_status ts_tensor_grad(ts_tensor t, ts_tensor* out) {
  if (out == nullptr) return fail(TS_NULL_ARGUMENT, "ts_tensor_grad: out is NULL");
  *out = nullptr;
  return guarded([&] {
    Tensor g = tensor_of(t, "ts_tensor_grad").grad();
    if (g.defined()) give(g, out);
  });
}

ts_status ts_tensor_zero_grad(ts_tensor t) {
  return guarded([&] { tensor_of(t, "ts_tensor_zero_grad").set_grad({}); });
}

ts_status ts_set_grad_enabled(int enabled, int* previous) {
  return guarded([&] {
    if (previous) *previous = tessera::autograd::is_grad_enabled() ? 1 : 0;
    tessera::autograd::set_grad_enabled(enabled != 0);
  });
}

int ts_is_grad_enabled(void) { return tessera::autograd::is_grad_enabled() ? 1 : 0; }

// --- the ops, from the table ---------------------------------------------------------------------
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
Tensor optional_tensor(ts_tensor h, const char* fn, const char* what) {
  return h == nullptr ? Tensor() : tensor_of(h, fn, what);
}
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

Shape sizes_of(const int64_t* sizes, int n, const char* fn, const char* what) {
  if (n < 0) raise(TS_VALUE_ERROR, std::string(fn) + ": " + what + " count is negative");
  if (n > 0) need(sizes, fn, what);
  return Shape(sizes, sizes + n);
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
                     [&] { return scalar_op(#name, tensor_of(a, "ts_" #name "_scalar"), b); });           \
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

// --- models ------------------------------------------------------------------------------------
namespace {
const std::vector<std::string>& zoo_names() {
  static const auto* names = new std::vector<std::string>(tessera::zoo::names());
  return *names;
}

template <class H, class F>
ts_status making(H** out, const char* fn, F&& body) {
  if (out == nullptr) return fail(TS_NULL_ARGUMENT, std::string(fn) + ": out is NULL");
  *out = nullptr;
  return guarded([&] { give_handle(new H{body()}, out); });
}

std::vector<Tensor> parameters_of(ts_module m, const char* fn) { return module_of(m, fn).parameters(); }
}  // namespace

ts_status ts_module_from_zoo(const char* name, int64_t in_channels, int64_t classes, ts_module* out) {
  return making(out, "ts_module_from_zoo", [&] {
    return tessera::zoo::create(text_of(name, "ts_module_from_zoo", "name"), in_channels, classes);
  });
}

int ts_zoo_count(void) { return int(zoo_names().size()); }

const char* ts_zoo_name(int i) { return i >= 0 && i < ts_zoo_count() ? zoo_names()[size_t(i)].c_str() : nullptr; }

ts_status ts_module_load_onnx(const char* path, ts_module* out) {
  return making(out, "ts_module_load_onnx", [&] {
    return std::shared_ptr<tessera::nn::Module>(tessera::io::load_onnx(text_of(path, "ts_module_load_onnx", "path")));
  });
}

ts_status ts_module_export_onnx(ts_module m, const ts_tensor* inputs, int count, int dynamic_batch, const char* path) {
  return guarded([&] {
    tessera::nn::Module& mod = module_of(m, "ts_module_export_onnx");
    if (count <= 0) raise(TS_VALUE_ERROR, "ts_module_export_onnx: count must be at least 1, got " + std::to_string(count));
    need(inputs, "ts_module_export_onnx", "inputs");
    std::vector<Tensor> xs;
    for (int i = 0; i < count; ++i) {
      std::string what = "inputs[" + std::to_string(i) + "]";
      xs.push_back(tensor_of(inputs[i], "ts_module_export_onnx", what.c_str()));
    }
    tessera::io::OnnxExportOptions options;
    options.dynamic_batch = dynamic_batch != 0;
    tessera::io::export_onnx(mod, xs, text_of(path, "ts_module_export_onnx", "path"), options);
  });
}

ts_status ts_module_save(ts_module m, const char* path) {
  return guarded([&] { tessera::save(module_of(m, "ts_module_save"), text_of(path, "ts_module_save", "path")); });
}

ts_status ts_module_load(ts_module m, const char* path) {
  return guarded([&] { tessera::load(module_of(m, "ts_module_load"), text_of(path, "ts_module_load", "path")); });
}

ts_status ts_module_forward(ts_module m, ts_tensor x, ts_tensor* out) {
  return producing(out, "ts_module_forward",
                   [&] { return module_of(m, "ts_module_forward")(tensor_of(x, "ts_module_forward", "x")); });
}

ts_status ts_module_train(ts_module m, int on) {
  return guarded([&] { module_of(m, "ts_module_train").train(on != 0); });
}

ts_status ts_module_is_training(ts_module m, int* out) {
  return guarded([&] {
    tessera::nn::Module& mod = module_of(m, "ts_module_is_training");
    need(out, "ts_module_is_training", "out");
    *out = mod.is_training() ? 1 : 0;
  });
}

ts_status ts_module_to_device(ts_module m, const char* device) {
  return guarded([&] {
    tessera::nn::Module& mod = module_of(m, "ts_module_to_device");
    mod.to(tessera::Device::parse(text_of(device, "ts_module_to_device", "device")));
  });
}

ts_status ts_module_parameter_count(ts_module m, int* out) {
  return guarded([&] {
    tessera::nn::Module& mod = module_of(m, "ts_module_parameter_count");
    need(out, "ts_module_parameter_count", "out");
    *out = int(mod.named_parameters().size());
  });
}

ts_status ts_module_parameter(ts_module m, int i, char* name, size_t name_size, ts_tensor* out) {
  return producing(out, "ts_module_parameter", [&] {
    tessera::nn::StateDict params = module_of(m, "ts_module_parameter").named_parameters();
    if (i < 0 || size_t(i) >= params.size())
      raise(TS_INDEX_ERROR, "ts_module_parameter: index " + std::to_string(i) + " is out of range for " +
                                std::to_string(params.size()) + " parameters");
    if (name != nullptr) write_text(params[size_t(i)].first, name, name_size, "ts_module_parameter", false);
    return params[size_t(i)].second;
  });
}

ts_status ts_module_num_parameters(ts_module m, int64_t* out) {
  return guarded([&] {
    tessera::nn::Module& mod = module_of(m, "ts_module_num_parameters");
    need(out, "ts_module_num_parameters", "out");
    *out = mod.num_parameters();
  });
}

ts_status ts_module_to_string(ts_module m, char* buf, size_t size) {
  return guarded([&] { write_text(module_of(m, "ts_module_to_string").str(), buf, size, "ts_module_to_string", true); });
}

ts_status ts_module_free(ts_module m) { return free_handle(m, "ts_module_free", "module"); }

// --- optimizers ----------------------------------------------------------------------------------
ts_status ts_optimizer_sgd(ts_module m, double lr, double momentum, double weight_decay, int nesterov, ts_optimizer* out) {
  return making(out, "ts_optimizer_sgd", [&] {
    return std::shared_ptr<tessera::optim::Optimizer>(new tessera::optim::SGD(
        parameters_of(m, "ts_optimizer_sgd"),
        {.lr = lr, .momentum = momentum, .weight_decay = weight_decay, .nesterov = nesterov != 0}));
  });
}

ts_status ts_optimizer_adam(ts_module m, double lr, double beta1, double beta2, double eps, double weight_decay,
                            ts_optimizer* out) {
  return making(out, "ts_optimizer_adam", [&] {
    return std::shared_ptr<tessera::optim::Optimizer>(new tessera::optim::Adam(
        parameters_of(m, "ts_optimizer_adam"),
        {.lr = lr, .beta1 = beta1, .beta2 = beta2, .eps = eps, .weight_decay = weight_decay}));
  });
}

ts_status ts_optimizer_adamw(ts_module m, double lr, double beta1, double beta2, double eps, double weight_decay,
                             ts_optimizer* out) {
  return making(out, "ts_optimizer_adamw", [&] {
    return std::shared_ptr<tessera::optim::Optimizer>(new tessera::optim::AdamW(
        parameters_of(m, "ts_optimizer_adamw"),
        {.lr = lr, .beta1 = beta1, .beta2 = beta2, .eps = eps, .weight_decay = weight_decay}));
  });
}

ts_status ts_optimizer_step(ts_optimizer o) {
  return guarded([&] { optimizer_of(o, "ts_optimizer_step").step(); });
}

ts_status ts_optimizer_zero_grad(ts_optimizer o) {
  return guarded([&] { optimizer_of(o, "ts_optimizer_zero_grad").zero_grad(); });
}

ts_status ts_optimizer_lr(ts_optimizer o, double* out) {
  return guarded([&] {
    tessera::optim::Optimizer& opt = optimizer_of(o, "ts_optimizer_lr");
    need(out, "ts_optimizer_lr", "out");
    *out = opt.lr();
  });
}

ts_status ts_optimizer_set_lr(ts_optimizer o, double lr) {
  return guarded([&] { optimizer_of(o, "ts_optimizer_set_lr").set_lr(lr); });
}

ts_status ts_optimizer_free(ts_optimizer o) { return free_handle(o, "ts_optimizer_free", "optimizer"); }

// --- checkpoints ---------------------------------------------------------------------------------
ts_status ts_checkpoint_save(const char* path, ts_module m, ts_optimizer o, int64_t epoch, int64_t step) {
  return guarded([&] {
    std::string p = text_of(path, "ts_checkpoint_save", "path");
    tessera::nn::Module& mod = module_of(m, "ts_checkpoint_save");
    tessera::optim::Optimizer* opt = o ? &optimizer_of(o, "ts_checkpoint_save") : nullptr;
    tessera::train::CheckpointInfo info;
    info.epoch = epoch;
    info.step = step;
    tessera::train::save_checkpoint(p, mod, opt, nullptr, info);
  });
}

ts_status ts_checkpoint_load(const char* path, ts_module m, ts_optimizer o, int64_t* epoch, int64_t* step) {
  return guarded([&] {
    std::string p = text_of(path, "ts_checkpoint_load", "path");
    tessera::nn::Module& mod = module_of(m, "ts_checkpoint_load");
    tessera::optim::Optimizer* opt = o ? &optimizer_of(o, "ts_checkpoint_load") : nullptr;
    tessera::train::CheckpointInfo info = tessera::train::load_checkpoint(p, mod, opt);
    if (epoch) *epoch = info.epoch;
    if (step) *step = info.step;
  });
}

// --- data ----------------------------------------------------------------------------------------
namespace {
std::unique_ptr<tessera::data::DataLoader> loader_over(std::shared_ptr<const tessera::data::Dataset> ds,
                                                       int64_t batch_size, int shuffle, uint64_t seed, const char* fn) {
  if (batch_size < 1) raise(TS_VALUE_ERROR, std::string(fn) + ": batch_size must be at least 1, got " + std::to_string(batch_size));
  return std::make_unique<tessera::data::DataLoader>(
      std::move(ds), tessera::data::LoaderOptions{.batch_size = batch_size, .shuffle = shuffle != 0, .seed = seed});
}
}  // namespace

ts_status ts_data_loader_from_tensors(ts_tensor inputs, ts_tensor targets, int64_t batch_size, int shuffle,
                                      uint64_t seed, ts_data_loader* out) {
  return making(out, "ts_data_loader_from_tensors", [&] {
    auto ds = std::make_shared<tessera::data::TensorDataset>(tensor_of(inputs, "ts_data_loader_from_tensors", "inputs"),
                                                             tensor_of(targets, "ts_data_loader_from_tensors", "targets"));
    return loader_over(std::move(ds), batch_size, shuffle, seed, "ts_data_loader_from_tensors");
  });
}

ts_status ts_data_loader_mnist(const char* dir, int train, double mean, double std, int64_t batch_size, int shuffle,
                               uint64_t seed, ts_data_loader* out) {
  return making(out, "ts_data_loader_mnist", [&] {
    if (!(std > 0)) raise(TS_VALUE_ERROR, "ts_data_loader_mnist: std must be positive, got " + std::to_string(std));
    auto ds = tessera::data::load_mnist(text_of(dir, "ts_data_loader_mnist", "dir"), train != 0);
    if (mean != 0 || std != 1)
      ds = std::make_shared<tessera::data::TensorDataset>(tessera::data::normalize(ds->inputs(), {mean}, {std}),
                                                          ds->targets());
    return loader_over(std::move(ds), batch_size, shuffle, seed, "ts_data_loader_mnist");
  });
}

ts_status ts_data_loader_num_batches(ts_data_loader l, int64_t* out) {
  return guarded([&] {
    tessera::data::DataLoader& loader = loader_of(l, "ts_data_loader_num_batches");
    need(out, "ts_data_loader_num_batches", "out");
    *out = loader.num_batches();
  });
}

ts_status ts_data_loader_free(ts_data_loader l) { return free_handle(l, "ts_data_loader_free", "data loader"); }

// --- training ------------------------------------------------------------------------------------
namespace {
// The C progress function as a trainer callback.
class CProgress : public tessera::train::Callback {
 public:
  CProgress(ts_progress_fn fn, void* context) : fn_(fn), context_(context) {}
  void on_batch_end(tessera::train::Trainer& t, int64_t batch, const tessera::train::Logs& logs) override {
    if (fn_(context_, t.epoch(), batch, t.num_batches(), value(logs, "loss"))) t.stop();
  }
  void on_epoch_end(tessera::train::Trainer& t, int64_t epoch, const tessera::train::Logs& logs) override {
    if (fn_(context_, epoch, -1, t.num_batches(), value(logs, "loss"))) t.stop();
  }

 private:
  static double value(const tessera::train::Logs& logs, const char* key) {
    auto it = logs.find(key);
    return it == logs.end() ? std::numeric_limits<double>::quiet_NaN() : it->second;
  }
  ts_progress_fn fn_;
  void* context_;
};

// The loss by name (cross_entropy when NULL), and whether accuracy means something for it.
std::pair<tessera::train::LossFn, std::vector<std::string>> loss_named(const char* loss) {
  std::string name = loss ? loss : "cross_entropy";
  bool classification = name == "cross_entropy" || name == "nll_loss" || name == "sparse_categorical_crossentropy";
  return {tessera::train::loss_by_name(name), classification ? std::vector<std::string>{"accuracy"} : std::vector<std::string>{}};
}

void report(const tessera::train::Logs& logs, const std::string& prefix, double* loss_out, double* accuracy_out) {
  auto get = [&](const std::string& k) {
    auto it = logs.find(prefix + k);
    return it == logs.end() ? std::numeric_limits<double>::quiet_NaN() : it->second;
  };
  if (loss_out) *loss_out = get("loss");
  if (accuracy_out) *accuracy_out = get("accuracy");
}
}  // namespace

namespace {
// fit for epochs more epochs after initial_epoch; the last epoch's metrics through the outputs.
void run_fit(tessera::nn::Module& mod, tessera::optim::Optimizer& opt, const char* loss, ts_data_loader train,
             int64_t initial_epoch, int64_t epochs, ts_data_loader validation, ts_progress_fn progress, void* context,
             double* loss_out, double* accuracy_out, const char* fn, int64_t* epochs_done = nullptr) {
  tessera::data::DataLoader& data = loader_of(train, fn, "train");
  tessera::data::DataLoader* val = validation ? &loader_of(validation, fn, "validation") : nullptr;
  if (epochs < 1) raise(TS_VALUE_ERROR, std::string(fn) + ": epochs must be at least 1, got " + std::to_string(epochs));
  auto [lossfn, metrics] = loss_named(loss);
  tessera::train::FitOptions fo{.epochs = initial_epoch + epochs, .optimizer = &opt, .loss = lossfn, .metrics = metrics,
                                .validation = val, .initial_epoch = initial_epoch};
  if (progress) fo.callbacks.push_back(std::make_shared<CProgress>(progress, context));
  tessera::train::History h = tessera::train::fit(mod, data, fo);
  if (epochs_done) *epochs_done = initial_epoch + int64_t(h.epochs.size());
  if (h.epochs.empty()) raise(TS_ERROR, std::string(fn) + ": no epoch ran");
  report(h.epochs.back(), val ? "val_" : "", loss_out, accuracy_out);
}
}  // namespace

ts_status ts_fit(ts_module m, ts_data_loader train, ts_optimizer o, const char* loss, int64_t epochs,
                 ts_data_loader validation, ts_progress_fn progress, void* context, double* loss_out,
                 double* accuracy_out) {
  return guarded([&] {
    tessera::nn::Module& mod = module_of(m, "ts_fit");
    tessera::optim::Optimizer& opt = optimizer_of(o, "ts_fit");
    run_fit(mod, opt, loss, train, 0, epochs, validation, progress, context, loss_out, accuracy_out, "ts_fit");
  });
}

ts_status ts_trainer_create(ts_module m, ts_optimizer o, const char* loss, ts_trainer* out) {
  return making(out, "ts_trainer_create", [&] {
    auto* mh = checked(m, "ts_trainer_create", "the module", "module");
    auto* oh = checked(o, "ts_trainer_create", "the optimizer", "optimizer");
    std::string name = loss ? loss : "cross_entropy";
    (void)tessera::train::loss_by_name(name);  // (an unknown loss is an error now, not at fit)
    return ts_trainer_s{mh->m, oh->o, name, 0};
  });
}

ts_status ts_trainer_fit(ts_trainer t, ts_data_loader train, int64_t epochs, ts_data_loader validation,
                         ts_progress_fn progress, void* context, double* loss_out, double* accuracy_out) {
  return guarded([&] {
    ts_trainer_s& tr = *checked(t, "ts_trainer_fit", "the trainer", "trainer");
    run_fit(*tr.model, *tr.optimizer, tr.loss.c_str(), train, tr.epochs_done, epochs, validation, progress, context,
            loss_out, accuracy_out, "ts_trainer_fit", &tr.epochs_done);
  });
}

ts_status ts_trainer_evaluate(ts_trainer t, ts_data_loader loader, double* loss_out, double* accuracy_out) {
  return guarded([&] {
    ts_trainer_s& tr = *checked(t, "ts_trainer_evaluate", "the trainer", "trainer");
    tessera::data::DataLoader& data = loader_of(loader, "ts_trainer_evaluate", "loader");
    auto [fn, metrics] = loss_named(tr.loss.c_str());
    report(tessera::train::evaluate(*tr.model, data, fn, metrics), "", loss_out, accuracy_out);
  });
}

ts_status ts_trainer_epochs_done(ts_trainer t, int64_t* out) {
  return guarded([&] {
    ts_trainer_s& tr = *checked(t, "ts_trainer_epochs_done", "the trainer", "trainer");
    need(out, "ts_trainer_epochs_done", "out");
    *out = tr.epochs_done;
  });
}

ts_status ts_trainer_free(ts_trainer t) { return free_handle(t, "ts_trainer_free", "trainer"); }

ts_status ts_evaluate(ts_module m, ts_data_loader loader, const char* loss, double* loss_out, double* accuracy_out) {
  return guarded([&] {
    tessera::nn::Module& mod = module_of(m, "ts_evaluate");
    tessera::data::DataLoader& data = loader_of(loader, "ts_evaluate", "loader");
    auto [fn, metrics] = loss_named(loss);
    report(tessera::train::evaluate(mod, data, fn, metrics), "", loss_out, accuracy_out);
  });
}

int ts_op_count(void) { return int(sizeof(op_names) / sizeof(op_names[0])); }

const char* ts_op_name(int i) { return i >= 0 && i < ts_op_count() ? op_names[i] : nullptr; }

