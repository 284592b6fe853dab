// The tessera command: train, eval and info.
//   tessera train                      # the zoo's convnet on Fashion-MNIST, 3 epochs: the README demo
//   tessera eval --checkpoint runs/convnet-fashion-mnist/best.ckpt
//   tessera info
#include <oneapi/dnnl/dnnl.hpp>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <filesystem>
#include <iostream>

#include "tessera/data/formats.h"
#include "tessera/dist/launch.h"
#include "tessera/data/loader.h"
#include "tessera/data/transforms.h"
#include "tessera/io/onnx.h"
#include "tessera/io/safetensors.h"
#include "tessera/tessera.h"
#include "tessera/train/checkpoint.h"
#include "tessera/train/trainer.h"
#include "tessera/zoo/zoo.h"

using namespace tessera;

namespace {
struct DataArgs {
  std::string data = "fashion-mnist", data_dir;
  int64_t batch_size = 64;
  int workers = 2;
};

struct Sets {
  std::shared_ptr<data::Dataset> train, test;
  int64_t channels = 1;
  std::vector<double> mean, std;
};

// Images of a dataset: [channels, height, width].
Shape image_shape(const std::string& data) {
  if (data == "fashion-mnist" || data == "mnist") return {1, 28, 28};
  if (data == "cifar10") return {3, 32, 32};
  throw ValueError("--data must be fashion-mnist, mnist or cifar10, got '" + data + "'");
}

Sets load(const DataArgs& a) {
  Sets s;
  s.channels = image_shape(a.data)[0];  // (also rejects unknown names)
  if (a.data == "fashion-mnist" || a.data == "mnist") {
    std::string dir = a.data_dir;
    if (dir.empty()) {
      TS_CHECK_T(IOError, a.data == "fashion-mnist", "--data mnist needs --data-dir (the Debian package ships "
                 "Fashion-MNIST only)");
      dir = "/usr/share/datasets/fashion-mnist";
      TS_CHECK_T(IOError, std::filesystem::exists(dir), dir, ": not found; install it with `apt-get install "
                 "dataset-fashion-mnist` (make demo does) or pass --data-dir");
    }
    s.train = data::load_mnist(dir, true);
    s.test = data::load_mnist(dir, false);
    s.mean = {a.data == "mnist" ? 0.1307 : 0.2860};
    s.std = {a.data == "mnist" ? 0.3081 : 0.3530};
  } else if (a.data == "cifar10") {
    TS_CHECK_T(IOError, !a.data_dir.empty(), "--data cifar10 needs --data-dir (a folder with data_batch_1..5.bin and "
               "test_batch.bin)");
    std::vector<std::string> files;
    for (int i = 1; i <= 5; ++i) files.push_back(a.data_dir + "/data_batch_" + std::to_string(i) + ".bin");
    s.train = data::read_cifar(files);
    s.test = data::read_cifar({a.data_dir + "/test_batch.bin"});
    s.mean = {0.4914, 0.4822, 0.4465};
    s.std = {0.2470, 0.2435, 0.2616};
  }
  return s;
}

data::LoaderOptions loader_options(const DataArgs& a, const Sets& s, bool shuffle, uint64_t seed) {
  std::vector<double> mean = s.mean, std = s.std;
  bool bytes = s.channels == 3;  // CIFAR images arrive as uint8
  return {.batch_size = a.batch_size, .shuffle = shuffle, .seed = seed, .drop_last = false, .num_workers = a.workers,
          .prefetch = 4, .collate = [mean, std, bytes](data::Batch b) {
            b.input = data::normalize(bytes ? data::to_float(b.input) : b.input, mean, std);
            return b;
          }};
}

void add_data_options(CLI::App* c, DataArgs& a) {
  c->add_option("--data", a.data, "fashion-mnist, mnist or cifar10")->capture_default_str();
  c->add_option("--data-dir", a.data_dir, "where the dataset files are (default for fashion-mnist: the Debian package)");
  c->add_option("--batch-size", a.batch_size, "examples per batch")->capture_default_str()->check(CLI::PositiveNumber);
  c->add_option("--workers", a.workers, "data loader threads")->capture_default_str()->check(CLI::NonNegativeNumber);
}

// The model a file holds: an ONNX graph, a checkpoint or a state dict (model.safetensors) for
// the zoo architecture model_name.
std::shared_ptr<nn::Module> load_model(const std::string& path, const std::string& model_name, int64_t channels) {
  if (path.size() > 5 && path.substr(path.size() - 5) == ".onnx") return io::load_onnx(path);
  auto model = zoo::create(model_name, channels, 10);
  std::map<std::string, std::string> md;
  io::NamedTensors tensors = io::load_safetensors(path, &md);
  if (md.count("tessera")) {
    train::load_checkpoint(path, *model);
  } else {
    model->load_state_dict(nn::StateDict(tensors.begin(), tensors.end()));
  }
  return model;
}

// Writes the model in path as ONNX (input "images" [batch, C, H, W], output "logits").
void export_model(const std::string& path, const std::string& model_name, const std::string& data,
                  const std::string& onnx_path) {
  Shape img = image_shape(data);
  auto model = load_model(path, model_name, img[0]);
  io::export_onnx(*model, {zeros({2, img[0], img[1], img[2]})}, onnx_path,
                  {.input_names = {"images"}, .output_names = {"logits"}, .dynamic_batch = true,
                   .doc_string = model_name + " for " + data + " (inputs normalized as tessera train does)"});
}

int train_cmd(const std::string& model_name, const DataArgs& da, int64_t epochs, double lr, double momentum,
              const std::string& schedule, const std::string& precision, const std::string& out_arg, uint64_t seed,
              bool resume) {
  manual_seed(seed);
  Sets s = load(da);
  std::string out = out_arg.empty() ? "runs/" + model_name + "-" + da.data : out_arg;
  std::filesystem::create_directories(out);
  auto model = zoo::create(model_name, s.channels, 10);
  optim::SGD opt(model->parameters(), {.lr = lr, .momentum = momentum});
  data::DataLoader train(s.train, loader_options(da, s, true, seed));
  data::DataLoader test(s.test, loader_options(da, s, false, seed));
  // cosine: the rate falls from lr to 0 over the whole run, batch by batch.
  std::unique_ptr<optim::LRScheduler> sched;
  if (schedule == "cosine") sched = std::make_unique<optim::CosineAnnealingLR>(opt, std::max<int64_t>(1, epochs * train.num_batches()));
  int64_t start = 0;
  if (resume && std::filesystem::exists(out + "/last.ckpt")) {
    train::CheckpointInfo info = train::load_checkpoint(out + "/last.ckpt", *model, &opt, sched.get());
    start = info.epoch;
    std::printf("resuming from %s/last.ckpt after epoch %lld\n", out.c_str(), (long long)start);
  }
  std::printf("training %s on %s: %lld examples, %lld parameters, %d threads\n", model_name.c_str(), da.data.c_str(),
              (long long)s.train->size(), (long long)model->num_parameters(), get_num_threads());
  std::vector<std::shared_ptr<train::Callback>> callbacks{train::progress_bar(),
                                                          train::checkpoint(out, "val_accuracy", sched.get()),
                                                          train::csv_logger(out + "/log.csv"), train::tensorboard(out)};
  if (sched) callbacks.push_back(train::lr_scheduler(*sched, /*per_batch=*/true));
  auto t0 = std::chrono::steady_clock::now();
  train::History h = train::fit(*model, train,
                                {.epochs = epochs, .optimizer = &opt, .validation = &test, .callbacks = callbacks,
                                 .initial_epoch = start,
                                 .mixed_precision = precision == "bfloat16"  ? std::optional<DType>(DType::BFloat16)
                                                    : precision == "float16" ? std::optional<DType>(DType::Float16)
                                                                             : std::nullopt});
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (h.interrupted) {
    std::printf("stopped: checkpoint saved to %s/last.ckpt (resume with --resume)\n", out.c_str());
    return 130;
  }
  train::Logs final_logs = train::evaluate(*model, test);
  std::printf("test accuracy: %.4f (loss %.4f) after %lld epochs, training time %.1f s (validation included)\n",
              final_logs["accuracy"], final_logs["loss"], (long long)epochs, seconds);
  export_model(out + "/model.safetensors", model_name, da.data, out + "/model.onnx");
  std::printf("model: %s/model.safetensors (ONNX: %s/model.onnx)  checkpoints: %s/last.ckpt, %s/best.ckpt  log: %s/log.csv\n",
              out.c_str(), out.c_str(), out.c_str(), out.c_str(), out.c_str());
  std::printf("TensorBoard: %s/train, %s/validation (tensorboard --logdir %s)\n", out.c_str(), out.c_str(), out.c_str());
  return 0;
}

int eval_cmd(const std::string& path, const std::string& model_name, const DataArgs& da) {
  Sets s = load(da);
  auto model = load_model(path, model_name, s.channels);
  data::DataLoader test(s.test, loader_options(da, s, false, 0));
  train::Logs l = train::evaluate(*model, test);
  std::printf("%s on %s test set: accuracy %.4f, loss %.4f\n", path.c_str(), da.data.c_str(), l["accuracy"], l["loss"]);
  return 0;
}

int info_cmd() {
  const dnnl_version_t* v = dnnl_version();
  std::printf("tessera %s\n", TESSERA_VERSION);
  std::printf("build:     %s, native arch %s\n", TESSERA_BUILD_TYPE, TESSERA_NATIVE_ARCH);
  std::printf("threads:   %d\n", get_num_threads());
  std::printf("oneDNN:    %d.%d.%d (matmul, convolution)\n", v->major, v->minor, v->patch);
  std::printf("BLAS:      not used\n");
  if (cuda::is_emulated()) {
    std::printf("CUDA:      emulated device (TESSERA_EMULATE_CUDA=1: host memory, CPU kernels; a test harness)\n");
  } else if (!cuda::built_with_cuda()) {
    std::printf("CUDA:      not built (CPU only)\n");
  } else if (!cuda::is_available()) {
    std::printf("CUDA:      backend built; no device: %s\n", cuda::unavailable_reason().c_str());
  } else {
    std::printf("CUDA:      backend built, %d device%s\n", cuda::device_count(), cuda::device_count() == 1 ? "" : "s");
  }
  std::printf("devices:   cpu");
  for (int d = 0; d < cuda::device_count(); ++d) {
    auto p = cuda::get_device_properties(d);
    std::printf(", cuda:%d (%s, sm_%d%d, %.1f GiB)", d, p.name.c_str(), p.major, p.minor,
                double(p.total_memory) / double(1u << 30));
  }
  std::printf("\n");
  std::printf("models:    ");
  for (auto& n : zoo::names()) std::printf("%s ", n.c_str());
  std::printf("\n");
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tessera: train, evaluate and export models"};
  app.require_subcommand(1);
  std::string model = "convnet", out, checkpoint_path, schedule = "cosine", precision = "float32";
  DataArgs da;
  int64_t epochs = 3;
  double lr = 0.01, momentum = 0.9;
  uint64_t seed = 0;
  int threads = 0;
  bool resume = false;
  app.add_option("--threads", threads, "CPU threads (default: all cores)")->check(CLI::NonNegativeNumber);

  auto* tr = app.add_subcommand("train", "train a model (defaults: the zoo's convnet on Fashion-MNIST for 3 epochs)");
  tr->add_option("--model", model, "mlp, lenet5, convnet, cifar_cnn, vgg11, resnet18, resnet50")->capture_default_str();
  add_data_options(tr, da);
  tr->add_option("--epochs", epochs, "epochs to train")->capture_default_str()->check(CLI::NonNegativeNumber);
  tr->add_option("--lr", lr, "SGD learning rate")->capture_default_str()->check(CLI::PositiveNumber);
  tr->add_option("--momentum", momentum, "SGD momentum")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  tr->add_option("--schedule", schedule, "learning rate: cosine (to 0 over the run, per batch) or constant")
      ->capture_default_str()
      ->check(CLI::IsMember({"cosine", "constant"}));
  tr->add_option("--precision", precision, "float32, or mixed precision: bfloat16 (autocast) or float16 (with loss scaling)")
      ->capture_default_str()
      ->check(CLI::IsMember({"float32", "bfloat16", "float16"}));
  tr->add_option("--out", out, "output folder (default runs/MODEL-DATA)");
  tr->add_option("--seed", seed, "random seed")->capture_default_str();
  tr->add_flag("--resume", resume, "continue from OUT/last.ckpt");

  auto* ev = app.add_subcommand("eval", "evaluate a checkpoint, model.safetensors or model.onnx on the test set");
  ev->add_option("--checkpoint", checkpoint_path, "a .ckpt, .safetensors or .onnx file")->required();
  ev->add_option("--model", model, "the architecture the file holds")->capture_default_str();
  add_data_options(ev, da);

  std::string onnx_out;
  auto* ex = app.add_subcommand("export", "write a checkpoint or model.safetensors as an ONNX model");
  ex->add_option("--checkpoint", checkpoint_path, "a .ckpt or .safetensors file")->required();
  ex->add_option("--model", model, "the architecture the file holds")->capture_default_str();
  ex->add_option("--data", da.data, "the dataset it was trained on (sets the input shape)")->capture_default_str();
  ex->add_option("--out", onnx_out, "the .onnx file to write")->required();

  auto* info = app.add_subcommand("info", "version, build options, threads, libraries and devices");

  dist::LaunchOptions lo;
  auto* run = app.add_subcommand("run", "start a program as the processes of one job, as torchrun does "
                                        "(init_process_group(\"gloo\") reads what it sets)");
  run->add_option("--nproc-per-node", lo.nproc_per_node, "processes on this machine")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  run->add_option("--nnodes", lo.nnodes, "machines in the job")->capture_default_str()->check(CLI::PositiveNumber);
  run->add_option("--node-rank", lo.node_rank, "this machine's index")->capture_default_str()->check(CLI::NonNegativeNumber);
  run->add_option("--master-addr", lo.master_addr, "rank 0's machine (its rendezvous listens there)")
      ->capture_default_str();
  run->add_option("--master-port", lo.master_port, "the rendezvous port (0: a free one, one machine only)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  run->prefix_command();  // the program and everything after it are the program's
  run->footer("usage: tessera run [options] program [args...]");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "tessera: %s (see tessera %s--help)\n", e.what(),
                 app.get_subcommands().empty() ? "" : (app.get_subcommands()[0]->get_name() + " ").c_str());
    return 2;
  }
  try {
    if (threads > 0) set_num_threads(threads);
    if (*tr) return train_cmd(model, da, epochs, lr, momentum, schedule, precision, out, seed, resume);
    if (*ev) return eval_cmd(checkpoint_path, model, da);
    if (*ex) {
      export_model(checkpoint_path, model, da.data, onnx_out);
      Shape img = image_shape(da.data);
      std::printf("wrote %s (input \"images\" [batch, %lld, %lld, %lld], output \"logits\" [batch, 10])\n",
                  onnx_out.c_str(), (long long)img[0], (long long)img[1], (long long)img[2]);
      return 0;
    }
    if (*info) return info_cmd();
    if (*run) {
      std::vector<std::string> argv = run->remaining();
      if (!argv.empty() && argv[0] == "--") argv.erase(argv.begin());
      if (argv.empty()) {
        std::fprintf(stderr, "tessera run: no program given (tessera run [options] program [args...])\n");
        return 2;
      }
      return dist::launch(argv, lo);
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "tessera: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
