#include "tessera/train/checkpoint.h"

#include <nlohmann/json.hpp>

#include "tessera/core/generator.h"
#include "tessera/io/safetensors.h"

namespace tessera::train {

void save_checkpoint(const std::string& path, const nn::Module& model, const optim::Optimizer* optimizer,
                     const optim::LRScheduler* scheduler, const CheckpointInfo& info) {
  io::NamedTensors tensors;
  for (auto& [k, t] : model.state_dict()) tensors.emplace_back("model." + k, t);
  nlohmann::json meta = {{"format", "tessera-checkpoint-1"}, {"epoch", info.epoch}, {"step", info.step},
                         {"rng_seed", default_generator().seed()}, {"rng_offset", default_generator().offset()},
                         {"extra", info.extra}};
  if (optimizer) {
    optim::OptimizerState s = optimizer->state_dict();
    meta["optimizer"] = {{"name", optimizer->name()}, {"groups", s.groups}, {"steps", s.steps}};
    for (size_t i = 0; i < s.state.size(); ++i)
      for (auto& [k, t] : s.state[i]) tensors.emplace_back("optimizer." + std::to_string(i) + "." + k, t);
  }
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
    std::map<size_t, std::map<std::string, Tensor>> opt_state;
    for (auto& [k, t] : tensors) {
      if (k.rfind("model.", 0) == 0) {
        sd.emplace_back(k.substr(6), t);
      } else if (k.rfind("optimizer.", 0) == 0) {
        std::string rest = k.substr(10);
        size_t dot = rest.find('.');
        TS_CHECK_T(IOError, dot != std::string::npos, path, ": malformed optimizer entry '", k, "'");
        opt_state[std::stoul(rest.substr(0, dot))][rest.substr(dot + 1)] = t;
      }
    }
    model.load_state_dict(sd, true);
    if (optimizer) {
      TS_CHECK_T(IOError, meta.contains("optimizer"), path, ": the checkpoint holds no optimizer state");
      auto& o = meta["optimizer"];
      TS_CHECK_VALUE(o["name"].get<std::string>() == optimizer->name(), path, ": checkpoint optimizer is ",
                     o["name"].get<std::string>(), " but the run uses ", optimizer->name());
      optim::OptimizerState s;
      s.groups = o["groups"].get<std::vector<std::map<std::string, double>>>();
      s.steps = o["steps"].get<std::vector<int64_t>>();
      s.state.resize(s.steps.size());
      for (auto& [i, m] : opt_state) {
        TS_CHECK_T(IOError, i < s.state.size(), path, ": optimizer state for parameter ", i, " of ", s.state.size());
        s.state[i] = m;
      }
      optimizer->load_state_dict(s);
    }
    if (scheduler && meta.contains("scheduler_epoch")) scheduler->set_last_epoch(meta["scheduler_epoch"].get<int64_t>());
    default_generator().set_state(meta["rng_seed"].get<uint64_t>(), meta["rng_offset"].get<uint64_t>());
    CheckpointInfo info;
    info.epoch = meta["epoch"].get<int64_t>();
    info.step = meta["step"].get<int64_t>();
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
