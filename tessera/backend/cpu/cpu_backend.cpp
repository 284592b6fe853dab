#include "tessera/backend/cpu/cpu_backend.h"

#include <cstdlib>
#include <new>

#include "tessera/backend/cpu/loops.h"

namespace tessera {

Backend* make_cpu_backend() {
  static cpu::CpuBackend b;
  return &b;
}

void set_num_threads(int n) {
  TS_CHECK_VALUE(n >= 1, "set_num_threads: expected a positive thread count, got ", n);
  omp_set_num_threads(n);
}
int get_num_threads() { return omp_get_max_threads(); }

namespace cpu {

Storage CpuBackend::allocate(size_t nbytes) {
  // 64-byte alignment for vector loads; at least one byte so every tensor has an address.
  size_t n = (std::max<size_t>(nbytes, 1) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, n);
  if (!p)
    throw Error(detail::str("cpu: out of memory allocating ", nbytes, " bytes"));
  return std::make_shared<StorageImpl>(p, nbytes, Device::cpu(), [](void* q) { std::free(q); });
}

}  // namespace cpu
}  // namespace tessera
