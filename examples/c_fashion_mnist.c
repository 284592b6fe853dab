/* examples/c_fashion_mnist.c: LeNet-5 trained on Fashion-MNIST for one epoch through the C API,
 * with a progress function, then checkpointed and evaluated. */
#include <stdio.h>

#include "tessera/c/tessera_c.h"

#define TRY(call)                                                                         \
  do {                                                                                    \
    ts_status s_ = (call);                                                                \
    if (s_ != TS_OK) {                                                                    \
      fprintf(stderr, "%s failed: %s: %s\n", #call, ts_status_name(s_), ts_last_error()); \
      return 1;                                                                           \
    }                                                                                     \
  } while (0)

static int print_progress(void* context, int64_t epoch, int64_t batch, int64_t num_batches, double loss) {
  (void)context;
  if (batch < 0)
    printf("epoch %lld: mean loss %.4f\n", (long long)epoch + 1, loss);
  else if (batch % 300 == 0)
    printf("  batch %lld/%lld: loss %.4f\n", (long long)batch, (long long)num_batches, loss);
  return 0; /* nonzero would stop after this epoch */
}

int main(void) {
  const char* data = "/usr/share/datasets/fashion-mnist";
  ts_module net;
  ts_optimizer opt;
  ts_data_loader train, test;
  double loss = 0, accuracy = 0;
  TRY(ts_manual_seed(0));
  TRY(ts_module_from_zoo("lenet5", 1, 10, &net)); /* or ts_module_load_onnx("model.onnx", &net) */
  TRY(ts_optimizer_sgd(net, 0.05, 0.9, 0.0, 0, &opt));
  TRY(ts_data_loader_mnist(data, 1, 0.0, 1.0, 64, 1, 0, &train)); /* images in [0, 1] */
  TRY(ts_data_loader_mnist(data, 0, 0.0, 1.0, 500, 0, 0, &test));
  TRY(ts_fit(net, train, opt, "cross_entropy", 1, test, print_progress, NULL, &loss, &accuracy));
  printf("test loss %.4f, test accuracy %.4f\n", loss, accuracy);
  TRY(ts_checkpoint_save("lenet5_fashion_mnist.ckpt", net, opt, 1, 0));
  ts_data_loader_free(train);
  ts_data_loader_free(test);
  ts_optimizer_free(opt);
  ts_module_free(net);
  remove("lenet5_fashion_mnist.ckpt");
  return accuracy > 0.8 ? 0 : 1;
}
