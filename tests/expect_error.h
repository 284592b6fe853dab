#pragma once
// expect_error<E>(f, part): f must throw an E whose message contains part (a test failure
// naming what was expected otherwise).
#include <gtest/gtest.h>

#include <string>

namespace tessera::testing {
template <class E, class F>
void expect_error(F&& f, const std::string& part) {
  try {
    f();
    ADD_FAILURE() << "no exception; expected one containing: " << part;
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}
}  // namespace tessera::testing
