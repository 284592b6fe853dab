#include "tessera/dist/ddp.h"

#include "tessera/autograd/autograd.h"

namespace tessera::dist {

DistributedDataParallel::DistributedDataParallel(std::shared_ptr<nn::Module> module, ProcessGroup* pg)
    : nn::Module("DistributedDataParallel"), module_(std::move(module)), pg_(pg ? pg : &group()) {
  TS_CHECK(module_ != nullptr, "DistributedDataParallel: null module");
  register_module("module", module_);  // state_dict keys "module.<name>", as in PyTorch
  broadcast_state(module_->state_dict(), *pg_);
  average_gradients_in_backward(module_->parameters(), *pg_);
}

void broadcast_state(const nn::StateDict& state, ProcessGroup& pg) {
  autograd::NoGradGuard ng;
  for (auto& [name, t] : state) {
    Tensor v = t;
    TS_CHECK_DEVICE(v.device().is_cpu(), "DistributedDataParallel: '", name, "' is on ", v.device(),
                    "; the MPI backend trains CPU models");
    if (v.is_contiguous()) {
      pg.broadcast(v, 0);
    } else {
      Tensor c = v.contiguous();
      pg.broadcast(c, 0);
      v.copy_(c);
    }
  }
}

void average_gradients_in_backward(const std::vector<Tensor>& params, ProcessGroup& pg) {
  ProcessGroup* g = &pg;
  for (const Tensor& p : params)
    if (p.requires_grad())
      p.register_hook([g](const Tensor& grad) {
        Tensor avg = grad.contiguous().clone();
        g->all_reduce(avg, ReduceOp::Avg);
        return avg;
      });
}

}  // namespace tessera::dist
