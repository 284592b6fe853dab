// The shared op math (tessera/backend/math), on the host: what the CPU kernels do not reach by
// themselves. The offset calculator against naive strides, reductions combined in arbitrary
// tree orders against the sequential fold, Philox against Random123's known answers, the sort
// keys against the contract's order, and the portable log/cos the random transforms use.
// Compiled with -ffp-contract=off, like the random kernels, so transforms compare bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <tuple>
#include <vector>

#include "tessera/backend/math/offset_calculator.h"
#include "tessera/backend/math/pool.h"
#include "tessera/backend/math/random.h"
#include "tessera/backend/math/reduce.h"
#include "tessera/backend/math/sort_key.h"
#include "tessera/tessera.h"
#include "tests/rng.h"

using namespace tessera;
using namespace tessera::math;

namespace {

using tessera::testing::rng;
using tessera::testing::uniform_int;

TEST(Philox, MatchesRandom123KnownAnswers) {
  struct Kat {
    uint32_t ctr[4], key[2], want[4];
  };
  const Kat kats[] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}},
      {{~0u, ~0u, ~0u, ~0u}, {~0u, ~0u}, {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}},
      {{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u},
       {0xa4093822u, 0x299f31d0u},
       {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}},
  };
  for (const Kat& k : kats) {
    Philox4x32 r = philox4x32_block(k.ctr, k.key);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(r.v[i], k.want[i]) << "word " << i;
  }
  // seed/offset/subsequence map onto key and counter words, low word first.
  Philox4x32 a = philox4x32(0x299f31d0a4093822ull, 0x85a308d3243f6a88ull, 0x0370734413198a2eull);
  EXPECT_EQ(a.v[0], 0xd16cfe09u);
  EXPECT_EQ(a.v[3], 0x24126ea1u);
}

TEST(IntDivider, DividesLikeTheCpu) {
  std::vector<uint32_t> divisors{1, 2, 3, 7, 10, 64, 1000, 65535, 65536, 65537, (1u << 31) - 1, 1u << 31};
  for (int i = 0; i < 200; ++i) divisors.push_back(uint32_t(uniform_int(1, (int64_t(1) << 31))));
  for (uint32_t d : divisors) {
    IntDivider div(d);
    std::vector<uint32_t> ns{0, 1, d - 1, d, d + 1, (1u << 31) - 1, (1u << 31) - 2};
    for (int i = 0; i < 200; ++i) ns.push_back(uint32_t(uniform_int(0, (int64_t(1) << 31) - 1)));
    for (uint32_t n : ns) {
      if (n >= (1u << 31)) continue;
      ASSERT_EQ(div.div(n), n / d) << n << " / " << d;
    }
  }
}

// Every logical element's byte offsets (one tuple per element), computed the obvious way.
template <int N>
std::vector<std::array<int64_t, N>> naive_offsets(const std::vector<int64_t>& shape,
                                                  const std::array<std::vector<int64_t>, N>& strides,
                                                  const std::array<int64_t, N>& elem) {
  std::vector<std::array<int64_t, N>> out;
  int64_t numel = 1;
  for (int64_t s : shape) numel *= s;
  for (int64_t lin = 0; lin < numel; ++lin) {
    std::array<int64_t, N> o{};
    int64_t rem = lin;
    for (int d = int(shape.size()) - 1; d >= 0; --d) {
      int64_t i = rem % shape[size_t(d)];
      rem /= shape[size_t(d)];
      for (int k = 0; k < N; ++k) o[k] += i * strides[k][size_t(d)] * elem[k];
    }
    out.push_back(o);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The offsets the plan's pieces produce through OffsetCalculator (32-bit arithmetic).
template <int N>
std::vector<std::array<int64_t, N>> planned_offsets(const StridedPlan<N>& plan, int64_t limit, int* pieces = nullptr) {
  std::vector<std::array<int64_t, N>> out;
  int count = 0;
  for_each_32bit(plan, [&](const StridedPlan<N>& piece) {
    ++count;
    EXPECT_TRUE(piece.fits(limit));
    OffsetCalculator<N> calc(piece);
    for (int64_t i = 0; i < piece.numel; ++i) {
      auto o = calc.get(uint32_t(i));
      std::array<int64_t, N> t;
      for (int k = 0; k < N; ++k) t[k] = piece.base[k] + o.v[k];
      out.push_back(t);
    }
  }, limit);
  if (pieces) *pieces = count;
  std::sort(out.begin(), out.end());
  return out;
}

template <int N>
StridedPlan<N> make_plan(const std::vector<int64_t>& shape, const std::array<std::vector<int64_t>, N>& strides,
                         const std::array<int64_t, N>& elem, bool reorder) {
  const int64_t* st[N];
  for (int k = 0; k < N; ++k) st[k] = strides[k].data();
  return StridedPlan<N>::make(int(shape.size()), shape.data(), st, elem.data(), reorder);
}

TEST(OffsetCalculator, MatchesNaiveStridesOnRandomLayouts) {
  constexpr int N = 3;
  for (int trial = 0; trial < 400; ++trial) {
    int nd = int(uniform_int(0, 5));
    std::vector<int64_t> shape(static_cast<size_t>(nd));
    for (auto& s : shape) s = uniform_int(1, 4);
    if (trial % 50 == 0 && nd > 0) shape[0] = 0;  // empty tensors
    std::array<std::vector<int64_t>, N> strides;
    std::array<int64_t, N> elem{4, 8, 1};
    for (int k = 0; k < N; ++k) {
      strides[k].resize(size_t(nd));
      int64_t run = 1;
      for (int d = nd - 1; d >= 0; --d) {  // contiguous, permuted, broadcast, flipped or arbitrary
        int kind = int(uniform_int(0, 4));
        int64_t s = kind == 0 ? run : kind == 1 ? 0 : kind == 2 ? -run : uniform_int(-50, 50);
        strides[k][size_t(d)] = s;
        run *= shape[size_t(d)];
      }
    }
    auto want = naive_offsets<N>(shape, strides, elem);
    for (bool reorder : {false, true}) {
      auto plan = make_plan<N>(shape, strides, elem, reorder);
      ASSERT_EQ(plan.numel, int64_t(want.size()));
      EXPECT_EQ(planned_offsets<N>(plan, INT32_MAX), want) << "trial " << trial << " reorder " << reorder;
      // Forcing splits with a small limit must give the same elements exactly once.
      EXPECT_EQ(planned_offsets<N>(plan, 7), want) << "trial " << trial << " split";
    }
  }
}

TEST(OffsetCalculator, CoalescesAndReorders) {
  constexpr int N = 2;
  // A contiguous [4, 5, 6] copy into a permuted output: one dim after coalescing the input...
  auto flat = make_plan<N>({4, 5, 6}, {{{30, 6, 1}, {30, 6, 1}}}, {4, 4}, false);
  EXPECT_EQ(flat.ndim, 1);
  EXPECT_EQ(flat.sizes[0], 120);
  // ...and a transposed output iterates its own fastest dim first when reordered.
  auto tr = make_plan<N>({4, 6}, {{{1, 4}, {6, 1}}}, {4, 4}, true);
  EXPECT_EQ(tr.ndim, 2);
  EXPECT_EQ(tr.strides[0][0], 4);  // operand 0's unit stride, in bytes
  auto kept = make_plan<N>({4, 6}, {{{1, 4}, {6, 1}}}, {4, 4}, false);
  EXPECT_EQ(kept.strides[0][0], 16);  // logical order: the last dim first
  // Size-1 dims vanish whatever their stride.
  auto ones = make_plan<N>({1, 3, 1}, {{{99, 1, -7}, {5, 2, 0}}}, {2, 2}, false);
  EXPECT_EQ(ones.ndim, 1);
  EXPECT_EQ(ones.strides[1][0], 4);
}

TEST(OffsetCalculator, SplitsHugeTensorsInto32BitPieces) {
  constexpr int N = 2;
  // Offsets far beyond 32 bits (a 2^40-byte stride): each piece fits, all elements appear.
  std::vector<int64_t> shape{3, 5};
  std::array<std::vector<int64_t>, N> strides{{{int64_t(1) << 38, 1}, {5, 1}}};
  std::array<int64_t, N> elem{4, 4};
  auto plan = make_plan<N>(shape, strides, elem, true);
  EXPECT_FALSE(plan.fits(INT32_MAX));
  int pieces = 0;
  EXPECT_EQ(planned_offsets<N>(plan, INT32_MAX, &pieces), (naive_offsets<N>(shape, strides, elem)));
  EXPECT_EQ(pieces, 3);
  // More elements than 32-bit indices reach (never enumerated): the pieces tile the range.
  std::vector<int64_t> big{int64_t(5) << 31};
  auto huge = make_plan<1>(big, {{{1}}}, {1}, false);
  std::vector<std::pair<int64_t, int64_t>> ranges;
  for_each_32bit(huge, [&](const StridedPlan<1>& p) {
    EXPECT_TRUE(p.fits(INT32_MAX));
    ranges.push_back({p.base[0], p.numel});
  });
  std::sort(ranges.begin(), ranges.end());
  int64_t next = 0;
  for (auto [b, n] : ranges) {
    EXPECT_EQ(b, next);
    next = b + n;
  }
  EXPECT_EQ(next, big[0]);
  // Negative strides: offsets below the base stay in range too.
  auto neg = make_plan<N>({6, 7}, {{{-7, -1}, {1, 6}}}, {8, 2}, true);
  EXPECT_EQ(planned_offsets<N>(neg, 11), (naive_offsets<N>({6, 7}, {{{-7, -1}, {1, 6}}}, {8, 2})));
}

// Reduces xs by folding leaves of a random binary tree and combining them, in random order.
template <class Op, class X, class Leaf>
typename Op::acc tree_fold(const std::vector<X>& xs, size_t b, size_t e, const Leaf& leaf) {
  if (e - b <= 3 || uniform_int(0, 4) == 0) {
    typename Op::acc a = Op::identity();
    for (size_t i = b; i < e; ++i) a = leaf(a, i);
    return a;
  }
  size_t m = size_t(uniform_int(int64_t(b), int64_t(e)));
  auto l = tree_fold<Op>(xs, b, m, leaf), r = tree_fold<Op>(xs, m, e, leaf);
  return uniform_int(0, 1) ? Op::combine(l, r) : Op::combine(r, l);
}

TEST(ReduceOps, CombineInAnyTreeOrderEqualsTheSequentialFold) {
  for (int trial = 0; trial < 300; ++trial) {
    size_t n = size_t(uniform_int(0, 60));
    std::vector<double> xs(n);
    for (auto& x : xs) x = double(uniform_int(-4, 4));  // small integers: sums and products are exact
    if (n && trial % 3 == 0) xs[size_t(uniform_int(0, int64_t(n) - 1))] = NAN;
    if (n && trial % 5 == 0) xs[size_t(uniform_int(0, int64_t(n) - 1))] = -INFINITY;
    auto check = [&](auto op, const char* name) {
      using Op = decltype(op);
      using A = typename Op::acc;
      A seq = Op::identity();
      for (double x : xs) seq = Op::reduce(seq, A(x));
      A tree = tree_fold<Op>(xs, 0, n, [&](A a, size_t i) { return Op::reduce(a, A(xs[i])); });
      if constexpr (std::is_same_v<A, double>)
        EXPECT_TRUE((std::isnan(seq) && std::isnan(tree)) || seq == tree) << name << ": " << seq << " vs " << tree;
      else
        EXPECT_EQ(seq, tree) << name;
    };
    check(SumOp<double>{}, "sum");
    check(MaxOp<double>{}, "max");
    check(MinOp<double>{}, "min");
    check(AnyOp{}, "any");
    check(AllOp{}, "all");
    std::vector<double> small(n);
    for (auto& x : small) x = double(uniform_int(-1, 2));
    double p_seq = 1;
    for (double x : small) p_seq = ProdOp<double>::reduce(p_seq, x);
    EXPECT_EQ(p_seq, (tree_fold<ProdOp<double>>(small, 0, n, [&](double a, size_t i) { return a * small[i]; })));
    std::vector<int64_t> ints(n);
    for (auto& x : ints) x = uniform_int(INT64_MIN / 4, INT64_MAX / 4);  // wrapping sums still agree
    int64_t i_seq = 0;
    for (int64_t x : ints) i_seq = int64_t(uint64_t(i_seq) + uint64_t(x));
    EXPECT_EQ(i_seq, (tree_fold<SumOp<int64_t>>(ints, 0, n, [&](int64_t a, size_t i) {
                return int64_t(uint64_t(a) + uint64_t(ints[i]));
              })));
  }
}

TEST(ReduceOps, ArgMaxAndArgMinTakeTheFirstExtremeInAnyOrder) {
  for (int trial = 0; trial < 300; ++trial) {
    size_t n = size_t(uniform_int(1, 40));
    std::vector<float> xs(n);
    for (auto& x : xs) x = float(uniform_int(-3, 3));  // many ties
    if (trial % 4 == 0) xs[size_t(uniform_int(0, int64_t(n) - 1))] = NAN;
    if (trial % 7 == 0) std::fill(xs.begin(), xs.end(), -INFINITY);
    auto check = [&](auto op, bool is_max) {
      using Op = decltype(op);
      // The contract's answer: the first NaN, else the first extreme value.
      int64_t want = 0;
      for (size_t i = 0; i < n; ++i) {
        if (std::isnan(xs[size_t(want)])) break;
        if (std::isnan(xs[i]) || (is_max ? xs[i] > xs[size_t(want)] : xs[i] < xs[size_t(want)])) want = int64_t(i);
      }
      auto seq = Op::identity();
      for (size_t i = 0; i < n; ++i) seq = Op::reduce(seq, xs[i], int64_t(i));
      auto tree = tree_fold<Op>(xs, 0, n, [&](auto a, size_t i) { return Op::reduce(a, xs[i], int64_t(i)); });
      EXPECT_EQ(seq.index, want);
      EXPECT_EQ(tree.index, want);
    };
    check(ArgOp<float, true>{}, true);
    check(ArgOp<float, false>{}, false);
  }
}

TEST(ReduceOps, WelfordMergesToTheTwoPassMoments) {
  for (int trial = 0; trial < 100; ++trial) {
    size_t n = size_t(uniform_int(0, 500));
    std::vector<double> xs(n);
    double shift = double(uniform_int(-1000000, 1000000));  // a large mean tests cancellation
    for (auto& x : xs) x = shift + std::normal_distribution<double>(0, 3)(rng());
    double mean = 0, m2 = 0;
    for (double x : xs) mean += x;
    mean /= double(n);
    for (double x : xs) m2 += (x - mean) * (x - mean);
    Welford w = tree_fold<WelfordOp>(xs, 0, n, [&](Welford a, size_t i) { return WelfordOp::reduce(a, xs[i]); });
    EXPECT_EQ(w.n, double(n));
    if (n == 0) {
      EXPECT_TRUE(std::isnan(WelfordOp::mean(w)));
      EXPECT_TRUE(std::isnan(WelfordOp::variance(w)));
      continue;
    }
    EXPECT_NEAR(WelfordOp::mean(w), mean, 1e-9 * std::fabs(shift) + 1e-12);
    EXPECT_NEAR(WelfordOp::variance(w), m2 / double(n), 1e-7 * (m2 / double(n)) + 1e-12);
  }
}

TEST(ReduceOps, OnlineSoftmaxMergesToTheTwoPassLogSumExp) {
  using Op = SoftmaxOp<double>;
  for (int trial = 0; trial < 200; ++trial) {
    size_t n = size_t(uniform_int(1, 80));
    std::vector<double> xs(n);
    for (auto& x : xs) x = std::normal_distribution<double>(0, 20)(rng());
    double mx = *std::max_element(xs.begin(), xs.end()), sum = 0;
    for (double x : xs) sum += std::exp(x - mx);
    double want = mx + std::log(sum);
    auto a = tree_fold<Op>(xs, 0, n, [&](Op::acc s, size_t i) { return Op::reduce(s, xs[i]); });
    EXPECT_NEAR(Op::logsumexp(a), want, 1e-12 * std::max(1.0, std::fabs(want)));
  }
  auto lse = [](std::vector<double> xs) {
    return Op::logsumexp(tree_fold<Op>(xs, 0, xs.size(), [&](Op::acc s, size_t i) { return Op::reduce(s, xs[i]); }));
  };
  EXPECT_EQ(lse({-INFINITY, -INFINITY, -INFINITY}), -INFINITY);  // softmax of the row is NaN
  EXPECT_TRUE(std::isnan(lse({1, NAN, 2, 3, 4})));
  EXPECT_TRUE(std::isnan(lse({-INFINITY, NAN, -INFINITY, 5})));
  EXPECT_TRUE(std::isnan(lse({INFINITY, 1, INFINITY})));
  EXPECT_EQ(lse({-INFINITY, 0.0}), 0.0);
}

// The contract's order for sorting: NaN largest, -0 == +0, stable.
template <class T>
void check_sort_keys(std::vector<T> xs) {
  for (bool desc : {false, true}) {
    std::vector<size_t> by_key(xs.size()), by_cmp(xs.size());
    for (size_t i = 0; i < xs.size(); ++i) by_key[i] = by_cmp[i] = i;
    std::stable_sort(by_key.begin(), by_key.end(),
                     [&](size_t a, size_t b) { return sort_key(xs[a], desc) < sort_key(xs[b], desc); });
    using M = opmath_t<T>;
    auto less = [](M a, M b) { return a != a ? false : b != b ? true : a < b; };
    std::stable_sort(by_cmp.begin(), by_cmp.end(), [&](size_t a, size_t b) {
      M x = M(xs[a]), y = M(xs[b]);
      return desc ? less(y, x) : less(x, y);
    });
    EXPECT_EQ(by_key, by_cmp) << "descending " << desc;
  }
}

TEST(SortKey, OrdersLikeTheContract) {
  std::vector<double> specials{NAN, -NAN, INFINITY, -INFINITY, 0.0, -0.0, 1e-310, -1e-310, 1.0, -1.0, 3.5, -2.25};
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<double> d;
    for (int i = 0; i < 60; ++i)
      d.push_back(uniform_int(0, 3) == 0 ? specials[size_t(uniform_int(0, int64_t(specials.size()) - 1))]
                                         : double(uniform_int(-6, 6)) * 0.75);
    check_sort_keys(d);
    std::vector<float> f(d.begin(), d.end());
    check_sort_keys(f);
    std::vector<Half> h;
    std::vector<BFloat16> bf;
    for (double v : d) h.push_back(Half(float(v))), bf.push_back(BFloat16(float(v)));
    check_sort_keys(h);
    check_sort_keys(bf);
    std::vector<int64_t> i64;
    std::vector<int32_t> i32;
    std::vector<int8_t> i8;
    std::vector<uint8_t> u8;
    for (int i = 0; i < 60; ++i) {
      int64_t v = uniform_int(-3, 3);
      i64.push_back(i % 10 == 0 ? INT64_MIN + v * v : v);
      i32.push_back(int32_t(v * 1000000));
      i8.push_back(int8_t(v * 40));
      u8.push_back(uint8_t(v + 3) * 40);
      u8.push_back(v > 0);  // bool-like values too
    }
    check_sort_keys(i64);
    check_sort_keys(i32);
    check_sort_keys(i8);
    check_sort_keys(u8);
  }
}

double ulp_of(double x) { return std::nextafter(std::fabs(x), INFINITY) - std::fabs(x); }

TEST(PortableMath, LogIsWithinOneUlp) {
  std::vector<double> xs{1.0, 0.5, 2.0, 1e-300, 4.9e-324, 1e300, 0.7071067811865476, 1.4142135623730951,
                         1.0 - 1.1102230246251565e-16, 1.0 + 2.220446049250313e-16};
  for (int i = 0; i < 200000; ++i) xs.push_back(1.0 - unit_double(uint32_t(rng()()), uint32_t(rng()())));
  for (int i = 0; i < 20000; ++i) xs.push_back(std::ldexp(1.0 + unit_double(uint32_t(rng()()), 0), int(uniform_int(-1070, 1020))));
  double worst = 0;
  for (double x : xs) {
    long double want = logl((long double)x);
    double err = double(fabsl((long double)portable_log(x) - want)) / ulp_of(double(want));
    worst = std::max(worst, want == 0 ? std::fabs(portable_log(x)) : err);
  }
  EXPECT_LE(worst, 1.0) << "max error in ulps";
}

TEST(PortableMath, CosOfTurnsIsAccurate) {
  double worst = 0;
  std::vector<double> us{0.0, 0.25, 0.5, 0.75, 0.125, 0.375, 0.625, 0.875, 1.0 - 1.1102230246251565e-16};
  for (int i = 0; i < 200000; ++i) us.push_back(unit_double(uint32_t(rng()()), uint32_t(rng()())));
  for (double u : us) {
    long double want = cosl(2.0L * 3.14159265358979323846264338327950288L * (long double)u);
    worst = std::max(worst, double(fabsl((long double)cos_2pi(u) - want)));
  }
  EXPECT_LE(worst, 3.0e-16) << "max absolute error";  // one or two ulps of values near 1
  EXPECT_EQ(cos_2pi(0.0), 1.0);
  EXPECT_EQ(cos_2pi(0.5), -1.0);
}

TEST(RandomTransforms, NormalHasTheRightMoments) {
  double s = 0, s2 = 0, s4 = 0;
  const int n = 400000;
  for (int i = 0; i < n; ++i) {
    double z = standard_normal(philox4x32(7, uint64_t(i)));
    s += z, s2 += z * z, s4 += z * z * z * z;
  }
  EXPECT_NEAR(s / n, 0, 0.01);
  EXPECT_NEAR(s2 / n, 1, 0.01);
  EXPECT_NEAR(s4 / n, 3, 0.05);
}

// The CPU kernels apply exactly these transforms to block (offset + i): the same bits the CUDA
// backend produces (its conformance case compares the two devices where a GPU answers).
TEST(RandomTransforms, CpuKernelsAreTheTransformsBitForBit) {
  Generator g(1234);
  g.reserve(17);
  Tensor u = empty({1000}, {DType::Float32}), n = empty({1000}, {DType::Float64}), i = empty({1000}, {DType::Int64});
  Tensor h = empty({1000}, {DType::BFloat16});
  backend_for(Device::cpu()).uniform(u, -2, 5, g);     // blocks 17..1016
  backend_for(Device::cpu()).normal(n, 0.5, 2, g);     // 1017..2016
  backend_for(Device::cpu()).randint(i, -9, 1000, g);  // 2017..3016
  backend_for(Device::cpu()).normal(h, -1, 3, g);      // 3017..4016
  std::vector<float> uv = u.tolist<float>();
  std::vector<double> nv = n.tolist<double>(), hv = h.to_vector();
  std::vector<int64_t> iv = i.tolist<int64_t>();
  for (int k = 0; k < 1000; ++k) {
    ASSERT_EQ(uv[size_t(k)], (uniform_value<float>(philox4x32(1234, 17 + uint64_t(k)), -2, 5)));
    ASSERT_EQ(nv[size_t(k)], (normal_value<double>(philox4x32(1234, 1017 + uint64_t(k)), 0.5, 2)));
    ASSERT_EQ(iv[size_t(k)], (randint_value<int64_t>(philox4x32(1234, 2017 + uint64_t(k)), -9, 1009)));
    ASSERT_EQ(hv[size_t(k)], double(float(normal_value<BFloat16>(philox4x32(1234, 3017 + uint64_t(k)), -1, 3))));
  }
}

TEST(Pooling, TapRangeMatchesTheDefinition) {
  for (int trial = 0; trial < 5000; ++trial) {
    int64_t size = uniform_int(1, 12), k = uniform_int(1, 5), stride = uniform_int(1, 3), pad = uniform_int(0, 3),
            dil = uniform_int(1, 3), o = uniform_int(0, 8);
    TapRange r = tap_range(o, size, k, stride, pad, dil);
    EXPECT_TRUE(0 <= r.lo && r.lo <= r.hi && r.hi <= k) << r.lo << " " << r.hi << " " << k;
    for (int64_t t = 0; t < k; ++t) {
      int64_t at = o * stride - pad + t * dil;
      EXPECT_EQ(t >= r.lo && t < r.hi, at >= 0 && at < size) << "tap " << t;
    }
  }
}

}  // namespace
