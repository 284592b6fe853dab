#include "tessera/backend/cpu/dnnl_util.h"

#include <omp.h>

#include <algorithm>

#include "tessera/backend/backend.h"
#include "tessera/backend/cpu/thread_pool.h"

namespace tessera::cpu {

dnnl::engine& dnnl_engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

bool dnnl_avx512() {
  static const bool avx512 = [] {
    auto isa = unsigned(dnnl::get_effective_cpu_isa()), core = unsigned(dnnl::cpu_isa::avx512_core);
    return (isa & core) == core;
  }();
  return avx512;
}

dnnl::memory::data_type dnnl_type(DType t) {
  using dt = dnnl::memory::data_type;
  if (t == DType::Float32) return dt::f32;
  if (t == DType::BFloat16 && dnnl_avx512()) return dt::bf16;
  return dt::undef;
}

bool widen_bf16(DType dt) { return dt == DType::BFloat16 && dnnl_type(dt) == dnnl::memory::data_type::undef; }

const dnnl::primitive_attr& dnnl_attr() {
  static const dnnl::primitive_attr attr = [] {
    dnnl::primitive_attr a;
    a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    return a;
  }();
  return attr;
}

std::string dnnl_key(const dnnl::memory::desc& d) {
  const dnnl_memory_desc_t& m = d.data;
  if (m.format_kind != dnnl_blocked)  // (any, Winograd, packed RNN weights: rare, the whole struct)
    return std::string(reinterpret_cast<const char*>(&m), sizeof(m));
  // A blocked layout by the fields that tell two apart (what dnnl_memory_desc_equal compares),
  // used dims only: the struct is about 700 bytes, mostly unused slots, and keys are made on
  // every eager convolution and reorder.
  const int n = m.ndims, nb = m.format_desc.blocking.inner_nblks;
  std::string k;
  k.reserve(size_t(16 + 8 * (4 * n + 2 * nb)) + sizeof(m.extra));
  auto put = [&](const void* p, size_t bytes) { k.append(static_cast<const char*>(p), bytes); };
  put(&m.ndims, sizeof(int));
  put(&m.data_type, sizeof(m.data_type));
  put(&m.offset0, sizeof(m.offset0));
  put(m.dims, sizeof(dnnl_dim_t) * size_t(n));
  put(m.padded_dims, sizeof(dnnl_dim_t) * size_t(n));
  put(m.padded_offsets, sizeof(dnnl_dim_t) * size_t(n));
  put(m.format_desc.blocking.strides, sizeof(dnnl_dim_t) * size_t(n));
  put(&nb, sizeof(int));
  put(m.format_desc.blocking.inner_blks, sizeof(dnnl_dim_t) * size_t(nb));
  put(m.format_desc.blocking.inner_idxs, sizeof(dnnl_dim_t) * size_t(nb));
  put(&m.extra.flags, sizeof(m.extra.flags));
  put(&m.extra.compensation_mask, sizeof(m.extra.compensation_mask));
  put(&m.extra.scale_adjust, sizeof(m.extra.scale_adjust));
  put(&m.extra.asymm_compensation_mask, sizeof(m.extra.asymm_compensation_mask));
  return k;
}

dnnl::stream& dnnl_stream() {
  thread_local dnnl::stream s(dnnl_engine());
  return s;
}

DnnlSerial::DnnlSerial() : saved_(omp_get_max_threads()) {
  if (saved_ != 1) omp_set_num_threads(1);
}
DnnlSerial::~DnnlSerial() {
  if (saved_ != 1) omp_set_num_threads(saved_);
}

bool winograd_suits(int64_t n, int64_t C, int64_t O, int64_t OH, int64_t OW, int64_t KH, int64_t KW,
                    const dnnl::memory::dims& strides, const dnnl::memory::dims& dilates, int64_t groups) {
  const double positions = double(n) * double(OH) * double(OW);
  return cpu_winograd_enabled() && cpu_winograd_available() && groups == 1 && KH == 3 && KW == 3 &&
         strides == dnnl::memory::dims{1, 1} && dilates == dnnl::memory::dims{0, 0} && std::min(C, O) >= 32 &&
         positions >= double(std::max(C, O)) &&
         positions * double(C) * double(O) * 9 >= 4e6;
}

}  // namespace tessera::cpu

namespace tessera {
bool cpu_winograd_available() {
  // Asked of oneDNN once: a forward Winograd primitive for a layer its kernels take.
  static const bool available = [] {
    using dnnl::memory;
    memory::desc src({1, 32, 16, 16}, memory::data_type::f32, memory::format_tag::any),
        wei({32, 32, 3, 3}, memory::data_type::f32, memory::format_tag::any);
    try {
      dnnl::convolution_forward::primitive_desc pd(
          dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_winograd, src,
                                          wei, src, {1, 1}, {1, 1}, {1, 1}),
          cpu::dnnl_engine());
      return true;
    } catch (const dnnl::error&) {
      return false;
    }
  }();
  return available;
}
}  // namespace tessera

namespace tessera::cpu {

namespace {
// Below this many operations a problem runs as one piece on the calling thread.
constexpr double kSerialFlops = 4e6, kMinPieceFlops = 1e6;
constexpr int64_t kPiecesPerThread = 2;
}  // namespace

int64_t dnnl_pieces(double flops, int64_t items) {
  int64_t nt = pool_threads();
  if (flops < kSerialFlops || nt <= 1 || items <= 1 || in_parallel_region()) return 1;
  int64_t by_work = std::max<int64_t>(1, int64_t(flops / kMinPieceFlops));
  return std::max<int64_t>(1, std::min({items, nt * kPiecesPerThread, by_work}));
}

Storage dnnl_scratch(size_t bytes) { return backend_for(Device::cpu()).allocate(bytes, Device::cpu()); }

namespace {
struct ReorderPrim {
  dnnl::reorder prim;
  dnnl::memory::desc scratchpad;
};

std::shared_ptr<ReorderPrim> reorder_prim(const dnnl::memory::desc& src, const dnnl::memory::desc& dst) {
  static PrimitiveCache<ReorderPrim> cache;
  return cache.get(dnnl_key(src) + dnnl_key(dst), [&] {
    DnnlSerial serial;
    auto& eng = dnnl_engine();
    dnnl::reorder::primitive_desc pd(eng, src, eng, dst, dnnl_attr());
    return ReorderPrim{dnnl::reorder(pd), pd.scratchpad_desc()};
  });
}

// Executes prim with `args` plus a scratchpad of its own (when it needs one).
void execute(const dnnl::primitive& prim, const dnnl::memory::desc& scratchpad,
             std::unordered_map<int, dnnl::memory>& args) {
  auto& eng = dnnl_engine();
  Storage pad;
  if (size_t n = scratchpad.get_size()) {
    pad = dnnl_scratch(n);
    args.emplace(DNNL_ARG_SCRATCHPAD, dnnl::memory(scratchpad, eng, pad->data()));
  }
  dnnl::stream& s = dnnl_stream();
  prim.execute(s, args);
  s.wait();
}
}  // namespace

void dnnl_reorder(const dnnl::memory::desc& src, const void* sp, const dnnl::memory::desc& dst, void* dp) {
  DnnlSerial serial;
  auto r = reorder_prim(src, dst);
  auto& eng = dnnl_engine();
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_FROM, dnnl::memory(src, eng, const_cast<void*>(sp))},
                                             {DNNL_ARG_TO, dnnl::memory(dst, eng, dp)}};
  execute(r->prim, r->scratchpad, args);
}

void dnnl_run(const dnnl::primitive& prim, const dnnl::memory::desc& scratchpad, const std::vector<DnnlArg>& args) {
  DnnlSerial serial;
  auto& eng = dnnl_engine();
  std::vector<Storage> scratch;  // the reordered copies live in the cached allocator
  std::unordered_map<int, dnnl::memory> margs;
  std::vector<const DnnlArg*> outputs;
  std::vector<void*> output_bufs;
  for (const DnnlArg& a : args) {
    if (a.user == a.want) {
      margs.emplace(a.id, dnnl::memory(a.want, eng, a.ptr));
      continue;
    }
    scratch.push_back(dnnl_scratch(a.want.get_size()));
    void* buf = scratch.back()->data();
    if (a.output) {
      outputs.push_back(&a);
      output_bufs.push_back(buf);
    } else {
      dnnl_reorder(a.user, a.ptr, a.want, buf);
    }
    margs.emplace(a.id, dnnl::memory(a.want, eng, buf));
  }
  execute(prim, scratchpad, margs);
  for (size_t i = 0; i < outputs.size(); ++i)
    dnnl_reorder(outputs[i]->want, output_bufs[i], outputs[i]->user, outputs[i]->ptr);
}

}  // namespace tessera::cpu
