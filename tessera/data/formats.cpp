#include "tessera/data/formats.h"

#include <zlib.h>

#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tessera/ops/ops.h"

namespace tessera::data {

namespace {
// The whole file, decompressed when it is gzip (zlib reads plain files unchanged).
std::vector<uint8_t> read_all(const std::string& path) {
  TS_CHECK_T(IOError, std::filesystem::exists(path), path, ": no such file");
  gzFile f = gzopen(path.c_str(), "rb");
  TS_CHECK_T(IOError, f != nullptr, path, ": cannot open");
  std::vector<uint8_t> out;
  uint8_t buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.insert(out.end(), buf, buf + n);
  int err = 0;
  const char* msg = gzerror(f, &err);
  std::string what = msg ? msg : "";
  gzclose(f);
  TS_CHECK_T(IOError, n == 0 && (err == Z_OK || err == Z_STREAM_END), path, ": corrupt or truncated compressed data (",
             what, ")");
  return out;
}
uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

std::string existing(const std::string& dir, const std::string& stem) {
  for (const char* ext : {"", ".gz"}) {
    std::string p = dir + "/" + stem + ext;
    if (std::filesystem::exists(p)) return p;
  }
  throw IOError(detail::str(dir, ": neither ", stem, " nor ", stem, ".gz exists"));
}
}  // namespace

Tensor read_idx(const std::string& path) {
  std::vector<uint8_t> b = read_all(path);
  TS_CHECK_T(IOError, b.size() >= 4, path, ": too short for an IDX header (", b.size(), " bytes)");
  TS_CHECK_T(IOError, b[0] == 0 && b[1] == 0, path, ": bad IDX magic number (first bytes ", int(b[0]), " ", int(b[1]),
             ", expected 0 0)");
  uint8_t type = b[2], nd = b[3];
  DType dt;
  size_t es;
  switch (type) {
    case 0x08: dt = DType::UInt8, es = 1; break;
    case 0x09: dt = DType::Int8, es = 1; break;
    case 0x0B: dt = DType::Int32, es = 2; break;
    case 0x0C: dt = DType::Int32, es = 4; break;
    case 0x0D: dt = DType::Float32, es = 4; break;
    case 0x0E: dt = DType::Float64, es = 8; break;
    default: throw IOError(detail::str(path, ": unknown IDX element type 0x", std::hex, int(type)));
  }
  TS_CHECK_T(IOError, nd >= 1 && nd <= 8, path, ": IDX file with ", int(nd), " dimensions");
  TS_CHECK_T(IOError, b.size() >= 4 + 4 * size_t(nd), path, ": truncated IDX header");
  Shape shape;
  uint64_t count = 1, extent = 1;  // extent: the product with zero sizes counted as 1 (the strides')
  for (int d = 0; d < nd; ++d) {
    uint32_t s = be32(&b[4 + 4 * size_t(d)]);
    shape.push_back(int64_t(s));
    count *= s;  // at most 2^40 * 2^32: no overflow
    extent *= std::max<uint64_t>(s, 1);
    TS_CHECK_T(IOError, extent < (uint64_t(1) << 40), path, ": implausible IDX dimensions ", shape);
  }
  size_t header = 4 + 4 * size_t(nd), need = size_t(count) * es;
  TS_CHECK_T(IOError, b.size() - header == need, path, ": IDX header says ", shape, " (", need, " bytes of data) but ",
             b.size() - header, " bytes follow the header", b.size() - header < need ? " (truncated file)" : "");
  Tensor t = empty(shape, {dt});
  const uint8_t* p = b.data() + header;
  if (es == 1) {
    std::memcpy(t.data_ptr(), p, need);
  } else {
    auto* out = static_cast<uint8_t*>(t.data_ptr());
    for (uint64_t i = 0; i < count; ++i) {  // big-endian to host
      if (type == 0x0B) {
        int16_t v = int16_t(uint16_t(p[2 * i]) << 8 | p[2 * i + 1]);
        reinterpret_cast<int32_t*>(out)[i] = v;
      } else {
        for (size_t k = 0; k < es; ++k) out[i * es + k] = p[i * es + es - 1 - k];
      }
    }
  }
  return t;
}

std::shared_ptr<TensorDataset> load_mnist(const std::string& dir, bool train) {
  std::string pre = train ? "train" : "t10k";
  std::string ip = existing(dir, pre + "-images-idx3-ubyte"), lp = existing(dir, pre + "-labels-idx1-ubyte");
  Tensor images = read_idx(ip), labels = read_idx(lp);
  TS_CHECK_T(IOError, images.dim() == 3 && images.dtype() == DType::UInt8, ip, ": expected uint8 images [N, H, W], got ",
             images.dtype(), " ", images.shape());
  TS_CHECK_T(IOError, labels.dim() == 1 && labels.dtype() == DType::UInt8, lp, ": expected uint8 labels [N], got ",
             labels.dtype(), " ", labels.shape());
  TS_CHECK_T(IOError, images.size(0) == labels.size(0), ip, " has ", images.size(0), " images but ", lp, " has ",
             labels.size(0), " labels");
  return std::make_shared<TensorDataset>(images.unsqueeze(1).to(DType::Float32) / 255.0, labels.to(DType::Int64));
}

std::shared_ptr<TensorDataset> read_cifar(const std::vector<std::string>& files, bool cifar100, bool coarse) {
  TS_CHECK_VALUE(!files.empty(), "read_cifar: no files given");
  size_t label_bytes = cifar100 ? 2 : 1, record = label_bytes + 3072;
  std::vector<uint8_t> pixels, labels;
  for (const std::string& f : files) {
    std::vector<uint8_t> b = read_all(f);
    TS_CHECK_T(IOError, !b.empty() && b.size() % record == 0, f, ": ", b.size(), " bytes is not a whole number of ",
               record, "-byte CIFAR-", cifar100 ? "100" : "10", " records");
    int max_label = cifar100 ? (coarse ? 20 : 100) : 10;
    for (size_t r = 0; r < b.size() / record; ++r) {
      const uint8_t* rec = b.data() + r * record;
      uint8_t label = cifar100 ? rec[coarse ? 0 : 1] : rec[0];
      TS_CHECK_T(IOError, label < max_label, f, ": record ", r, " has label ", int(label), ", outside [0, ", max_label, ")");
      labels.push_back(label);
      pixels.insert(pixels.end(), rec + label_bytes, rec + record);
    }
  }
  int64_t n = int64_t(labels.size());
  Tensor img = from_vector(pixels, Shape{n, 3, 32, 32});
  Tensor lab = from_vector(labels).to(DType::Int64);
  return std::make_shared<TensorDataset>(img, lab);
}

std::shared_ptr<TensorDataset> read_csv(const std::string& path, const CsvOptions& o) {
  std::ifstream in(path);
  TS_CHECK_T(IOError, std::filesystem::exists(path), path, ": no such file");
  TS_CHECK_T(IOError, in.good(), path, ": cannot open");
  std::string line;
  std::vector<std::string> names;
  int64_t line_no = 0, cols = -1;
  auto split = [&](const std::string& l) {
    std::vector<std::string> f;
    std::string cur;
    for (char c : l) {
      if (c == o.delimiter) {
        f.push_back(cur);
        cur.clear();
      } else if (c != '\r') {
        cur += c;
      }
    }
    f.push_back(cur);
    return f;
  };
  if (o.header) {
    TS_CHECK_T(IOError, bool(std::getline(in, line)), path, ": empty file (expected a header line)");
    ++line_no;
    names = split(line);
    cols = int64_t(names.size());
  }
  std::vector<std::vector<double>> rows;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty() || line == "\r") continue;
    auto f = split(line);
    if (cols < 0) cols = int64_t(f.size());
    TS_CHECK_T(IOError, int64_t(f.size()) == cols, path, ":", line_no, ": ", f.size(), " fields, expected ", cols);
    std::vector<double> v;
    for (size_t c = 0; c < f.size(); ++c) {
      std::string s = f[c];
      size_t a = s.find_first_not_of(" \t"), z = s.find_last_not_of(" \t");
      s = a == std::string::npos ? "" : s.substr(a, z - a + 1);
      double x = 0;
      auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
      TS_CHECK_T(IOError, ec == std::errc() && ptr == s.data() + s.size() && !s.empty(), path, ":", line_no,
                 ": column ", c + 1, " is not a number: '", f[c], "'");
      v.push_back(x);
    }
    rows.push_back(std::move(v));
  }
  TS_CHECK_T(IOError, !rows.empty(), path, ": no data rows");
  int64_t label = -1;
  if (o.label_column) {
    for (size_t c = 0; c < names.size(); ++c)
      if (names[c] == *o.label_column) label = int64_t(c);
    TS_CHECK_T(IOError, label >= 0, path, ": no column named '", *o.label_column, "' in the header");
  } else if (o.label_index) {
    label = *o.label_index < 0 ? *o.label_index + cols : *o.label_index;
    TS_CHECK_T(IOError, label >= 0 && label < cols, path, ": label column ", *o.label_index, " out of range for ", cols,
               " columns");
  }
  int64_t n = int64_t(rows.size()), nf = cols - (label >= 0 ? 1 : 0);
  std::vector<float> feats;
  std::vector<double> targets;
  for (size_t r = 0; r < rows.size(); ++r)
    for (int64_t c = 0; c < cols; ++c) {
      double x = rows[r][size_t(c)];
      if (c == label) {
        if (o.integer_labels)
          TS_CHECK_T(IOError, x == double(int64_t(x)), path, ": row ", r + 1, " has a non-integer label ", x);
        targets.push_back(x);
      } else {
        feats.push_back(float(x));
      }
    }
  Tensor X = from_vector(feats, Shape{n, nf});
  Tensor y = label < 0 ? Tensor()
                       : (o.integer_labels ? from_vector(targets).to(DType::Int64) : from_vector(targets).to(DType::Float32));
  return std::make_shared<TensorDataset>(X, y);
}

}  // namespace tessera::data
