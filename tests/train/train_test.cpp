#include <gtest/gtest.h>

#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>

#include "../devices.h"
#include "tessera/data/loader.h"
#include "tessera/io/safetensors.h"
#include "tessera/tessera.h"
#include "tests/temp_dir.h"
#include "tessera/train/checkpoint.h"
#include "tessera/train/trainer.h"
#include "tessera/zoo/zoo.h"

using namespace tessera;
namespace fs = std::filesystem;

namespace {
using tessera::testing::fresh_dir;
// Three Gaussian blobs in 2-D: a problem a small MLP solves quickly.
std::shared_ptr<data::TensorDataset> blobs(int64_t n, uint64_t seed) {
  Generator g(seed);
  Tensor y = randint(0, 3, {n}, {DType::Int64}, &g);
  Tensor centers = tensor({{2., 0.}, {-2., 1.}, {0., -2.}});
  Tensor x = ops::index_select(centers, 0, y) + randn({n, 2}, {}, &g) * 0.5;
  return std::make_shared<data::TensorDataset>(x, y);
}
std::shared_ptr<nn::Sequential> small_net() { return std::make_shared<nn::Sequential>(nn::Linear(2, 16), nn::ReLU(), nn::Linear(16, 3)); }

struct Recorder : train::Callback {
  std::vector<std::string> events;
  void on_train_begin(train::Trainer&) override { events.push_back("train_begin"); }
  void on_epoch_begin(train::Trainer&, int64_t e) override { events.push_back("epoch_begin " + std::to_string(e)); }
  void on_batch_end(train::Trainer&, int64_t, const train::Logs&) override { ++batches; }
  void on_epoch_end(train::Trainer&, int64_t e, const train::Logs& l) override {
    events.push_back("epoch_end " + std::to_string(e));
    last = l;
  }
  void on_train_end(train::Trainer&, const train::Logs&) override { events.push_back("train_end"); }
  int batches = 0;
  train::Logs last;
};

// Fit and resume on each device: the model lives there, the loader's (pinned) CPU batches follow.
class TrainerOn : public tessera::testing::DeviceTest {};
}  // namespace

TEST_P(TrainerOn, FitsEvaluatesPredictsAndRunsCallbacks) {
  manual_seed(0);
  auto net = small_net();
  net->to(dev());
  optim::SGD opt(net->parameters(), {.lr = 0.1, .momentum = 0.9});
  data::DataLoader train(blobs(512, 1), {.batch_size = 32, .shuffle = true, .seed = 1, .pin_memory = true});
  data::DataLoader val(blobs(256, 2), {.batch_size = 64});
  auto rec = std::make_shared<Recorder>();
  fs::path dir = fresh_dir("fit");
  train::History h = train::fit(*net, train, {.epochs = 3, .optimizer = &opt, .metrics = {"accuracy", "top2_accuracy"},
                                              .validation = &val,
                                              .callbacks = {rec, train::csv_logger((dir / "log.csv").string()),
                                                            train::checkpoint(dir.string(), "val_accuracy")}});
  ASSERT_EQ(h.epochs.size(), 3u);
  EXPECT_GT(h.epochs.back().at("val_accuracy"), 0.95);
  EXPECT_GE(h.epochs.back().at("top2_accuracy"), h.epochs.back().at("accuracy"));
  EXPECT_EQ(rec->batches, 3 * 16);
  EXPECT_EQ(rec->events.front(), "train_begin");
  EXPECT_EQ(rec->events[1], "epoch_begin 0");
  EXPECT_EQ(rec->events.back(), "train_end");
  train::Logs ev = train::evaluate(*net, val);
  EXPECT_NEAR(ev.at("accuracy"), h.epochs.back().at("val_accuracy"), 1e-9);
  EXPECT_EQ(train::predict(*net, val).shape(), (Shape{256, 3}));
  EXPECT_EQ(train::predict(*net, val).device(), dev());
  std::ifstream csv(dir / "log.csv");
  std::string header, row;
  std::getline(csv, header);
  EXPECT_EQ(header, "epoch,step,lr,accuracy,loss,top2_accuracy,val_accuracy,val_loss,val_top2_accuracy");
  int rows = 0;
  while (std::getline(csv, row)) ++rows;
  EXPECT_EQ(rows, 3);
  for (const char* f : {"last.ckpt", "best.ckpt", "model.safetensors"}) EXPECT_TRUE(fs::exists(dir / f)) << f;
  // model.safetensors is a plain state dict any safetensors reader opens.
  auto sd = io::load_safetensors((dir / "model.safetensors").string());
  EXPECT_EQ(sd.size(), 4u);
  fs::remove_all(dir);
}

TEST_P(TrainerOn, ResumeContinuesExactly) {
  auto run = [this](int64_t epochs, const fs::path& dir, bool resume) {
    manual_seed(42);
    auto net = small_net();
    net->to(dev());
    optim::Adam opt(net->parameters(), {.lr = 0.01});
    optim::StepLR sched(opt, 1, 0.5);
    data::DataLoader train(blobs(256, 3), {.batch_size = 32, .shuffle = true, .seed = 5});
    int64_t start = 0;
    if (resume) start = train::load_checkpoint((dir / "last.ckpt").string(), *net, &opt, &sched).epoch;
    train::fit(*net, train, {.epochs = epochs, .optimizer = &opt,
                             .callbacks = {train::lr_scheduler(sched), train::checkpoint(dir.string(), "loss", &sched)},
                             .initial_epoch = start});
    return net->state_dict();
  };
  fs::path a = fresh_dir("a"), b = fresh_dir("b");
  nn::StateDict straight = run(4, a, false);
  run(2, b, false);
  nn::StateDict resumed = run(4, b, true);
  ASSERT_EQ(straight.size(), resumed.size());
  for (size_t i = 0; i < straight.size(); ++i)
    EXPECT_TRUE(ops::equal(straight[i].second, resumed[i].second)) << straight[i].first;
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST(Trainer, NaNLossStopsAndKeepsTheLastGoodCheckpoint) {
  manual_seed(0);
  auto net = small_net();
  optim::SGD opt(net->parameters(), {.lr = 0.1});
  data::DataLoader train(blobs(128, 4), {.batch_size = 32});
  fs::path dir = fresh_dir("nan");
  int64_t calls = 0;
  train::LossFn loss = [&](const Tensor& out, const Tensor& y) {
    Tensor l = nn::functional::cross_entropy(out, y);
    return ++calls > 6 ? l * NAN : l;  // the 7th step (epoch 2, step 3) goes bad
  };
  try {
    train::fit(*net, train, {.epochs = 3, .optimizer = &opt, .loss = loss, .callbacks = {train::checkpoint(dir.string(), "loss")}});
    FAIL() << "expected a TrainingError";
  } catch (const train::TrainingError& e) {
    EXPECT_NE(std::string(e.what()).find("at epoch 2, step 3"), std::string::npos) << e.what();
  }
  auto fresh = small_net();
  train::CheckpointInfo info = train::load_checkpoint((dir / "last.ckpt").string(), *fresh);
  EXPECT_EQ(info.epoch, 1);  // the checkpoint of the last good epoch
  fs::remove_all(dir);
}

TEST(Trainer, EarlyStoppingAndInterrupt) {
  manual_seed(0);
  auto net = small_net();
  optim::SGD opt(net->parameters(), {.lr = 0.0});  // nothing improves
  data::DataLoader train(blobs(64, 5), {.batch_size = 32});
  train::History h = train::fit(*net, train, {.epochs = 20, .optimizer = &opt, .validation = &train,
                                              .callbacks = {train::early_stopping("val_loss", 2)}});
  EXPECT_TRUE(h.stopped_early);
  EXPECT_EQ(h.epochs.size(), 3u);
  // SIGINT during a step: the run stops after it and the checkpoint callback saves.
  fs::path dir = fresh_dir("int");
  train::LossFn loss = [](const Tensor& out, const Tensor& y) {
    std::raise(SIGINT);
    return nn::functional::cross_entropy(out, y);
  };
  optim::SGD opt2(net->parameters(), {.lr = 0.01});
  train::History hi = train::fit(*net, train, {.epochs = 5, .optimizer = &opt2, .loss = loss,
                                               .callbacks = {train::checkpoint(dir.string())}});
  EXPECT_TRUE(hi.interrupted);
  EXPECT_TRUE(fs::exists(dir / "last.ckpt"));
  fs::remove_all(dir);
}

TEST(Checkpoint, RejectsForeignAndCorruptFiles) {
  fs::path dir = fresh_dir("ck");
  std::string plain = (dir / "plain.safetensors").string();
  io::save_safetensors(plain, {{"w", ones({2})}});
  auto net = small_net();
  EXPECT_THROW(train::load_checkpoint(plain, *net), IOError);
  std::string ck = (dir / "c.ckpt").string();
  train::save_checkpoint(ck, *net, nullptr, nullptr, {1, 10, {}});
  nn::Sequential other(nn::Linear(2, 3));
  EXPECT_THROW(train::load_checkpoint(ck, other), ValueError);  // lists the mismatched keys
  optim::SGD opt(net->parameters(), {});
  EXPECT_THROW(train::load_checkpoint(ck, *net, &opt), IOError);  // no optimizer state in it
  // Integers written as huge floats (the fuzzer's find: casting 6.7e27 to an integer is
  // undefined) are an IOError naming the file.
  std::string full = (dir / "full.ckpt").string();
  train::save_checkpoint(full, *net, &opt, nullptr, {1, 10, {}});
  std::map<std::string, std::string> md;
  io::NamedTensors tensors = io::load_safetensors(full, &md);
  for (const char* from : {"\"epoch\":1", "\"steps\":[0"}) {
    std::map<std::string, std::string> bad = md;
    size_t at = bad["tessera"].find(from);
    ASSERT_NE(at, std::string::npos) << bad["tessera"];
    std::string key(from);
    bad["tessera"].replace(at, key.size(), key.substr(0, key.size() - 1) + "6.7e27");
    std::string broken = (dir / "broken.ckpt").string();
    io::save_safetensors(broken, tensors, bad);
    try {
      train::load_checkpoint(broken, *net, &opt);
      ADD_FAILURE() << "accepted " << bad["tessera"];
    } catch (const IOError& e) {
      EXPECT_NE(std::string(e.what()).find("broken.ckpt"), std::string::npos) << e.what();
    }
  }
  fs::remove_all(dir);
}

TEST(Zoo, ModelsHaveTheirShapesAndTorchvisionNames) {
  manual_seed(0);
  EXPECT_EQ((*zoo::lenet5())(randn({2, 1, 28, 28})).shape(), (Shape{2, 10}));
  EXPECT_EQ(zoo::lenet5()->num_parameters(), 61706);
  EXPECT_EQ(zoo::cifar_cnn()->num_parameters(), 3441592);
  // convnet: 288 + 64 + 18432 + 128 + 3136*128 + 128 + 1290 (conv weights, BN affine, the classifier).
  EXPECT_EQ(zoo::convnet()->num_parameters(), 421738);
  EXPECT_EQ((*zoo::convnet())(randn({2, 1, 28, 28})).shape(), (Shape{2, 10}));
  EXPECT_EQ((*zoo::create("convnet", 3, 10))(randn({2, 3, 32, 32})).shape(), (Shape{2, 10}));
  EXPECT_THROW(zoo::convnet(1, 10, 30), ValueError);
  EXPECT_EQ((*zoo::mlp(784, {32}, 10))(randn({3, 1, 28, 28})).shape(), (Shape{3, 10}));
  EXPECT_EQ((*zoo::vgg11())(randn({2, 3, 32, 32})).shape(), (Shape{2, 10}));
  EXPECT_EQ((*zoo::resnet18())(randn({2, 3, 32, 32})).shape(), (Shape{2, 10}));
  auto r50 = zoo::resnet50();
  EXPECT_EQ(r50->num_parameters(), 25557032);  // torchvision's resnet50
  auto sd = r50->state_dict();
  std::set<std::string> keys;
  for (auto& [k, t] : sd) keys.insert(k);
  for (const char* k : {"conv1.weight", "bn1.running_var", "layer1.0.downsample.0.weight", "layer1.0.downsample.1.bias",
                        "layer4.2.conv3.weight", "layer3.5.bn2.num_batches_tracked", "fc.weight", "fc.bias"})
    EXPECT_TRUE(keys.count(k)) << k;
  EXPECT_EQ(sd.size(), 320u);  // torchvision's resnet50 state_dict has 320 entries
  EXPECT_THROW(zoo::create("alexnet", 3, 10), ValueError);
}

INSTANTIATE_TEST_SUITE_P(Devices, TrainerOn, ::testing::ValuesIn(tessera::testing::test_devices()),
                         tessera::testing::device_param_name);

// Mixed precision: bfloat16 autocast, and float16 with loss scaling, train as well as float32;
// the parameters stay float32.
TEST(Trainer, MixedPrecisionTrains) {
  for (DType dt : {DType::BFloat16, DType::Float16}) {
    manual_seed(0);
    auto net = small_net();
    optim::SGD opt(net->parameters(), {.lr = 0.1, .momentum = 0.9});
    data::DataLoader train(blobs(512, 1), {.batch_size = 32, .shuffle = true, .seed = 1});
    data::DataLoader val(blobs(256, 2), {.batch_size = 64});
    train::History h = train::fit(*net, train, {.epochs = 3, .optimizer = &opt, .validation = &val,
                                                .mixed_precision = dt});
    EXPECT_GT(h.epochs.back().at("val_accuracy"), 0.95) << dtype_name(dt);
    for (auto& p : net->parameters()) EXPECT_EQ(p.dtype(), DType::Float32);
  }
  auto net = small_net();
  optim::SGD opt(net->parameters(), {.lr = 0.1});
  EXPECT_THROW(train::Trainer(*net, {.optimizer = &opt, .mixed_precision = DType::Int8}), DTypeError);
}

TEST(TrainerNames, LossesOptimizersMetricsAndMonitors) {
  Tensor out = from_vector(std::vector<float>{0.5f, -0.5f, 2.0f, 1.0f}).reshape({2, 2});
  Tensor target = from_vector(std::vector<int64_t>{0, 1});
  EXPECT_NEAR(train::loss_by_name("sparse_categorical_crossentropy")(out, target).item<double>(),
              nn::functional::cross_entropy(out, target).item<double>(), 1e-7);
  EXPECT_NEAR(train::loss_by_name("mse")(out, out * 2.0f).item<double>(), ops::mean(out * out).item<double>(), 1e-6);
  EXPECT_THROW(train::loss_by_name("hinge"), ValueError);
  nn::Linear lin(2, 2);
  auto adam = optim::make_optimizer("Adam", lin.parameters());
  EXPECT_EQ(adam->name(), "Adam");
  EXPECT_DOUBLE_EQ(adam->lr(), 1e-3);
  EXPECT_DOUBLE_EQ(optim::make_optimizer("sgd", lin.parameters(), 0.5)->lr(), 0.5);
  EXPECT_THROW(optim::make_optimizer("lion", lin.parameters()), ValueError);
  try {
    train::check_metrics({"accuracy", "top5_accuracy", "f1"}, "evaluate");
    FAIL() << "expected an error";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("evaluate: unknown metric 'f1'"), std::string::npos);
  }
  auto ds = std::make_shared<data::TensorDataset>(randn({8, 2}), from_vector(std::vector<int64_t>{0, 1, 0, 1, 0, 1, 0, 1}));
  data::DataLoader loader(ds, {.batch_size = 4, .num_workers = 0});
  optim::SGD sgd(lin.parameters(), {.lr = 0.1});
  EXPECT_THROW(train::fit(lin, loader, {.optimizer = &sgd,
                                        .callbacks = {train::checkpoint(::testing::TempDir() + "/tessera_ck", "val_loss")}}),
               ValueError);  // no validation: val_loss is not in the logs
}
