#pragma once
// Checkpoints: model + optimizer + scheduler + epoch/step + the default RNG state in one
// safetensors file, so a resumed run continues exactly. Written atomically (temporary file +
// rename): a crash mid-save leaves the previous checkpoint intact.
#include <map>
#include <string>

#include "tessera/nn/module.h"
#include "tessera/optim/optimizer.h"
#include "tessera/optim/scheduler.h"

namespace tessera::train {

struct CheckpointInfo {
  int64_t epoch = 0;  // epochs completed
  int64_t step = 0;   // optimizer steps taken
  std::map<std::string, std::string> extra;
};

void save_checkpoint(const std::string& path, const nn::Module& model, const optim::Optimizer* optimizer,
                     const optim::LRScheduler* scheduler, const CheckpointInfo& info);
// Restores what the file holds into model (strict), optimizer and scheduler (when given), and
// the default generator. Throws IOError naming the file when it is not a tessera checkpoint.
CheckpointInfo load_checkpoint(const std::string& path, nn::Module& model, optim::Optimizer* optimizer = nullptr,
                               optim::LRScheduler* scheduler = nullptr);

}  // namespace tessera::train
