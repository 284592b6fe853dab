// The process groups and data-parallel training, run by ctest as `mpiexec -n 2 test_dist` (MPI)
// and `tessera run --nproc-per-node 2 test_dist` with TESSERA_TEST_DIST_BACKEND=gloo:
// every rank runs every test, and each asserts what it sees (results that depend on the rank,
// and that both replicas end equal to a one-process run on the whole batch).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <optional>

#include "tessera/data/loader.h"
#include "tessera/dist/ddp.h"
#include "tessera/dist/process_group.h"
#include "tessera/dist/zero.h"
#include "tessera/tessera.h"
#include "tessera/train/checkpoint.h"
#include "tessera/train/trainer.h"
#include "tessera/zoo/zoo.h"

using namespace tessera;

namespace {
class DistEnv : public ::testing::Environment {
 public:
  // (the backend under test: mpi, or gloo under `tessera run`)
  void SetUp() override {
    const char* b = std::getenv("TESSERA_TEST_DIST_BACKEND");
    dist::init_process_group(b ? b : "mpi", "", -1, -1, std::chrono::seconds(60));  // (a stuck rank fails soon)
  }
};
const auto* env = ::testing::AddGlobalTestEnvironment(new DistEnv);

// The largest difference between this rank's t and any rank's.
double spread(const Tensor& t) {
  Tensor hi = t.to(DType::Float64).contiguous().clone(), lo = hi.clone();
  dist::all_reduce(hi, dist::ReduceOp::Max);
  dist::all_reduce(lo, dist::ReduceOp::Min);
  return ops::amax(hi - lo).item<double>();
}
}  // namespace

TEST(ProcessGroup, TwoRanks) {
  ASSERT_EQ(dist::get_world_size(), 2) << "run under mpiexec -n 2 or tessera run --nproc-per-node 2";
  const char* b = std::getenv("TESSERA_TEST_DIST_BACKEND");
  EXPECT_EQ(dist::group().backend(), b ? b : "mpi");
}

TEST(ProcessGroup, Collectives) {
  int r = dist::get_rank();
  Tensor t = from_vector(std::vector<double>{1.0 + r, 10.0 * (r + 1)});
  Tensor sum = t.clone(), avg = t.clone(), mx = t.clone(), mn = t.clone();
  dist::all_reduce(sum);
  dist::all_reduce(avg, dist::ReduceOp::Avg);
  dist::all_reduce(mx, dist::ReduceOp::Max);
  dist::all_reduce(mn, dist::ReduceOp::Min);
  EXPECT_EQ(sum.tolist<double>(), (std::vector<double>{3, 30}));
  EXPECT_EQ(avg.tolist<double>(), (std::vector<double>{1.5, 15}));
  EXPECT_EQ(mx.tolist<double>(), (std::vector<double>{2, 20}));
  EXPECT_EQ(mn.tolist<double>(), (std::vector<double>{1, 10}));
  Tensor i = from_vector(std::vector<int64_t>{r, 7});
  dist::all_reduce(i);
  EXPECT_EQ(i.tolist<int64_t>(), (std::vector<int64_t>{1, 14}));

  Tensor b = full({3}, double(r + 5));
  dist::broadcast(b, 1);
  EXPECT_EQ(b.tolist<float>(), (std::vector<float>{6, 6, 6}));
  auto parts = dist::group().all_gather(full({2}, double(r), {DType::Int32}));
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].tolist<int32_t>(), (std::vector<int32_t>{0, 0}));
  EXPECT_EQ(parts[1].tolist<int32_t>(), (std::vector<int32_t>{1, 1}));
  dist::barrier();
}

TEST(ProcessGroup, PointToPointAndReduceScatter) {
  int r = dist::get_rank(), other = 1 - r;
  // Two messages each way with their own tags. (A send returns once its receiver has taken it,
  // as torch.distributed.send over gloo: receive in the order of the sends.)
  Tensor a = full({3}, double(10 * r + 1)), b = arange(0, 4, 1, {DType::Int64}) + r;
  Tensor got_a = empty({3}), got_b = empty({4}, {DType::Int64});
  if (r == 0) {
    dist::send(a, other, 7);
    dist::send(b, other, 8);
    dist::recv(got_a, other, 7);
    dist::recv(got_b, other, 8);
  } else {
    dist::recv(got_a, other, 7);
    dist::recv(got_b, other, 8);
    dist::send(a, other, 7);
    dist::send(b, other, 8);
  }
  EXPECT_EQ(got_a.tolist<float>(), std::vector<float>(3, float(10 * other + 1)));
  EXPECT_EQ(got_b.tolist<int64_t>(), (std::vector<int64_t>{other, other + 1, other + 2, other + 3}));
  // reduce_scatter: rank k gets the sum over ranks of their inputs[k].
  std::vector<Tensor> inputs{full({2}, double(1 + r)), full({2}, double(10 * (1 + r)))};
  Tensor out = empty({2}, {DType::Float32});
  dist::group().reduce_scatter(out, inputs);
  EXPECT_EQ(out.tolist<float>(), std::vector<float>(2, r == 0 ? 3.f : 30.f));
  Tensor tmp = empty({2});
  EXPECT_THROW(dist::send(tmp, r), IndexError);  // to itself
  EXPECT_THROW(dist::recv(tmp, 5), IndexError);
  EXPECT_THROW(dist::group().reduce_scatter(out, {inputs[0]}), ValueError);
}

TEST(ProcessGroup, BadInputIsAnErrorOnEveryRank) {
  Tensor nc = randn({3, 4}).t();
  try {
    dist::all_reduce(nc);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dist.all_reduce: expected a contiguous tensor"), std::string::npos);
  }
  Tensor ints = zeros({2}, {DType::Int64});
  EXPECT_THROW(dist::all_reduce(ints, dist::ReduceOp::Avg), DTypeError);
  Tensor b = zeros({2});
  EXPECT_THROW(dist::broadcast(b, 5), IndexError);
  EXPECT_THROW(dist::init_process_group("nccl"), ValueError);
  EXPECT_THROW(dist::init_process_group(dist::group().backend() == "mpi" ? "gloo" : "mpi"), ValueError);
}

TEST(ShardedLoader, RanksSeeDisjointShardsOfTheSameShuffle) {
  int r = dist::get_rank();
  Tensor x = arange(10, {DType::Float32}).view({10, 1}), y = arange(10);
  auto ds = std::make_shared<data::TensorDataset>(x, y);
  data::DataLoader loader(ds, {.batch_size = 2, .shuffle = true, .seed = 3, .num_workers = 0, .num_replicas = 2,
                               .rank = r});
  EXPECT_EQ(loader.examples(), 5);
  EXPECT_EQ(loader.num_batches(), 3);
  std::vector<int64_t> seen;
  for (auto& batch : loader)
    for (int64_t v : batch.target.tolist<int64_t>()) seen.push_back(v);
  ASSERT_EQ(seen.size(), 5u);
  auto all = dist::group().all_gather(from_vector(seen));
  std::vector<int64_t> both = all[0].tolist<int64_t>(), other = all[1].tolist<int64_t>();
  both.insert(both.end(), other.begin(), other.end());
  std::sort(both.begin(), both.end());
  EXPECT_EQ(both, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  // An odd size pads by wrapping around: both ranks still run the same number of batches.
  auto odd = std::make_shared<data::TensorDataset>(x.narrow(0, 0, 7), y.narrow(0, 0, 7));
  data::DataLoader l2(odd, {.batch_size = 2, .num_workers = 0, .num_replicas = 2, .rank = r});
  EXPECT_EQ(l2.examples(), 4);
  EXPECT_THROW(data::DataLoader(odd, {.num_replicas = 2, .rank = 2}), ValueError);
}

// Averaged gradients on halves of each batch are the gradient of the whole batch: DDP on two
// ranks takes the same steps as one process on everything.
TEST(DistributedDataParallel, MatchesOneProcessOnTheWholeBatch) {
  int r = dist::get_rank();
  manual_seed(100 + uint64_t(r));  // different initial weights per rank: DDP must broadcast rank 0's
  auto net = zoo::mlp(6, {8}, 3);
  net->to(DType::Float64);
  dist::DistributedDataParallel ddp(net);
  EXPECT_EQ(spread(net->parameters()[0]), 0.0);
  EXPECT_EQ(ddp.state_dict().front().first.rfind("module.", 0), 0u);

  auto ref = zoo::mlp(6, {8}, 3);  // one process, whole batch, same start
  ref->to(DType::Float64);
  ref->load_state_dict(net->state_dict());
  manual_seed(7);  // the same data on both ranks
  Tensor x = randn({8, 6}, {DType::Float64}), y = randint(0, 3, {8}, {DType::Int64});
  optim::SGD opt(ddp.parameters(), {.lr = 0.1, .momentum = 0.9}), ref_opt(ref->parameters(), {.lr = 0.1, .momentum = 0.9});
  for (int step = 0; step < 5; ++step) {
    opt.zero_grad();
    nn::functional::cross_entropy(ddp(x.narrow(0, 4 * r, 4)), y.narrow(0, 4 * r, 4)).backward();
    opt.step();
    ref_opt.zero_grad();
    nn::functional::cross_entropy((*ref)(x), y).backward();
    ref_opt.step();
  }
  auto mine = net->parameters(), want = ref->parameters();
  for (size_t i = 0; i < mine.size(); ++i) {
    EXPECT_TRUE(ops::allclose(mine[i], want[i], 1e-10, 1e-12)) << i;
    EXPECT_EQ(spread(mine[i]), 0.0) << i;
  }
}

// Buckets (several tiny ones, one, none) take the same steps as one process, and a parameter
// that gets no gradient is an error with buckets (it works without).
TEST(DistributedDataParallel, BucketSizesTakeTheSameSteps) {
  int r = dist::get_rank();
  manual_seed(17);
  Tensor x = randn({8, 6}, {DType::Float64}), y = randint(0, 3, {8}, {DType::Int64});
  std::vector<std::vector<Tensor>> results;
  for (double cap : {0.0, 0.0002, 25.0}) {
    SCOPED_TRACE("bucket_cap_mb " + std::to_string(cap));
    manual_seed(500);
    auto net = zoo::mlp(6, {16, 16}, 3);
    net->to(DType::Float64);
    dist::DistributedDataParallel ddp(net, nullptr, cap);
    optim::SGD opt(ddp.parameters(), optim::SGDOptions(0.1).momentum(0.9));
    for (int s = 0; s < 3; ++s) {
      opt.zero_grad();
      nn::functional::cross_entropy(ddp(x.narrow(0, 4 * r, 4)), y.narrow(0, 4 * r, 4)).backward();
      opt.step();
    }
    results.push_back(net->parameters());
    for (const Tensor& p : net->parameters()) EXPECT_EQ(spread(p), 0.0);
  }
  for (size_t k = 1; k < results.size(); ++k)
    for (size_t i = 0; i < results[0].size(); ++i)
      EXPECT_TRUE(ops::allclose(results[k][i], results[0][i], 1e-12, 1e-14)) << k << " " << i;
  // An unused parameter: fine without buckets, an error naming the problem with them.
  struct Partly : nn::Module {
    Partly() : Module("Partly") {
      used = register_module("used", std::make_shared<nn::Linear>(6, 3));
      unused = register_module("unused", std::make_shared<nn::Linear>(6, 3));
    }
    Tensor forward(const Tensor& x) override { return used->forward(x); }
    std::shared_ptr<nn::Linear> used, unused;
  };
  for (double cap : {0.0, 25.0}) {
    auto m = std::make_shared<Partly>();
    dist::DistributedDataParallel ddp(m, nullptr, cap);
    auto pass = [&] { ddp(x.to(DType::Float32)).sum().backward(); };
    pass();
    if (cap == 0) {
      EXPECT_NO_THROW(pass());
    } else {
      try {
        pass();
        ADD_FAILURE() << "no error for an unused parameter";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("find_unused_parameters"), std::string::npos) << e.what();
      }
    }
  }
  // find_unused_parameters: the unused layer keeps no gradient, the used one is averaged; a layer
  // only rank 1 uses gets the average over both ranks (rank 0 counting zero).
  struct Sometimes : Partly {
    Tensor forward(const Tensor& x) override {
      Tensor y = used->forward(x);
      return dist::get_rank() == 1 ? y + unused->forward(x) : y;
    }
  };
  for (bool rank_dependent : {false, true}) {
    std::shared_ptr<Partly> m = rank_dependent ? std::make_shared<Sometimes>() : std::make_shared<Partly>();
    dist::DistributedDataParallel ddp(m, nullptr, 25, /*find_unused_parameters=*/true);
    for (int pass = 0; pass < 3; ++pass) {
      ddp.zero_grad();
      ddp(x.to(DType::Float32).narrow(0, 4 * r, 4)).pow(2).sum().backward();
      EXPECT_TRUE(m->used->weight.grad().defined());
      EXPECT_EQ(spread(m->used->weight.grad()), 0.0);
      if (rank_dependent) {
        ASSERT_TRUE(m->unused->weight.grad().defined());
        EXPECT_EQ(spread(m->unused->weight.grad()), 0.0);
        EXPECT_GT(m->unused->weight.grad().abs().sum().item<double>(), 0.0);
      } else {
        EXPECT_FALSE(m->unused->weight.grad().defined());
      }
    }
  }
  EXPECT_THROW(dist::DistributedDataParallel(std::make_shared<Partly>(), nullptr, 0, true), ValueError);
}

// no_sync(): two micro-batches accumulated locally, the third synced, equal one process
// accumulating all three whole micro-batches (float64).
TEST(DistributedDataParallel, NoSyncAccumulatesThenAveragesEverything) {
  int r = dist::get_rank();
  manual_seed(200);
  auto net = zoo::mlp(6, {8}, 3), ref = zoo::mlp(6, {8}, 3);
  net->to(DType::Float64);
  ref->to(DType::Float64);
  ref->load_state_dict(net->state_dict());
  dist::DistributedDataParallel ddp(net);
  manual_seed(9);
  Tensor x = randn({3, 8, 6}, {DType::Float64}), y = randint(0, 3, {3, 8}, {DType::Int64});
  for (int m = 0; m < 3; ++m) {
    Tensor xm = x.select(0, m), ym = y.select(0, m);
    {
      std::optional<dist::DistributedDataParallel::NoSyncGuard> guard;
      if (m < 2) guard.emplace(ddp.sync_switch());
      nn::functional::cross_entropy(ddp(xm.narrow(0, 4 * r, 4)), ym.narrow(0, 4 * r, 4)).backward();
    }
    nn::functional::cross_entropy((*ref)(xm), ym).backward();
  }
  auto mine = net->parameters(), want = ref->parameters();
  for (size_t i = 0; i < mine.size(); ++i) {
    EXPECT_TRUE(ops::allclose(mine[i].grad(), want[i].grad(), 1e-10, 1e-12)) << i;
    EXPECT_EQ(spread(mine[i].grad()), 0.0) << i;
  }
}

TEST(DistributedDataParallel, FitWithShardedLoadersKeepsReplicasEqual) {
  int r = dist::get_rank();
  manual_seed(1);
  Tensor x = randn({64, 2}), y = (x.select(1, 0) > 0.0).to(DType::Int64);
  auto ds = std::make_shared<data::TensorDataset>(x, y);
  manual_seed(50 + uint64_t(r));
  auto model = std::make_shared<dist::DistributedDataParallel>(zoo::mlp(2, {16}, 2));
  data::DataLoader loader(ds, {.batch_size = 8, .shuffle = true, .seed = 2, .num_workers = 1, .num_replicas = 2,
                               .rank = r});
  optim::SGD opt(model->parameters(), {.lr = 0.2, .momentum = 0.9});
  train::History h = train::fit(*model, loader, {.epochs = 5, .optimizer = &opt});
  EXPECT_EQ(h.epochs.size(), 5u);
  for (auto& p : model->parameters()) EXPECT_EQ(spread(p), 0.0);
  EXPECT_GT(h.epochs.back().at("accuracy"), 0.85);
}

// ZeRO-1: each rank keeps about half of the optimizer state, the parameters stay those of the
// unsharded optimizer (float64), the consolidated state_dict is the unsharded one's, and a run
// resumed from it continues the same.
TEST(ZeroRedundancyOptimizer, EqualsTheUnshardedOptimizer) {
  int r = dist::get_rank();
  for (bool adam : {false, true}) {
    SCOPED_TRACE(adam ? "Adam" : "SGD");
    manual_seed(300);
    auto net = zoo::mlp(6, {8, 8}, 3), ref = zoo::mlp(6, {8, 8}, 3);
    net->to(DType::Float64);
    ref->to(DType::Float64);
    ref->load_state_dict(net->state_dict());
    dist::DistributedDataParallel ddp(net);
    auto make = [adam](std::vector<Tensor> p) -> std::shared_ptr<optim::Optimizer> {
      if (adam) return std::make_shared<optim::Adam>(std::move(p), optim::AdamOptions(0.01).weight_decay(0.01));
      return std::make_shared<optim::SGD>(std::move(p), optim::SGDOptions(0.1).momentum(0.9));
    };
    dist::ZeroRedundancyOptimizer zero(ddp.parameters(), make);
    auto plain = make(ref->parameters());
    size_t n = ddp.parameters().size();
    EXPECT_GT(zero.owned().size(), 0u);
    EXPECT_LT(zero.owned().size(), n);  // a shard, not everything
    manual_seed(11);
    Tensor x = randn({8, 6}, {DType::Float64}), y = randint(0, 3, {8}, {DType::Int64});
    auto run = [&](int steps) {
      for (int s = 0; s < steps; ++s) {
        zero.zero_grad();
        nn::functional::cross_entropy(ddp(x.narrow(0, 4 * r, 4)), y.narrow(0, 4 * r, 4)).backward();
        zero.step();
        plain->zero_grad();
        nn::functional::cross_entropy((*ref)(x), y).backward();
        plain->step();
      }
    };
    run(4);
    auto mine = net->parameters(), want = ref->parameters();
    for (size_t i = 0; i < mine.size(); ++i) {
      EXPECT_TRUE(ops::allclose(mine[i], want[i], 1e-10, 1e-12)) << i;
      EXPECT_EQ(spread(mine[i]), 0.0) << i;
    }
    EXPECT_THROW(zero.state_dict(), ValueError);
    zero.consolidate_state_dict();
    optim::OptimizerState got = zero.state_dict(), full = plain->state_dict();
    ASSERT_EQ(got.state.size(), full.state.size());
    EXPECT_EQ(got.steps, full.steps);
    for (size_t i = 0; i < full.state.size(); ++i) {
      ASSERT_EQ(got.state[i].size(), full.state[i].size()) << i;
      for (auto& [k, t] : full.state[i]) EXPECT_TRUE(ops::allclose(got.state[i].at(k), t, 1e-10, 1e-12)) << i << k;
    }
    // Loading the unsharded state into a fresh ZeRO optimizer continues identically.
    dist::ZeroRedundancyOptimizer again(ddp.parameters(), make);
    again.load_state_dict(full);
    EXPECT_THROW(again.load_state_dict(optim::OptimizerState{}), ValueError);
    zero.load_state_dict(full);
    run(2);
    for (size_t i = 0; i < mine.size(); ++i) EXPECT_TRUE(ops::allclose(mine[i], want[i], 1e-10, 1e-12)) << i;
  }
}

// A run checkpointed by two ranks resumes in one process (another world size) and continues as
// one process that trained on the whole batch from the start: checkpoints hold the full model
// and optimizer state.
TEST(DistributedDataParallel, ACheckpointResumesWithAnotherWorldSize) {
  int r = dist::get_rank();
  manual_seed(400);
  auto net = zoo::mlp(6, {8}, 3), ref = zoo::mlp(6, {8}, 3);
  net->to(DType::Float64);
  ref->to(DType::Float64);
  ref->load_state_dict(net->state_dict());
  auto ddp = std::make_shared<dist::DistributedDataParallel>(net);
  manual_seed(12);
  Tensor x = randn({8, 6}, {DType::Float64}), y = randint(0, 3, {8}, {DType::Int64});
  optim::Adam opt(ddp->parameters(), optim::AdamOptions(0.01)), ref_opt(ref->parameters(), optim::AdamOptions(0.01));
  auto step = [](nn::Module& m, optim::Optimizer& o, const Tensor& xb, const Tensor& yb) {
    o.zero_grad();
    nn::functional::cross_entropy(m(xb), yb).backward();
    o.step();
  };
  for (int s = 0; s < 3; ++s) {
    step(*ddp, opt, x.narrow(0, 4 * r, 4), y.narrow(0, 4 * r, 4));
    step(*ref, ref_opt, x, y);
  }
  // (named by the launcher's pid, the ranks' common parent: jobs running side by side do not meet)
  std::string path =
      (std::filesystem::temp_directory_path() / ("tessera_dist_resume_" + std::to_string(::getppid()) + ".ckpt"))
          .string();
  train::CheckpointInfo info;
  info.step = 3;
  if (r == 0) train::save_checkpoint(path, *net, &opt, nullptr, info);
  dist::barrier();
  // "Restarted" with one process: a plain model and optimizer from the file, the whole batch.
  auto resumed = zoo::mlp(6, {8}, 3);
  resumed->to(DType::Float64);
  optim::Adam resumed_opt(resumed->parameters(), optim::AdamOptions(0.01));
  EXPECT_EQ(train::load_checkpoint(path, *resumed, &resumed_opt).step, 3);
  for (int s = 0; s < 2; ++s) {
    step(*resumed, resumed_opt, x, y);
    step(*ref, ref_opt, x, y);
  }
  auto got = resumed->parameters(), want = ref->parameters();
  for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(ops::allclose(got[i], want[i], 1e-10, 1e-12)) << i;
  dist::barrier();
  if (r == 0) std::filesystem::remove(path);
}
