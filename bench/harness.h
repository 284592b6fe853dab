#pragma once
// What the benchmark binaries share: timing (median of calls after warm-up), one JSON line per
// measurement, and the command line (--filter, --min-time, --list, and each binary's own flags).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace tessera::bench {

inline double g_min_time = 0.5;

// Median milliseconds per call: `warmup` calls, then calls until g_min_time has passed
// (`min_calls` at least); `sync` runs after each call (waiting for a GPU).
inline double time_ms(const std::function<void()>& f, int warmup = 1, size_t min_calls = 3,
                      const std::function<void()>& sync = {}) {
  for (int i = 0; i < warmup; ++i) f();
  if (sync) sync();
  std::vector<double> t;
  auto start = std::chrono::steady_clock::now();
  while (t.size() < min_calls ||
         std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < g_min_time) {
    auto a = std::chrono::steady_clock::now();
    f();
    if (sync) sync();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
    if (t.size() >= 2000) break;
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// {"name": ..., "ms": median milliseconds per call, "metric": value, "unit": ...}
inline void report(const std::string& name, double ms, double metric, const char* unit) {
  std::printf("{\"name\": \"%s\", \"ms\": %.4f, \"metric\": %.2f, \"unit\": \"%s\"}\n", name.c_str(), ms, metric, unit);
  std::fflush(stdout);
}

struct Workload {
  std::string name;
  std::function<void()> run;  // sets up its tensors, times them and reports
};

// Parses the common flags (own(i) may take argv[i] and what follows: it returns false for a flag
// it does not know), then lists or runs the workloads whose names contain the filter.
inline int run_main(int argc, char** argv, const char* usage, const std::function<bool(int&)>& own,
                    const std::function<std::vector<Workload>()>& workloads,
                    const std::function<bool()>& ready = {}) {
  std::string filter;
  bool list = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--filter") && i + 1 < argc) filter = argv[++i];
    else if (!std::strcmp(argv[i], "--min-time") && i + 1 < argc) g_min_time = std::atof(argv[++i]);
    else if (!std::strcmp(argv[i], "--list")) list = true;
    else if (!own || !own(i)) {
      std::fprintf(stderr, "%s: unknown argument '%s'\nusage: %s\n", argv[0], argv[i], usage);
      return 2;
    }
  }
  if (!list && ready && !ready()) return 3;
  for (const Workload& w : workloads()) {
    if (!filter.empty() && w.name.find(filter) == std::string::npos) continue;
    if (list) std::printf("%s\n", w.name.c_str());
    else w.run();
  }
  return 0;
}

}  // namespace tessera::bench
