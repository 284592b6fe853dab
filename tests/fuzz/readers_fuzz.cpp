// libFuzzer harness for the other readers of files from outside: the first byte picks the reader
// (IDX, CIFAR-10, CIFAR-100, CSV, or a checkpoint into a small model), the rest is the file. Each
// must return its data or throw tessera::Error, never crash, hang or read out of bounds (run under
// ASan and UBSan). See tests/fuzz/README.md.
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <string>

#include "tessera/data/formats.h"
#include "tessera/nn/layers.h"
#include "tessera/optim/optimizer.h"
#include "tessera/tessera.h"
#include "tessera/train/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const std::string path = "/tmp/tessera_readers_fuzz_" + std::to_string(::getpid());
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data + 1), std::streamsize(size - 1));
  }
  try {
    switch (data[0] % 5) {
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
