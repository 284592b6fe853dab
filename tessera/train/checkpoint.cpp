#include "tessera/train/checkpoint.h"

#include <nlohmann/json.hpp>

#include "tessera/core/generator.h"
#include "tessera/io/safetensors.h"
#include "tessera/train/serialize.h"

namespace tessera::train {

void save_checkpoint(const std::string& path, const nn::Module& model, const optim::Optimizer* optimizer,
                     const optim::LRScheduler* scheduler, const CheckpointInfo& info) {
  io::NamedTensors tensors;
  for (auto& [k, t] : model.state_dict()) tensors.emplace_back("model." + k, t);
  nlohmann::json meta = {{"format", "tessera-checkpoint-1"}, {"epoch", info.epoch}, {"step", info.step},
                         {"rng_seed", default_generator().seed()}, {"rng_offset", default_generator().offset()},
                         {"extra", info.extra}};
  if (optimizer) meta["optimizer"] = nlohmann::json::parse(internal::optimizer_to_entries(*optimizer, tensors));
  if (scheduler) meta["scheduler_epoch"] = scheduler->last_epoch();
  io::save_safetensors(path, tensors, {{"tessera", meta.dump()}});
}

CheckpointInfo load_checkpoint(const std::string& path, nn::Module& model, optim::Optimizer* optimizer,
                               optim::LRScheduler* scheduler) {
  std::map<std::string, std::string> md;
  io::NamedTensors tensors = io::load_safetensors(path, &md);
  TS_CHECK_T(IOError, md.count("tessera"), path, ": not a tessera checkpoint (no 'tessera' metadata); a plain "
             "safetensors state dict loads with io::load_safetensors");
  // A file from outside may hold anything: metadata of the wrong types or malformed entries are
  // an IOError naming the file, never a JSON or standard-library exception.
  try {
    nlohmann::json meta;
    try {
      meta = nlohmann::json::parse(md["tessera"]);
    } catch (const nlohmann::json::exception& e) {
      throw IOError(detail::str(path, ": corrupt checkpoint metadata (", e.what(), ")"));
    }
    TS_CHECK_T(IOError, meta.value("format", "") == "tessera-checkpoint-1", path, ": unknown checkpoint format '",
               meta.value("format", ""), "'");
    nn::StateDict sd;
    for (auto& [k, t] : tensors)
      if (k.rfind("model.", 0) == 0) sd.emplace_back(k.substr(6), t);
    model.load_state_dict(sd, true);
    if (optimizer) {
      TS_CHECK_T(IOError, meta.contains("optimizer"), path, ": the checkpoint holds no optimizer state");
      internal::optimizer_from_entries(*optimizer, meta["optimizer"].dump(), tensors, path);
    }
    // Integers are checked to be integers: JSON's get<> casts a float such as 6.7e27 (undefined).
    auto integer = [&](const char* key) {
      const nlohmann::json& v = meta.at(key);
      TS_CHECK_T(IOError, v.is_number_integer(), path, ": checkpoint metadata '", key, "' is not an integer");
      return v;
    };
    if (scheduler && meta.contains("scheduler_epoch")) scheduler->set_last_epoch(integer("scheduler_epoch").get<int64_t>());
    default_generator().set_state(integer("rng_seed").get<uint64_t>(), integer("rng_offset").get<uint64_t>());
    CheckpointInfo info;
    info.epoch = integer("epoch").get<int64_t>();
    info.step = integer("step").get<int64_t>();
    info.extra = meta["extra"].get<std::map<std::string, std::string>>();
    return info;
  } catch (const Error&) {
    throw;
  } catch (const nlohmann::json::exception& e) {
    throw IOError(detail::str(path, ": corrupt checkpoint metadata (", e.what(), ")"));
  } catch (const std::logic_error& e) {  // std::stoul on a malformed optimizer entry
    throw IOError(detail::str(path, ": corrupt checkpoint entry (", e.what(), ")"));
  }
}

}  // namespace tessera::train
