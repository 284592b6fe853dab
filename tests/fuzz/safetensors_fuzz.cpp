// libFuzzer harness: load_safetensors on arbitrary bytes must either return tensors or throw
// tessera::Error, never crash or read out of bounds (run under ASan).
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/safetensors_fuzz.cpp \
//     tessera/io/safetensors.cpp ... (see tests/fuzz/README.md)
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <string>

#include "tessera/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // In memory where there is /dev/shm, so the run is not bound by the disk.
  static const std::string path = std::string(::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") +
                                  "/tessera_fuzz_" + std::to_string(::getpid()) + ".safetensors";
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data), std::streamsize(size));
  }
  try {
    std::map<std::string, std::string> md;
    tessera::io::NamedTensors t = tessera::io::load_safetensors(path, &md);
    for (auto& [name, tensor] : t) (void)tensor.sum();  // touch every byte that was read
  } catch (const tessera::Error&) {
  }
  return 0;
}
