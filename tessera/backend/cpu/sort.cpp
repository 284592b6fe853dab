// Sort and top-k along a dimension on the CPU. NaN sorts as the largest value, as in PyTorch.
#include <algorithm>
#include <vector>

#include "tessera/backend/cpu/cpu_backend.h"
#include "tessera/backend/cpu/loops.h"

namespace tessera::cpu {

namespace {
template <class M>
struct NanLast {
  bool operator()(const std::pair<M, int64_t>& a, const std::pair<M, int64_t>& b) const {
    bool an = a.first != a.first, bn = b.first != b.first;
    if (an || bn) return !an && bn;
    return a.first < b.first;
  }
};
template <class M>
struct NanFirstDesc {
  bool operator()(const std::pair<M, int64_t>& a, const std::pair<M, int64_t>& b) const {
    return NanLast<M>()(b, a);
  }
};

// Runs f(buffer of (value, index) for one line, writer) over every line along dim.
template <class T, class F>
void sort_lines(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t dim, int64_t out_len,
                const F& f) {
  using M = opmath_t<T>;
  int64_t len = in.size(dim);
  Tensor iv = in.select(dim, 0), vv = values.select(dim, 0), xv = indices.select(dim, 0);
  int64_t si = in.stride(dim) * int64_t(sizeof(T)), sv = values.stride(dim) * int64_t(sizeof(T)),
          sx = indices.stride(dim) * 8;
  StridedLoop<3> loop({&vv, &xv, &iv});
  loop.run([&](char** p, const int64_t* s, int64_t n) {
    std::vector<std::pair<M, int64_t>> buf(static_cast<size_t>(len));
    for (int64_t r = 0; r < n; ++r) {
      const char* src = p[2] + r * s[2];
      for (int64_t i = 0; i < len; ++i) buf[size_t(i)] = {M(*reinterpret_cast<const T*>(src + i * si)), i};
      f(buf);
      for (int64_t i = 0; i < out_len; ++i) {
        *reinterpret_cast<T*>(p[0] + r * s[0] + i * sv) = T(buf[size_t(i)].first);
        *reinterpret_cast<int64_t*>(p[1] + r * s[1] + i * sx) = buf[size_t(i)].second;
      }
    }
  }, std::max<int64_t>(1, 4096 / std::max<int64_t>(len, 1)));
}
}  // namespace

void CpuBackend::sort(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t dim, bool descending) {
  if (in.numel() == 0) return;
  dispatch_all(in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using M = opmath_t<T>;
    sort_lines<T>(values, indices, in, dim, in.size(dim), [&](std::vector<std::pair<M, int64_t>>& b) {
      if (descending) std::stable_sort(b.begin(), b.end(), NanFirstDesc<M>());
      else std::stable_sort(b.begin(), b.end(), NanLast<M>());
    });
  });
}

void CpuBackend::topk(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k, int64_t dim,
                      bool largest) {
  if (values.numel() == 0) return;
  dispatch_all(in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using M = opmath_t<T>;
    sort_lines<T>(values, indices, in, dim, k, [&](std::vector<std::pair<M, int64_t>>& b) {
      // Ties keep the lower index first, so results are deterministic.
      auto tie = [](auto cmp) {
        return [cmp](const std::pair<M, int64_t>& x, const std::pair<M, int64_t>& y) {
          if (cmp(x, y)) return true;
          if (cmp(y, x)) return false;
          return x.second < y.second;
        };
      };
      if (largest) std::partial_sort(b.begin(), b.begin() + k, b.end(), tie(NanFirstDesc<M>()));
      else std::partial_sort(b.begin(), b.begin() + k, b.end(), tie(NanLast<M>()));
    });
  });
}

}  // namespace tessera::cpu
