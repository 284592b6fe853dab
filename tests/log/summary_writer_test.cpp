// The event files are read back here with a record reader and a protocol-buffer decoder of the
// test's own (the Python suite reads them with TensorBoard itself).
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "tessera/data/loader.h"
#include "tessera/log/summary_writer.h"
#include "tessera/tessera.h"
#include "tests/temp_dir.h"
#include "tessera/train/trainer.h"
#include "tessera/zoo/zoo.h"

using namespace tessera;
namespace fs = std::filesystem;

namespace {
using tessera::testing::fresh_dir;

// One decoded protobuf field: a number (varint, fixed32/64 as raw bits) or bytes.
struct Field {
  int wire;
  uint64_t num = 0;
  std::string bytes;
  double f64() const {
    double d;
    std::memcpy(&d, &num, 8);
    return d;
  }
  float f32() const {
    uint32_t u = uint32_t(num);
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
};
using Msg = std::multimap<int, Field>;

Msg decode(const std::string& s) {
  Msg m;
  size_t i = 0;
  auto varint = [&]() {
    uint64_t v = 0;
    for (int sh = 0;; sh += 7) {
      if (i >= s.size() || sh > 63) throw std::runtime_error("bad varint");
      uint8_t b = uint8_t(s[i++]);
      v |= uint64_t(b & 0x7f) << sh;
      if (!(b & 0x80)) return v;
    }
  };
  while (i < s.size()) {
    uint64_t key = varint();
    Field f{int(key & 7), 0, {}};
    if (f.wire == 0) {
      f.num = varint();
    } else if (f.wire == 1 || f.wire == 5) {
      size_t n = f.wire == 1 ? 8 : 4;
      if (i + n > s.size()) throw std::runtime_error("truncated fixed field");
      std::memcpy(&f.num, &s[i], n);
      i += n;
    } else if (f.wire == 2) {
      uint64_t n = varint();
      if (i + n > s.size()) throw std::runtime_error("truncated bytes field");
      f.bytes = s.substr(i, n);
      i += n;
    } else {
      throw std::runtime_error("unexpected wire type");
    }
    m.emplace(int(key >> 3), f);
  }
  return m;
}

std::vector<double> packed_doubles(const std::string& b) {
  std::vector<double> v(b.size() / 8);
  std::memcpy(v.data(), b.data(), v.size() * 8);
  return v;
}

// The TFRecord framing, every CRC checked.
std::vector<std::string> read_records(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), {});
  std::vector<std::string> out;
  size_t i = 0;
  while (i < all.size()) {
    EXPECT_LE(i + 12, all.size());
    uint64_t n;
    uint32_t lc, dc;
    std::memcpy(&n, &all[i], 8);
    std::memcpy(&lc, &all[i + 8], 4);
    EXPECT_EQ(lc, log::detail::masked_crc32c(all.substr(i, 8)));
    EXPECT_LE(i + 16 + n, all.size());
    std::string data = all.substr(i + 12, n);
    std::memcpy(&dc, &all[i + 12 + n], 4);
    EXPECT_EQ(dc, log::detail::masked_crc32c(data));
    out.push_back(data);
    i += 16 + n;
  }
  return out;
}

// The Summary.Value of an event record (and its step).
Msg value_of(const std::string& record, int64_t* step = nullptr) {
  Msg ev = decode(record);
  if (step) *step = int64_t(ev.find(2)->second.num);
  Msg summary = decode(ev.find(5)->second.bytes);
  return decode(summary.find(1)->second.bytes);
}

std::vector<std::string> event_files(const fs::path& dir) {
  std::vector<std::string> v;
  for (auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find("tfevents") != std::string::npos) v.push_back(e.path().string());
  return v;
}
}  // namespace

TEST(SummaryWriter, Crc32cMatchesTheStandardCheckValues) {
  EXPECT_EQ(log::detail::crc32c(""), 0u);
  EXPECT_EQ(log::detail::crc32c("123456789"), 0xE3069283u);  // the CRC-32C check value
  EXPECT_EQ(log::detail::crc32c(std::string(32, '\0')), 0x8A9136AAu);  // RFC 3720 B.4
}

TEST(SummaryWriter, WritesScalarsTextAndTheFileVersionFirst) {
  fs::path dir = fresh_dir("scalars");
  std::string path;
  {
    log::SummaryWriter w(dir.string(), {.filename_suffix = ".v2"});
    path = w.file_path();
    EXPECT_NE(fs::path(path).filename().string().find("events.out.tfevents."), std::string::npos);
    EXPECT_EQ(path.substr(path.size() - 3), ".v2");
    for (int s = 0; s < 3; ++s) w.add_scalar("loss/train", 1.0 / (s + 1), s, 1000.0 + s);
    w.add_scalar("negative_step", -2.5, -7);
    w.add_text("notes", "lr 0.01, *batch* 64", 5);
  }
  std::vector<std::string> recs = read_records(path);
  ASSERT_EQ(recs.size(), 6u);
  Msg first = decode(recs[0]);
  EXPECT_EQ(first.find(3)->second.bytes, "brain.Event:2");
  EXPECT_GT(first.find(1)->second.f64(), 1.6e9);
  for (int s = 0; s < 3; ++s) {
    int64_t step;
    Msg v = value_of(recs[size_t(1 + s)], &step);
    EXPECT_EQ(step, s);
    EXPECT_EQ(decode(recs[size_t(1 + s)]).find(1)->second.f64(), 1000.0 + s);
    EXPECT_EQ(v.find(1)->second.bytes, "loss/train");
    EXPECT_FLOAT_EQ(v.find(2)->second.f32(), float(1.0 / (s + 1)));
  }
  int64_t step;
  EXPECT_FLOAT_EQ(value_of(recs[4], &step).find(2)->second.f32(), -2.5f);
  EXPECT_EQ(step, -7);
  Msg text = value_of(recs[5], &step);
  EXPECT_EQ(step, 5);
  EXPECT_EQ(decode(decode(text.find(9)->second.bytes).find(1)->second.bytes).find(1)->second.bytes, "text");
  Msg tensor = decode(text.find(8)->second.bytes);
  EXPECT_EQ(tensor.find(1)->second.num, 7u);  // DT_STRING
  EXPECT_EQ(tensor.find(8)->second.bytes, "lr 0.01, *batch* 64");
}

TEST(SummaryWriter, HistogramsCountEveryValue) {
  fs::path dir = fresh_dir("histo");
  log::SummaryWriter w(dir.string());
  w.add_histogram("equal", tensor({0., 1., 2., 3.}), 1, 2);
  w.add_histogram("single", full({5}, 2.0), 2, 4);
  Tensor r = randn({1000}) * 3.0;
  w.add_histogram("tf", r, 3);
  w.add_histogram("ints", tensor({1, 2, 2, 3}, {DType::Int64}), 4, 3);
  w.close();
  std::vector<std::string> recs = read_records(w.file_path());
  ASSERT_EQ(recs.size(), 5u);
  auto histo = [&](size_t i) { return decode(value_of(recs[i]).find(5)->second.bytes); };
  Msg h = histo(1);
  EXPECT_EQ(h.find(1)->second.f64(), 0.0);
  EXPECT_EQ(h.find(2)->second.f64(), 3.0);
  EXPECT_EQ(h.find(3)->second.f64(), 4.0);
  EXPECT_EQ(h.find(4)->second.f64(), 6.0);
  EXPECT_EQ(h.find(5)->second.f64(), 14.0);
  EXPECT_EQ(packed_doubles(h.find(6)->second.bytes), (std::vector<double>{1.5, 3.0}));
  EXPECT_EQ(packed_doubles(h.find(7)->second.bytes), (std::vector<double>{2, 2}));
  Msg single = histo(2);  // one distinct value: numpy's range [v - 0.5, v + 0.5]
  EXPECT_EQ(packed_doubles(single.find(6)->second.bytes), (std::vector<double>{1.75, 2.0, 2.25, 2.5}));
  EXPECT_EQ(packed_doubles(single.find(7)->second.bytes), (std::vector<double>{0, 0, 5, 0}));

  Msg tf = histo(3);
  std::vector<double> limits = packed_doubles(tf.find(6)->second.bytes), counts = packed_doubles(tf.find(7)->second.bytes);
  ASSERT_EQ(limits.size(), counts.size());
  double total = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    total += counts[i];
    if (i) {
      EXPECT_GT(limits[i], limits[i - 1]);
      if (limits[i - 1] * limits[i] > 0) {  // edges a factor 1.1 apart on each side of 0
        EXPECT_NEAR(limits[i] / limits[i - 1], limits[i] > 0 ? 1.1 : 1 / 1.1, 1e-9) << i;
      }
    }
  }
  EXPECT_EQ(total, 1000.0);
  EXPECT_GT(counts.front(), 0);
  EXPECT_GT(counts.back(), 0);
  EXPECT_LE(tf.find(1)->second.f64(), limits.front());  // min lies in the first bucket
  EXPECT_LE(tf.find(2)->second.f64(), limits.back());
  EXPECT_GT(tf.find(2)->second.f64(), limits[limits.size() - 2]);
  EXPECT_NEAR(tf.find(4)->second.f64(), r.sum().item<double>(), 1e-3);
  Msg ints = histo(4);
  EXPECT_EQ(packed_doubles(ints.find(7)->second.bytes), (std::vector<double>{1, 2, 1}));
}

TEST(SummaryWriter, ImagesArePngsWithTheirPixels) {
  fs::path dir = fresh_dir("image");
  log::SummaryWriter w(dir.string());
  Tensor img = arange(0, 2 * 3 * 3).reshape({2, 3, 3}).to(DType::Float32) / 17.0;  // 2 rows, 3 columns, RGB (HWC)
  w.add_image("rgb", img, 0, "HWC");
  w.add_image("gray_chw", img.permute({2, 0, 1}).narrow(0, 0, 1), 1);  // channel 0 only
  w.add_images("batch", ones({3, 1, 2, 2}, {DType::UInt8}) * 200, 2);
  w.close();
  std::vector<std::string> recs = read_records(w.file_path());
  ASSERT_EQ(recs.size(), 4u);

  // Decodes one PNG (no filters: our writer uses filter 0) and checks its chunk CRCs.
  auto decode_png = [](const std::string& png, uint32_t& hgt, uint32_t& wid, int& type) {
    EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
    size_t i = 8;
    std::string idat;
    auto be32 = [&](size_t at) {
      return uint32_t(uint8_t(png[at])) << 24 | uint32_t(uint8_t(png[at + 1])) << 16 |
             uint32_t(uint8_t(png[at + 2])) << 8 | uint32_t(uint8_t(png[at + 3]));
    };
    while (i + 12 <= png.size()) {
      uint32_t n = be32(i);
      std::string type_and_data = png.substr(i + 4, 4 + n);
      EXPECT_EQ(be32(i + 8 + n), uint32_t(crc32(0, reinterpret_cast<const Bytef*>(type_and_data.data()),
                                                uInt(type_and_data.size()))));
      std::string t = type_and_data.substr(0, 4), d = type_and_data.substr(4);
      if (t == "IHDR") {
        wid = be32(i + 8), hgt = be32(i + 12), type = uint8_t(d[9]);
        EXPECT_EQ(uint8_t(d[8]), 8);
      }
      if (t == "IDAT") idat += d;
      i += 12 + n;
    }
    EXPECT_EQ(i, png.size());
    std::string raw(1 << 16, '\0');
    uLongf len = raw.size();
    EXPECT_EQ(uncompress(reinterpret_cast<Bytef*>(raw.data()), &len, reinterpret_cast<const Bytef*>(idat.data()),
                         uLong(idat.size())),
              Z_OK);
    raw.resize(len);
    return raw;
  };
  uint32_t h, wd;
  int type;
  Msg im = decode(value_of(recs[1]).find(4)->second.bytes);
  EXPECT_EQ(im.find(1)->second.num, 2u);
  EXPECT_EQ(im.find(2)->second.num, 3u);
  EXPECT_EQ(im.find(3)->second.num, 3u);
  std::string raw = decode_png(im.find(4)->second.bytes, h, wd, type);
  EXPECT_EQ(h, 2u);
  EXPECT_EQ(wd, 3u);
  EXPECT_EQ(type, 2);
  ASSERT_EQ(raw.size(), 2u * (1 + 9));
  for (int y = 0; y < 2; ++y) {
    EXPECT_EQ(raw[size_t(y * 10)], 0);  // filter byte
    for (int k = 0; k < 9; ++k) {
      double v = std::min(1.0, double(y * 9 + k) / 17.0);
      EXPECT_EQ(uint8_t(raw[size_t(y * 10 + 1 + k)]), uint8_t(std::lround(v * 255))) << y << " " << k;
    }
  }
  Msg gray = decode(value_of(recs[2]).find(4)->second.bytes);
  raw = decode_png(gray.find(4)->second.bytes, h, wd, type);
  EXPECT_EQ(type, 0);
  EXPECT_EQ(uint8_t(raw[1 + 1]), uint8_t(std::lround(3 / 17.0 * 255)));  // pixel (0, 1), channel 0
  Msg grid = decode(value_of(recs[3]).find(4)->second.bytes);
  raw = decode_png(grid.find(4)->second.bytes, h, wd, type);
  EXPECT_EQ(h, 2u);
  EXPECT_EQ(wd, 6u);  // three 2x2 images side by side
  EXPECT_EQ(uint8_t(raw[1]), 200);
}

TEST(SummaryWriter, BadInputGivesClearErrors) {
  fs::path dir = fresh_dir("errors");
  log::SummaryWriter w(dir.string());
  auto msg = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(msg([&] { w.add_histogram("h", Tensor(zeros({0, 3})), 0); }).find("'h': the values are empty (shape [0, 3])"),
            std::string::npos);
  EXPECT_NE(msg([&] { w.add_histogram("h", tensor({1.0, NAN, INFINITY}), 0); }).find("2 of 3 values are NaN or infinite"),
            std::string::npos);
  EXPECT_NE(msg([&] { w.add_image("im", zeros({2, 4, 4}), 0); }).find("1, 3 or 4 channels"), std::string::npos);
  EXPECT_NE(msg([&] { w.add_image("im", zeros({4, 4}), 0); }).find("dataformats CHW needs a 3-D tensor"),
            std::string::npos);
  EXPECT_NE(msg([&] { w.add_image("im", zeros({4, 4}), 0, "WH"); }).find("dataformats must be CHW, HWC or HW"),
            std::string::npos);
  EXPECT_NE(msg([&] { w.add_images("im", zeros({3, 4, 4}), 0); }).find("4-D batch, got shape [3, 4, 4]"),
            std::string::npos);
  EXPECT_NE(msg([&] { w.add_image("im", zeros({1, 4, 4}, {DType::Int64}), 0); }).find("not int64"), std::string::npos);
  w.close();
  EXPECT_NE(msg([&] { w.add_scalar("x", 1, 0); }).find("is closed"), std::string::npos);
  w.close();  // closing twice is fine
  std::ofstream(dir / "plain_file") << "x";
  EXPECT_NE(msg([&] { log::SummaryWriter bad((dir / "plain_file" / "sub").string()); })
                .find("cannot create the log folder"),
            std::string::npos);
  EXPECT_THROW(log::SummaryWriter((dir / "q").string(), {.max_queue = 0}), ValueError);
}

TEST(SummaryWriter, AddScalarsWritesOneRunPerLine) {
  fs::path dir = fresh_dir("scalars_multi");
  {
    log::SummaryWriter w(dir.string());
    w.add_scalars("loss", {{"train", 0.5}, {"val", 0.7}}, 3);
    w.add_scalars("loss", {{"train", 0.4}, {"val", 0.6}}, 4);
  }
  for (auto [run, first] : {std::pair{"loss_train", 0.5f}, {"loss_val", 0.7f}}) {
    auto files = event_files(dir / run);
    ASSERT_EQ(files.size(), 1u) << run;
    auto recs = read_records(files[0]);
    ASSERT_EQ(recs.size(), 3u);
    Msg v = value_of(recs[1]);
    EXPECT_EQ(v.find(1)->second.bytes, "loss");
    EXPECT_FLOAT_EQ(v.find(2)->second.f32(), first);
  }
}

TEST(SummaryWriter, PurgeStepWritesSessionStarts) {
  fs::path dir = fresh_dir("purge");
  log::SummaryWriter w(dir.string(), {.purge_step = 42});
  w.add_scalar("a", 1, 42);
  w.close();
  auto recs = read_records(w.file_path());
  ASSERT_EQ(recs.size(), 4u);
  for (size_t i : {1u, 2u}) {
    Msg ev = decode(recs[i]);
    EXPECT_EQ(ev.find(2)->second.num, 42u);
    EXPECT_EQ(decode(ev.find(7)->second.bytes).find(1)->second.num, 1u);  // SessionLog.START
  }
}

TEST(SummaryWriter, FlushesAfterMaxQueueEvents) {
  fs::path dir = fresh_dir("flush");
  log::SummaryWriter w(dir.string(), {.max_queue = 3});
  w.add_scalar("a", 1, 0);
  w.add_scalar("a", 2, 1);
  EXPECT_EQ(read_records(w.file_path()).size(), 1u);  // the file version, flushed on open
  w.add_scalar("a", 3, 2);
  EXPECT_EQ(read_records(w.file_path()).size(), 4u);
  w.add_scalar("a", 4, 3);
  w.flush();
  EXPECT_EQ(read_records(w.file_path()).size(), 5u);
}

TEST(SummaryWriter, TrainerCallbackWritesKerasStyleRuns) {
  manual_seed(0);
  Generator g(3);
  Tensor x = randn({128, 4}, {}, &g), y = randint(0, 2, {128}, {DType::Int64}, &g);
  auto ds = std::make_shared<data::TensorDataset>(x, y);
  data::DataLoader train(ds, {.batch_size = 32}), val(ds, {.batch_size = 64});
  auto net = std::make_shared<nn::Sequential>(nn::Linear(4, 8), nn::ReLU(), nn::Linear(8, 2));
  optim::SGD opt(net->parameters(), {.lr = 0.1});
  fs::path dir = fresh_dir("callback");
  train::fit(*net, train, {.epochs = 2, .optimizer = &opt, .validation = &val,
                           .callbacks = {train::tensorboard(dir.string(), {.histogram_freq = 1, .update_freq = 2})}});
  std::map<std::string, std::vector<int64_t>> train_tags, val_tags;
  auto collect = [](const fs::path& d, std::map<std::string, std::vector<int64_t>>& tags) {
    auto files = event_files(d);
    ASSERT_EQ(files.size(), 1u) << d;
    auto recs = read_records(files[0]);
    for (size_t i = 1; i < recs.size(); ++i) {
      int64_t step;
      Msg v = value_of(recs[i], &step);
      tags[v.find(1)->second.bytes].push_back(step);
    }
  };
  collect(dir / "train", train_tags);
  collect(dir / "validation", val_tags);
  EXPECT_EQ(train_tags["epoch_loss"], (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(train_tags["epoch_accuracy"], (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(train_tags["epoch_learning_rate"], (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(train_tags["batch_loss"], (std::vector<int64_t>{2, 4, 6, 8}));  // 4 batches an epoch, every 2nd step
  EXPECT_EQ(train_tags["0.weight"], (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(train_tags["2.bias"], (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(val_tags["epoch_loss"], (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(val_tags["epoch_accuracy"], (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(val_tags.size(), 2u);
}

TEST(SummaryWriter, GraphOfAModelNamesOpsByModuleWithShapes) {
  fs::path dir = fresh_dir("graph");
  auto net = zoo::lenet5(1, 10);
  net->train();
  log::SummaryWriter w(dir.string());
  w.add_graph(*net, randn({2, 1, 28, 28}));
  EXPECT_TRUE(net->is_training());  // the mode is restored
  w.close();
  auto recs = read_records(w.file_path());
  ASSERT_EQ(recs.size(), 2u);
  Msg graph = decode(decode(recs[1]).find(4)->second.bytes);
  std::map<std::string, std::pair<std::string, std::vector<std::string>>> nodes;  // name -> (op, inputs)
  std::map<std::string, std::vector<std::vector<int64_t>>> shapes;
  for (auto [it, end] = graph.equal_range(1); it != end; ++it) {
    Msg node = decode(it->second.bytes);
    std::string name = node.find(1)->second.bytes;
    std::vector<std::string> inputs;
    for (auto [i, e] = node.equal_range(3); i != e; ++i) inputs.push_back(i->second.bytes);
    nodes[name] = {node.find(2)->second.bytes, inputs};
    if (auto a = node.find(5); a != node.end()) {
      Msg entry = decode(a->second.bytes);
      EXPECT_EQ(entry.find(1)->second.bytes, "_output_shapes");
      Msg list = decode(decode(entry.find(2)->second.bytes).find(1)->second.bytes);
      for (auto [i, e] = list.equal_range(7); i != e; ++i) {
        std::vector<int64_t> dims;
        Msg shape = decode(i->second.bytes);
        for (auto [d, de] = shape.equal_range(2); d != de; ++d) dims.push_back(int64_t(decode(d->second.bytes).find(1)->second.num));
        shapes[name].push_back(dims);
      }
    }
  }
  EXPECT_EQ(nodes.size(), 30u);  // 10 parameters, the input, 18 ops, the output
  EXPECT_EQ(nodes["input"].first, "Input");
  EXPECT_EQ(nodes["0/weight"].first, "Parameter");
  EXPECT_EQ(nodes["0/conv2d"], (std::pair<std::string, std::vector<std::string>>{"conv2d", {"input", "0/weight", "0/bias"}}));
  EXPECT_EQ(nodes["relu"].second, std::vector<std::string>{"0/conv2d"});
  EXPECT_EQ(nodes["11/add"].second, (std::vector<std::string>{"11/matmul", "11/bias"}));
  EXPECT_EQ(nodes["output"], (std::pair<std::string, std::vector<std::string>>{"Output", {"11/add"}}));
  EXPECT_EQ(shapes["0/conv2d"], (std::vector<std::vector<int64_t>>{{2, 6, 28, 28}}));
  EXPECT_EQ(shapes["reshape"], (std::vector<std::vector<int64_t>>{{2, 400}}));
  EXPECT_EQ(shapes["11/add"], (std::vector<std::vector<int64_t>>{{2, 10}}));
  EXPECT_EQ(decode(graph.find(4)->second.bytes).find(1)->second.num, 22u);  // versions.producer

  autograd::NoGradGuard ng;  // an output with no recorded history
  EXPECT_THROW(w.add_graph({ones({2})}, {}, {}), ValueError);
}
