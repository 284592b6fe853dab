#pragma once
// The gloo process group (built when libgloo-dev is installed): see process_group.h.
#include <chrono>
#include <memory>
#include <string>

#include "tessera/dist/process_group.h"
#include "tessera/dist/store.h"

namespace gloo {
class Context;
namespace transport {
class Device;
}
}  // namespace gloo

namespace tessera::dist {

class GlooGroup : public ProcessGroup {
 public:
  // Meets the other size - 1 processes through store; hostname: the address this process's
  // connections use (empty: the machine's name).
  GlooGroup(std::shared_ptr<Store> store, int rank, int size, std::chrono::milliseconds timeout,
            const std::string& hostname);
  ~GlooGroup() override;
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "gloo"; }
  void all_reduce(Tensor& t, ReduceOp op) override;
  void broadcast(Tensor& t, int root) override;
  std::vector<Tensor> all_gather(const Tensor& t) override;
  void barrier() override;
  void send(const Tensor& t, int dst, int tag) override;
  void recv(Tensor& t, int src, int tag) override;

 private:
  uint32_t next_tag() { return tag_++; }
  std::shared_ptr<Store> store_;
  std::shared_ptr<gloo::transport::Device> device_;
  std::shared_ptr<gloo::Context> context_;
  int rank_, size_;
  uint32_t tag_ = 0;
};

}  // namespace tessera::dist
