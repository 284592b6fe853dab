// Elementwise CPU kernels: copy/convert, fill, arange, unary, binary, where, clamp.
#include "tessera/backend/cpu/cpu_backend.h"
#include "tessera/backend/cpu/loops.h"

namespace tessera::cpu {

namespace {

using math::convert;

template <class T, class O = T, class F>
void unary_loop(const Tensor& out, const Tensor& in, const F& f) {
  for_each_elementwise<2>({&out, &in}, [&](char** p, const int64_t* s, int64_t n) {
    if (s[0] == sizeof(O) && s[1] == sizeof(T)) {
      O* o = reinterpret_cast<O*>(p[0]);
      const T* a = reinterpret_cast<const T*>(p[1]);
      for (int64_t i = 0; i < n; ++i) o[i] = f(a[i]);
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<O*>(p[0] + i * s[0]) = f(*reinterpret_cast<const T*>(p[1] + i * s[1]));
    }
  });
}

template <class T, class O, class F>
void binary_loop(const Tensor& out, const Tensor& a, const Tensor& b, const F& f) {
  for_each_elementwise<3>({&out, &a, &b}, [&](char** p, const int64_t* s, int64_t n) {
    O* o = reinterpret_cast<O*>(p[0]);
    const T* x = reinterpret_cast<const T*>(p[1]);
    const T* y = reinterpret_cast<const T*>(p[2]);
    if (s[0] == sizeof(O) && s[1] == sizeof(T) && s[2] == sizeof(T)) {
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
    } else if (s[0] == sizeof(O) && s[1] == sizeof(T) && s[2] == 0) {
      const T yv = *y;
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], yv);
    } else if (s[0] == sizeof(O) && s[1] == 0 && s[2] == sizeof(T)) {
      const T xv = *x;
      for (int64_t i = 0; i < n; ++i) o[i] = f(xv, y[i]);
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<O*>(p[0] + i * s[0]) =
            f(*reinterpret_cast<const T*>(p[1] + i * s[1]), *reinterpret_cast<const T*>(p[2] + i * s[2]));
    }
  });
}

}  // namespace

// Host memory to host memory (contiguous, one dtype): what the emulated CUDA device moves too.
void CpuBackend::transfer(const Tensor& dst, const Tensor& src, bool) {
  size_t n = size_t(dst.numel()) * dst.element_size();
  if (n) std::memcpy(dst.data_ptr(), src.data_ptr(), n);
}

void CpuBackend::copy(const Tensor& dst, const Tensor& src) {
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous()) {
    char* d = static_cast<char*>(dst.data_ptr());
    const char* s = static_cast<const char*>(src.data_ptr());
    int64_t nbytes = dst.numel() * int64_t(dst.element_size());
    if (d == s) return;
    parallel_for(nbytes, 1 << 20, [&](int64_t b, int64_t e) { std::memcpy(d + b, s + b, size_t(e - b)); });
    return;
  }
  dispatch_all(dst.dtype(), [&](auto dt) {
    using D = typename decltype(dt)::type;
    dispatch_all(src.dtype(), [&](auto st) {
      using S = typename decltype(st)::type;
      for_each_elementwise<2>({&dst, &src}, [](char** p, const int64_t* s, int64_t n) {
        for (int64_t i = 0; i < n; ++i)
          *reinterpret_cast<D*>(p[0] + i * s[0]) = convert<D>(*reinterpret_cast<const S*>(p[1] + i * s[1]));
      });
    });
  });
}

void CpuBackend::fill(const Tensor& dst, const Scalar& v) {
  dispatch_all(dst.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T val = scalar_as<T>(v);
    for_each_elementwise<1>({&dst}, [val](char** p, const int64_t* s, int64_t n) {
      if (s[0] == sizeof(T)) {
        T* o = reinterpret_cast<T*>(p[0]);
        for (int64_t i = 0; i < n; ++i) o[i] = val;
      } else {
        for (int64_t i = 0; i < n; ++i) *reinterpret_cast<T*>(p[0] + i * s[0]) = val;
      }
    });
  });
}

void CpuBackend::arange(const Tensor& out, double start, double step) {
  dispatch_all(out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    int64_t n = out.numel(), st = out.dim() ? out.stride(0) : 1;
    T* o = static_cast<T*>(out.data_ptr());
    if (is_integral(out.dtype())) {
      int64_t s0 = int64_t(start), d = int64_t(step);
      for (int64_t i = 0; i < n; ++i) o[i * st] = T(s0 + i * d);
    } else {
      for (int64_t i = 0; i < n; ++i) o[i * st] = convert<T>(start + double(i) * step);
    }
  });
}

void CpuBackend::unary(UnaryOp op, const Tensor& out, const Tensor& in) {
  dispatch_unary_kernel(op, in.dtype(), "cpu", [&](auto t, auto fn, auto o) {
    unary_loop<typename decltype(t)::type, typename decltype(o)::type>(out, in, fn);
  });
}

void CpuBackend::binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  dispatch_binary_kernel(op, a.dtype(), "cpu", [&](auto t, auto fn, auto o) {
    binary_loop<typename decltype(t)::type, typename decltype(o)::type>(out, a, b, fn);
  });
}

void CpuBackend::where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  dispatch_all(out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    for_each_elementwise<4>({&out, &cond, &a, &b}, [](char** p, const int64_t* s, int64_t n) {
      math::WhereFn f;
      constexpr int64_t e = sizeof(T);
      if (s[0] == e && s[1] == 1 && (s[2] == e || s[2] == 0) && (s[3] == e || s[3] == 0)) {
        // Contiguous runs, an operand possibly a scalar (masked_fill, relu's gradient): selects
        // that vectorize (the generic loop compiles to branches, unpredictable on real data).
        T* o = reinterpret_cast<T*>(p[0]);
        const uint8_t* c = reinterpret_cast<const uint8_t*>(p[1]);
        const T* x = reinterpret_cast<const T*>(p[2]);
        const T* y = reinterpret_cast<const T*>(p[3]);
        if (s[2] && s[3]) {
#pragma omp simd
          for (int64_t i = 0; i < n; ++i) o[i] = f(c[i] != 0, x[i], y[i]);
        } else if (s[2]) {
          const T yv = *y;
#pragma omp simd
          for (int64_t i = 0; i < n; ++i) o[i] = f(c[i] != 0, x[i], yv);
        } else if (s[3]) {
          const T xv = *x;
#pragma omp simd
          for (int64_t i = 0; i < n; ++i) o[i] = f(c[i] != 0, xv, y[i]);
        } else {
          const T xv = *x, yv = *y;
#pragma omp simd
          for (int64_t i = 0; i < n; ++i) o[i] = f(c[i] != 0, xv, yv);
        }
        return;
      }
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<T*>(p[0] + i * s[0]) = f(*reinterpret_cast<const bool*>(p[1] + i * s[1]),
                                                   *reinterpret_cast<const T*>(p[2] + i * s[2]),
                                                   *reinterpret_cast<const T*>(p[3] + i * s[3]));
    });
  });
}

void CpuBackend::fma(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& c) {
  dispatch_floating(out.dtype(), "fma", [&](auto tag) {
    using T = typename decltype(tag)::type;
    for_each_elementwise<4>({&out, &a, &b, &c}, [](char** p, const int64_t* s, int64_t n) {
      constexpr int64_t e = sizeof(T);
      math::FmaFn f;
      if (s[0] == e && s[1] == e && s[2] == 0 && s[3] == 0) {  // per-channel scale and shift
        T* o = reinterpret_cast<T*>(p[0]);
        const T* x = reinterpret_cast<const T*>(p[1]);
        const T k = *reinterpret_cast<const T*>(p[2]), d = *reinterpret_cast<const T*>(p[3]);
        for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], k, d);
      } else if (s[0] == e && s[1] == e && s[2] == 0 && s[3] == e) {  // x * scalar + y (add_ with alpha)
        T* o = reinterpret_cast<T*>(p[0]);
        const T* x = reinterpret_cast<const T*>(p[1]);
        const T k = *reinterpret_cast<const T*>(p[2]);
        const T* y = reinterpret_cast<const T*>(p[3]);
        for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], k, y[i]);
      } else {
        for (int64_t i = 0; i < n; ++i)
          *reinterpret_cast<T*>(p[0] + i * s[0]) =
              f(*reinterpret_cast<const T*>(p[1] + i * s[1]), *reinterpret_cast<const T*>(p[2] + i * s[2]),
                *reinterpret_cast<const T*>(p[3] + i * s[3]));
      }
    });
  });
}

void CpuBackend::clamp(const Tensor& out, const Tensor& in, std::optional<Scalar> lo, std::optional<Scalar> hi) {
  dispatch_all(in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    unary_loop<T>(out, in, clamp_fn<T>(lo, hi));
  });
}

}  // namespace tessera::cpu
