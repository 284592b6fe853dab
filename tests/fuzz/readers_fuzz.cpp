// libFuzzer harness for the other readers of files from outside: the first byte picks the reader
// (IDX, CIFAR-10, CIFAR-100, CSV, or a checkpoint into a small model), the rest is the file; with
// TESSERA_FUZZ_READER=idx|cifar10|cifar100|csv|checkpoint set, that reader gets every input whole
// (one run per reader, as tests/fuzz/README.md does). Each must return its data or throw
// tessera::Error, never crash, hang or read out of bounds (run under ASan and UBSan).
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "tessera/data/formats.h"
#include "tessera/nn/layers.h"
#include "tessera/optim/optimizer.h"
#include "tessera/tessera.h"
#include "tessera/train/checkpoint.h"

namespace {

// The reader TESSERA_FUZZ_READER names (0-4), or -1 when unset: then the first byte picks.
int fixed_reader() {
  const char* r = std::getenv("TESSERA_FUZZ_READER");
  if (!r || !*r) return -1;
  const char* names[] = {"idx", "cifar10", "cifar100", "csv", "checkpoint"};
  for (int i = 0; i < 5; ++i)
    if (std::strcmp(r, names[i]) == 0) return i;
  std::abort();  // a typo would fuzz nothing
}

// A file in memory where there is one (/dev/shm), so the run is not bound by the disk.
std::string scratch_path(const char* name) {
  const char* dir = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  return std::string(dir) + "/" + name + std::to_string(::getpid());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const int fixed = fixed_reader();
  static const std::string path = scratch_path("tessera_readers_fuzz_");
  if (fixed < 0 && size == 0) return 0;
  const size_t skip = fixed < 0 ? 1 : 0;
  const int reader = fixed < 0 ? data[0] % 5 : fixed;
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data + skip), std::streamsize(size - skip));
  }
  try {
    switch (reader) {
      case 0: (void)tessera::data::read_idx(path).sum(); break;
      case 1: (void)tessera::data::read_cifar({path}, false)->size(); break;
      case 2: (void)tessera::data::read_cifar({path}, true, true)->size(); break;
      case 3: (void)tessera::data::read_csv(path)->size(); break;
      default: {
        auto model = std::make_shared<tessera::nn::Linear>(3, 2);
        tessera::optim::SGD opt(model->parameters(), {.lr = 0.1, .momentum = 0.9});
        (void)tessera::train::load_checkpoint(path, *model, &opt);
      }
    }
  } catch (const tessera::Error&) {
  }
  return 0;
}
