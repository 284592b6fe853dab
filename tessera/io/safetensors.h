#pragma once
// safetensors (https://huggingface.co/docs/safetensors): an 8-byte little-endian header
// length, a JSON header {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}},
// then the raw little-endian tensor bytes. Reading validates every offset and size against
// the file before touching data.
#include <istream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tessera/core/tensor.h"

namespace tessera::io {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// Writes to a temporary file in the same folder and renames it over path, so a crash never
// leaves a half-written file in place of a good one.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});
// Tensors in file order (sorted by name, as the format's writers order them), on the CPU.
NamedTensors load_safetensors(const std::string& path, std::map<std::string, std::string>* metadata = nullptr);

// The same format in memory (for file objects and buffers): the bytes a file would hold, and
// tensors from such bytes (name labels the errors).
std::string safetensors_bytes(const NamedTensors& tensors, const std::map<std::string, std::string>& metadata = {});
NamedTensors load_safetensors_bytes(const std::string& bytes, const std::string& name = "<bytes>",
                                    std::map<std::string, std::string>* metadata = nullptr);
// Reads a safetensors stream of size bytes (path labels the errors), validating before trusting.
NamedTensors read_safetensors(std::istream& in, uint64_t size, const std::string& path,
                              std::map<std::string, std::string>* metadata = nullptr);

// The atomic write used by every file tessera writes: bytes to path.tmp.<pid>, fsync, rename.
void write_file_atomic(const std::string& path, const std::string& bytes);

}  // namespace tessera::io
