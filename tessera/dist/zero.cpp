#include "tessera/dist/zero.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "tessera/io/safetensors.h"
#include "tessera/ops/factory.h"

namespace tessera::dist {

namespace {

// Bytes from root to every rank: the length, then the bytes (as uint8 tensors).
std::string broadcast_bytes(ProcessGroup& pg, std::string bytes, int root) {
  Tensor n = from_vector(std::vector<int64_t>{int64_t(bytes.size())});
  pg.broadcast(n, root);
  Tensor b = empty({n.item<int64_t>()}, {DType::UInt8});
  if (pg.rank() == root && !bytes.empty()) std::memcpy(b.data_ptr(), bytes.data(), bytes.size());
  pg.broadcast(b, root);
  return std::string(static_cast<const char*>(b.data_ptr()), size_t(b.numel()));
}

}  // namespace

ZeroRedundancyOptimizer::ZeroRedundancyOptimizer(std::vector<Tensor> params, const Factory& make, ProcessGroup* pg)
    : params_(std::move(params)), pg_(pg ? pg : &group()) {
  TS_CHECK_VALUE(!params_.empty(), "ZeroRedundancyOptimizer: no parameters");
  // Largest first, each to the rank holding the fewest elements so far (the same on every rank).
  std::vector<size_t> order(params_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return params_[a].numel() > params_[b].numel(); });
  std::vector<int64_t> load(size_t(pg_->size()), 0);
  owner_.assign(params_.size(), 0);
  for (size_t i : order) {
    int r = int(std::min_element(load.begin(), load.end()) - load.begin());
    owner_[i] = r;
    load[size_t(r)] += params_[i].numel();
  }
  std::vector<Tensor> own;
  for (size_t i = 0; i < params_.size(); ++i)
    if (owner_[i] == pg_->rank()) {
      mine_.push_back(i);
      own.push_back(params_[i]);
    }
  // (A rank that owns nothing, with more ranks than parameters, has no local optimizer.)
  if (!own.empty()) {
    local_ = make(own);
    TS_CHECK_VALUE(local_ != nullptr, "ZeroRedundancyOptimizer: the factory returned no optimizer");
  }
}

void ZeroRedundancyOptimizer::step() {
  if (!mine_.empty()) local_->step();
  for (size_t i = 0; i < params_.size(); ++i) broadcast_in_place(*pg_, params_[i], owner_[i]);
  consolidated_.reset();
}

void ZeroRedundancyOptimizer::zero_grad(bool set_to_none) {
  for (Tensor& p : params_) {
    if (!p.grad().defined()) continue;
    if (set_to_none) p.set_grad(Tensor());
    else p.grad().zero_();
  }
}

void ZeroRedundancyOptimizer::consolidate_state_dict() {
  optim::OptimizerState mine = mine_.empty() ? optim::OptimizerState{} : local_->state_dict();
  optim::OptimizerState full;
  full.state.resize(params_.size());
  full.steps.assign(params_.size(), 0);
  for (int r = 0; r < pg_->size(); ++r) {
    std::string blob;
    if (r == pg_->rank()) {  // this rank's shard as safetensors bytes: "<global index>.<name>", steps in the metadata
      io::NamedTensors tensors;
      nlohmann::json steps = nlohmann::json::object();
      for (size_t k = 0; k < mine_.size(); ++k) {
        for (auto& [name, t] : mine.state[k]) tensors.emplace_back(std::to_string(mine_[k]) + "." + name, t.cpu());
        steps[std::to_string(mine_[k])] = mine.steps[k];
      }
      nlohmann::json meta = {{"steps", steps}, {"groups", mine.groups}};
      blob = io::safetensors_bytes(tensors, {{"zero", meta.dump()}});
    }
    blob = broadcast_bytes(*pg_, blob, r);
    std::map<std::string, std::string> md;
    io::NamedTensors tensors = io::load_safetensors_bytes(blob, "ZeroRedundancyOptimizer shard", &md);
    nlohmann::json meta = nlohmann::json::parse(md.at("zero"));
    for (auto& [key, t] : tensors) {
      size_t dot = key.find('.');
      full.state[std::stoul(key.substr(0, dot))][key.substr(dot + 1)] = t;
    }
    for (auto& [idx, step] : meta["steps"].items()) full.steps[std::stoul(idx)] = step.get<int64_t>();
    if (full.groups.empty() && !meta["groups"].empty())
      full.groups = meta["groups"].get<std::vector<std::map<std::string, double>>>();
  }
  consolidated_ = std::move(full);
}

optim::OptimizerState ZeroRedundancyOptimizer::state_dict() const {
  TS_CHECK_VALUE(consolidated_.has_value(), "ZeroRedundancyOptimizer.state_dict: call consolidate_state_dict() "
                 "first (on every rank), after the last step");
  return *consolidated_;
}

void ZeroRedundancyOptimizer::load_state_dict(const optim::OptimizerState& s) {
  TS_CHECK_VALUE(s.state.size() == params_.size() && s.steps.size() == params_.size() && s.groups.size() == 1,
                 "ZeroRedundancyOptimizer.load_state_dict: a state of ", s.state.size(), " parameters in ",
                 s.groups.size(), " groups for ", params_.size(), " parameters in one group");
  optim::OptimizerState mine;
  mine.groups = s.groups;
  for (size_t i : mine_) {
    mine.state.push_back(s.state[i]);
    mine.steps.push_back(s.steps[i]);
  }
  if (local_) local_->load_state_dict(mine);
  consolidated_.reset();
}

}  // namespace tessera::dist
