// tessera's C API over the C++ library (tessera_c.h): the library queries, tensors and autograd
// (the ops: tessera_c_ops.cpp; models, optimizers, data and training: tessera_c_models.cpp).
// Every entry point runs its body inside guarded(), which turns each C++ exception into a status and
// the calling thread's last error message, so none crosses into C; handles are checked against the
// set of live ones before use (internal.h).
#include <cstring>

#include "tessera/autograd/autograd.h"
#include "tessera/c/internal.h"

using tessera::DType;
using tessera::Shape;
using tessera::Tensor;
using namespace tessera::c_api;

// The definitions of internal.h's helpers.
namespace tessera::c_api {

ts_status fail(ts_status s, std::string message) {
  last_error = std::move(message);
  return s;
}

[[noreturn]] void raise(ts_status s, const std::string& message) { throw CError{s, message}; }

const Tensor& tensor_of(ts_tensor h, const char* fn, const char* what) { return checked(h, fn, what, "tensor")->t; }

Tensor optional_tensor(ts_tensor h, const char* fn, const char* what) {
  return h == nullptr ? Tensor() : tensor_of(h, fn, what);
}

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

nn::Module& module_of(ts_module h, const char* fn) { return *checked(h, fn, "the module", "module")->m; }

optim::Optimizer& optimizer_of(ts_optimizer h, const char* fn) {
  return *checked(h, fn, "the optimizer", "optimizer")->o;
}

data::DataLoader& loader_of(ts_data_loader h, const char* fn, const char* what) {
  return *checked(h, fn, what, "data loader")->l;
}

std::string text_of(const char* s, const char* fn, const char* what) {
  need(s, fn, what);
  return s;
}

void give(Tensor t, ts_tensor* out) { give_handle(new ts_tensor_s{std::move(t)}, out); }

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

Shape sizes_of(const int64_t* sizes, int n, const char* fn, const char* what) {
  if (n < 0) raise(TS_VALUE_ERROR, std::string(fn) + ": " + what + " count is negative");
  if (n > 0) need(sizes, fn, what);
  return Shape(sizes, sizes + n);
}

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

}  // namespace tessera::c_api

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

