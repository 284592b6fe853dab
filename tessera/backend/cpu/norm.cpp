// Normalization kernels: per-channel moments (batch/group/layer norm statistics), batch norm's
// fused backward pass and a fused row-wise layer norm. Two passes over each slice (mean, then
// centred squares) in double: exact enough for any float data, and the second pass reads from
// cache.
#include <algorithm>
#include <cmath>
#include <vector>

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

// Two passes: the per-channel sums of g and g * (x - mean) (in double), then gx from them. With
// channel runs of 8 values or more (NCHW) each thread takes whole channels, and its second pass
// reads what the first left in cache; channels-last data (runs of 1) is cut into a fixed number
// of row blocks whose partial sums are added in order, so that the result does not depend on the
// thread count.
bool CpuBackend::batch_norm_backward(const Tensor& gx, const Tensor& gw, const Tensor& gb, const Tensor& g,
                                     const Tensor& x, const Tensor& mean, const Tensor& rstd, const Tensor& weight,
                                     int64_t A, int64_t C, int64_t B) {
  dispatch_floating(x.dtype(), "batch_norm_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using Op = opmath_t<T>;
    const T* xp = static_cast<const T*>(x.data_ptr());
    const T* gp = static_cast<const T*>(g.data_ptr());
    const T* mp = static_cast<const T*>(mean.data_ptr());
    const T* rp = static_cast<const T*>(rstd.data_ptr());
    const T* wp = weight.defined() ? static_cast<const T*>(weight.data_ptr()) : nullptr;
    T* gxp = static_cast<T*>(gx.data_ptr());
    T* gwp = static_cast<T*>(gw.data_ptr());
    T* gbp = static_cast<T*>(gb.data_ptr());
    double n = double(A) * double(B);
    // gx = alpha * g + beta * (x - mean) + gamma for channel c, from its two sums.
    struct Coef {
      Op alpha, beta, gamma, mu;
    };
    auto coef = [&](int64_t c, double sg, double sgx) {
      double rs = double(Op(rp[c])), gwc = sgx * rs, k = rs * (wp ? double(Op(wp[c])) : 1.0);
      gbp[c] = T(Op(sg));
      gwp[c] = T(Op(gwc));
      return Coef{Op(k), Op(-k * rs * gwc / n), Op(-k * sg / n), Op(mp[c])};
    };
    auto write = [](const T* gr, const T* xr, T* o, int64_t len, const Coef& k) {
#pragma omp simd
      for (int64_t i = 0; i < len; ++i) o[i] = T(k.alpha * Op(gr[i]) + k.beta * (Op(xr[i]) - k.mu) + k.gamma);
    };
    if (B >= 8) {
      parallel_for(C, std::max<int64_t>(1, 65536 / std::max<int64_t>(A * B, 1)), [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) {
          double sg = 0, sgx = 0, mu = double(Op(mp[c]));
          for (int64_t a = 0; a < A; ++a) {
            const T* gr = gp + (a * C + c) * B;
            const T* xr = xp + (a * C + c) * B;
#pragma omp simd reduction(+ : sg, sgx)
            for (int64_t i = 0; i < B; ++i) {
              double gi = double(Op(gr[i]));
              sg += gi;
              sgx += gi * (double(Op(xr[i])) - mu);
            }
          }
          Coef k = coef(c, sg, sgx);
          for (int64_t a = 0; a < A; ++a) write(gp + (a * C + c) * B, xp + (a * C + c) * B, gxp + (a * C + c) * B, B, k);
        }
      });
      return;
    }
    // Channels last: every row of C * B values holds each channel; the channel of value i is i / B.
    // Up to 64 row blocks, fewer for wide rows: the partial sums stay within 16 MiB.
    const int64_t CB = C * B,
                  blocks = std::clamp<int64_t>(std::min<int64_t>(A, (int64_t(1) << 20) / std::max<int64_t>(CB, 1)), 1, 64);
    std::vector<double> part(size_t(2 * blocks * CB), 0.0), mu(static_cast<size_t>(CB));
    for (int64_t i = 0; i < CB; ++i) mu[size_t(i)] = double(Op(mp[i / B]));
    parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t blk = b0; blk < b1; ++blk) {
        double* sg = part.data() + 2 * blk * CB;
        double* sgx = sg + CB;
        for (int64_t a = A * blk / blocks, a1 = A * (blk + 1) / blocks; a < a1; ++a) {
          const T* gr = gp + a * CB;
          const T* xr = xp + a * CB;
#pragma omp simd
          for (int64_t i = 0; i < CB; ++i) {
            double gi = double(Op(gr[i]));
            sg[i] += gi;
            sgx[i] += gi * (double(Op(xr[i])) - mu[size_t(i)]);
          }
        }
      }
    });
    std::vector<Op> alpha(static_cast<size_t>(CB)), beta(alpha), gamma(alpha), m(alpha);
    for (int64_t c = 0; c < C; ++c) {
      double sg = 0, sgx = 0;
      for (int64_t blk = 0; blk < blocks; ++blk)
        for (int64_t i = c * B; i < (c + 1) * B; ++i)
          sg += part[size_t(2 * blk * CB + i)], sgx += part[size_t((2 * blk + 1) * CB + i)];
      Coef k = coef(c, sg, sgx);
      for (int64_t i = c * B; i < (c + 1) * B; ++i)
        alpha[size_t(i)] = k.alpha, beta[size_t(i)] = k.beta, gamma[size_t(i)] = k.gamma, m[size_t(i)] = k.mu;
    }
    parallel_for(A, std::max<int64_t>(1, 16384 / std::max<int64_t>(CB, 1)), [&](int64_t a0, int64_t a1) {
      const Op *al = alpha.data(), *be = beta.data(), *ga = gamma.data(), *mu_ = m.data();
      for (int64_t a = a0; a < a1; ++a) {
        const T* gr = gp + a * CB;
        const T* xr = xp + a * CB;
        T* o = gxp + a * CB;
#pragma omp simd
        for (int64_t i = 0; i < CB; ++i) o[i] = T(al[i] * Op(gr[i]) + be[i] * (Op(xr[i]) - mu_[i]) + ga[i]);
      }
    });
  });
  return true;
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
