#include "tessera/dist/ddp.h"

#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "tessera/autograd/autograd.h"
#include "tessera/ops/factory.h"

namespace tessera::dist {

DistributedDataParallel::DistributedDataParallel(std::shared_ptr<nn::Module> module, ProcessGroup* pg,
                                                 double bucket_cap_mb, bool find_unused_parameters)
    : nn::Module("DistributedDataParallel"), module_(std::move(module)), pg_(pg ? pg : &group()) {
  TS_CHECK(module_ != nullptr, "DistributedDataParallel: null module");
  register_module("module", module_);  // state_dict keys "module.<name>", as in PyTorch
  broadcast_state(module_->state_dict(), *pg_);
  sync_ = average_gradients_in_backward(module_->parameters(), *pg_, bucket_cap_mb, find_unused_parameters);
}

Tensor DistributedDataParallel::forward(const Tensor& x) {
  Tensor y = module_->forward(x);
  if (sync_->prepare_for_backward && sync_->enabled && autograd::is_grad_enabled()) sync_->prepare_for_backward({y});
  return y;
}

void broadcast_state(const nn::StateDict& state, ProcessGroup& pg) {
  autograd::NoGradGuard ng;
  for (auto& [name, t] : state) {
    TS_CHECK_DEVICE(t.device().is_cpu(), "DistributedDataParallel: '", name, "' is on ", t.device(),
                    "; the process groups train CPU models");
    broadcast_in_place(pg, t, 0);
  }
}

namespace {

// The gradients of one synced backward, gathered into buckets that a communication thread
// averages in bucket order (the same order on every rank) while backward goes on.
class Reducer {
 public:
  Reducer(const std::vector<Tensor>& params, ProcessGroup& pg, double cap_mb, bool find_unused)
      : pg_(&pg), find_unused_(find_unused) {
    std::vector<Tensor> live;
    for (const Tensor& p : params)
      if (p.requires_grad()) {
        params_.push_back(p.impl_ptr());
        live.push_back(p);
      }
    size_t n = params_.size();
    bucket_of_.assign(n, 0);
    offset_of_.assign(n, 0);
    const int64_t cap = std::max<int64_t>(1, int64_t(cap_mb * 1024 * 1024));
    // Reverse order (backward's), a new bucket at the cap or where the dtype changes.
    for (size_t k = n; k-- > 0;) {
      const Tensor& p = live[k];
      int64_t bytes = p.numel() * int64_t(p.element_size());
      if (buckets_.empty() || buckets_.back().dtype != p.dtype() || buckets_.back().bytes + bytes > cap)
        buckets_.push_back(Bucket{0, 0, 0, p.dtype(), Tensor()});
      Bucket& b = buckets_.back();
      bucket_of_[k] = buckets_.size() - 1;
      offset_of_[k] = b.numel;
      ++b.members;
      b.numel += p.numel();
      b.bytes += bytes;
    }
    for (Bucket& b : buckets_) b.flat = zeros({b.numel}, {b.dtype});
    reset_round();
    worker_ = std::thread([this] { communicate(); });
  }
  ~Reducer() {
    {
      std::lock_guard<std::mutex> g(m_);
      stop_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }

  // The hook of parameter k (grad: its incoming gradient).
  Tensor on_grad(size_t k, const Tensor& grad) {
    auto impl = params_[k].lock();
    TS_CHECK(impl != nullptr, "DistributedDataParallel: a parameter was freed during backward");
    Tensor param(impl);
    Tensor acc = param.grad();
    Bucket& b = buckets_[bucket_of_[k]];
    {
      std::unique_lock<std::mutex> lk(m_);
      TS_CHECK(!arrived_[k], "DistributedDataParallel: a parameter got a second gradient before every parameter got "
               "one in this backward: some parameters get no gradient (unused parameters); pass "
               "find_unused_parameters = true (or bucket_cap_mb = 0)");
      arrived_[k] = true;
    }
    // This parameter's total (accumulated under no_sync + incoming) into its bucket slice.
    Tensor slice = b.flat.narrow(0, offset_of_[k], param.numel());
    {
      autograd::NoGradGuard ng;
      slice.copy_((acc.defined() ? acc + grad : grad).reshape({param.numel()}));
    }
    std::unique_lock<std::mutex> lk(m_);
    used_[k] = true;
    if (!filled(k)) return grad;  // local for now; the last hook writes the average
    // The last gradient of this backward: wait for every bucket, then every parameter's .grad is
    // its average (this one's returned, after clearing what it accumulated).
    cv_.wait(lk, [&] { return done_ == buckets_.size() || error_; });
    std::exception_ptr err = error_;
    std::vector<bool> used = used_;
    reset_round();
    lk.unlock();
    if (err) std::rethrow_exception(err);
    // With unused parameters: which ones some rank used (the others keep their .grad).
    std::vector<bool> anyone(params_.size(), true);
    if (find_unused_) {
      Tensor u = zeros({int64_t(params_.size())}, {DType::Int64});
      for (size_t j = 0; j < used.size(); ++j) static_cast<int64_t*>(u.data_ptr())[j] = used[j];
      pg_->all_reduce(u, ReduceOp::Max);
      for (size_t j = 0; j < used.size(); ++j) anyone[j] = static_cast<const int64_t*>(u.data_ptr())[j] != 0;
    }
    Tensor mine;
    for (size_t j = 0; j < params_.size(); ++j) {
      auto pj = params_[j].lock();
      if (!pj || (!anyone[j] && j != k)) continue;
      Tensor p(pj);
      const Bucket& bj = buckets_[bucket_of_[j]];
      Tensor avg = bj.flat.narrow(0, offset_of_[j], p.numel()).reshape(p.shape()).clone();
      if (j == k) {
        mine = avg;
        if (acc.defined()) p.set_grad(Tensor());
      } else {
        p.set_grad(avg);
      }
    }
    return mine;
  }

 private:
  struct Bucket {
    int64_t members = 0, numel = 0, bytes = 0;  // parameters, elements and bytes in it
    DType dtype;
    Tensor flat;
    int64_t filled = 0;
  };

  // Counts parameter k as arrived in its bucket (m_ held); true when it was the last of all.
  bool filled(size_t k) {
    Bucket& b = buckets_[bucket_of_[k]];
    if (++b.filled == b.members) {
      ready_[bucket_of_[k]] = true;
      cv_.notify_all();
    }
    return ++count_ == params_.size();
  }

 public:
  // find_unused_parameters: after a forward, the parameters its outputs do not reach count as
  // arrived now, with what they accumulated (or zero) in their bucket slice.
  void prepare_for_backward(const std::vector<Tensor>& outputs) {
    std::unordered_set<const autograd::Node*> seen;
    std::vector<std::shared_ptr<autograd::Node>> stack;
    for (const Tensor& y : outputs)
      if (y.defined() && y.grad_fn()) stack.push_back(y.grad_fn());
    while (!stack.empty()) {
      auto n = stack.back();
      stack.pop_back();
      if (!seen.insert(n.get()).second) continue;
      for (const auto& e : n->next)
        if (e.fn && !seen.count(e.fn.get())) stack.push_back(e.fn);
    }
    for (size_t k = 0; k < params_.size(); ++k) {
      auto impl = params_[k].lock();
      if (!impl) continue;
      Tensor p(impl);
      auto* meta = p.impl().autograd.get();
      auto acc_node = meta ? meta->grad_accumulator.lock() : nullptr;
      if (acc_node && seen.count(acc_node.get())) continue;  // reached: its hook will come
      Tensor acc = p.grad();
      Tensor slice = buckets_[bucket_of_[k]].flat.narrow(0, offset_of_[k], p.numel());
      {
        autograd::NoGradGuard ng;
        if (acc.defined()) slice.copy_(acc.reshape({p.numel()}));
        else slice.zero_();
      }
      std::lock_guard<std::mutex> g(m_);
      if (arrived_[k]) continue;
      arrived_[k] = true;
      filled(k);  // (the last one is a gradient's hook: some parameter is used)
    }
  }

 private:
  void reset_round() {  // (m_ held, or before the worker starts)
    arrived_.assign(params_.size(), false);
    used_.assign(params_.size(), false);
    ready_.assign(buckets_.size(), false);
    for (Bucket& b : buckets_) b.filled = 0;
    count_ = 0;
    next_ = 0;
    done_ = 0;
    error_ = nullptr;
  }

  // Averages buckets in order as they fill.
  void communicate() {
    std::unique_lock<std::mutex> lk(m_);
    for (;;) {
      cv_.wait(lk, [&] { return stop_ || (next_ < buckets_.size() && ready_[next_]); });
      if (stop_) return;
      size_t i = next_++;
      lk.unlock();
      std::exception_ptr err;
      try {
        pg_->all_reduce(buckets_[i].flat, ReduceOp::Avg);
      } catch (...) {
        err = std::current_exception();
      }
      lk.lock();
      ++done_;
      if (err && !error_) error_ = err;
      cv_.notify_all();
    }
  }

  ProcessGroup* pg_;
  std::vector<std::weak_ptr<TensorImpl>> params_;  // (weak: the parameters' hooks hold the reducer)
  std::vector<size_t> bucket_of_;
  std::vector<int64_t> offset_of_;
  std::vector<Bucket> buckets_;
  std::vector<bool> arrived_, ready_, used_;
  bool find_unused_;
  size_t count_ = 0, next_ = 0, done_ = 0;
  std::exception_ptr error_;
  bool stop_ = false;
  std::mutex m_;
  std::condition_variable cv_;
  std::thread worker_;
};

}  // namespace

std::shared_ptr<GradSync> average_gradients_in_backward(const std::vector<Tensor>& params, ProcessGroup& pg,
                                                        double bucket_cap_mb, bool find_unused_parameters) {
  TS_CHECK_VALUE(bucket_cap_mb >= 0, "DistributedDataParallel: bucket_cap_mb must be >= 0, got ", bucket_cap_mb);
  TS_CHECK_VALUE(!find_unused_parameters || bucket_cap_mb > 0, "DistributedDataParallel: find_unused_parameters "
                 "needs buckets (bucket_cap_mb > 0); without them unused parameters need nothing");
  ProcessGroup* g = &pg;
  auto sync = std::make_shared<GradSync>();
  if (bucket_cap_mb > 0) {
    auto reducer = std::make_shared<Reducer>(params, pg, bucket_cap_mb, find_unused_parameters);
    if (find_unused_parameters) {
      std::weak_ptr<Reducer> weak = reducer;  // (the switch must not keep the reducer alive)
      sync->prepare_for_backward = [weak](const std::vector<Tensor>& outputs) {
        if (auto r = weak.lock()) r->prepare_for_backward(outputs);
      };
    }
    size_t k = 0;
    for (const Tensor& p : params)
      if (p.requires_grad()) {
        size_t index = k++;
        // (the hooks hold the reducer, which ends its thread when the last parameter goes)
        p.register_hook([sync, index, keep = reducer](const Tensor& grad) -> Tensor {
          if (!sync->enabled) return grad;
          return keep->on_grad(index, grad);
        });
      }
    return sync;
  }
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
