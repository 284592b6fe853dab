#pragma once
// A fresh, empty folder under the system's temporary directory for one test (named by the
// process and the test, so parallel test binaries do not collide).
#include <unistd.h>

#include <filesystem>
#include <string>

namespace tessera::testing {
inline std::filesystem::path fresh_dir(const std::string& name) {
  namespace fs = std::filesystem;
  fs::path p = fs::temp_directory_path() / ("tessera_test_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}
}  // namespace tessera::testing
