// Normalization kernels: per-channel moments (batch/group/layer norm statistics) and a fused
// row-wise layer norm. Two passes over each slice (mean, then centred squares) in double: exact
// enough for any float data, and the second pass reads from cache.
#include <cmath>

#include "tessera/backend/cpu/cpu_backend.h"
#include "tessera/backend/cpu/loops.h"

namespace tessera::cpu {

namespace {
template <class T>
double sum_run(const T* x, int64_t n) {
  double acc = 0;
#pragma omp simd reduction(+ : acc)
  for (int64_t i = 0; i < n; ++i) acc += double(opmath_t<T>(x[i]));
  return acc;
}
template <class T>
double centred_squares(const T* x, int64_t n, double mean) {
  double acc = 0;
#pragma omp simd reduction(+ : acc)
  for (int64_t i = 0; i < n; ++i) {
    double d = double(opmath_t<T>(x[i])) - mean;
    acc += d * d;
  }
  return acc;
}
}  // namespace

void CpuBackend::moments(const Tensor& mean, const Tensor& var, const Tensor& x, int64_t A, int64_t C, int64_t B) {
  dispatch_floating(x.dtype(), "moments", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* xp = static_cast<const T*>(x.data_ptr());
    T* mp = static_cast<T*>(mean.data_ptr());
    T* vp = static_cast<T*>(var.data_ptr());
    double count = double(A) * double(B);
    parallel_for(C, std::max<int64_t>(1, 65536 / std::max<int64_t>(A * B, 1)), [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        double s = 0;
        for (int64_t a = 0; a < A; ++a) s += sum_run(xp + (a * C + c) * B, B);
        double m = count > 0 ? s / count : NAN;
        double q = 0;
        for (int64_t a = 0; a < A; ++a) q += centred_squares(xp + (a * C + c) * B, B, m);
        mp[c] = T(opmath_t<T>(m));
        vp[c] = T(opmath_t<T>(count > 0 ? q / count : NAN));
      }
    });
  });
}

void CpuBackend::layer_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x,
                            const Tensor& weight, const Tensor& bias, double eps) {
  int64_t M = x.size(0), N = x.size(1);
  dispatch_floating(x.dtype(), "layer_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using Op = opmath_t<T>;
    const T* xp = static_cast<const T*>(x.data_ptr());
    T* op = static_cast<T*>(out.data_ptr());
    T* mp = static_cast<T*>(mean.data_ptr());
    T* rp = static_cast<T*>(rstd.data_ptr());
    const T* w = weight.defined() ? static_cast<const T*>(weight.data_ptr()) : nullptr;
    const T* b = bias.defined() ? static_cast<const T*>(bias.data_ptr()) : nullptr;
    parallel_for(M, std::max<int64_t>(1, 16384 / std::max<int64_t>(N, 1)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* row = xp + r * N;
        T* o = op + r * N;
        double m = N ? sum_run(row, N) / double(N) : NAN;
        double v = N ? centred_squares(row, N, m) / double(N) : NAN;
        Op rs = Op(1.0 / std::sqrt(v + eps)), mu = Op(m);
        mp[r] = T(mu);
        rp[r] = T(rs);
        if (w && b) {
#pragma omp simd
          for (int64_t i = 0; i < N; ++i) o[i] = T((Op(row[i]) - mu) * rs * Op(w[i]) + Op(b[i]));
        } else {
          for (int64_t i = 0; i < N; ++i) {
            Op y = (Op(row[i]) - mu) * rs;
            if (w) y *= Op(w[i]);
            if (b) y += Op(b[i]);
            o[i] = T(y);
          }
        }
      }
    });
  });
}

}  // namespace tessera::cpu
