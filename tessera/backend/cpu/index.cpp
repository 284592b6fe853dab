// Gather, scatter and nonzero on the CPU. Indices are checked before any element moves.
#include <vector>

#include "tessera/backend/cpu/cpu_backend.h"
#include "tessera/backend/cpu/loops.h"

namespace tessera::cpu {

namespace {
void check_indices(const Tensor& index, int64_t size, const char* op, int64_t dim) {
  for_each<1>({&index}, [&](char** p, const int64_t* s, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      int64_t v = *reinterpret_cast<const int64_t*>(p[0] + i * s[0]);
      TS_CHECK_INDEX(v >= -size && v < size, op, ": index ", v, " is out of bounds for dimension ", dim,
                     " with size ", size);
    }
  }, int64_t(1) << 62);  // serial: a throw must not cross an OpenMP region
}

// `t` restricted to `shape` with the stride of `dim` set to 0: the pointer walks every
// coordinate but the indexed one.
Tensor strided_except(const Tensor& t, const Shape& shape, int64_t dim) {
  Shape st = t.strides();
  st[dim] = 0;
  return Tensor(t.storage(), shape, st, t.storage_offset(), t.dtype());
}
}  // namespace

void CpuBackend::gather(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index) {
  int64_t size = in.size(dim);
  check_indices(index, size, "gather", dim);
  Tensor src = strided_except(in, index.shape(), dim);
  int64_t sd = in.stride(dim) * int64_t(in.element_size());
  size_t es = in.element_size();
  for_each<3>({&out, &index, &src}, [&](char** p, const int64_t* s, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      int64_t k = *reinterpret_cast<const int64_t*>(p[1] + i * s[1]);
      if (k < 0) k += size;
      std::memcpy(p[0] + i * s[0], p[2] + i * s[2] + k * sd, es);
    }
  });
}

void CpuBackend::scatter(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, bool accumulate) {
  int64_t size = self.size(dim);
  check_indices(index, size, accumulate ? "scatter_add" : "scatter", dim);
  Tensor dst = strided_except(self, index.shape(), dim);
  int64_t sd = self.stride(dim) * int64_t(self.element_size());
  dispatch_all(self.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    // Serial: two indices may name one destination (accumulate relies on that).
    for_each<3>({&dst, &index, &src}, [&](char** p, const int64_t* s, int64_t n) {
      for (int64_t i = 0; i < n; ++i) {
        int64_t k = *reinterpret_cast<const int64_t*>(p[1] + i * s[1]);
        if (k < 0) k += size;
        T* d = reinterpret_cast<T*>(p[0] + i * s[0] + k * sd);
        T v = *reinterpret_cast<const T*>(p[2] + i * s[2]);
        if (accumulate) {
          if constexpr (std::is_same_v<T, bool>) *d = *d || v;
          else if constexpr (std::is_integral_v<T>) *d = T(std::make_unsigned_t<T>(*d) + std::make_unsigned_t<T>(v));
          else *d = T(opmath_t<T>(*d) + opmath_t<T>(v));
        } else {
          *d = v;
        }
      }
    }, int64_t(1) << 62);
  });
}

Tensor CpuBackend::nonzero(const Tensor& in) {
  int64_t nd = in.dim();
  std::vector<int64_t> coords;
  Shape idx(size_t(nd), 0);
  dispatch_all(in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const char* base = static_cast<const char*>(in.data_ptr());
    int64_t total = in.numel();
    for (int64_t lin = 0; lin < total; ++lin) {
      int64_t off = 0;
      for (int64_t d = 0; d < nd; ++d) off += idx[size_t(d)] * in.stride(d);
      T v = *reinterpret_cast<const T*>(base + off * int64_t(sizeof(T)));
      if (opmath_t<T>(v) != opmath_t<T>(0)) coords.insert(coords.end(), idx.begin(), idx.end());
      for (int64_t d = nd - 1; d >= 0; --d) {
        if (++idx[size_t(d)] < in.size(d)) break;
        idx[size_t(d)] = 0;
      }
    }
  });
  int64_t count = nd ? int64_t(coords.size()) / nd : 0;
  if (nd == 0) {  // a 0-d tensor: one row of zero columns when non-zero
    bool nz = false;
    dispatch_all(in.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      nz = opmath_t<T>(*static_cast<const T*>(in.data_ptr())) != opmath_t<T>(0);
    });
    count = nz ? 1 : 0;
  }
  Shape shape{count, nd};
  Storage st = allocate(size_t(count * nd) * sizeof(int64_t), in.device());
  if (!coords.empty()) std::memcpy(st->data(), coords.data(), coords.size() * sizeof(int64_t));
  return Tensor(st, shape, contiguous_strides(shape), 0, DType::Int64);
}

}  // namespace tessera::cpu
