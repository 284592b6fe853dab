// Sort and top-k along a dimension on the CPU, on the order-preserving keys of math/sort_key.h
// (NaN sorts as the largest value, as in PyTorch; descending order is the complemented key).
#include <algorithm>
#include <vector>

#include "tessera/backend/cpu/cpu_backend.h"
#include "tessera/backend/cpu/loops.h"
#include "tessera/backend/math/sort_key.h"

namespace tessera::cpu {

namespace {
// Runs f(buffer of (key, index) for one line) over every line along dim, then writes the first
// out_len entries: the values (read back from the input, so NaN payloads and -0 survive) and
// their indices.
template <class T, class F>
void sort_lines(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t dim, int64_t out_len,
                bool descending, const F& f) {
  using K = math::sort_key_t<T>;
  int64_t len = in.size(dim);
  Tensor iv = in.select(dim, 0), vv = values.select(dim, 0), xv = indices.select(dim, 0);
  int64_t si = in.stride(dim) * int64_t(sizeof(T)), sv = values.stride(dim) * int64_t(sizeof(T)),
          sx = indices.stride(dim) * 8;
  StridedLoop<3> loop({&vv, &xv, &iv});
  loop.run([&](char** p, const int64_t* s, int64_t n) {
    std::vector<std::pair<K, int64_t>> buf(static_cast<size_t>(len));
    for (int64_t r = 0; r < n; ++r) {
      const char* src = p[2] + r * s[2];
      for (int64_t i = 0; i < len; ++i)
        buf[size_t(i)] = {math::sort_key(*reinterpret_cast<const T*>(src + i * si), descending), i};
      f(buf);
      for (int64_t i = 0; i < out_len; ++i) {
        int64_t at = buf[size_t(i)].second;
        *reinterpret_cast<T*>(p[0] + r * s[0] + i * sv) = *reinterpret_cast<const T*>(src + at * si);
        *reinterpret_cast<int64_t*>(p[1] + r * s[1] + i * sx) = at;
      }
    }
  }, std::max<int64_t>(1, 4096 / std::max<int64_t>(len, 1)));
}
}  // namespace

void CpuBackend::sort(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t dim, bool descending) {
  if (in.numel() == 0) return;
  dispatch_all(in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    sort_lines<T>(values, indices, in, dim, in.size(dim), descending, [](auto& b) {
      std::stable_sort(b.begin(), b.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
    });
  });
}

void CpuBackend::topk(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k, int64_t dim,
                      bool largest) {
  if (values.numel() == 0) return;
  dispatch_all(in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    // (key, index) pairs are unique, so ties keep the lower index first: deterministic results.
    sort_lines<T>(values, indices, in, dim, k, largest, [k](auto& b) {
      std::partial_sort(b.begin(), b.begin() + k, b.end());
    });
  });
}

}  // namespace tessera::cpu
