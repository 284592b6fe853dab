/* The C API from C99 (compiled with -std=c99 -Wall -Wextra -Werror -pedantic): tensors, ops,
 * autograd, borrowed buffers, and every kind of bad input answered with a status and a message. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, rmdir */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
  CHECK(ts_op_count() > 130);
  CHECK(strcmp(ts_op_name(0), "abs") == 0);
  CHECK(ts_op_name(ts_op_count()) == NULL);
  ts_tensor_free(a);
  ts_tensor_free(b);
  ts_tensor_free(c);
  ts_tensor_free(m);
  ts_tensor_free(s);
  ts_tensor_free(e);
}

/* The table's other kinds of op, each against values worked out by hand. */
static void test_more_ops(void) {
  const float v[6] = {1, -2, 3, -4, 5, -6};
  const int64_t s23[2] = {2, 3}, perm[2] = {1, 0}, dim1[1] = {1}, s2[1] = {2}, img[4] = {1, 1, 4, 4};
  const int64_t idx[2] = {2, 0};
  ts_tensor x = NULL, r = NULL, zero = NULL, i = NULL, parts[2], im = NULL, w = NULL, src = NULL;
  float out[16];
  int64_t got[4], longs[6];
  int k;

  OK(ts_tensor_from_data(v, s23, 2, TS_FLOAT32, &x));
  /* where(x > 0, x, 0) */
  OK(ts_tensor_zeros(s23, 2, TS_FLOAT32, &zero));
  OK(ts_gt(x, zero, &i));
  OK(ts_where(i, x, zero, &r));
  OK(ts_tensor_copy_to(r, out, sizeof out));
  CHECK(out[0] == 1 && out[1] == 0 && out[4] == 5 && out[5] == 0);
  ts_tensor_free(i);
  ts_tensor_free(r);
  /* clamp with one bound (NaN: none), dropout in evaluation (identity) */
  OK(ts_clamp(x, NAN, 2.0, &r));
  OK(ts_tensor_copy_to(r, out, sizeof out));
  CHECK(out[0] == 1 && out[2] == 2 && out[5] == -6);
  ts_tensor_free(r);
  OK(ts_dropout(x, 0.5, 0, &r));
  OK(ts_tensor_copy_to(r, out, sizeof out));
  CHECK(out[3] == -4);
  ts_tensor_free(r);
  /* argmax along dim 1; variance (Bessel) along dim 1 */
  OK(ts_argmax(x, 1, 0, &r));
  OK(ts_tensor_copy_to(r, longs, sizeof longs));
  CHECK(longs[0] == 2 && longs[1] == 1);
  ts_tensor_free(r);
  OK(ts_var(x, dim1, 1, 0, &r));
  OK(ts_tensor_copy_to(r, out, sizeof out));
  CHECK(fabs(out[0] - 19.0 / 3) < 1e-5); /* mean 2/3; squares 1/9 + 64/9 + 49/9 = 114/9; / 2 */
  ts_tensor_free(r);
  /* permute, index_select, scatter_add, stack */
  OK(ts_permute(x, perm, 2, &r));
  OK(ts_tensor_shape(r, got, 4));
  CHECK(got[0] == 3 && got[1] == 2);
  ts_tensor_free(r);
  {
    int64_t which[2];
    memcpy(which, idx, sizeof which);
    OK(ts_tensor_from_data(which, s2, 1, TS_INT64, &i));
  }
  OK(ts_index_select(x, 1, i, &r));
  OK(ts_tensor_copy_to(r, out, sizeof out));
  CHECK(out[0] == 3 && out[1] == 1 && out[2] == -6 && out[3] == -4);
  ts_tensor_free(r);
  OK(ts_tensor_ones(s2, 1, TS_FLOAT32, &src));
  {
    ts_tensor row = NULL, acc = NULL;
    const int64_t s3[1] = {3};
    OK(ts_tensor_zeros(s3, 1, TS_FLOAT32, &row));
    OK(ts_scatter_add(row, 0, i, src, &acc));
    OK(ts_tensor_copy_to(acc, out, sizeof out));
    CHECK(out[0] == 1 && out[1] == 0 && out[2] == 1);
    ts_tensor_free(row);
    ts_tensor_free(acc);
  }
  parts[0] = x;
  parts[1] = x;
  OK(ts_stack(parts, 2, 0, &r));
  OK(ts_tensor_shape(r, got, 4));
  CHECK(got[0] == 2 && got[1] == 2 && got[2] == 3);
  ts_tensor_free(r);
  /* a 2x2 all-ones convolution (no bias), 2x2 max pooling, layer norm over the last dim */
  {
    float pixels[16];
    const int64_t ws[4] = {1, 1, 2, 2};
    for (k = 0; k < 16; ++k) pixels[k] = (float)k;
    OK(ts_tensor_from_data(pixels, img, 4, TS_FLOAT32, &im));
    OK(ts_tensor_ones(ws, 4, TS_FLOAT32, &w));
  }
  OK(ts_conv2d(im, w, NULL, 2, 0, 1, 1, &r));
  OK(ts_tensor_copy_to(r, out, sizeof out));
  CHECK(out[0] == 0 + 1 + 4 + 5 && out[3] == 10 + 11 + 14 + 15);
  ts_tensor_free(r);
  OK(ts_max_pool2d(im, 2, 0, 0, 0, &r));
  OK(ts_tensor_copy_to(r, out, sizeof out));
  CHECK(out[0] == 5 && out[1] == 7 && out[2] == 13 && out[3] == 15);
  ts_tensor_free(r);
  OK(ts_layer_norm(x, NULL, NULL, 1, 1e-5, &r));
  OK(ts_tensor_copy_to(r, out, sizeof out));
  CHECK(fabs(out[0] + out[1] + out[2]) < 1e-5);
  ts_tensor_free(r);
  /* values and indices: sort, topk, max along a dim */
  {
    ts_tensor vals = NULL, ids = NULL, pieces[4], m = NULL, filled = NULL, eq = NULL, padded = NULL, rolled = NULL;
    int count = -1;
    OK(ts_sort(x, 1, 1, &vals, &ids));
    OK(ts_tensor_copy_to(vals, out, sizeof out));
    OK(ts_tensor_copy_to(ids, longs, sizeof longs));
    CHECK(out[0] == 3 && out[1] == 1 && out[2] == -2 && longs[0] == 2 && longs[1] == 0);
    ts_tensor_free(vals);
    ts_tensor_free(ids);
    OK(ts_topk(x, 1, 1, 0, &vals, &ids)); /* smallest */
    OK(ts_tensor_copy_to(vals, out, sizeof out));
    CHECK(out[0] == -2 && out[1] == -6);
    ts_tensor_free(vals);
    ts_tensor_free(ids);
    OK(ts_max(x, 0, 0, &vals, &ids));
    OK(ts_tensor_copy_to(ids, longs, sizeof longs));
    CHECK(longs[0] == 0 && longs[1] == 1 && longs[2] == 0);
    ts_tensor_free(vals);
    ts_tensor_free(ids);
    CHECK(ts_sort(x, 1, 0, NULL, &ids) == TS_NULL_ARGUMENT);
    /* pieces */
    OK(ts_chunk(x, 3, 1, pieces, 4, &count));
    CHECK(count == 3);
    OK(ts_tensor_copy_to(pieces[2], out, sizeof out));
    CHECK(out[0] == 3 && out[1] == -6);
    for (k = 0; k < count; ++k) ts_tensor_free(pieces[k]);
    CHECK(ts_split(x, 1, 1, pieces, 2, &count) == TS_VALUE_ERROR && count == 3 && mentions("3 pieces"));
    /* einsum, pad, roll, masked_fill */
    parts[0] = x;
    OK(ts_einsum("ij->j", parts, 1, &m));
    OK(ts_tensor_copy_to(m, out, sizeof out));
    CHECK(out[0] == -3 && out[1] == 3 && out[2] == -3);
    {
      const int64_t pads[2] = {1, 0}, shift[1] = {1}, dims[1] = {1};
      OK(ts_pad(x, pads, 2, "constant", 9.0, &padded));
      OK(ts_tensor_shape(padded, got, 4));
      CHECK(got[1] == 4);
      OK(ts_tensor_copy_to(padded, out, sizeof out));
      CHECK(out[0] == 9 && out[1] == 1);
      OK(ts_roll(x, shift, dims, 1, &rolled));
      OK(ts_tensor_copy_to(rolled, out, sizeof out));
      CHECK(out[0] == 3 && out[1] == 1);
    }
    OK(ts_lt(x, zero, &eq));
    OK(ts_masked_fill(x, eq, 0.0, &filled));
    OK(ts_tensor_copy_to(filled, out, sizeof out));
    CHECK(out[1] == 0 && out[2] == 3);
    ts_tensor_free(m);
    ts_tensor_free(padded);
    ts_tensor_free(rolled);
    ts_tensor_free(eq);
    ts_tensor_free(filled);
    CHECK(ts_einsum("ij,jk->ik", parts, 1, &m) != TS_OK && mentions("einsum"));
  }
  /* batch norm in training (batch statistics), attention with uniform keys */
  {
    ts_tensor bn = NULL, q = NULL, att = NULL;
    const int64_t qs[3] = {1, 2, 4};
    OK(ts_batch_norm(x, NULL, NULL, NULL, NULL, 1, 0.1, 1e-5, &bn));
    OK(ts_tensor_copy_to(bn, out, sizeof out));
    CHECK(fabs(out[0] + out[3]) < 1e-4); /* each column centred */
    OK(ts_tensor_ones(qs, 3, TS_FLOAT32, &q));
    OK(ts_scaled_dot_product_attention(q, q, q, NULL, 0.0, 0, &att));
    OK(ts_tensor_copy_to(att, out, sizeof out));
    CHECK(fabs(out[0] - 1) < 1e-6 && fabs(out[7] - 1) < 1e-6);
    ts_tensor_free(bn);
    ts_tensor_free(q);
    ts_tensor_free(att);
  }
  CHECK(ts_layer_norm(x, NULL, NULL, 3, 1e-5, &r) == TS_VALUE_ERROR && mentions("1 to 2"));
  CHECK(ts_conv2d(x, w, NULL, 1, 0, 1, 1, &r) != TS_OK && mentions("conv2d"));
  CHECK(ts_index_select(x, 5, i, &r) != TS_OK);
  CHECK(ts_stack(parts, 0, 0, &r) == TS_VALUE_ERROR);
  ts_tensor_free(x);
  ts_tensor_free(zero);
  ts_tensor_free(i);
  ts_tensor_free(src);
  ts_tensor_free(im);
  ts_tensor_free(w);
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

static int progress_calls = 0, epoch_ends = 0;
static int on_progress(void* context, int64_t epoch, int64_t batch, int64_t num_batches, double loss) {
  (void)context;
  (void)epoch;
  progress_calls++;
  if (batch < 0) epoch_ends++;
  CHECK(batch < num_batches && loss == loss); /* (not NaN) */
  return 0;
}

static void test_models_optimizers_training(void) {
  char dir[] = "/tmp/tessera_c_XXXXXX", path[256], name[64];
  const int64_t img[4] = {16, 1, 28, 28}, lab[1] = {16};
  ts_module net = NULL, twin = NULL, onnx = NULL;
  ts_optimizer opt = NULL;
  ts_data_loader loader = NULL;
  ts_tensor x = NULL, y = NULL, out = NULL, out2 = NULL, p0 = NULL, loss = NULL;
  int count = 0, i, training = -1;
  int64_t shape[4], labels[16], epoch = 0, step = 0, n = 0;
  double first = 0, last = 0, acc = 0;
  float a[160], b[160];

  CHECK(mkdtemp(dir) != NULL);
  CHECK(ts_zoo_count() >= 7 && ts_zoo_name(ts_zoo_count()) == NULL);
  OK(ts_manual_seed(1));
  OK(ts_module_from_zoo("lenet5", 1, 10, &net));
  OK(ts_module_parameter_count(net, &count));
  CHECK(count == 10);
  OK(ts_module_parameter(net, 0, name, sizeof name, &p0));
  CHECK(strcmp(name, "0.weight") == 0);
  OK(ts_module_num_parameters(net, &n));
  CHECK(n == 61706);
  OK(ts_tensor_randn(img, 4, TS_FLOAT32, &x));
  for (i = 0; i < 16; ++i) labels[i] = i % 10;
  OK(ts_tensor_from_data(labels, lab, 1, TS_INT64, &y));
  OK(ts_module_forward(net, x, &out));
  OK(ts_tensor_shape(out, shape, 4));
  CHECK(shape[0] == 16 && shape[1] == 10);

  /* A few optimizer steps by hand: the loss falls. */
  OK(ts_optimizer_adam(net, 3e-3, 0.9, 0.999, 1e-8, 0, &opt));
  for (i = 0; i < 30; ++i) {
    ts_tensor logits = NULL;
    OK(ts_optimizer_zero_grad(opt));
    OK(ts_module_forward(net, x, &logits));
    ts_tensor_free(loss);
    OK(ts_cross_entropy(logits, y, &loss));
    OK(ts_tensor_backward(loss));
    OK(ts_optimizer_step(opt));
    OK(ts_tensor_item(loss, i == 0 ? &first : &last));
    ts_tensor_free(logits);
  }
  CHECK(last < first * 0.5);
  if (!(last < first * 0.5)) fprintf(stderr, "loss %g -> %g\n", first, last);
  OK(ts_optimizer_set_lr(opt, 0.01));
  OK(ts_optimizer_lr(opt, &acc));
  CHECK(acc == 0.01);

  /* Saved, checkpointed, exported to ONNX and loaded back: the same outputs. */
  OK(ts_module_train(net, 0));
  OK(ts_module_is_training(net, &training));
  CHECK(training == 0);
  ts_tensor_free(out);
  OK(ts_module_forward(net, x, &out));
  OK(ts_tensor_copy_to(out, a, sizeof a));
  snprintf(path, sizeof path, "%s/lenet.safetensors", dir);
  OK(ts_module_save(net, path));
  OK(ts_module_from_zoo("lenet5", 1, 10, &twin));
  OK(ts_module_load(twin, path));
  OK(ts_module_train(twin, 0));
  OK(ts_module_forward(twin, x, &out2));
  OK(ts_tensor_copy_to(out2, b, sizeof b));
  CHECK(memcmp(a, b, sizeof a) == 0);
  remove(path);
  snprintf(path, sizeof path, "%s/run.ckpt", dir);
  OK(ts_checkpoint_save(path, net, opt, 3, 20));
  OK(ts_checkpoint_load(path, twin, NULL, &epoch, &step));
  CHECK(epoch == 3 && step == 20);
  remove(path);
  snprintf(path, sizeof path, "%s/lenet.onnx", dir);
  OK(ts_module_export_onnx(net, &x, 1, 1, path));
  OK(ts_module_load_onnx(path, &onnx));
  ts_tensor_free(out2);
  OK(ts_module_forward(onnx, x, &out2));
  OK(ts_tensor_copy_to(out2, b, sizeof b));
  for (i = 0; i < 160; ++i) CHECK(fabs(a[i] - b[i]) < 1e-4);
  remove(path);

  /* The trainer, with a progress function. */
  OK(ts_module_train(net, 1));
  OK(ts_data_loader_from_tensors(x, y, 4, 1, 7, &loader));
  OK(ts_data_loader_num_batches(loader, &n));
  CHECK(n == 4);
  OK(ts_fit(net, loader, opt, "cross_entropy", 2, NULL, on_progress, NULL, &last, &acc));
  CHECK(progress_calls == 2 * 4 + 2 && epoch_ends == 2);
  progress_calls = epoch_ends = 0;
  CHECK(last == last && acc >= 0 && acc <= 1);
  {
    /* A trainer handle: it keeps the model and the optimizer, and continues its epochs. */
    ts_trainer tr = NULL;
    int64_t done = 0;
    OK(ts_trainer_create(net, opt, "cross_entropy", &tr));
    OK(ts_trainer_fit(tr, loader, 1, NULL, NULL, NULL, &last, &acc));
    OK(ts_trainer_fit(tr, loader, 2, loader, on_progress, NULL, &last, &acc));
    OK(ts_trainer_epochs_done(tr, &done));
    CHECK(done == 3);
    OK(ts_trainer_evaluate(tr, loader, &last, &acc));
    CHECK(acc >= 0 && acc <= 1);
    OK(ts_trainer_free(tr));
    CHECK(ts_trainer_create(net, opt, "hinge", &tr) != TS_OK && tr == NULL && mentions("hinge"));
    CHECK(ts_trainer_fit((ts_trainer)net, loader, 1, NULL, NULL, NULL, NULL, NULL) == TS_INVALID_HANDLE);
    OK(ts_trainer_create(net, opt, NULL, &tr));
    OK(ts_trainer_free(tr));
  }
  OK(ts_evaluate(net, loader, NULL, &last, &acc));
  CHECK(acc >= 0 && acc <= 1);
  {
    char text[512];
    OK(ts_module_to_string(net, text, sizeof text));
    CHECK(strstr(text, "Conv2d") != NULL);
  }

  /* Bad input. */
  CHECK(ts_module_from_zoo("alexnet", 1, 10, &twin) == TS_VALUE_ERROR && mentions("alexnet") && twin == NULL);
  CHECK(ts_module_load_onnx("/nonexistent/model.onnx", &twin) != TS_OK && mentions("/nonexistent/model.onnx"));
  CHECK(ts_module_forward(net, y, &out2) != TS_OK && out2 == NULL);
  CHECK(ts_module_forward((ts_module)x, x, &out2) == TS_INVALID_HANDLE && mentions("not a live module handle"));
  CHECK(ts_tensor_free((ts_tensor)net) == TS_INVALID_HANDLE);
  CHECK(ts_module_parameter(net, 99, NULL, 0, &out2) == TS_INDEX_ERROR && mentions("99"));
  CHECK(ts_fit(net, loader, opt, "cross_entropy", 0, NULL, NULL, NULL, NULL, NULL) == TS_VALUE_ERROR);
  CHECK(ts_fit(net, loader, opt, "hinge", 1, NULL, NULL, NULL, NULL, NULL) != TS_OK && mentions("hinge"));
  {
    ts_data_loader rows_differ = (ts_data_loader)(uintptr_t)1;
    CHECK(ts_data_loader_from_tensors(x, p0, 4, 0, 0, &rows_differ) == TS_SHAPE_ERROR && rows_differ == NULL &&
          mentions("rows"));
  }
  snprintf(path, sizeof path, "%s/missing.ckpt", dir);
  CHECK(ts_checkpoint_load(path, net, NULL, NULL, NULL) == TS_IO_ERROR && mentions("missing.ckpt"));
  OK(ts_optimizer_free(opt));
  CHECK(ts_optimizer_step(opt) == TS_INVALID_HANDLE);

  ts_data_loader_free(loader);
  ts_module_free(net);
  ts_module_free(twin);
  ts_module_free(onnx);
  ts_tensor_free(x);
  ts_tensor_free(y);
  ts_tensor_free(out);
  ts_tensor_free(out2);
  ts_tensor_free(p0);
  ts_tensor_free(loss);
  rmdir(dir);
}

int main(void) {
  CHECK(ts_api_version() == TS_C_API_VERSION);
  CHECK(strlen(ts_version()) > 0);
  OK(ts_manual_seed(0));
  test_tensors_and_ops();
  test_more_ops();
  test_autograd();
  test_borrowed_buffer();
  test_bad_input();
  test_models_optimizers_training();
  if (failures) {
    fprintf(stderr, "%d checks failed\n", failures);
    return 1;
  }
  printf("C API: all checks passed (tessera %s, %d ops in the table)\n", ts_version(), ts_op_count());
  return 0;
}
