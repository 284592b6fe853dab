#pragma once
// LibTorch's torch::save / torch::load, spelled tessera::save / tessera::load: modules (their
// state dict), tensors, lists of tensors and optimizers, each as one safetensors file written
// atomically. A file says what it holds; loading it as something else is an IOError naming both.
//
//   tessera::save(model, "model.safetensors");     // or a std::shared_ptr or holder of a module
//   tessera::load(model, "model.safetensors");     // strict: every key, the right shapes
//   tessera::save(optimizer, "optimizer.safetensors");
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "tessera/io/safetensors.h"
#include "tessera/nn/holder.h"
#include "tessera/optim/optimizer.h"

namespace tessera {

void save(const nn::Module& module, const std::string& path);
// A tessera module file, or any safetensors state dict (from safetensors' own writers).
void load(nn::Module& module, const std::string& path);
void save(const Tensor& tensor, const std::string& path);
void load(Tensor& tensor, const std::string& path);  // tensor becomes the file's (on the CPU)
void save(const std::vector<Tensor>& tensors, const std::string& path);
void load(std::vector<Tensor>& tensors, const std::string& path);
void save(const optim::Optimizer& optimizer, const std::string& path);
// Into an optimizer of the same kind over the same parameters (as its state_dict).
void load(optim::Optimizer& optimizer, const std::string& path);

template <class M, class = std::enable_if_t<std::is_base_of_v<nn::Module, M>>>
void save(const std::shared_ptr<M>& module, const std::string& path) {
  save(static_cast<const nn::Module&>(*module), path);
}
template <class M, class = std::enable_if_t<std::is_base_of_v<nn::Module, M>>>
void load(const std::shared_ptr<M>& module, const std::string& path) {
  load(static_cast<nn::Module&>(*module), path);
}
// A module holder (tessera/nn/holder.h), as LibTorch's torch::save(model, path).
template <class M>
void save(const nn::ModuleHolder<M>& module, const std::string& path) {
  save(static_cast<const nn::Module&>(*module), path);
}
template <class M>
void load(const nn::ModuleHolder<M>& module, const std::string& path) {
  load(static_cast<nn::Module&>(*module), path);
}

namespace train::internal {
// An optimizer's state as "optimizer.<i>.<name>" entries appended to tensors, and its metadata
// as JSON text (name, groups, steps); and back (path labels the errors). Shared by checkpoints.
std::string optimizer_to_entries(const optim::Optimizer& optimizer, io::NamedTensors& tensors);
void optimizer_from_entries(optim::Optimizer& optimizer, const std::string& meta_json, const io::NamedTensors& tensors,
                            const std::string& path);
}  // namespace train::internal

}  // namespace tessera
