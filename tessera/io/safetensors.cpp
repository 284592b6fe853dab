#include "tessera/io/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <nlohmann/json.hpp>

#include "tessera/ops/factory.h"

namespace tessera::io {

namespace {
const char* st_dtype(DType t) {
  switch (t) {
    case DType::Bool: return "BOOL";
    case DType::UInt8: return "U8";
    case DType::Int8: return "I8";
    case DType::Int32: return "I32";
    case DType::Int64: return "I64";
    case DType::Float16: return "F16";
    case DType::BFloat16: return "BF16";
    case DType::Float32: return "F32";
    case DType::Float64: return "F64";
  }
  return "";
}
DType from_st_dtype(const std::string& s, const std::string& path, const std::string& name) {
  for (int i = 0; i < kNumDTypes; ++i)
    if (s == st_dtype(DType(i))) return DType(i);
  throw IOError(detail::str(path, ": tensor '", name, "' has dtype '", s, "', which tessera does not support"));
}
}  // namespace

void write_file_atomic(const std::string& path, const std::string& bytes) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  TS_CHECK_T(IOError, fd >= 0, path, ": cannot create ", tmp, " (", std::strerror(errno), ")");
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw IOError(detail::str(path, ": write failed (", std::strerror(e), ")"));
    }
    done += size_t(n);
  }
  bool ok = ::fsync(fd) == 0;
  ok = ::close(fd) == 0 && ok;
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    throw IOError(detail::str(path, ": could not finish writing (", std::strerror(e), ")"));
  }
}

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  write_file_atomic(path, safetensors_bytes(tensors, metadata));
}

std::string safetensors_bytes(const NamedTensors& tensors, const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  // Sorted by name, as the reference writer does.
  std::vector<std::pair<std::string, Tensor>> sorted(tensors.begin(), tensors.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  uint64_t offset = 0;
  std::vector<Tensor> data;
  for (size_t i = 0; i < sorted.size(); ++i) {
    const auto& [name, t] = sorted[i];
    TS_CHECK_VALUE(!name.empty() && name != "__metadata__", "save_safetensors: invalid tensor name '", name, "'");
    TS_CHECK_VALUE(i == 0 || sorted[i - 1].first != name, "save_safetensors: duplicate tensor name '", name, "'");
    Tensor c = t.detach().cpu().contiguous();
    uint64_t n = uint64_t(c.numel()) * c.element_size();
    header[name] = {{"dtype", st_dtype(c.dtype())}, {"shape", c.shape()}, {"data_offsets", {offset, offset + n}}};
    offset += n;
    data.push_back(c);
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // pad so the data starts 8-byte aligned
  std::string bytes(8, '\0');
  uint64_t hl = h.size();
  for (int i = 0; i < 8; ++i) bytes[size_t(i)] = char((hl >> (8 * i)) & 0xff);
  bytes += h;
  for (const Tensor& c : data) bytes.append(static_cast<const char*>(c.data_ptr()), size_t(c.numel()) * c.element_size());
  return bytes;
}

namespace {
// What a file that is not safetensors looks like, from its first bytes (for the error message).
std::string known_format(const unsigned char* b, size_t n) {
  auto starts = [&](const char* magic, size_t len) { return n >= len && std::memcmp(b, magic, len) == 0; };
  if (starts("PK\x03\x04", 4))
    return "a ZIP archive (PyTorch's torch.save format: load it with torch and save its state_dict with "
           "safetensors, or export the model to ONNX)";
  if (n >= 2 && b[0] == 0x80 && b[1] >= 2 && b[1] <= 5)
    return "a Python pickle (a legacy torch.save or pickle.dump file), which tessera does not execute";
  if (starts("\x89HDF\r\n\x1a\n", 8)) return "an HDF5 file (Keras's .h5 format)";
  if (starts("\x93NUMPY", 6)) return "a numpy .npy file (read it with numpy.load)";
  if (starts("\x1f\x8b", 2)) return "a gzip file (decompress it first)";
  if (starts("\x08", 1) && n >= 2) return "perhaps an ONNX or other protobuf file (tessera.onnx.load reads ONNX)";
  return "";
}
}  // namespace

NamedTensors load_safetensors(const std::string& path, std::map<std::string, std::string>* metadata) {
  TS_CHECK_T(IOError, std::filesystem::exists(path), path, ": no such file");
  std::ifstream in(path, std::ios::binary);
  TS_CHECK_T(IOError, in.good(), path, ": cannot open");
  return read_safetensors(in, std::filesystem::file_size(path), path, metadata);
}

NamedTensors load_safetensors_bytes(const std::string& bytes, const std::string& name,
                                    std::map<std::string, std::string>* metadata) {
  std::istringstream in(bytes, std::ios::binary);
  return read_safetensors(in, bytes.size(), name, metadata);
}

NamedTensors read_safetensors(std::istream& in, uint64_t file_size, const std::string& path,
                              std::map<std::string, std::string>* metadata) {
  TS_CHECK_T(IOError, file_size >= 8, path, ": ", file_size, " bytes is too short for a safetensors file");
  unsigned char lb[8];
  in.read(reinterpret_cast<char*>(lb), 8);
  uint64_t hl = 0;
  for (int i = 0; i < 8; ++i) hl |= uint64_t(lb[i]) << (8 * i);
  if (!(hl <= file_size - 8 && hl <= (uint64_t(100) << 20))) {
    std::string what = known_format(lb, 8);
    if (!what.empty()) throw IOError(path + ": not a safetensors file: it is " + what);
    throw IOError(detail::str(path, ": not a safetensors file (its first 8 bytes, the header length, say ", hl,
                              ", which does not fit in a file of ", file_size, " bytes)"));
  }
  std::string h(size_t(hl), '\0');
  in.read(h.data(), std::streamsize(hl));
  TS_CHECK_T(IOError, in.good(), path, ": truncated header");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(h);
  } catch (const nlohmann::json::exception& e) {
    throw IOError(detail::str(path, ": header is not valid JSON (", e.what(), ")"));
  }
  TS_CHECK_T(IOError, header.is_object(), path, ": header is not a JSON object");
  uint64_t data_size = file_size - 8 - hl;
  struct Entry {
    std::string name;
    DType dtype;
    Shape shape;
    uint64_t begin, end;
  };
  std::vector<Entry> entries;
  for (auto& [name, v] : header.items()) {
    if (name == "__metadata__") {
      TS_CHECK_T(IOError, v.is_object(), path, ": __metadata__ is not an object");
      if (metadata)
        for (auto& [k, mv] : v.items()) {
          TS_CHECK_T(IOError, mv.is_string(), path, ": metadata value '", k, "' is not a string");
          (*metadata)[k] = mv.get<std::string>();
        }
      continue;
    }
    TS_CHECK_T(IOError, v.is_object() && v.contains("dtype") && v.contains("shape") && v.contains("data_offsets") &&
                            v["dtype"].is_string() && v["shape"].is_array() && v["data_offsets"].is_array() &&
                            v["data_offsets"].size() == 2,
               path, ": entry '", name, "' lacks a string dtype, a shape array or two data_offsets");
    Entry e{name, from_st_dtype(v["dtype"].get<std::string>(), path, name), {}, 0, 0};
    uint64_t count = 1;
    for (auto& d : v["shape"]) {
      TS_CHECK_T(IOError, d.is_number_unsigned(), path, ": entry '", name, "' has a non-integer or negative dimension");
      uint64_t s = d.get<uint64_t>();
      TS_CHECK_T(IOError, s == 0 || count <= data_size / s, path, ": entry '", name, "' has a shape larger than the file");
      count *= s;
      e.shape.push_back(int64_t(s));
    }
    TS_CHECK_T(IOError, v["data_offsets"][0].is_number_unsigned() && v["data_offsets"][1].is_number_unsigned(), path,
               ": entry '", name, "' has invalid data_offsets");
    e.begin = v["data_offsets"][0].get<uint64_t>();
    e.end = v["data_offsets"][1].get<uint64_t>();
    TS_CHECK_T(IOError, e.begin <= e.end && e.end <= data_size, path, ": entry '", name, "' has data_offsets [", e.begin,
               ", ", e.end, "] outside the ", data_size, " data bytes");
    TS_CHECK_T(IOError, e.end - e.begin == count * dtype_size(e.dtype), path, ": entry '", name, "' of shape ", e.shape,
               " and dtype ", e.dtype, " needs ", count * dtype_size(e.dtype), " bytes but its offsets span ",
               e.end - e.begin);
    entries.push_back(e);
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < entries.size(); ++i)
    TS_CHECK_T(IOError, entries[i].begin >= entries[i - 1].end, path, ": entries '", entries[i - 1].name, "' and '",
               entries[i].name, "' overlap");
  NamedTensors out;
  for (const Entry& e : entries) {
    Tensor t = empty(e.shape, {e.dtype});
    in.seekg(std::streamoff(8 + hl + e.begin));
    in.read(static_cast<char*>(t.data_ptr()), std::streamsize(e.end - e.begin));
    TS_CHECK_T(IOError, in.good() || e.end == e.begin, path, ": could not read the data of '", e.name, "'");
    if (e.dtype == DType::Bool) {  // any non-zero byte is true; keep bools canonical
      auto* p = static_cast<uint8_t*>(t.data_ptr());
      for (int64_t i = 0; i < t.numel(); ++i) p[i] = p[i] != 0;
    }
    out.emplace_back(e.name, t);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

}  // namespace tessera::io
