// Reductions, arg-reductions, cumsum and softmax on the CPU.
#include <cmath>
#include <limits>
#include <vector>

#include "tessera/backend/cpu/cpu_backend.h"
#include "tessera/backend/cpu/loops.h"
#include "tessera/backend/math/reduce.h"

namespace tessera::cpu {

namespace {

// Reduces n elements of p (byte stride s). Contiguous runs use 16 independent lanes so the
// loop vectorizes. (Float sums accumulate in double: A is acc_t.)
template <class R, class T, class A>
A reduce_run(const char* p, int64_t n, int64_t s) {
  if (s != int64_t(sizeof(T)) || n < 32) {
    A acc = R::identity();
    for (int64_t i = 0; i < n; ++i) acc = R::reduce(acc, A(*reinterpret_cast<const T*>(p + i * s)));
    return acc;
  }
  const T* x = reinterpret_cast<const T*>(p);
  A total = R::identity();
  constexpr int64_t kBlock = 4096;
  for (int64_t b0 = 0; b0 < n; b0 += kBlock) {
    int64_t b1 = std::min(n, b0 + kBlock), i = b0;
    A lanes[16];
    for (auto& l : lanes) l = R::identity();
    for (; i + 16 <= b1; i += 16)
      for (int l = 0; l < 16; ++l) lanes[l] = R::reduce(lanes[l], A(x[i + l]));
    A acc = R::identity();
    for (int l = 0; l < 16; ++l) acc = R::combine(acc, lanes[l]);
    for (; i < b1; ++i) acc = R::reduce(acc, A(x[i]));
    total = R::combine(total, acc);
  }
  return total;
}

// Splits the reduction of `in` into out (same rank, 1 on reduced dims). The reduced dims are
// coalesced when they can be; kept dims iterate in parallel.
struct ReducePlan {
  Shape kept_sizes, kept_in_strides, kept_out_strides;  // bytes
  Shape red_sizes, red_strides;                         // bytes; red dim 0 is the innermost
  int64_t outputs = 1, reduced = 1;

  ReducePlan(const Tensor& out, const Tensor& in) {
    int64_t es = int64_t(in.element_size()), eo = int64_t(out.element_size());
    for (int64_t d = in.dim() - 1; d >= 0; --d) {
      int64_t sz = in.size(d);
      if (sz == 1) continue;
      if (out.size(d) == 1) {
        int64_t st = in.stride(d) * es;
        if (!red_sizes.empty() && st == red_strides.back() * red_sizes.back() && last_red_ == d + 1)
          red_sizes.back() *= sz;
        else {
          red_sizes.push_back(sz);
          red_strides.push_back(st);
        }
        last_red_ = d;
        reduced *= sz;
      } else {
        kept_sizes.push_back(sz);
        kept_in_strides.push_back(in.stride(d) * es);
        kept_out_strides.push_back(out.stride(d) * eo);
        outputs *= sz;
      }
    }
  }
  // Byte offsets of output j in `in` and `out`.
  void offsets(int64_t j, int64_t& in_off, int64_t& out_off) const {
    in_off = out_off = 0;
    for (size_t d = 0; d < kept_sizes.size(); ++d) {
      int64_t i = j % kept_sizes[d];
      j /= kept_sizes[d];
      in_off += i * kept_in_strides[d];
      out_off += i * kept_out_strides[d];
    }
  }
  // Reduces everything reduced that starts at p, in order, as one run per innermost reduced line.
  template <class R, class T, class A>
  A reduce_at(const char* p, int64_t r_begin = 0, int64_t r_end = -1) const {
    if (red_sizes.empty()) return R::reduce(R::identity(), A(*reinterpret_cast<const T*>(p)));
    int64_t inner = red_sizes[0], lines = reduced / inner;
    if (r_end < 0) r_end = lines;
    A acc = R::identity();
    for (int64_t line = r_begin; line < r_end; ++line) {
      int64_t off = 0, rem = line;
      for (size_t d = 1; d < red_sizes.size(); ++d) {
        off += (rem % red_sizes[d]) * red_strides[d];
        rem /= red_sizes[d];
      }
      acc = R::combine(acc, reduce_run<R, T, A>(p + off, inner, red_strides[0]));
    }
    return acc;
  }

 private:
  int64_t last_red_ = -2;
};

// Reductions with fewer outputs than this and long reduced ranges split each range into chunks of
// about kSplitChunk elements (at most kMaxSplitChunks).
constexpr int64_t kSplitOutputs = 16, kSplitChunk = 32768, kMaxSplitChunks = 64;

template <class R, class T, class A, class O>
void reduce_typed(const Tensor& out, const Tensor& in) {
  ReducePlan plan(out, in);
  const char* ibase = static_cast<const char*>(in.data_ptr());
  char* obase = static_cast<char*>(out.data_ptr());
  if (in.numel() == 0) {  // reducing nothing gives the identity
    for (int64_t j = 0; j < out.numel(); ++j) {
      int64_t io, oo;
      plan.offsets(j, io, oo);
      *reinterpret_cast<O*>(obase + oo) = O(R::identity());
    }
    return;
  }
  int64_t lines = plan.red_sizes.empty() ? 1 : plan.reduced / plan.red_sizes[0];
  if (plan.outputs < kSplitOutputs && plan.reduced >= 65536) {
    // Few outputs, long reductions: split each reduction into chunks with a partial result
    // each. The chunks depend on the sizes only, so the bits do not depend on the thread count.
    for (int64_t j = 0; j < plan.outputs; ++j) {
      int64_t io, oo;
      plan.offsets(j, io, oo);
      int64_t n = lines >= 2 ? lines : plan.red_sizes[0];
      int64_t per = lines >= 2 ? std::max<int64_t>(1, kSplitChunk / plan.red_sizes[0]) : kSplitChunk;
      int64_t chunks = std::min<int64_t>(kMaxSplitChunks, (n + per - 1) / per);
      int64_t size = (n + chunks - 1) / chunks;
      chunks = (n + size - 1) / size;
      std::vector<A> part(size_t(chunks), R::identity());
      parallel_chunks(chunks, [&](int64_t c) {
        int64_t b = c * size, e = std::min(n, b + size);
        if (lines >= 2) {
          part[size_t(c)] = plan.reduce_at<R, T, A>(ibase + io, b, e);
        } else {  // one long line
          int64_t s = plan.red_strides[0];
          part[size_t(c)] = reduce_run<R, T, A>(ibase + io + b * s, e - b, s);
        }
      });
      A acc = R::identity();
      for (A v : part) acc = R::combine(acc, v);
      *reinterpret_cast<O*>(obase + oo) = O(acc);
    }
    return;
  }
  parallel_for(plan.outputs, std::max<int64_t>(1, 32768 / std::max<int64_t>(plan.reduced, 1)),
               [&](int64_t b, int64_t e) {
                 for (int64_t j = b; j < e; ++j) {
                   int64_t io, oo;
                   plan.offsets(j, io, oo);
                   *reinterpret_cast<O*>(obase + oo) = O(plan.reduce_at<R, T, A>(ibase + io));
                 }
               });
}

}  // namespace

void CpuBackend::reduce(ReduceOp op, const Tensor& out, const Tensor& in) {
  dispatch_all(in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    math::dispatch_reduce<T>(op, [&](auto r) {
      using R = decltype(r);
      using A = typename R::acc;
      if constexpr (std::is_same_v<R, math::SumOp<A>> || std::is_same_v<R, math::ProdOp<A>>) {
        dispatch_all(out.dtype(), [&](auto otag) { reduce_typed<R, T, A, typename decltype(otag)::type>(out, in); });
      } else {
        reduce_typed<R, T, A, std::conditional_t<std::is_same_v<A, bool>, bool, T>>(out, in);
      }
    });
  });
}

// Walks every 1-D line of `t` along `dim`: f(byte offset of the line's start for each tensor).
template <int N, class F>
static void for_each_line(const std::array<const Tensor*, N>& ts, int64_t dim, const F& f, int64_t line_len) {
  std::array<Tensor, N> heads;
  std::array<const Tensor*, N> hp;
  for (int k = 0; k < N; ++k) {
    heads[k] = ts[k]->select(dim, 0);
    hp[k] = &heads[k];
  }
  StridedLoop<N> loop(hp);
  std::array<char*, N> base;
  for (int k = 0; k < N; ++k) base[k] = static_cast<char*>(ts[k]->data_ptr());
  loop.run([&](char** p, const int64_t* s, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      std::array<char*, N> q;
      for (int k = 0; k < N; ++k) q[k] = p[k] + i * s[k];
      f(q);
    }
  }, std::max<int64_t>(1, 16384 / std::max<int64_t>(line_len, 1)));
}

void CpuBackend::arg_reduce(bool is_max, const Tensor& out, const Tensor& in, int64_t dim) {
  int64_t len = in.size(dim);
  TS_CHECK_INDEX(len > 0, is_max ? "argmax" : "argmin", ": cannot reduce over a zero-size dimension (shape ",
                 in.shape(), ")");
  dispatch_all(in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using M = opmath_t<T>;
    int64_t st = in.stride(dim) * int64_t(in.element_size());
    Tensor o = out.expand(in.shape());
    auto scan = [&](auto op) {
      using Op = decltype(op);
      for_each_line<2>({&o, &in}, dim, [&](const std::array<char*, 2>& q) {
        typename Op::acc best = Op::identity();
        for (int64_t i = 0; i < len && best.value == best.value; ++i)  // the first NaN ends the scan
          best = Op::reduce(best, M(*reinterpret_cast<const T*>(q[1] + i * st)), i);
        *reinterpret_cast<int64_t*>(q[0]) = best.index;
      }, len);
    };
    if (is_max) scan(math::ArgOp<M, true>{});
    else scan(math::ArgOp<M, false>{});
  });
}

void CpuBackend::cumsum(const Tensor& out, const Tensor& in, int64_t dim) {
  int64_t len = in.size(dim);
  if (in.numel() == 0) return;
  dispatch_all(in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    dispatch_all(out.dtype(), [&](auto otag) {
      using O = typename decltype(otag)::type;
      using A = acc_t<O>;
      int64_t si = in.stride(dim) * int64_t(in.element_size()), so = out.stride(dim) * int64_t(out.element_size());
      for_each_line<2>({&out, &in}, dim, [&](const std::array<char*, 2>& q) {
        A acc = A(0);
        for (int64_t i = 0; i < len; ++i) {
          acc = math::wrapping_add(acc, A(opmath_t<T>(*reinterpret_cast<const T*>(q[1] + i * si))));
          *reinterpret_cast<O*>(q[0] + i * so) = O(acc);
        }
      }, len);
    });
  });
}

namespace {
// One contiguous row. `omp simd` lets the max and sum reductions vectorize (reassociating them
// is fine here); NaN inputs still give NaN rows through the exp.
void softmax_row_f32(float* o, const float* x, int64_t n, bool log) {
  float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, x[i]);
  if (std::isinf(mx) && mx < 0) mx = 0;
  float sum = 0;
  if (log) {
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < n; ++i) sum += fast_expf(x[i] - mx);
    float lse = mx + std::log(sum);
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) o[i] = x[i] - lse;
    return;
  }
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < n; ++i) {
    float e = fast_expf(x[i] - mx);
    o[i] = e;
    sum += e;
  }
  float inv = 1.0f / sum;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) o[i] *= inv;
}

template <class T>
void softmax_row(T* o, const T* x, int64_t n, bool log) {
  if constexpr (std::is_same_v<T, float>) {
    softmax_row_f32(o, x, n, log);
  } else {
    using M = opmath_t<T>;
    M mx = -std::numeric_limits<M>::infinity();
    for (int64_t i = 0; i < n; ++i) mx = std::max(mx, M(x[i]));
    if (std::isinf(mx) && mx < 0) mx = 0;
    M sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += fast_exp(M(x[i]) - mx);
    if (log) {
      M lse = mx + std::log(sum);
      for (int64_t i = 0; i < n; ++i) o[i] = T(M(x[i]) - lse);
    } else {
      M inv = M(1) / sum;
      for (int64_t i = 0; i < n; ++i) o[i] = T(fast_exp(M(x[i]) - mx) * inv);
    }
  }
}
}  // namespace

void CpuBackend::softmax(const Tensor& out, const Tensor& in, int64_t dim, bool log) {
  if (in.numel() == 0) return;
  int64_t len = in.size(dim);
  dispatch_floating(in.dtype(), log ? "log_softmax" : "softmax", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using M = opmath_t<T>;
    if (dim == in.dim() - 1 && in.is_contiguous() && out.is_contiguous()) {
      int64_t rows = in.numel() / len;
      const T* x = static_cast<const T*>(in.data_ptr());
      T* o = static_cast<T*>(out.data_ptr());
      parallel_for(rows, std::max<int64_t>(1, 16384 / len), [&](int64_t b, int64_t e) {
        for (int64_t r = b; r < e; ++r) softmax_row<T>(o + r * len, x + r * len, len, log);
      });
      return;
    }
    int64_t si = in.stride(dim) * int64_t(in.element_size()), so = out.stride(dim) * int64_t(out.element_size());
    for_each_line<2>({&out, &in}, dim, [&](const std::array<char*, 2>& q) {
      auto X = [&](int64_t i) { return M(*reinterpret_cast<const T*>(q[1] + i * si)); };
      using Op = math::SoftmaxOp<M>;
      typename Op::acc a = Op::identity();  // one online pass over the strided line
      for (int64_t i = 0; i < len; ++i) a = Op::reduce(a, X(i));
      M lse = Op::logsumexp(a);
      for (int64_t i = 0; i < len; ++i)
        *reinterpret_cast<T*>(q[0] + i * so) = T(log ? X(i) - lse : fast_exp(X(i) - lse));
    }, len);
  });
}

}  // namespace tessera::cpu
