/* examples/c_api.c: tessera from C. Fits y = 2x + 1 by gradient descent with autograd, checking
 * every status, then shows what a bad call answers. */
#include <stdio.h>

#include "tessera/c/tessera_c.h"

/* Any failing call: print the status and the message, and stop. */
#define TRY(call)                                                                         \
  do {                                                                                    \
    ts_status s_ = (call);                                                                \
    if (s_ != TS_OK) {                                                                    \
      fprintf(stderr, "%s failed: %s: %s\n", #call, ts_status_name(s_), ts_last_error()); \
      return 1;                                                                           \
    }                                                                                     \
  } while (0)

int main(void) {
  float xs[8], ys[8];
  const int64_t shape[1] = {8}, one[1] = {1};
  ts_tensor x, y, w, b;
  double w_now = 0, b_now = 0, loss_now = 0;
  int i, step;
  for (i = 0; i < 8; ++i) {
    xs[i] = (float)i / 4;
    ys[i] = 2 * xs[i] + 1;
  }
  TRY(ts_tensor_from_data(xs, shape, 1, TS_FLOAT32, &x));
  TRY(ts_tensor_from_data(ys, shape, 1, TS_FLOAT32, &y));
  TRY(ts_tensor_zeros(one, 1, TS_FLOAT32, &w));
  TRY(ts_tensor_zeros(one, 1, TS_FLOAT32, &b));
  TRY(ts_tensor_set_requires_grad(w, 1));
  TRY(ts_tensor_set_requires_grad(b, 1));
  for (step = 0; step < 300; ++step) {
    ts_tensor wx, pred, loss, gw, gb, dw, db, nw, nb;
    int grad_was;
    TRY(ts_mul(w, x, &wx));
    TRY(ts_add(wx, b, &pred));
    TRY(ts_mse_loss(pred, y, &loss));
    TRY(ts_tensor_backward(loss));
    TRY(ts_tensor_item(loss, &loss_now));
    /* w -= 0.1 * dL/dw, b -= 0.1 * dL/db, without recording the update */
    TRY(ts_set_grad_enabled(0, &grad_was));
    TRY(ts_tensor_grad(w, &gw));
    TRY(ts_tensor_grad(b, &gb));
    TRY(ts_mul_scalar(gw, 0.1, &dw));
    TRY(ts_mul_scalar(gb, 0.1, &db));
    TRY(ts_sub(w, dw, &nw));
    TRY(ts_sub(b, db, &nb));
    TRY(ts_tensor_copy_(w, nw));
    TRY(ts_tensor_copy_(b, nb));
    TRY(ts_set_grad_enabled(grad_was, NULL));
    TRY(ts_tensor_zero_grad(w));
    TRY(ts_tensor_zero_grad(b));
    ts_tensor_free(wx);
    ts_tensor_free(pred);
    ts_tensor_free(loss);
    ts_tensor_free(gw);
    ts_tensor_free(gb);
    ts_tensor_free(dw);
    ts_tensor_free(db);
    ts_tensor_free(nw);
    ts_tensor_free(nb);
  }
  TRY(ts_tensor_item(w, &w_now));
  TRY(ts_tensor_item(b, &b_now));
  printf("tessera %s: w = %.3f, b = %.3f, loss = %.2e\n", ts_version(), w_now, b_now, loss_now);

  /* A bad call answers with a status and a message naming the op and the shapes. */
  {
    ts_tensor bad;
    const int64_t three[1] = {3};
    ts_tensor z;
    TRY(ts_tensor_zeros(three, 1, TS_FLOAT32, &z));
    if (ts_add(x, z, &bad) == TS_SHAPE_ERROR) printf("ts_add of [8] and [3]: %s\n", ts_last_error());
    ts_tensor_free(z);
  }
  ts_tensor_free(x);
  ts_tensor_free(y);
  ts_tensor_free(w);
  ts_tensor_free(b);
  return w_now > 1.95 && w_now < 2.05 && b_now > 0.95 && b_now < 1.05 ? 0 : 1;
}
