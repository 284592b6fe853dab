#include "tessera/train/serialize.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

namespace tessera {

namespace {

const char* kKey = "tessera";

void write(const std::string& path, const io::NamedTensors& tensors, nlohmann::json meta) {
  io::save_safetensors(path, tensors, {{kKey, meta.dump()}});
}

// The file's tensors and its tessera metadata; the format must be `format` (a file without
// tessera metadata passes when plain_ok).
io::NamedTensors read(const std::string& path, const std::string& format, nlohmann::json& meta, bool plain_ok = false) {
  std::map<std::string, std::string> md;
  io::NamedTensors tensors = io::load_safetensors(path, &md);
  if (!md.count(kKey)) {
    TS_CHECK_T(IOError, plain_ok, path, ": a safetensors file without tessera metadata, not what tessera::save "
               "writes for this kind of object (", format, ")");
    meta = nlohmann::json::object();
    return tensors;
  }
  try {
    meta = nlohmann::json::parse(md[kKey]);
  } catch (const nlohmann::json::exception& e) {
    throw IOError(detail::str(path, ": corrupt tessera metadata (", e.what(), ")"));
  }
  std::string got = meta.is_object() && meta.contains("format") && meta["format"].is_string()
                        ? meta["format"].get<std::string>()
                        : std::string("(none)");
  TS_CHECK_T(IOError, got == format, path, ": holds '", got, "', not '", format,
             "' (tessera::load takes the kind of object tessera::save wrote to the file)");
  return tensors;
}

// Tensors saved under their positions "0", "1", ... in that order (the file sorts names as text).
std::vector<Tensor> by_position(io::NamedTensors tensors, const std::string& path) {
  std::vector<std::pair<int64_t, Tensor>> items;
  for (auto& [k, t] : tensors) {
    TS_CHECK_T(IOError, !k.empty() && k.size() < 18 && std::all_of(k.begin(), k.end(), ::isdigit), path,
               ": entry '", k, "' is not a position");
    items.emplace_back(std::stoll(k), t);
  }
  std::sort(items.begin(), items.end(), [](auto& a, auto& b) { return a.first < b.first; });
  std::vector<Tensor> out;
  for (size_t i = 0; i < items.size(); ++i) {
    TS_CHECK_T(IOError, items[i].first == int64_t(i), path, ": tensor ", i, " is missing");
    out.push_back(items[i].second);
  }
  return out;
}

}  // namespace

void save(const nn::Module& module, const std::string& path) {
  io::NamedTensors tensors;
  for (auto& [k, t] : module.state_dict()) tensors.emplace_back(k, t);
  write(path, tensors, {{"format", "tessera-module-1"}});
}

void load(nn::Module& module, const std::string& path) {
  nlohmann::json meta;
  io::NamedTensors tensors = read(path, "tessera-module-1", meta, /*plain_ok=*/true);
  nn::StateDict sd(tensors.begin(), tensors.end());
  module.load_state_dict(sd, true);
}

void save(const Tensor& tensor, const std::string& path) {
  write(path, {{"0", tensor}}, {{"format", "tessera-tensor-1"}});
}

void load(Tensor& tensor, const std::string& path) {
  nlohmann::json meta;
  std::vector<Tensor> ts = by_position(read(path, "tessera-tensor-1", meta), path);
  TS_CHECK_T(IOError, ts.size() == 1, path, ": holds ", ts.size(), " tensors, not one");
  tensor = ts[0];
}

void save(const std::vector<Tensor>& tensors, const std::string& path) {
  io::NamedTensors named;
  for (size_t i = 0; i < tensors.size(); ++i) named.emplace_back(std::to_string(i), tensors[i]);
  write(path, named, {{"format", "tessera-tensors-1"}});
}

void load(std::vector<Tensor>& tensors, const std::string& path) {
  nlohmann::json meta;
  tensors = by_position(read(path, "tessera-tensors-1", meta), path);
}

void save(const optim::Optimizer& optimizer, const std::string& path) {
  io::NamedTensors tensors;
  std::string state = train::internal::optimizer_to_entries(optimizer, tensors);
  write(path, tensors, {{"format", "tessera-optimizer-1"}, {"optimizer", nlohmann::json::parse(state)}});
}

void load(optim::Optimizer& optimizer, const std::string& path) {
  nlohmann::json meta;
  io::NamedTensors tensors = read(path, "tessera-optimizer-1", meta);
  TS_CHECK_T(IOError, meta.contains("optimizer"), path, ": no optimizer metadata");
  train::internal::optimizer_from_entries(optimizer, meta["optimizer"].dump(), tensors, path);
}

namespace train::internal {

std::string optimizer_to_entries(const optim::Optimizer& optimizer, io::NamedTensors& tensors) {
  optim::OptimizerState s = optimizer.state_dict();
  for (size_t i = 0; i < s.state.size(); ++i)
    for (auto& [k, t] : s.state[i]) tensors.emplace_back("optimizer." + std::to_string(i) + "." + k, t);
  nlohmann::json meta = {{"name", optimizer.name()}, {"groups", s.groups}, {"steps", s.steps}};
  return meta.dump();
}

void optimizer_from_entries(optim::Optimizer& optimizer, const std::string& meta_json, const io::NamedTensors& tensors,
                            const std::string& path) {
  // A file from outside may hold anything: wrong JSON types or malformed entries are an IOError
  // naming the file, never a JSON or standard-library exception.
  try {
    nlohmann::json o = nlohmann::json::parse(meta_json);
    TS_CHECK_VALUE(o["name"].get<std::string>() == optimizer.name(), path, ": the saved optimizer is ",
                   o["name"].get<std::string>(), " but this one is ", optimizer.name());
    optim::OptimizerState s;
    s.groups = o["groups"].get<std::vector<std::map<std::string, double>>>();
    TS_CHECK_T(IOError, o.at("steps").is_array(), path, ": the optimizer's step counts are not a list");
    for (const auto& v : o.at("steps")) {  // (get<> would cast a float such as 6.7e27: undefined)
      TS_CHECK_T(IOError, v.is_number_integer(), path, ": the optimizer's step counts are not integers");
      s.steps.push_back(v.get<int64_t>());
    }
    s.state.resize(s.steps.size());
    for (auto& [k, t] : tensors) {
      if (k.rfind("optimizer.", 0) != 0) continue;
      std::string rest = k.substr(10);
      size_t dot = rest.find('.');
      TS_CHECK_T(IOError, dot != std::string::npos, path, ": malformed optimizer entry '", k, "'");
      size_t i = std::stoul(rest.substr(0, dot));
      TS_CHECK_T(IOError, i < s.state.size(), path, ": optimizer state for parameter ", i, " of ", s.state.size());
      s.state[i][rest.substr(dot + 1)] = t;
    }
    optimizer.load_state_dict(s);
  } catch (const Error&) {
    throw;
  } catch (const nlohmann::json::exception& e) {
    throw IOError(tessera::detail::str(path, ": corrupt optimizer metadata (", e.what(), ")"));
  } catch (const std::logic_error& e) {  // std::stoul on a malformed entry
    throw IOError(tessera::detail::str(path, ": corrupt optimizer entry (", e.what(), ")"));
  }
}

}  // namespace train::internal

}  // namespace tessera
