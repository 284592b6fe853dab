/* The JNI glue of org.tessera: each native method of org.tessera.Native calls the C API
 * (tessera/c/tessera_c.h) and turns a failed status into an org.tessera.TesseraException carrying
 * the status name and the C API's message. Handles travel as Java longs. */
#include <jni.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/c/tessera_c.h"

static JavaVM* the_vm = NULL;

JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM* vm, void* reserved) {
  (void)reserved;
  the_vm = vm;
  return JNI_VERSION_1_8;
}

/* Throws TesseraException(status name, message) when s is not TS_OK; returns whether it threw. */
static int failed(JNIEnv* env, ts_status s) {
  jclass cls;
  jmethodID ctor;
  jstring name, message;
  jobject ex;
  if (s == TS_OK) return 0;
  if ((*env)->ExceptionCheck(env)) return 1; /* (a Java exception from a callback is already pending) */
  cls = (*env)->FindClass(env, "org/tessera/TesseraException");
  if (cls == NULL) return 1;
  ctor = (*env)->GetMethodID(env, cls, "<init>", "(Ljava/lang/String;Ljava/lang/String;)V");
  if (ctor == NULL) return 1;
  name = (*env)->NewStringUTF(env, ts_status_name(s));
  message = (*env)->NewStringUTF(env, ts_last_error());
  ex = (*env)->NewObject(env, cls, ctor, name, message);
  if (ex != NULL) (*env)->Throw(env, (jthrowable)ex);
  return 1;
}

static void throw_illegal(JNIEnv* env, const char* message) {
  jclass cls = (*env)->FindClass(env, "java/lang/IllegalArgumentException");
  if (cls != NULL) (*env)->ThrowNew(env, cls, message);
}

#define T(h) ((ts_tensor)(intptr_t)(h))
#define M(h) ((ts_module)(intptr_t)(h))
#define O(h) ((ts_optimizer)(intptr_t)(h))
#define L(h) ((ts_data_loader)(intptr_t)(h))
#define H(p) ((jlong)(intptr_t)(p))

/* A Java long[] shape as a C array (released by the caller with free); NULL after throwing. */
static int64_t* shape_of(JNIEnv* env, jlongArray shape, int* ndim) {
  jsize n;
  int64_t* out;
  if (shape == NULL) {
    throw_illegal(env, "the shape is null");
    return NULL;
  }
  n = (*env)->GetArrayLength(env, shape);
  out = (int64_t*)malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
  if (out == NULL) return NULL;
  (*env)->GetLongArrayRegion(env, shape, 0, n, (jlong*)out);
  *ndim = (int)n;
  return out;
}

static char* utf(JNIEnv* env, jstring s) {
  const char* c;
  char* copy;
  if (s == NULL) return NULL;
  c = (*env)->GetStringUTFChars(env, s, NULL);
  if (c == NULL) return NULL;
  copy = (char*)malloc(strlen(c) + 1);
  if (copy != NULL) strcpy(copy, c);
  (*env)->ReleaseStringUTFChars(env, s, c);
  return copy;
}

/* --- the library ------------------------------------------------------------------------------ */
JNIEXPORT jstring JNICALL Java_org_tessera_Native_version(JNIEnv* env, jclass cls) {
  (void)cls;
  return (*env)->NewStringUTF(env, ts_version());
}

JNIEXPORT void JNICALL Java_org_tessera_Native_manualSeed(JNIEnv* env, jclass cls, jlong seed) {
  (void)cls;
  failed(env, ts_manual_seed((uint64_t)seed));
}

JNIEXPORT void JNICALL Java_org_tessera_Native_setNumThreads(JNIEnv* env, jclass cls, jint n) {
  (void)cls;
  failed(env, ts_set_num_threads(n));
}

JNIEXPORT jboolean JNICALL Java_org_tessera_Native_setGradEnabled(JNIEnv* env, jclass cls, jboolean on) {
  int previous = 1;
  (void)cls;
  failed(env, ts_set_grad_enabled(on ? 1 : 0, &previous));
  return previous ? JNI_TRUE : JNI_FALSE;
}

/* --- tensors ---------------------------------------------------------------------------------- */
/* From a Java array of the dtype's element type (float[], double[], int[], long[], byte[]). */
JNIEXPORT jlong JNICALL Java_org_tessera_Native_tensorFromArray(JNIEnv* env, jclass cls, jobject array,
                                                               jlongArray shape, jint dtype) {
  int ndim = 0;
  int64_t* dims;
  void* data;
  ts_tensor out = NULL;
  ts_status s;
  (void)cls;
  if (array == NULL) {
    throw_illegal(env, "the array is null");
    return 0;
  }
  dims = shape_of(env, shape, &ndim);
  if (dims == NULL) return 0;
  data = (*env)->GetPrimitiveArrayCritical(env, (jarray)array, NULL);
  if (data == NULL) {
    free(dims);
    return 0;
  }
  {
    /* The array must hold exactly the shape's elements. */
    int64_t numel = 1;
    int i;
    jsize len = (*env)->GetArrayLength(env, (jarray)array);
    for (i = 0; i < ndim; ++i) numel *= dims[i] < 0 ? 0 : dims[i];
    if (numel != (int64_t)len) {
      (*env)->ReleasePrimitiveArrayCritical(env, (jarray)array, data, JNI_ABORT);
      free(dims);
      throw_illegal(env, "the array's length does not match the shape's number of elements");
      return 0;
    }
  }
  s = ts_tensor_from_data(data, dims, ndim, (ts_dtype)dtype, &out);
  (*env)->ReleasePrimitiveArrayCritical(env, (jarray)array, data, JNI_ABORT);
  free(dims);
  return failed(env, s) ? 0 : H(out);
}

/* A direct ByteBuffer lent to a tensor: the tensor holds a global reference to the buffer until
 * the last tensor using its memory is gone (the release may run on any thread). */
static void release_buffer(void* context) {
  JNIEnv* env = NULL;
  if (the_vm == NULL) return;
  /* (a thread of the library's attaches as a daemon, and stays attached) */
  if ((*the_vm)->GetEnv(the_vm, (void**)&env, JNI_VERSION_1_8) == JNI_EDETACHED &&
      (*the_vm)->AttachCurrentThreadAsDaemon(the_vm, (void**)&env, NULL) != JNI_OK)
    return;
  (*env)->DeleteGlobalRef(env, (jobject)context);
}

JNIEXPORT jlong JNICALL Java_org_tessera_Native_tensorFromBuffer(JNIEnv* env, jclass cls, jobject buffer,
                                                                jlongArray shape, jint dtype) {
  int ndim = 0;
  int64_t* dims;
  void* data;
  jlong capacity;
  jobject ref;
  ts_tensor out = NULL;
  ts_status s;
  (void)cls;
  data = buffer ? (*env)->GetDirectBufferAddress(env, buffer) : NULL;
  if (data == NULL) {
    throw_illegal(env, "the buffer must be a direct ByteBuffer");
    return 0;
  }
  capacity = (*env)->GetDirectBufferCapacity(env, buffer);
  dims = shape_of(env, shape, &ndim);
  if (dims == NULL) return 0;
  {
    int64_t numel = 1;
    int i;
    for (i = 0; i < ndim; ++i) numel *= dims[i] < 0 ? 0 : dims[i];
    if ((uint64_t)numel * ts_dtype_size((ts_dtype)dtype) > (uint64_t)capacity || ts_dtype_size((ts_dtype)dtype) == 0) {
      free(dims);
      throw_illegal(env, "the buffer is smaller than the shape needs (or the dtype is unknown)");
      return 0;
    }
  }
  ref = (*env)->NewGlobalRef(env, buffer);
  s = ts_tensor_from_blob(data, dims, ndim, (ts_dtype)dtype, release_buffer, ref, &out);
  free(dims);
  if (s != TS_OK) (*env)->DeleteGlobalRef(env, ref);
  return failed(env, s) ? 0 : H(out);
}

JNIEXPORT jlong JNICALL Java_org_tessera_Native_tensorFactory(JNIEnv* env, jclass cls, jint kind, jlongArray shape,
                                                             jint dtype, jdouble value) {
  int ndim = 0;
  int64_t* dims = shape_of(env, shape, &ndim);
  ts_tensor out = NULL;
  ts_status s;
  (void)cls;
  if (dims == NULL) return 0;
  switch (kind) {
    case 0: s = ts_tensor_zeros(dims, ndim, (ts_dtype)dtype, &out); break;
    case 1: s = ts_tensor_ones(dims, ndim, (ts_dtype)dtype, &out); break;
    case 2: s = ts_tensor_rand(dims, ndim, (ts_dtype)dtype, &out); break;
    case 3: s = ts_tensor_randn(dims, ndim, (ts_dtype)dtype, &out); break;
    default: s = ts_tensor_full(dims, ndim, value, (ts_dtype)dtype, &out); break;
  }
  free(dims);
  return failed(env, s) ? 0 : H(out);
}

JNIEXPORT void JNICALL Java_org_tessera_Native_tensorFree(JNIEnv* env, jclass cls, jlong h) {
  (void)cls;
  failed(env, ts_tensor_free(T(h)));
}

JNIEXPORT jlongArray JNICALL Java_org_tessera_Native_tensorShape(JNIEnv* env, jclass cls, jlong h) {
  int ndim = 0;
  int64_t dims[64];
  jlongArray out;
  (void)cls;
  if (failed(env, ts_tensor_ndim(T(h), &ndim))) return NULL;
  if (ndim > 64) {
    throw_illegal(env, "more than 64 dims");
    return NULL;
  }
  if (failed(env, ts_tensor_shape(T(h), dims, 64))) return NULL;
  out = (*env)->NewLongArray(env, ndim);
  if (out != NULL) (*env)->SetLongArrayRegion(env, out, 0, ndim, (const jlong*)dims);
  return out;
}

JNIEXPORT jint JNICALL Java_org_tessera_Native_tensorDType(JNIEnv* env, jclass cls, jlong h) {
  ts_dtype d = TS_FLOAT32;
  (void)cls;
  failed(env, ts_tensor_dtype(T(h), &d));
  return (jint)d;
}

JNIEXPORT jstring JNICALL Java_org_tessera_Native_tensorDevice(JNIEnv* env, jclass cls, jlong h) {
  char buf[64];
  (void)cls;
  if (failed(env, ts_tensor_device(T(h), buf, sizeof buf))) return NULL;
  return (*env)->NewStringUTF(env, buf);
}

JNIEXPORT jstring JNICALL Java_org_tessera_Native_tensorString(JNIEnv* env, jclass cls, jlong h) {
  char buf[4096];
  (void)cls;
  if (failed(env, ts_tensor_to_string(T(h), buf, sizeof buf))) return NULL;
  return (*env)->NewStringUTF(env, buf);
}

/* Copies the values into a Java array of the dtype's element type (allocated by Java). */
JNIEXPORT void JNICALL Java_org_tessera_Native_tensorCopyTo(JNIEnv* env, jclass cls, jlong h, jobject array,
                                                           jlong nbytes) {
  void* data;
  ts_status s;
  (void)cls;
  data = (*env)->GetPrimitiveArrayCritical(env, (jarray)array, NULL);
  if (data == NULL) return;
  s = ts_tensor_copy_to(T(h), data, (size_t)nbytes);
  (*env)->ReleasePrimitiveArrayCritical(env, (jarray)array, data, s == TS_OK ? 0 : JNI_ABORT);
  failed(env, s);
}

JNIEXPORT jdouble JNICALL Java_org_tessera_Native_tensorItem(JNIEnv* env, jclass cls, jlong h) {
  double v = 0;
  (void)cls;
  failed(env, ts_tensor_item(T(h), &v));
  return v;
}

JNIEXPORT jlong JNICALL Java_org_tessera_Native_tensorToDevice(JNIEnv* env, jclass cls, jlong h, jstring device) {
  char* d = utf(env, device);
  ts_tensor out = NULL;
  ts_status s = ts_tensor_to_device(T(h), d, &out);
  (void)cls;
  free(d);
  return failed(env, s) ? 0 : H(out);
}

JNIEXPORT jlong JNICALL Java_org_tessera_Native_tensorToDType(JNIEnv* env, jclass cls, jlong h, jint dtype) {
  ts_tensor out = NULL;
  (void)cls;
  return failed(env, ts_tensor_to_dtype(T(h), (ts_dtype)dtype, &out)) ? 0 : H(out);
}

JNIEXPORT jlong JNICALL Java_org_tessera_Native_tensorReshape(JNIEnv* env, jclass cls, jlong h, jlongArray shape) {
  int ndim = 0;
  int64_t* dims = shape_of(env, shape, &ndim);
  ts_tensor out = NULL;
  ts_status s;
  (void)cls;
  if (dims == NULL) return 0;
  s = ts_tensor_reshape(T(h), dims, ndim, &out);
  free(dims);
  return failed(env, s) ? 0 : H(out);
}

JNIEXPORT jlong JNICALL Java_org_tessera_Native_tensorTranspose(JNIEnv* env, jclass cls, jlong h, jlong d0, jlong d1) {
  ts_tensor out = NULL;
  (void)cls;
  return failed(env, ts_tensor_transpose(T(h), d0, d1, &out)) ? 0 : H(out);
}

JNIEXPORT void JNICALL Java_org_tessera_Native_tensorSetRequiresGrad(JNIEnv* env, jclass cls, jlong h, jboolean on) {
  (void)cls;
  failed(env, ts_tensor_set_requires_grad(T(h), on ? 1 : 0));
}

JNIEXPORT jboolean JNICALL Java_org_tessera_Native_tensorRequiresGrad(JNIEnv* env, jclass cls, jlong h) {
  int on = 0;
  (void)cls;
  failed(env, ts_tensor_requires_grad(T(h), &on));
  return on ? JNI_TRUE : JNI_FALSE;
}

JNIEXPORT void JNICALL Java_org_tessera_Native_tensorBackward(JNIEnv* env, jclass cls, jlong h) {
  (void)cls;
  failed(env, ts_tensor_backward(T(h)));
}

JNIEXPORT jlong JNICALL Java_org_tessera_Native_tensorGrad(JNIEnv* env, jclass cls, jlong h) {
  ts_tensor out = NULL;
  (void)cls;
  return failed(env, ts_tensor_grad(T(h), &out)) ? 0 : H(out);
}

JNIEXPORT void JNICALL Java_org_tessera_Native_tensorZeroGrad(JNIEnv* env, jclass cls, jlong h) {
  (void)cls;
  failed(env, ts_tensor_zero_grad(T(h)));
}

/* --- the ops, by name, from the C API's table -------------------------------------------------- */
enum { OP_UNARY, OP_BINARY, OP_SCALAR, OP_DIM, OP_REDUCE, OP_LOSS };
typedef struct {
  const char* name;
  int kind;
  void (*fn)(void);
} op_entry;

static const op_entry ops[] = {
#define TS_OP_UNARY(name) {#name, OP_UNARY, (void (*)(void))ts_##name},
#define TS_OP_BINARY(name) {#name, OP_BINARY, (void (*)(void))ts_##name},
#define TS_OP_SCALAR(name) {#name "_scalar", OP_SCALAR, (void (*)(void))ts_##name##_scalar},
#define TS_OP_DIM(name) {#name, OP_DIM, (void (*)(void))ts_##name},
#define TS_OP_REDUCE(name) {#name, OP_REDUCE, (void (*)(void))ts_##name},
#define TS_OP_LOSS(name) {#name, OP_LOSS, (void (*)(void))ts_##name},
/* (The table's other kinds have methods or classes of their own in Java, or none yet.) */
#define TS_OP_TERNARY(name)
#define TS_OP_SCALAR2(name)
#define TS_OP_DIM_KEEP(name)
#define TS_OP_SHAPE(name)
#define TS_OP_INDEX(name)
#define TS_OP_INDEX_SRC(name)
#define TS_OP_LIST(name)
#define TS_OP_CONV(name)
#define TS_OP_POOL(name)
#define TS_OP_NORM(name)
#define TS_OP_SORT(name)
#define TS_OP_TOPK(name)
#define TS_OP_VALUES_INDICES(name)
#define TS_OP_PIECES(name)
#define TS_OP_EQUATION(name)
#define TS_OP_PAD(name)
#define TS_OP_ROLL(name)
#define TS_OP_MASK_FILL(name)
#define TS_OP_BATCH_NORM(name)
#define TS_OP_ATTENTION(name)
#include "tessera/c/tessera_c_ops.h"
};

typedef ts_status (*unary_fn)(ts_tensor, ts_tensor*);
typedef ts_status (*binary_fn)(ts_tensor, ts_tensor, ts_tensor*);
typedef ts_status (*scalar_fn)(ts_tensor, double, ts_tensor*);
typedef ts_status (*dim_fn)(ts_tensor, int64_t, ts_tensor*);
typedef ts_status (*reduce_fn)(ts_tensor, const int64_t*, int, int, ts_tensor*);

/* op(name, a, b, value, dims, keepdim): the arguments each kind takes (b for binary ops and
 * losses, value for scalar ops, value as the dim for softmax-like ops, dims and keepdim for
 * reductions). */
JNIEXPORT jlong JNICALL Java_org_tessera_Native_op(JNIEnv* env, jclass cls, jstring name, jlong a, jlong b,
                                                  jdouble value, jlongArray dims, jboolean keepdim) {
  char* n = utf(env, name);
  size_t i;
  ts_tensor out = NULL;
  ts_status s = TS_OK;
  const op_entry* e = NULL;
  (void)cls;
  for (i = 0; n != NULL && i < sizeof ops / sizeof ops[0]; ++i)
    if (strcmp(ops[i].name, n) == 0) e = &ops[i];
  free(n);
  if (e == NULL) {
    throw_illegal(env, "no op of that name in tessera's C API (Native.opNames() lists them)");
    return 0;
  }
  switch (e->kind) {
    case OP_UNARY: s = ((unary_fn)e->fn)(T(a), &out); break;
    case OP_BINARY:
    case OP_LOSS: s = ((binary_fn)e->fn)(T(a), T(b), &out); break;
    case OP_SCALAR: s = ((scalar_fn)e->fn)(T(a), value, &out); break;
    case OP_DIM: s = ((dim_fn)e->fn)(T(a), (int64_t)value, &out); break;
    default: {
      int nd = 0;
      int64_t* d = dims ? shape_of(env, dims, &nd) : NULL;
      if (dims != NULL && d == NULL) return 0;
      s = ((reduce_fn)e->fn)(T(a), d, nd, keepdim ? 1 : 0, &out);
      free(d);
    }
  }
  return failed(env, s) ? 0 : H(out);
}

/* The names op() takes (the table's ops of the kinds above). */
JNIEXPORT jobjectArray JNICALL Java_org_tessera_Native_opNames(JNIEnv* env, jclass cls) {
  int i, n = (int)(sizeof ops / sizeof ops[0]);
  jclass string = (*env)->FindClass(env, "java/lang/String");
  jobjectArray out;
  (void)cls;
  if (string == NULL) return NULL;
  out = (*env)->NewObjectArray(env, n, string, NULL);
  for (i = 0; out != NULL && i < n; ++i) {
    jstring s = (*env)->NewStringUTF(env, ops[i].name);
    (*env)->SetObjectArrayElement(env, out, i, s);
    (*env)->DeleteLocalRef(env, s);
  }
  return out;
}

/* --- models ------------------------------------------------------------------------------------ */
JNIEXPORT jlong JNICALL Java_org_tessera_Native_moduleFromZoo(JNIEnv* env, jclass cls, jstring name, jlong in,
                                                             jlong classes) {
  char* n = utf(env, name);
  ts_module out = NULL;
  ts_status s = ts_module_from_zoo(n, in, classes, &out);
  (void)cls;
  free(n);
  return failed(env, s) ? 0 : H(out);
}

JNIEXPORT jlong JNICALL Java_org_tessera_Native_moduleLoadOnnx(JNIEnv* env, jclass cls, jstring path) {
  char* p = utf(env, path);
  ts_module out = NULL;
  ts_status s = ts_module_load_onnx(p, &out);
  (void)cls;
  free(p);
  return failed(env, s) ? 0 : H(out);
}

JNIEXPORT void JNICALL Java_org_tessera_Native_moduleExportOnnx(JNIEnv* env, jclass cls, jlong m, jlong x,
                                                               jboolean dynamic_batch, jstring path) {
  char* p = utf(env, path);
  ts_tensor input = T(x);
  ts_status s = ts_module_export_onnx(M(m), &input, 1, dynamic_batch ? 1 : 0, p);
  (void)cls;
  free(p);
  failed(env, s);
}

JNIEXPORT void JNICALL Java_org_tessera_Native_moduleSaveLoad(JNIEnv* env, jclass cls, jlong m, jstring path,
                                                             jboolean save) {
  char* p = utf(env, path);
  ts_status s = save ? ts_module_save(M(m), p) : ts_module_load(M(m), p);
  (void)cls;
  free(p);
  failed(env, s);
}

JNIEXPORT jlong JNICALL Java_org_tessera_Native_moduleForward(JNIEnv* env, jclass cls, jlong m, jlong x) {
  ts_tensor out = NULL;
  (void)cls;
  return failed(env, ts_module_forward(M(m), T(x), &out)) ? 0 : H(out);
}

JNIEXPORT void JNICALL Java_org_tessera_Native_moduleTrain(JNIEnv* env, jclass cls, jlong m, jboolean on) {
  (void)cls;
  failed(env, ts_module_train(M(m), on ? 1 : 0));
}

JNIEXPORT jboolean JNICALL Java_org_tessera_Native_moduleIsTraining(JNIEnv* env, jclass cls, jlong m) {
  int on = 0;
  (void)cls;
  failed(env, ts_module_is_training(M(m), &on));
  return on ? JNI_TRUE : JNI_FALSE;
}

JNIEXPORT void JNICALL Java_org_tessera_Native_moduleToDevice(JNIEnv* env, jclass cls, jlong m, jstring device) {
  char* d = utf(env, device);
  ts_status s = ts_module_to_device(M(m), d);
  (void)cls;
  free(d);
  failed(env, s);
}

JNIEXPORT jobjectArray JNICALL Java_org_tessera_Native_moduleParameterNames(JNIEnv* env, jclass cls, jlong m) {
  int i, n = 0;
  jclass string = (*env)->FindClass(env, "java/lang/String");
  jobjectArray out;
  (void)cls;
  if (string == NULL || failed(env, ts_module_parameter_count(M(m), &n))) return NULL;
  out = (*env)->NewObjectArray(env, n, string, NULL);
  for (i = 0; out != NULL && i < n; ++i) {
    char name[512];
    ts_tensor t = NULL;
    jstring s;
    if (failed(env, ts_module_parameter(M(m), i, name, sizeof name, &t))) return NULL;
    ts_tensor_free(t);
    s = (*env)->NewStringUTF(env, name);
    (*env)->SetObjectArrayElement(env, out, i, s);
    (*env)->DeleteLocalRef(env, s);
  }
  return out;
}

JNIEXPORT jlong JNICALL Java_org_tessera_Native_moduleParameter(JNIEnv* env, jclass cls, jlong m, jint i) {
  ts_tensor out = NULL;
  (void)cls;
  return failed(env, ts_module_parameter(M(m), i, NULL, 0, &out)) ? 0 : H(out);
}

JNIEXPORT jlong JNICALL Java_org_tessera_Native_moduleNumParameters(JNIEnv* env, jclass cls, jlong m) {
  int64_t n = 0;
  (void)cls;
  failed(env, ts_module_num_parameters(M(m), &n));
  return n;
}

JNIEXPORT jstring JNICALL Java_org_tessera_Native_moduleString(JNIEnv* env, jclass cls, jlong m) {
  char buf[16384];
  (void)cls;
  if (failed(env, ts_module_to_string(M(m), buf, sizeof buf))) return NULL;
  return (*env)->NewStringUTF(env, buf);
}

JNIEXPORT void JNICALL Java_org_tessera_Native_moduleFree(JNIEnv* env, jclass cls, jlong m) {
  (void)cls;
  failed(env, ts_module_free(M(m)));
}

/* --- optimizers -------------------------------------------------------------------------------- */
JNIEXPORT jlong JNICALL Java_org_tessera_Native_optimizer(JNIEnv* env, jclass cls, jint kind, jlong m, jdouble lr,
                                                         jdouble a, jdouble b, jdouble eps, jdouble wd,
                                                         jboolean nesterov) {
  ts_optimizer out = NULL;
  ts_status s;
  (void)cls;
  if (kind == 0)
    s = ts_optimizer_sgd(M(m), lr, a, wd, nesterov ? 1 : 0, &out);
  else if (kind == 1)
    s = ts_optimizer_adam(M(m), lr, a, b, eps, wd, &out);
  else
    s = ts_optimizer_adamw(M(m), lr, a, b, eps, wd, &out);
  return failed(env, s) ? 0 : H(out);
}

JNIEXPORT void JNICALL Java_org_tessera_Native_optimizerStep(JNIEnv* env, jclass cls, jlong o) {
  (void)cls;
  failed(env, ts_optimizer_step(O(o)));
}

JNIEXPORT void JNICALL Java_org_tessera_Native_optimizerZeroGrad(JNIEnv* env, jclass cls, jlong o) {
  (void)cls;
  failed(env, ts_optimizer_zero_grad(O(o)));
}

JNIEXPORT jdouble JNICALL Java_org_tessera_Native_optimizerLr(JNIEnv* env, jclass cls, jlong o) {
  double lr = 0;
  (void)cls;
  failed(env, ts_optimizer_lr(O(o), &lr));
  return lr;
}

JNIEXPORT void JNICALL Java_org_tessera_Native_optimizerSetLr(JNIEnv* env, jclass cls, jlong o, jdouble lr) {
  (void)cls;
  failed(env, ts_optimizer_set_lr(O(o), lr));
}

JNIEXPORT void JNICALL Java_org_tessera_Native_optimizerFree(JNIEnv* env, jclass cls, jlong o) {
  (void)cls;
  failed(env, ts_optimizer_free(O(o)));
}

JNIEXPORT void JNICALL Java_org_tessera_Native_checkpoint(JNIEnv* env, jclass cls, jstring path, jlong m, jlong o,
                                                         jboolean save, jlongArray epoch_step) {
  char* p = utf(env, path);
  int64_t es[2] = {0, 0};
  ts_status s;
  (void)cls;
  if (epoch_step == NULL || (*env)->GetArrayLength(env, epoch_step) != 2) {
    free(p);
    throw_illegal(env, "epoch_step must hold two longs");
    return;
  }
  (*env)->GetLongArrayRegion(env, epoch_step, 0, 2, (jlong*)es);
  s = save ? ts_checkpoint_save(p, M(m), O(o), es[0], es[1]) : ts_checkpoint_load(p, M(m), O(o), &es[0], &es[1]);
  free(p);
  if (!failed(env, s) && !save) (*env)->SetLongArrayRegion(env, epoch_step, 0, 2, (const jlong*)es);
}

/* --- data -------------------------------------------------------------------------------------- */
JNIEXPORT jlong JNICALL Java_org_tessera_Native_loaderFromTensors(JNIEnv* env, jclass cls, jlong x, jlong y,
                                                                 jlong batch, jboolean shuffle, jlong seed) {
  ts_data_loader out = NULL;
  (void)cls;
  return failed(env, ts_data_loader_from_tensors(T(x), T(y), batch, shuffle ? 1 : 0, (uint64_t)seed, &out)) ? 0 : H(out);
}

JNIEXPORT jlong JNICALL Java_org_tessera_Native_loaderMnist(JNIEnv* env, jclass cls, jstring dir, jboolean train,
                                                           jdouble mean, jdouble std, jlong batch, jboolean shuffle,
                                                           jlong seed) {
  char* d = utf(env, dir);
  ts_data_loader out = NULL;
  ts_status s = ts_data_loader_mnist(d, train ? 1 : 0, mean, std, batch, shuffle ? 1 : 0, (uint64_t)seed, &out);
  (void)cls;
  free(d);
  return failed(env, s) ? 0 : H(out);
}

JNIEXPORT jlong JNICALL Java_org_tessera_Native_loaderNumBatches(JNIEnv* env, jclass cls, jlong l) {
  int64_t n = 0;
  (void)cls;
  failed(env, ts_data_loader_num_batches(L(l), &n));
  return n;
}

JNIEXPORT void JNICALL Java_org_tessera_Native_loaderFree(JNIEnv* env, jclass cls, jlong l) {
  (void)cls;
  failed(env, ts_data_loader_free(L(l)));
}

/* --- training ---------------------------------------------------------------------------------- */
/* The Java listener, called from the trainer's thread (the one that called fit). */
typedef struct {
  JNIEnv* env;
  jobject listener;
  jmethodID method;
} progress_context;

static int java_progress(void* context, int64_t epoch, int64_t batch, int64_t num_batches, double loss) {
  progress_context* c = (progress_context*)context;
  jboolean stop;
  if ((*c->env)->ExceptionCheck(c->env)) return 1;
  stop = (*c->env)->CallBooleanMethod(c->env, c->listener, c->method, (jlong)epoch, (jlong)batch, (jlong)num_batches,
                                      (jdouble)loss);
  if ((*c->env)->ExceptionCheck(c->env)) return 1; /* (thrown again when fit returns) */
  return stop ? 1 : 0;
}

JNIEXPORT jdoubleArray JNICALL Java_org_tessera_Native_fit(JNIEnv* env, jclass cls, jlong m, jlong train, jlong o,
                                                          jstring loss, jlong epochs, jlong validation,
                                                          jobject listener) {
  char* lossname = utf(env, loss);
  double result[2] = {0, 0};
  progress_context c;
  ts_status s;
  jdoubleArray out;
  (void)cls;
  c.env = env;
  c.listener = listener;
  c.method = NULL;
  if (listener != NULL) {
    jclass lc = (*env)->GetObjectClass(env, listener);
    c.method = (*env)->GetMethodID(env, lc, "onProgress", "(JJJD)Z");
    if (c.method == NULL) {
      free(lossname);
      return NULL;
    }
  }
  s = ts_fit(M(m), L(train), O(o), lossname, epochs, L(validation), listener ? java_progress : NULL, &c, &result[0],
             &result[1]);
  free(lossname);
  if ((*env)->ExceptionCheck(env)) return NULL; /* the listener threw: that exception propagates */
  if (failed(env, s)) return NULL;
  out = (*env)->NewDoubleArray(env, 2);
  if (out != NULL) (*env)->SetDoubleArrayRegion(env, out, 0, 2, result);
  return out;
}

JNIEXPORT jdoubleArray JNICALL Java_org_tessera_Native_evaluate(JNIEnv* env, jclass cls, jlong m, jlong loader,
                                                               jstring loss) {
  char* lossname = utf(env, loss);
  double result[2] = {0, 0};
  ts_status s = ts_evaluate(M(m), L(loader), lossname, &result[0], &result[1]);
  jdoubleArray out;
  (void)cls;
  free(lossname);
  if (failed(env, s)) return NULL;
  out = (*env)->NewDoubleArray(env, 2);
  if (out != NULL) (*env)->SetDoubleArrayRegion(env, out, 0, 2, result);
  return out;
}
