/* tessera's C API (C99): tensors, the ops, autograd. The door for languages that call C (Java
 * through JNI, C#, Go, Rust, Julia, R).
 *
 * Conventions:
 * - Every function returns a ts_status: TS_OK (0) or the kind of error; the message of the last
 *   error on the calling thread is ts_last_error() (it names the op and the offending shapes,
 *   dtypes or values). No call aborts on bad input: null or freed handles, wrong dtypes, shapes
 *   or devices are errors.
 * - Handles (ts_tensor) are opaque and owned by the caller: each handle a function gives back
 *   through an out-parameter is released with ts_tensor_free. A handle that was freed is refused
 *   (TS_INVALID_HANDLE) as long as its address was not reused by a new handle.
 * - Results come back through the last parameter (out); on error *out is set to NULL.
 * - Shapes are arrays of int64_t; dims may be negative (counted from the end), as in tessera.
 * - Only symbols starting with ts_ are exported; no struct crosses the boundary by value.
 *
 * Link with -ltessera_c (pkg-config tessera_c, or CMake's tessera::tessera_c).
 */
#ifndef TESSERA_C_H_
#define TESSERA_C_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define TS_API __attribute__((visibility("default")))
#else
#define TS_API
#endif

/* The version of this API: raised when a function is added; existing functions keep their
 * signatures and meaning. */
#define TS_C_API_VERSION 1

typedef enum ts_status {
  TS_OK = 0,
  TS_ERROR = 1,            /* any other failure */
  TS_VALUE_ERROR = 2,      /* a bad argument value */
  TS_SHAPE_ERROR = 3,      /* shapes that do not fit the op */
  TS_DTYPE_ERROR = 4,      /* a dtype the op does not take */
  TS_DEVICE_ERROR = 5,     /* tensors on different devices, or a device that is not there */
  TS_INDEX_ERROR = 6,      /* an index out of range */
  TS_IO_ERROR = 7,         /* a file that cannot be read or written */
  TS_OUT_OF_MEMORY = 8,
  TS_NULL_ARGUMENT = 9,    /* a required pointer or handle is NULL */
  TS_INVALID_HANDLE = 10,  /* a handle that is not (or no longer) a live one */
  /* (these two keep every int a valid value of the type, so that any int a caller passes is one) */
  TS_STATUS_MIN_ = -0x7fffffff - 1,
  TS_STATUS_MAX_ = 0x7fffffff
} ts_status;

typedef enum ts_dtype {
  TS_BOOL = 0,
  TS_UINT8 = 1,
  TS_INT8 = 2,
  TS_INT32 = 3,
  TS_INT64 = 4,
  TS_FLOAT16 = 5,
  TS_BFLOAT16 = 6,
  TS_FLOAT32 = 7,
  TS_FLOAT64 = 8,
  TS_DTYPE_MIN_ = -0x7fffffff - 1, /* (every int a valid value of the type: unknown codes are errors) */
  TS_DTYPE_MAX_ = 0x7fffffff
} ts_dtype;

typedef struct ts_tensor_s* ts_tensor;
typedef struct ts_module_s* ts_module;            /* a model: a zoo model or an imported ONNX file */
typedef struct ts_optimizer_s* ts_optimizer;
typedef struct ts_data_loader_s* ts_data_loader;
typedef struct ts_trainer_s* ts_trainer;          /* a training run: a model, an optimizer and a loss */

/* A caller's buffer lent to a tensor (ts_tensor_from_blob) is released through this, with the
 * context given, once no tensor uses it. */
typedef void (*ts_release_fn)(void* context);

/* --- the library ------------------------------------------------------------------------------ */
TS_API const char* ts_version(void);          /* the library's version, "0.1.0" */
TS_API int ts_api_version(void);              /* TS_C_API_VERSION of the library */
TS_API const char* ts_last_error(void);       /* the calling thread's last error message ("" if none) */
TS_API const char* ts_status_name(ts_status status);  /* "TS_SHAPE_ERROR", ... */
TS_API ts_status ts_manual_seed(uint64_t seed);
TS_API ts_status ts_set_num_threads(int threads);
TS_API size_t ts_dtype_size(ts_dtype dtype);  /* bytes per element; 0 for an unknown dtype */

/* --- tensors ---------------------------------------------------------------------------------- */
/* A new CPU tensor holding a copy of data (numel elements of dtype, row-major). */
TS_API ts_status ts_tensor_from_data(const void* data, const int64_t* shape, int ndim, ts_dtype dtype,
                                     ts_tensor* out);
/* A CPU tensor over the caller's buffer, without copying: writes through either side are seen on
 * both; release(context) is called when the last tensor using the buffer is gone (release may be
 * NULL). */
TS_API ts_status ts_tensor_from_blob(void* data, const int64_t* shape, int ndim, ts_dtype dtype, ts_release_fn release,
                                     void* context, ts_tensor* out);
TS_API ts_status ts_tensor_zeros(const int64_t* shape, int ndim, ts_dtype dtype, ts_tensor* out);
TS_API ts_status ts_tensor_ones(const int64_t* shape, int ndim, ts_dtype dtype, ts_tensor* out);
TS_API ts_status ts_tensor_full(const int64_t* shape, int ndim, double value, ts_dtype dtype, ts_tensor* out);
TS_API ts_status ts_tensor_rand(const int64_t* shape, int ndim, ts_dtype dtype, ts_tensor* out);   /* uniform [0, 1) */
TS_API ts_status ts_tensor_randn(const int64_t* shape, int ndim, ts_dtype dtype, ts_tensor* out);  /* standard normal */
TS_API ts_status ts_tensor_arange(double start, double end, double step, ts_dtype dtype, ts_tensor* out);
/* Releases the handle (the tensor's memory goes when no other tensor shares it). NULL is a no-op. */
TS_API ts_status ts_tensor_free(ts_tensor t);

TS_API ts_status ts_tensor_ndim(ts_tensor t, int* out);
/* Writes the sizes into shape[0 .. ndim-1]; capacity is the array's length (an error if short). */
TS_API ts_status ts_tensor_shape(ts_tensor t, int64_t* shape, int capacity);
TS_API ts_status ts_tensor_numel(ts_tensor t, int64_t* out);
TS_API ts_status ts_tensor_dtype(ts_tensor t, ts_dtype* out);
/* The device as text ("cpu", "cuda:0") into buf (size bytes, NUL-terminated; an error if short). */
TS_API ts_status ts_tensor_device(ts_tensor t, char* buf, size_t size);
/* The values as text, as tessera prints them, into buf (truncated to size - 1 bytes). */
TS_API ts_status ts_tensor_to_string(ts_tensor t, char* buf, size_t size);
/* Copies the values (row-major, the tensor's dtype) into buf of nbytes (at least numel * size). */
TS_API ts_status ts_tensor_copy_to(ts_tensor t, void* buf, size_t nbytes);
/* The address of the first element of a contiguous CPU tensor (valid while the tensor lives). */
TS_API ts_status ts_tensor_data_ptr(ts_tensor t, void** out);
/* The single value of a one-element tensor, as a double. */
TS_API ts_status ts_tensor_item(ts_tensor t, double* out);
TS_API ts_status ts_tensor_to_device(ts_tensor t, const char* device, ts_tensor* out);  /* "cpu", "cuda:0" */
TS_API ts_status ts_tensor_to_dtype(ts_tensor t, ts_dtype dtype, ts_tensor* out);
TS_API ts_status ts_tensor_clone(ts_tensor t, ts_tensor* out);
TS_API ts_status ts_tensor_detach(ts_tensor t, ts_tensor* out);
TS_API ts_status ts_tensor_reshape(ts_tensor t, const int64_t* shape, int ndim, ts_tensor* out);
TS_API ts_status ts_tensor_transpose(ts_tensor t, int64_t dim0, int64_t dim1, ts_tensor* out);
TS_API ts_status ts_tensor_cat(const ts_tensor* tensors, int count, int64_t dim, ts_tensor* out);
/* Writes src's values into dst (broadcast, converted), in place. */
TS_API ts_status ts_tensor_copy_(ts_tensor dst, ts_tensor src);

/* --- autograd --------------------------------------------------------------------------------- */
TS_API ts_status ts_tensor_set_requires_grad(ts_tensor t, int requires_grad);
TS_API ts_status ts_tensor_requires_grad(ts_tensor t, int* out);
/* Backpropagates from t (a one-element tensor, or any with a gradient of ones' shape given). */
TS_API ts_status ts_tensor_backward(ts_tensor t);
/* The gradient accumulated in t, or *out = NULL (and TS_OK) when there is none. */
TS_API ts_status ts_tensor_grad(ts_tensor t, ts_tensor* out);
TS_API ts_status ts_tensor_zero_grad(ts_tensor t);  /* drops the gradient */
/* Turns gradient recording on or off for the calling thread (no-grad scopes: save the previous
 * state, switch it off, restore it). */
TS_API ts_status ts_set_grad_enabled(int enabled, int* previous);
TS_API int ts_is_grad_enabled(void);

/* --- the ops (tessera_c_ops.h lists them; each returns a new tensor through out) ---------------- */
#define TS_OP_UNARY(name) TS_API ts_status ts_##name(ts_tensor x, ts_tensor* out);
#define TS_OP_BINARY(name) TS_API ts_status ts_##name(ts_tensor a, ts_tensor b, ts_tensor* out);
#define TS_OP_TERNARY(name) TS_API ts_status ts_##name(ts_tensor a, ts_tensor b, ts_tensor c, ts_tensor* out);
#define TS_OP_SCALAR(name) TS_API ts_status ts_##name##_scalar(ts_tensor a, double b, ts_tensor* out);
#define TS_OP_SCALAR2(name) TS_API ts_status ts_##name(ts_tensor x, double a, double b, ts_tensor* out);
#define TS_OP_DIM(name) TS_API ts_status ts_##name(ts_tensor x, int64_t n, ts_tensor* out);
#define TS_OP_DIM_KEEP(name) TS_API ts_status ts_##name(ts_tensor x, int64_t dim, int keepdim, ts_tensor* out);
#define TS_OP_REDUCE(name) \
  TS_API ts_status ts_##name(ts_tensor x, const int64_t* dims, int ndims, int keepdim, ts_tensor* out);
#define TS_OP_SHAPE(name) TS_API ts_status ts_##name(ts_tensor x, const int64_t* sizes, int n, ts_tensor* out);
#define TS_OP_INDEX(name) TS_API ts_status ts_##name(ts_tensor x, int64_t dim, ts_tensor index, ts_tensor* out);
#define TS_OP_INDEX_SRC(name) \
  TS_API ts_status ts_##name(ts_tensor x, int64_t dim, ts_tensor index, ts_tensor src, ts_tensor* out);
#define TS_OP_LIST(name) TS_API ts_status ts_##name(const ts_tensor* tensors, int count, int64_t dim, ts_tensor* out);
#define TS_OP_CONV(name)                                                                                  \
  TS_API ts_status ts_##name(ts_tensor x, ts_tensor weight, ts_tensor bias, int64_t stride, int64_t padding, \
                             int64_t dilation, int64_t groups, ts_tensor* out);
#define TS_OP_POOL(name) \
  TS_API ts_status ts_##name(ts_tensor x, int64_t kernel, int64_t stride, int64_t padding, int ceil_mode, ts_tensor* out);
#define TS_OP_NORM(name) \
  TS_API ts_status ts_##name(ts_tensor x, ts_tensor weight, ts_tensor bias, int64_t n, double eps, ts_tensor* out);
#define TS_OP_LOSS(name) TS_API ts_status ts_##name(ts_tensor input, ts_tensor target, ts_tensor* out);
#define TS_OP_SORT(name) \
  TS_API ts_status ts_##name(ts_tensor x, int64_t dim, int descending, ts_tensor* values, ts_tensor* indices);
#define TS_OP_TOPK(name)                                                                              \
  TS_API ts_status ts_##name(ts_tensor x, int64_t k, int64_t dim, int largest, ts_tensor* values, \
                             ts_tensor* indices);
#define TS_OP_VALUES_INDICES(name) \
  TS_API ts_status ts_##name(ts_tensor x, int64_t dim, int keepdim, ts_tensor* values, ts_tensor* indices);
#define TS_OP_PIECES(name) \
  TS_API ts_status ts_##name(ts_tensor x, int64_t n, int64_t dim, ts_tensor* pieces, int capacity, int* count);
#define TS_OP_EQUATION(name) \
  TS_API ts_status ts_##name(const char* equation, const ts_tensor* operands, int count, ts_tensor* out);
#define TS_OP_PAD(name)                                                                                     \
  TS_API ts_status ts_##name(ts_tensor x, const int64_t* pads, int n, const char* mode, double value, \
                             ts_tensor* out);
#define TS_OP_ROLL(name) \
  TS_API ts_status ts_##name(ts_tensor x, const int64_t* shifts, const int64_t* dims, int n, ts_tensor* out);
#define TS_OP_MASK_FILL(name) TS_API ts_status ts_##name(ts_tensor x, ts_tensor mask, double value, ts_tensor* out);
#define TS_OP_BATCH_NORM(name)                                                                                \
  TS_API ts_status ts_##name(ts_tensor x, ts_tensor running_mean, ts_tensor running_var, ts_tensor weight, \
                             ts_tensor bias, int training, double momentum, double eps, ts_tensor* out);
#define TS_OP_ATTENTION(name)                                                                        \
  TS_API ts_status ts_##name(ts_tensor q, ts_tensor k, ts_tensor v, ts_tensor mask, double dropout_p, \
                             int is_causal, ts_tensor* out);
#include "tessera_c_ops.h"

/* The ops in the table by name ("exp", "add", "add_scalar", "softmax", "sum", "conv2d", "mse_loss"):
 * how many there are, and the name of the i-th (NULL past the end). ts_tensor_cat is the table's
 * cat. */
TS_API int ts_op_count(void);
TS_API const char* ts_op_name(int i);

/* --- models ----------------------------------------------------------------------------------- */
/* A model of the zoo by name (ts_zoo_name lists them: "mlp", "lenet5", "convnet", "cifar_cnn",
 * "vgg11", "resnet18", "resnet50"), for in_channels-channel images and classes classes. */
TS_API ts_status ts_module_from_zoo(const char* name, int64_t in_channels, int64_t classes, ts_module* out);
TS_API int ts_zoo_count(void);
TS_API const char* ts_zoo_name(int i);  /* NULL past the end */
/* An ONNX file as a model (its initializers are its parameters: it can be fine-tuned). */
TS_API ts_status ts_module_load_onnx(const char* path, ts_module* out);
/* Runs m on inputs (eval mode, restored afterwards) and writes the traced graph as ONNX; with
 * dynamic_batch nonzero, dim 0 of the inputs and outputs is symbolic (any batch size). */
TS_API ts_status ts_module_export_onnx(ts_module m, const ts_tensor* inputs, int count, int dynamic_batch,
                                       const char* path);
/* The state dict as a safetensors file (written to a temporary name, then renamed), and back. */
TS_API ts_status ts_module_save(ts_module m, const char* path);
TS_API ts_status ts_module_load(ts_module m, const char* path);
TS_API ts_status ts_module_forward(ts_module m, ts_tensor x, ts_tensor* out);
TS_API ts_status ts_module_train(ts_module m, int on);  /* training (1) or evaluation (0) mode */
TS_API ts_status ts_module_is_training(ts_module m, int* out);
TS_API ts_status ts_module_to_device(ts_module m, const char* device);
/* The parameters: how many tensors, and the i-th with its dotted name ("0.weight"). */
TS_API ts_status ts_module_parameter_count(ts_module m, int* out);
TS_API ts_status ts_module_parameter(ts_module m, int i, char* name, size_t name_size, ts_tensor* out);
TS_API ts_status ts_module_num_parameters(ts_module m, int64_t* out);  /* elements, in all */
TS_API ts_status ts_module_to_string(ts_module m, char* buf, size_t size);
TS_API ts_status ts_module_free(ts_module m);

/* --- optimizers (over a model's parameters) ----------------------------------------------------- */
TS_API ts_status ts_optimizer_sgd(ts_module m, double lr, double momentum, double weight_decay, int nesterov,
                                  ts_optimizer* out);
TS_API ts_status ts_optimizer_adam(ts_module m, double lr, double beta1, double beta2, double eps,
                                   double weight_decay, ts_optimizer* out);
TS_API ts_status ts_optimizer_adamw(ts_module m, double lr, double beta1, double beta2, double eps,
                                    double weight_decay, ts_optimizer* out);
TS_API ts_status ts_optimizer_step(ts_optimizer o);
TS_API ts_status ts_optimizer_zero_grad(ts_optimizer o);
TS_API ts_status ts_optimizer_lr(ts_optimizer o, double* out);
TS_API ts_status ts_optimizer_set_lr(ts_optimizer o, double lr);
TS_API ts_status ts_optimizer_free(ts_optimizer o);

/* --- checkpoints: model, optimizer (may be NULL), epoch and step in one file, written atomically - */
TS_API ts_status ts_checkpoint_save(const char* path, ts_module m, ts_optimizer o, int64_t epoch, int64_t step);
TS_API ts_status ts_checkpoint_load(const char* path, ts_module m, ts_optimizer o, int64_t* epoch, int64_t* step);

/* --- data ------------------------------------------------------------------------------------- */
/* Batches of the rows of inputs and targets (the same number of rows). */
TS_API ts_status ts_data_loader_from_tensors(ts_tensor inputs, ts_tensor targets, int64_t batch_size, int shuffle,
                                             uint64_t seed, ts_data_loader* out);
/* MNIST-format files in dir (Fashion-MNIST: /usr/share/datasets/fashion-mnist), the training or
 * test set: images [N, 1, 28, 28] float32, scaled to [0, 1] and then normalized as (x - mean) / std
 * (mean 0 and std 1 leave them in [0, 1]; Fashion-MNIST's own: 0.2860 and 0.3530), labels int64. */
TS_API ts_status ts_data_loader_mnist(const char* dir, int train, double mean, double std, int64_t batch_size,
                                      int shuffle, uint64_t seed, ts_data_loader* out);
TS_API ts_status ts_data_loader_num_batches(ts_data_loader l, int64_t* out);
TS_API ts_status ts_data_loader_free(ts_data_loader l);

/* --- training ----------------------------------------------------------------------------------- */
/* Called after each training batch (batch 0 .. num_batches - 1; loss: the epoch's mean training
 * loss so far) and at each epoch's end (batch = -1; loss: the epoch's mean training loss). A nonzero
 * return stops training after the current epoch. It may call the C API. */
typedef int (*ts_progress_fn)(void* context, int64_t epoch, int64_t batch, int64_t num_batches, double loss);
/* Trains m for epochs epochs with the optimizer and a loss by name ("cross_entropy", "mse_loss",
 * "nll_loss", "l1_loss", "binary_cross_entropy", ...; NULL: cross_entropy). validation may be NULL;
 * progress may be NULL. The last epoch's loss and accuracy (the validation ones when there is a
 * validation loader; accuracy NaN when the loss is not a classification one) come back through
 * loss_out and accuracy_out (either may be NULL). */
TS_API ts_status ts_fit(ts_module m, ts_data_loader train, ts_optimizer o, const char* loss, int64_t epochs,
                        ts_data_loader validation, ts_progress_fn progress, void* context, double* loss_out,
                        double* accuracy_out);
TS_API ts_status ts_evaluate(ts_module m, ts_data_loader loader, const char* loss, double* loss_out,
                             double* accuracy_out);
/* A trainer: the model, the optimizer and the loss of a training run (it keeps the model and the
 * optimizer alive: their handles may be freed before it). Each ts_trainer_fit continues from the
 * epochs done before; ts_fit is the one-call form. */
TS_API ts_status ts_trainer_create(ts_module m, ts_optimizer o, const char* loss, ts_trainer* out);
TS_API ts_status ts_trainer_fit(ts_trainer t, ts_data_loader train, int64_t epochs, ts_data_loader validation,
                                ts_progress_fn progress, void* context, double* loss_out, double* accuracy_out);
TS_API ts_status ts_trainer_evaluate(ts_trainer t, ts_data_loader loader, double* loss_out, double* accuracy_out);
TS_API ts_status ts_trainer_epochs_done(ts_trainer t, int64_t* out);
TS_API ts_status ts_trainer_free(ts_trainer t);

#ifdef __cplusplus
}
#endif

#endif /* TESSERA_C_H_ */
