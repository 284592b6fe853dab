#include "tessera/dist/ddp.h"

#include "tessera/autograd/autograd.h"

namespace tessera::dist {

DistributedDataParallel::DistributedDataParallel(std::shared_ptr<nn::Module> module, ProcessGroup* pg)
    : nn::Module("DistributedDataParallel"), module_(std::move(module)), pg_(pg ? pg : &group()) {
  TS_CHECK(module_ != nullptr, "DistributedDataParallel: null module");
  register_module("module", module_);  // state_dict keys "module.<name>", as in PyTorch
  broadcast_state(module_->state_dict(), *pg_);
  sync_ = average_gradients_in_backward(module_->parameters(), *pg_);
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

std::shared_ptr<GradSync> average_gradients_in_backward(const std::vector<Tensor>& params, ProcessGroup& pg) {
  ProcessGroup* g = &pg;
  auto sync = std::make_shared<GradSync>();
  for (const Tensor& p : params)
    if (p.requires_grad()) {
      // The hook sees the incoming gradient (it runs before accumulation); the parameter's
      // .grad holds what earlier backward passes accumulated under no_sync. The hook averages
      // their sum and clears .grad, so that .grad becomes exactly that average on every rank.
      std::weak_ptr<TensorImpl> weak = p.impl_ptr();
      p.register_hook([g, sync, weak](const Tensor& grad) -> Tensor {
        if (!sync->enabled) return grad;
        Tensor acc, param;
        if (auto impl = weak.lock()) {
          param = Tensor(impl);
          acc = param.grad();
        }
        Tensor total = acc.defined() ? (acc + grad).contiguous() : grad.contiguous().clone();
        g->all_reduce(total, ReduceOp::Avg);
        if (acc.defined()) param.set_grad(Tensor());
        return total;
      });
    }
  return sync;
}

}  // namespace tessera::dist
