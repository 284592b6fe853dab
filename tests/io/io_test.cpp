// safetensors: byte-exact format, round trips of every dtype, and hostile files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tessera/io/safetensors.h"
#include "tessera/tessera.h"

using namespace tessera;
namespace fs = std::filesystem;

namespace {
std::string tmp(const std::string& n) { return (fs::temp_directory_path() / ("tessera_io_" + std::to_string(::getpid()) + "_" + n)).string(); }
std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}
void spit(const std::string& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }
std::string with_header(const std::string& json, const std::string& data) {
  std::string b(8, '\0');
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) b[size_t(i)] = char((n >> (8 * i)) & 0xff);
  return b + json + data;
}
}  // namespace

TEST(Safetensors, WritesTheSpecifiedLayout) {
  std::string p = tmp("layout.safetensors");
  io::save_safetensors(p, {{"b", tensor({1., 2.})}, {"a", tensor({7, 8}, {DType::Int32})}}, {{"k", "v"}});
  std::string s = slurp(p);
  uint64_t hl = 0;
  for (int i = 0; i < 8; ++i) hl |= uint64_t(uint8_t(s[size_t(i)])) << (8 * i);
  EXPECT_EQ(hl % 8, 0u);  // data 8-byte aligned
  std::string header = s.substr(8, hl);
  EXPECT_NE(header.find(R"("__metadata__":{"k":"v"})"), std::string::npos) << header;
  EXPECT_NE(header.find(R"("a":{"dtype":"I32","shape":[2],"data_offsets":[0,8]})"), std::string::npos) << header;
  EXPECT_NE(header.find(R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]})"), std::string::npos) << header;
  EXPECT_EQ(s.size(), 8 + hl + 16);
  float f;
  std::memcpy(&f, s.data() + 8 + hl + 12, 4);
  EXPECT_EQ(f, 2.0f);  // little-endian float32 payload
  fs::remove(p);
}

TEST(Safetensors, RoundTripsEveryDtypeAndMetadata) {
  std::string p = tmp("rt.safetensors");
  io::NamedTensors in;
  for (int d = 0; d < kNumDTypes; ++d) in.emplace_back(std::string(dtype_name(DType(d))), (ops::fmod(arange(6), tensor({2})) == int64_t(0)).to(DType(d)).view({2, 3}));
  in.emplace_back("scalar", full({}, 3.5, {DType::Float64}));
  in.emplace_back("empty", zeros({0, 4}));
  in.emplace_back("strided", arange(0, 6, 1, {DType::Float32}).view({2, 3}).t());
  io::save_safetensors(p, in, {{"format", "pt"}});
  std::map<std::string, std::string> md;
  io::NamedTensors out = io::load_safetensors(p, &md);
  EXPECT_EQ(md["format"], "pt");
  ASSERT_EQ(out.size(), in.size());
  for (auto& [name, t] : in) {
    auto it = std::find_if(out.begin(), out.end(), [&](auto& e) { return e.first == name; });
    ASSERT_NE(it, out.end()) << name;
    EXPECT_EQ(it->second.dtype(), t.dtype()) << name;
    EXPECT_TRUE(ops::equal(it->second, t)) << name;
  }
  fs::remove(p);
}

TEST(Safetensors, HostileFilesGiveClearErrors) {
  std::string p = tmp("bad.safetensors");
  auto expect = [&](const std::string& bytes, const std::string& part) {
    spit(p, bytes);
    try {
      io::load_safetensors(p);
      ADD_FAILURE() << "accepted a bad file; expected: " << part;
    } catch (const IOError& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  expect("abc", "too short for a safetensors file");
  expect(std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8) + "{}", "does not fit in a file");
  expect(with_header("{not json", ""), "header is not valid JSON");
  expect(with_header(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", "1234"), "outside the 4 data bytes");
  expect(with_header(R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", "12345678"), "needs 12 bytes");
  expect(with_header(R"({"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", "1234"), "negative dimension");
  expect(with_header(R"({"x":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}})", "12345678"), "dtype 'C64'");
  expect(with_header(R"({"x":{"dtype":"F32","shape":[1]}})", "1234"), "lacks a string dtype");
  expect(with_header(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"y":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})",
                     "12345678"), "overlap");
  expect(with_header(R"({"x":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", "1234"),
         "larger than the file");
  expect(with_header("[1,2]", ""), "not a JSON object");
  EXPECT_THROW(io::load_safetensors(tmp("does-not-exist")), IOError);
  fs::remove(p);
}

TEST(Safetensors, WritesAreAtomic) {
  std::string p = tmp("atomic.safetensors");
  io::save_safetensors(p, {{"w", ones({3})}});
  // A write that fails (an unwritable folder) leaves no partial file and the old one intact.
  EXPECT_THROW(io::save_safetensors("/proc/tessera-no/x.safetensors", {{"w", ones({3})}}), IOError);
  io::save_safetensors(p, {{"w", zeros({3})}});
  EXPECT_EQ(io::load_safetensors(p)[0].second.sum().item<double>(), 0);
  for (auto& e : fs::directory_iterator(fs::path(p).parent_path()))
    EXPECT_EQ(e.path().string().find("atomic.safetensors.tmp"), std::string::npos) << "temporary file left behind";
  fs::remove(p);
}
