// The gloo process group (Debian's libgloo): CPU collectives over TCP between processes that
// found each other through a rendezvous store (store.h).
#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/store.h>
#include <gloo/transport/tcp/device.h>

#include "tessera/dist/gloo_group.h"
#include "tessera/ops/ops.h"

namespace tessera::dist {

namespace {

// gloo's view of a tessera store.
class GlooStore : public gloo::rendezvous::Store {
 public:
  explicit GlooStore(dist::Store& s) : s_(s) {}
  void set(const std::string& key, const std::vector<char>& data) override { s_.set(key, data); }
  std::vector<char> get(const std::string& key) override { return s_.get(key); }
  void wait(const std::vector<std::string>& keys) override { s_.wait(keys); }
  void wait(const std::vector<std::string>& keys, const std::chrono::milliseconds&) override { s_.wait(keys); }

 private:
  dist::Store& s_;
};

void check_tensor(const Tensor& t, const char* op) {
  TS_CHECK_DEVICE(t.device().is_cpu(), "dist.", op, ": the gloo backend takes CPU tensors, got one on ", t.device());
  TS_CHECK_VALUE(t.is_contiguous(), "dist.", op, ": expected a contiguous tensor (call .contiguous())");
}

// Calls f with a value of the element type of dt (the types gloo reduces).
template <class F>
void with_type(DType dt, const char* op, const F& f) {
  switch (dt) {
    case DType::Float32: return f(float());
    case DType::Float64: return f(double());
    case DType::Int32: return f(int32_t());
    case DType::Int64: return f(int64_t());
    case DType::Int8: return f(int8_t());
    case DType::UInt8:
    case DType::Bool: return f(uint8_t());
    default: break;
  }
  throw DTypeError(detail::str("dist.", op, ": ", dt, " tensors are not supported by the gloo backend (use float32/64 "
                               "or integers)"));
}

// gloo's errors (a peer died, a timeout) as tessera errors naming the collective.
template <class F>
void run(const char* op, int rank, const F& f) {
  try {
    f();
  } catch (const gloo::Exception& e) {
    throw Error(detail::str("dist.", op, " (gloo, rank ", rank, "): ", e.what(),
                            " (another process of the job failed, or the timeout passed)"));
  }
}

}  // namespace

GlooGroup::GlooGroup(std::shared_ptr<Store> store, int rank, int size, std::chrono::milliseconds timeout,
                     const std::string& hostname)
    : store_(std::move(store)), rank_(rank), size_(size) {
  TS_CHECK_VALUE(size >= 1 && rank >= 0 && rank < size, "init_process_group: rank ", rank, " is not in a world of ",
                 size);
  gloo::transport::tcp::attr attr;
  attr.hostname = hostname;
  GlooStore gs(*store_);
  run("init_process_group", rank, [&] {
    device_ = gloo::transport::tcp::CreateDevice(attr);
    auto ctx = std::make_shared<gloo::rendezvous::Context>(rank, size);
    ctx->setTimeout(timeout);
    ctx->connectFullMesh(gs, device_);
    context_ = ctx;
  });
}

GlooGroup::~GlooGroup() = default;

void GlooGroup::all_reduce(Tensor& t, ReduceOp op) {
  check_tensor(t, "all_reduce");
  TS_CHECK_DTYPE(op != ReduceOp::Avg || t.is_floating_point(), "dist.all_reduce: Avg needs a floating-point tensor, "
                 "got ", t.dtype());
  TS_CHECK_DTYPE(t.dtype() != DType::Bool || op == ReduceOp::Max || op == ReduceOp::Min,
                 "dist.all_reduce: bool tensors reduce with Max or Min only");
  if (t.numel() == 0) return;
  with_type(t.dtype(), "all_reduce", [&](auto v) {
    using T = decltype(v);
    gloo::AllreduceOptions o(context_);
    o.setOutput(static_cast<T*>(t.data_ptr()), size_t(t.numel()));
    using Fn = void (*)(void*, const void*, const void*, size_t);
    Fn sum = &gloo::sum<T>, max = &gloo::max<T>, min = &gloo::min<T>;
    o.setReduceFunction(op == ReduceOp::Max ? max : op == ReduceOp::Min ? min : sum);
    o.setTag(next_tag());
    run("all_reduce", rank_, [&] { gloo::allreduce(o); });
  });
  if (op == ReduceOp::Avg) ops::binary_(BinaryOp::Div, t, scalar_tensor(double(size_), t.dtype()));
  t.bump_version();
}

void GlooGroup::broadcast(Tensor& t, int root) {
  check_tensor(t, "broadcast");
  TS_CHECK_INDEX(root >= 0 && root < size_, "dist.broadcast: root ", root, " is not a rank of a group of ", size_);
  if (t.numel() == 0) return;
  with_type(t.dtype(), "broadcast", [&](auto v) {
    using T = decltype(v);
    gloo::BroadcastOptions o(context_);
    o.setOutput(static_cast<T*>(t.data_ptr()), size_t(t.numel()));
    o.setRoot(root);
    o.setTag(next_tag());
    run("broadcast", rank_, [&] { gloo::broadcast(o); });
  });
  t.bump_version();
}

std::vector<Tensor> GlooGroup::all_gather(const Tensor& t) {
  check_tensor(t, "all_gather");
  Shape s = t.shape();
  s.insert(s.begin(), size_);
  Tensor out = empty(s, {t.dtype()});
  if (t.numel() > 0)
    with_type(t.dtype(), "all_gather", [&](auto v) {
      using T = decltype(v);
      gloo::AllgatherOptions o(context_);
      o.setInput(static_cast<T*>(const_cast<void*>(t.data_ptr())), size_t(t.numel()));
      o.setOutput(static_cast<T*>(out.data_ptr()), size_t(out.numel()));
      o.setTag(next_tag());
      run("all_gather", rank_, [&] { gloo::allgather(o); });
    });
  return ops::unbind(out, 0);
}

namespace {
// Point-to-point slots live apart from the collectives' (high bit set).
uint64_t p2p_slot(int tag) { return (uint64_t(1) << 62) | uint64_t(uint32_t(tag)); }
}  // namespace

void GlooGroup::send(const Tensor& t, int dst, int tag) {
  check_tensor(t, "send");
  TS_CHECK_INDEX(dst >= 0 && dst < size_ && dst != rank_, "dist.send: destination ", dst,
                 " is not another rank of a group of ", size_);
  run("send", rank_, [&] {
    auto buf = context_->createUnboundBuffer(const_cast<void*>(t.data_ptr()), size_t(t.numel()) * t.element_size());
    buf->send(dst, p2p_slot(tag));
    TS_CHECK(buf->waitSend(context_->getTimeout()), "dist.send (gloo, rank ", rank_, "): rank ", dst,
             " did not receive within the timeout");
  });
}

void GlooGroup::recv(Tensor& t, int src, int tag) {
  check_tensor(t, "recv");
  TS_CHECK_INDEX(src >= 0 && src < size_ && src != rank_, "dist.recv: source ", src,
                 " is not another rank of a group of ", size_);
  run("recv", rank_, [&] {
    auto buf = context_->createUnboundBuffer(t.data_ptr(), size_t(t.numel()) * t.element_size());
    buf->recv(src, p2p_slot(tag));
    TS_CHECK(buf->waitRecv(context_->getTimeout()), "dist.recv (gloo, rank ", rank_, "): nothing from rank ", src,
             " within the timeout");
  });
  t.bump_version();
}

void GlooGroup::barrier() {
  gloo::BarrierOptions o(context_);
  o.setTag(next_tag());
  run("barrier", rank_, [&] { gloo::barrier(o); });
}

}  // namespace tessera::dist
