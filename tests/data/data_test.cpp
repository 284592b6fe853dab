#include <gtest/gtest.h>

#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "tessera/data/formats.h"
#include "tessera/data/loader.h"
#include "tessera/data/transforms.h"
#include "tessera/tessera.h"
#include "tests/expect_error.h"

using namespace tessera;
namespace fs = std::filesystem;

namespace {
struct TempDir {
  fs::path p = fs::temp_directory_path() / ("tessera_test_" + std::to_string(::getpid()) + "_" + std::to_string(rand_id()));
  TempDir() { fs::create_directories(p); }
  ~TempDir() { fs::remove_all(p); }
  std::string file(const std::string& n) const { return (p / n).string(); }
  static int rand_id() {
    static int k = 0;
    return ++k;
  }
};
void write_bytes(const std::string& path, const std::vector<uint8_t>& b, bool gz = false) {
  if (gz) {
    gzFile f = gzopen(path.c_str(), "wb");
    gzwrite(f, b.data(), unsigned(b.size()));
    gzclose(f);
  } else {
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
  }
}
// An IDX file of n images h x w (pixel = index + position) or of n labels.
std::vector<uint8_t> idx_images(uint32_t n, uint32_t h, uint32_t w) {
  std::vector<uint8_t> b = {0, 0, 0x08, 3};
  for (uint32_t d : {n, h, w})
    for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(d >> s));
  for (uint32_t i = 0; i < n * h * w; ++i) b.push_back(uint8_t(i % 251));
  return b;
}
std::vector<uint8_t> idx_labels(uint32_t n) {
  std::vector<uint8_t> b = {0, 0, 0x08, 1};
  for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(n >> s));
  for (uint32_t i = 0; i < n; ++i) b.push_back(uint8_t(i % 10));
  return b;
}
template <class F>
void expect_io_error(F f, const std::string& part) {
  tessera::testing::expect_error<IOError>(f, part);
}
}  // namespace

TEST(Formats, IdxPlainAndGzipAndMnistLayout) {
  TempDir d;
  write_bytes(d.file("train-images-idx3-ubyte"), idx_images(5, 28, 28));
  write_bytes(d.file("train-labels-idx1-ubyte.gz"), idx_labels(5), true);
  Tensor img = data::read_idx(d.file("train-images-idx3-ubyte"));
  EXPECT_EQ(img.shape(), (Shape{5, 28, 28}));
  EXPECT_EQ(img.dtype(), DType::UInt8);
  EXPECT_EQ(img.index({1, 0, 3}).item<int64_t>(), (784 + 3) % 251);
  auto ds = data::load_mnist(d.p.string(), true);
  EXPECT_EQ(ds->size(), 5);
  EXPECT_EQ(ds->inputs().shape(), (Shape{5, 1, 28, 28}));
  EXPECT_NEAR(ds->inputs().index({0, 0, 0, 10}).item<double>(), 10 / 255.0, 1e-6);
  EXPECT_EQ(ds->targets().tolist<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  // A big-endian int32 IDX file.
  std::vector<uint8_t> i32 = {0, 0, 0x0C, 1, 0, 0, 0, 2, 0, 0, 1, 0, 0xff, 0xff, 0xff, 0xfe};
  write_bytes(d.file("i32.idx"), i32);
  EXPECT_EQ(data::read_idx(d.file("i32.idx")).tolist<int32_t>(), (std::vector<int32_t>{256, -2}));
}

TEST(Formats, CorruptIdxFilesNameTheFileAndTheProblem) {
  TempDir d;
  expect_io_error([&] { data::read_idx(d.file("missing.idx")); }, "missing.idx: no such file");
  std::vector<uint8_t> good = idx_images(3, 4, 4);
  std::vector<uint8_t> bad_magic = good;
  bad_magic[0] = 7;
  write_bytes(d.file("magic"), bad_magic);
  expect_io_error([&] { data::read_idx(d.file("magic")); }, "bad IDX magic number");
  std::vector<uint8_t> truncated(good.begin(), good.end() - 5);
  write_bytes(d.file("trunc"), truncated);
  expect_io_error([&] { data::read_idx(d.file("trunc")); }, "(truncated file)");
  write_bytes(d.file("short"), {0, 0});
  expect_io_error([&] { data::read_idx(d.file("short")); }, "too short for an IDX header");
  std::vector<uint8_t> type = good;
  type[2] = 0x42;
  write_bytes(d.file("type"), type);
  expect_io_error([&] { data::read_idx(d.file("type")); }, "unknown IDX element type");
  // Sizes whose product is 0 (so no data follows) beside sizes whose strides overflow (fuzzer).
  write_bytes(d.file("huge"), {0, 0, 8, 3, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xf8, 0x2c, 0, 0});
  expect_io_error([&] { data::read_idx(d.file("huge")); }, "implausible IDX dimensions [0, 4294967295");
  EXPECT_THROW(empty({0, int64_t(1) << 40, int64_t(1) << 40}), ValueError);
  // A gzip stream cut in half.
  write_bytes(d.file("full.gz"), good, true);
  std::ifstream in(d.file("full.gz"), std::ios::binary);
  std::vector<char> gz((std::istreambuf_iterator<char>(in)), {});
  std::ofstream(d.file("half.gz"), std::ios::binary).write(gz.data(), std::streamsize(gz.size() / 2));
  EXPECT_THROW(data::read_idx(d.file("half.gz")), IOError);
  // Inconsistent counts between images and labels.
  write_bytes(d.file("t10k-images-idx3-ubyte"), idx_images(4, 28, 28));
  write_bytes(d.file("t10k-labels-idx1-ubyte"), idx_labels(3));
  expect_io_error([&] { data::load_mnist(d.p.string(), false); }, "has 4 images but");
  expect_io_error([&] { data::load_mnist(d.file("nowhere"), true); }, "nor train-images-idx3-ubyte.gz exists");
}

TEST(Formats, CifarBinaryAndCsv) {
  TempDir d;
  std::vector<uint8_t> rec;
  for (int r = 0; r < 3; ++r) {
    rec.push_back(uint8_t(r * 3));
    for (int i = 0; i < 3072; ++i) rec.push_back(uint8_t((r + i) % 256));
  }
  write_bytes(d.file("data_batch_1.bin"), rec);
  auto c = data::read_cifar({d.file("data_batch_1.bin")});
  EXPECT_EQ(c->inputs().shape(), (Shape{3, 3, 32, 32}));
  EXPECT_EQ(c->targets().tolist<int64_t>(), (std::vector<int64_t>{0, 3, 6}));
  EXPECT_EQ(c->inputs().index({1, 0, 0, 5}).item<int64_t>(), 6);
  rec.pop_back();
  write_bytes(d.file("bad.bin"), rec);
  expect_io_error([&] { data::read_cifar({d.file("bad.bin")}); }, "is not a whole number of 3073-byte CIFAR-10 records");
  std::vector<uint8_t> lab(3073, 0);
  lab[0] = 12;
  write_bytes(d.file("label.bin"), lab);
  expect_io_error([&] { data::read_cifar({d.file("label.bin")}); }, "has label 12, outside [0, 10)");
  std::ofstream(d.file("t.csv")) << "a,b,label\n1.5,2,0\n-3,4e1,2\n\n";
  auto t = data::read_csv(d.file("t.csv"), {.label_column = "label"});
  EXPECT_EQ(t->inputs().to_vector(), (std::vector<double>{1.5, 2, -3, 40}));
  EXPECT_EQ(t->targets().tolist<int64_t>(), (std::vector<int64_t>{0, 2}));
  std::ofstream(d.file("bad.csv")) << "a,b\n1,2\n3,x\n";
  expect_io_error([&] { data::read_csv(d.file("bad.csv")); }, "bad.csv:3: column 2 is not a number: 'x'");
  std::ofstream(d.file("ragged.csv")) << "a,b\n1,2\n3\n";
  expect_io_error([&] { data::read_csv(d.file("ragged.csv")); }, "ragged.csv:3: 1 fields, expected 2");
  expect_io_error([&] { data::read_csv(d.file("t.csv"), {.label_column = "nope"}); }, "no column named 'nope'");
}

TEST(Loader, BatchesShuffleDropLastAndWorkers) {
  Tensor x = arange(0, 10, 1, {DType::Float32}).view({10, 1}), y = arange(10);
  auto ds = std::make_shared<data::TensorDataset>(x, y);
  for (int workers : {0, 3}) {
    data::DataLoader plain(ds, {.batch_size = 4, .num_workers = workers});
    std::vector<int64_t> sizes, seen;
    for (auto& b : plain) {
      sizes.push_back(b.input.size(0));
      for (int64_t v : b.target.tolist<int64_t>()) seen.push_back(v);
    }
    EXPECT_EQ(sizes, (std::vector<int64_t>{4, 4, 2}));
    EXPECT_EQ(seen, arange(10).tolist<int64_t>());
  }
  data::DataLoader sh(ds, {.batch_size = 3, .shuffle = true, .seed = 7, .drop_last = true, .num_workers = 2});
  EXPECT_EQ(sh.num_batches(), 3);
  std::vector<int64_t> e1, e2;
  for (auto& b : sh) for (int64_t v : b.target.tolist<int64_t>()) e1.push_back(v);
  for (auto& b : sh) for (int64_t v : b.target.tolist<int64_t>()) e2.push_back(v);
  EXPECT_EQ(e1.size(), 9u);
  EXPECT_NE(e1, e2);  // a new order each epoch
  data::DataLoader again(ds, {.batch_size = 3, .shuffle = true, .seed = 7, .drop_last = true, .num_workers = 0});
  std::vector<int64_t> r1;
  for (auto& b : again) for (int64_t v : b.target.tolist<int64_t>()) r1.push_back(v);
  EXPECT_EQ(r1, e1);  // the same seed, the same order, whatever the worker count
  // An error in a worker reaches the caller.
  auto failing = std::make_shared<data::MapDataset>(ds, [](data::Example e, Generator&) -> data::Example {
    if (e.target.item<int64_t>() == 5) throw IOError("example 5 is corrupt");
    return e;
  });
  data::DataLoader bad(failing, {.batch_size = 2, .num_workers = 2});
  EXPECT_THROW({ for (auto& b : bad) (void)b; }, IOError);
}

TEST(Datasets, SubsetConcatSplitAndTransforms) {
  auto ds = std::make_shared<data::TensorDataset>(arange(0, 6, 1, {DType::Float32}).view({6, 1}), arange(6));
  auto parts = data::random_split(ds, {4, 2}, 3);
  std::vector<int64_t> all;
  for (auto& p : parts)
    for (int64_t i = 0; i < p->size(); ++i) all.push_back(p->get(i).target.item<int64_t>());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, arange(6).tolist<int64_t>());
  data::ConcatDataset cat({ds, parts[1]});
  EXPECT_EQ(cat.size(), 8);
  EXPECT_EQ(cat.get(2).target.item<int64_t>(), 2);
  EXPECT_THROW(cat.get(8), IndexError);
  EXPECT_THROW(data::random_split(ds, {4, 3}), ValueError);
  Tensor img = arange(0, 2 * 2 * 3 * 3, 1, {DType::Float32}).view({2, 2, 3, 3});
  Tensor n = data::normalize(img, {1, 2}, {2, 4});
  EXPECT_NEAR(n.index({0, 1, 0, 0}).item<double>(), (9 - 2) / 4.0, 1e-6);
  Generator g(1);
  Tensor f = data::random_horizontal_flip(img, g, 1.0);
  EXPECT_TRUE(ops::equal(f, ops::flip(img, {3})));
  Tensor c = data::random_crop(img, 3, 1, g);
  EXPECT_EQ(c.shape(), img.shape());
  EXPECT_THROW(data::normalize(img, {1}, {1}), ShapeError);
}

TEST(Samplers, OrdersAndBatches) {
  data::SequentialSampler seq;
  EXPECT_EQ(seq.indices(4, 0), (std::vector<int64_t>{0, 1, 2, 3}));
  data::RandomSampler r(7);
  auto e0 = r.indices(10, 0), e1 = r.indices(10, 1);
  EXPECT_NE(e0, e1);
  EXPECT_EQ(e0, r.indices(10, 0));  // an epoch's order is a function of (seed, epoch)
  std::vector<int64_t> s = e0;
  std::sort(s.begin(), s.end());
  EXPECT_EQ(s, seq.indices(10, 0));
  data::RandomSampler more(7, false, 25);
  EXPECT_EQ(more.indices(10, 0).size(), 25u);
  data::WeightedRandomSampler w({0, 1, 0, 3}, 200, true, 3);
  for (int64_t i : w.indices(4, 0)) EXPECT_TRUE(i == 1 || i == 3);
  data::WeightedRandomSampler once({1, 1, 1, 0}, 3, false, 3);
  auto o = once.indices(4, 0);
  std::sort(o.begin(), o.end());
  EXPECT_EQ(o, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_THROW(data::WeightedRandomSampler({1, 0}, 2, false), ValueError);
  data::BatchSampler bs(std::make_shared<data::SequentialSampler>(), 3, true);
  EXPECT_EQ(bs.size(7), 2);
  EXPECT_EQ(bs.batches(7, 0), (std::vector<std::vector<int64_t>>{{0, 1, 2}, {3, 4, 5}}));
  EXPECT_EQ(data::split_lengths({0.5, 0.5}, 5), (std::vector<int64_t>{3, 2}));
  EXPECT_THROW(data::split_lengths({0.5, 0.6}, 5), ValueError);
}

TEST(Samplers, LoaderUsesThemAndTensorDatasetOfThreeTensors) {
  auto ds = std::make_shared<data::TensorDataset>(
      std::vector<Tensor>{arange(0, 6, 1), arange(0, 6, 1) * 10, arange(0, 12, 1).reshape({6, 2})});
  EXPECT_THROW(ds->get(0), ValueError);  // three fields are not an (input, target) pair
  data::LoaderOptions o{.batch_size = 2, .num_workers = 0};
  o.sampler = std::make_shared<data::SubsetRandomSampler>(std::vector<int64_t>{5, 1, 3}, 1);
  data::DataLoader l(ds, o);
  EXPECT_EQ(l.num_batches(), 2);
  std::vector<int64_t> seen;
  for (data::Batch& b : l) {
    ASSERT_EQ(b.fields.size(), 3u);
    EXPECT_FALSE(b.input.defined());
    for (int64_t v : b.fields[0].tolist<int64_t>()) seen.push_back(v);
    EXPECT_EQ(b.fields[1].tolist<int64_t>()[0], b.fields[0].tolist<int64_t>()[0] * 10);
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<int64_t>{1, 3, 5}));
  data::LoaderOptions bo{.num_workers = 1};
  bo.batch_sampler = std::make_shared<data::BatchSampler>(std::make_shared<data::SequentialSampler>(), 4, false);
  data::DataLoader bl(ds, bo);
  EXPECT_EQ(bl.num_batches(), 2);
  data::LoaderOptions bad{.batch_size = 3};
  bad.batch_sampler = bo.batch_sampler;
  EXPECT_THROW(data::DataLoader(ds, bad), ValueError);
  struct OutOfRange : data::Sampler {
    int64_t size(int64_t) const override { return 1; }
    std::vector<int64_t> indices(int64_t, uint64_t) const override { return {9}; }
  };
  data::LoaderOptions oo{.num_workers = 0};
  oo.sampler = std::make_shared<OutOfRange>();
  data::DataLoader ol(ds, oo);
  EXPECT_THROW(ol.start_epoch(0), IndexError);
}
