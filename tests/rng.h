#pragma once
// A per-process random engine for tests that draw their own cases (seeded afresh each run).
#include <cstdint>
#include <random>

namespace tessera::testing {

inline std::mt19937_64& rng() {
  static std::mt19937_64 r(std::random_device{}());
  return r;
}
// Uniform in [lo, hi].
inline int64_t uniform_int(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng()); }

}  // namespace tessera::testing
