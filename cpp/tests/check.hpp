// Test-only: a minimal test harness (registration, CHECK, CHECK_THROWS), so the C++
// tests need nothing beyond the compiler. Each test binary is one ctest.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <string>
#include <vector>

namespace ortnative::test {

struct Case {
  const char* name;
  std::function<void()> fn;
};

inline std::vector<Case>& registry() {
  static std::vector<Case> cases;
  return cases;
}

struct Register {
  Register(const char* name, std::function<void()> fn) { registry().push_back({name, std::move(fn)}); }
};

struct Failure : std::exception {
  std::string what_;
  explicit Failure(std::string w) : what_(std::move(w)) {}
  const char* what() const noexcept override { return what_.c_str(); }
};

inline int run_all() {
  int failed = 0;
  for (const Case& c : registry()) {
    try {
      c.fn();
      std::printf("ok    %s\n", c.name);
    } catch (const std::exception& e) {
      ++failed;
      std::printf("FAIL  %s: %s\n", c.name, e.what());
    }
  }
  std::printf("%zu tests, %d failed\n", registry().size(), failed);
  return failed == 0 ? 0 : 1;
}

}  // namespace ortnative::test

#define ORTN_CAT2(a, b) a##b
#define ORTN_CAT(a, b) ORTN_CAT2(a, b)
#define TEST_CASE(name)                                                      \
  static void ORTN_CAT(test_fn_, __LINE__)();                                \
  static ::ortnative::test::Register ORTN_CAT(test_reg_, __LINE__)(          \
      name, ORTN_CAT(test_fn_, __LINE__));                                   \
  static void ORTN_CAT(test_fn_, __LINE__)()

#define CHECK(cond)                                                                    \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      throw ::ortnative::test::Failure(std::string(__FILE__) + ":" +                   \
                                       std::to_string(__LINE__) + ": CHECK(" #cond ")"); \
    }                                                                                  \
  } while (0)

// Checks that EXPR throws TYPE whose message contains SUBSTR.
#define CHECK_THROWS(expr, type, substr)                                                   \
  do {                                                                                     \
    bool thrown_ = false;                                                                  \
    try {                                                                                  \
      (void)(expr);                                                                        \
    } catch (const type& e_) {                                                             \
      thrown_ = true;                                                                      \
      if (std::string(e_.what()).find(substr) == std::string::npos) {                      \
        throw ::ortnative::test::Failure(std::string(__FILE__) + ":" +                     \
                                         std::to_string(__LINE__) + ": message '" +        \
                                         e_.what() + "' lacks '" + (substr) + "'");        \
      }                                                                                    \
    }                                                                                      \
    if (!thrown_) {                                                                        \
      throw ::ortnative::test::Failure(std::string(__FILE__) + ":" +                       \
                                       std::to_string(__LINE__) + ": " #expr               \
                                       " did not throw " #type);                           \
    }                                                                                      \
  } while (0)
