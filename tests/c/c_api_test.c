/* The C API from C99 (compiled with -std=c99 -Wall -Wextra -Werror -pedantic): tensors, ops,
 * autograd, borrowed buffers, and every kind of bad input answered with a status and a message. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/c/tessera_c.h"

static int failures = 0;

#define CHECK(cond)                                                                    \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      fprintf(stderr, "%s:%d: CHECK(%s) failed; last error: %s\n", __FILE__, __LINE__, #cond, \
              ts_last_error());                                                        \
      failures++;                                                                      \
    }                                                                                  \
  } while (0)
#define OK(call) CHECK((call) == TS_OK)

static int released = 0;
static void release_buffer(void* context) { released += *(int*)context; }

static int mentions(const char* text) { return strstr(ts_last_error(), text) != NULL; }

static void test_tensors_and_ops(void) {
  const float a_data[6] = {1, 2, 3, 4, 5, 6};
  const int64_t shape[2] = {2, 3};
  ts_tensor a = NULL, b = NULL, c = NULL, m = NULL, s = NULL, e = NULL;
  int64_t got[4] = {0, 0, 0, 0};
  int ndim = 0;
  int64_t numel = 0;
  ts_dtype dtype = TS_BOOL;
  char device[16];
  float out[6];
  double v = 0;
  int i;

  OK(ts_tensor_from_data(a_data, shape, 2, TS_FLOAT32, &a));
  OK(ts_tensor_ndim(a, &ndim));
  CHECK(ndim == 2);
  OK(ts_tensor_shape(a, got, 4));
  CHECK(got[0] == 2 && got[1] == 3);
  OK(ts_tensor_numel(a, &numel));
  CHECK(numel == 6);
  OK(ts_tensor_dtype(a, &dtype));
  CHECK(dtype == TS_FLOAT32);
  OK(ts_tensor_device(a, device, sizeof device));
  CHECK(strcmp(device, "cpu") == 0);
  CHECK(ts_dtype_size(TS_FLOAT64) == 8 && ts_dtype_size((ts_dtype)42) == 0);

  /* c = a * 2 + a; m = a @ a^T; s = sum(c) */
  OK(ts_mul_scalar(a, 2.0, &b));
  OK(ts_add(b, a, &c));
  OK(ts_tensor_copy_to(c, out, sizeof out));
  for (i = 0; i < 6; ++i) CHECK(out[i] == 3 * a_data[i]);
  ts_tensor_free(b);
  OK(ts_tensor_transpose(a, 0, 1, &b));
  OK(ts_matmul(a, b, &m));
  OK(ts_tensor_shape(m, got, 4));
  CHECK(got[0] == 2 && got[1] == 2);
  OK(ts_tensor_copy_to(m, out, sizeof out));
  CHECK(out[0] == 14 && out[1] == 32 && out[2] == 32 && out[3] == 77);
  OK(ts_sum(c, NULL, 0, 0, &s));
  OK(ts_tensor_item(s, &v));
  CHECK(v == 63);
  ts_tensor_free(s);
  {
    const int64_t dims[1] = {-1};
    OK(ts_mean(a, dims, 1, 1, &s));
    OK(ts_tensor_shape(s, got, 4));
    CHECK(got[0] == 2 && got[1] == 1);
    OK(ts_tensor_copy_to(s, out, sizeof out));
    CHECK(out[0] == 2 && out[1] == 5);
  }
  ts_tensor_free(s);
  OK(ts_softmax(a, 1, &s));
  OK(ts_exp(a, &e));
  OK(ts_tensor_copy_to(s, out, sizeof out));
  CHECK(fabs(out[0] + out[1] + out[2] - 1.0) < 1e-6);
  CHECK(fabs(out[2] - exp(3.0) / (exp(1.0) + exp(2.0) + exp(3.0))) < 1e-6);
  {
    char text[256];
    OK(ts_tensor_to_string(a, text, sizeof text));
    CHECK(strstr(text, "tensor(") != NULL);
    OK(ts_tensor_to_string(a, text, 8)); /* truncated, still terminated */
    CHECK(strlen(text) == 7);
  }
  {
    ts_tensor parts[2];
    ts_tensor joined = NULL;
    parts[0] = a;
    parts[1] = c;
    OK(ts_tensor_cat(parts, 2, 0, &joined));
    OK(ts_tensor_shape(joined, got, 4));
    CHECK(got[0] == 4 && got[1] == 3);
    ts_tensor_free(joined);
  }
  CHECK(ts_op_count() > 50);
  CHECK(strcmp(ts_op_name(0), "abs") == 0);
  CHECK(ts_op_name(ts_op_count()) == NULL);
  ts_tensor_free(a);
  ts_tensor_free(b);
  ts_tensor_free(c);
  ts_tensor_free(m);
  ts_tensor_free(s);
  ts_tensor_free(e);
}

static void test_autograd(void) {
  const double x_data[3] = {1.0, -2.0, 0.5};
  const int64_t shape[1] = {3};
  ts_tensor x = NULL, sq = NULL, loss = NULL, g = NULL, y = NULL;
  double grad[3];
  int requires = 0, previous = -1, i;

  OK(ts_tensor_from_data(x_data, shape, 1, TS_FLOAT64, &x));
  OK(ts_tensor_set_requires_grad(x, 1));
  OK(ts_tensor_requires_grad(x, &requires));
  CHECK(requires == 1);
  OK(ts_tensor_grad(x, &g));
  CHECK(g == NULL); /* none yet */
  OK(ts_square(x, &sq));
  OK(ts_sum(sq, NULL, 0, 0, &loss));
  OK(ts_tensor_backward(loss));
  OK(ts_tensor_grad(x, &g));
  CHECK(g != NULL);
  OK(ts_tensor_copy_to(g, grad, sizeof grad));
  for (i = 0; i < 3; ++i) CHECK(grad[i] == 2 * x_data[i]);
  /* A no-grad scope: results do not require grad. */
  OK(ts_set_grad_enabled(0, &previous));
  CHECK(previous == 1 && ts_is_grad_enabled() == 0);
  OK(ts_mul(x, x, &y));
  OK(ts_tensor_requires_grad(y, &requires));
  CHECK(requires == 0);
  OK(ts_set_grad_enabled(previous, NULL));
  CHECK(ts_is_grad_enabled() == 1);
  OK(ts_tensor_zero_grad(x));
  ts_tensor_free(g);
  OK(ts_tensor_grad(x, &g));
  CHECK(g == NULL);
  ts_tensor_free(x);
  ts_tensor_free(sq);
  ts_tensor_free(loss);
  ts_tensor_free(y);
}

static void test_borrowed_buffer(void) {
  float buffer[4] = {1, 2, 3, 4};
  const int64_t shape[2] = {2, 2};
  int weight = 1;
  ts_tensor t = NULL, view = NULL, two = NULL;
  void* ptr = NULL;

  released = 0;
  OK(ts_tensor_from_blob(buffer, shape, 2, TS_FLOAT32, release_buffer, &weight, &t));
  OK(ts_tensor_data_ptr(t, &ptr));
  CHECK(ptr == (void*)buffer);
  OK(ts_tensor_full(shape, 2, 2.0, TS_FLOAT32, &two));
  OK(ts_tensor_copy_(t, two)); /* written through to the caller's buffer */
  CHECK(buffer[0] == 2 && buffer[3] == 2);
  buffer[1] = 7; /* and the caller's writes are seen */
  OK(ts_tensor_reshape(t, (const int64_t[]){-1}, 1, &view));
  {
    float out[4];
    OK(ts_tensor_copy_to(view, out, sizeof out));
    CHECK(out[1] == 7);
  }
  ts_tensor_free(t);
  CHECK(released == 0); /* the view still uses the buffer */
  ts_tensor_free(view);
  CHECK(released == 1);
  ts_tensor_free(two);
}

static void test_bad_input(void) {
  const float data[6] = {0};
  const int64_t s23[2] = {2, 3}, s32[2] = {3, 2}, neg[2] = {2, -1};
  ts_tensor a = NULL, b = NULL, r = (ts_tensor)(uintptr_t)1, freed = NULL;
  float small[2];

  OK(ts_tensor_from_data(data, s23, 2, TS_FLOAT32, &a));
  OK(ts_tensor_from_data(data, s32, 2, TS_FLOAT32, &b));
  CHECK(ts_add(a, b, &r) == TS_SHAPE_ERROR);
  CHECK(r == NULL);
  CHECK(mentions("add") && mentions("[2, 3]") && mentions("[3, 2]"));
  CHECK(ts_matmul(a, a, &r) == TS_SHAPE_ERROR && mentions("matmul"));
  CHECK(ts_add(a, NULL, &r) == TS_NULL_ARGUMENT && mentions("ts_add: b is NULL"));
  CHECK(ts_add(a, b, NULL) == TS_NULL_ARGUMENT && mentions("out is NULL"));
  CHECK(ts_tensor_from_data(data, neg, 2, TS_FLOAT32, &r) == TS_SHAPE_ERROR && mentions("negative size"));
  CHECK(ts_tensor_from_data(data, s23, 2, (ts_dtype)99, &r) == TS_DTYPE_ERROR && mentions("unknown dtype code 99"));
  CHECK(ts_tensor_from_data(NULL, s23, 2, TS_FLOAT32, &r) == TS_NULL_ARGUMENT && mentions("data is NULL"));
  CHECK(ts_tensor_copy_to(a, small, sizeof small) == TS_VALUE_ERROR && mentions("needs 24"));
  CHECK(ts_tensor_shape(a, NULL, 1) == TS_VALUE_ERROR && mentions("2 dims"));
  CHECK(ts_tensor_item(a, NULL) == TS_NULL_ARGUMENT);
  {
    double v;
    CHECK(ts_tensor_item(a, &v) != TS_OK && mentions("item"));
  }
  CHECK(ts_tensor_to_device(a, "tpu:0", &r) != TS_OK && mentions("tpu"));
  CHECK(ts_tensor_backward(a) != TS_OK && mentions("backward"));
  CHECK(ts_set_num_threads(0) == TS_VALUE_ERROR && mentions("at least 1"));
  {
    char tiny[2];
    CHECK(ts_tensor_device(a, tiny, sizeof tiny) == TS_VALUE_ERROR && mentions("bytes"));
  }
  OK(ts_tensor_clone(a, &freed));
  OK(ts_tensor_free(freed));
  CHECK(ts_tensor_free(freed) == TS_INVALID_HANDLE);
  CHECK(ts_exp(freed, &r) == TS_INVALID_HANDLE && mentions("ts_exp") && mentions("not a live tensor handle"));
  CHECK(ts_exp((ts_tensor)&small, &r) == TS_INVALID_HANDLE);
  CHECK(strcmp(ts_status_name(TS_SHAPE_ERROR), "TS_SHAPE_ERROR") == 0);
  OK(ts_tensor_free(NULL));
  ts_tensor_free(a);
  ts_tensor_free(b);
}

int main(void) {
  CHECK(ts_api_version() == TS_C_API_VERSION);
  CHECK(strlen(ts_version()) > 0);
  OK(ts_manual_seed(0));
  test_tensors_and_ops();
  test_autograd();
  test_borrowed_buffer();
  test_bad_input();
  if (failures) {
    fprintf(stderr, "%d checks failed\n", failures);
    return 1;
  }
  printf("C API: all checks passed (tessera %s, %d ops in the table)\n", ts_version(), ts_op_count());
  return 0;
}
