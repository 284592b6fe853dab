#pragma once
// tessera's exceptions. Every message names the op and the offending shapes, dtypes or values;
// user input never aborts the process.
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace tessera {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
class ShapeError : public Error { using Error::Error; };
class DTypeError : public Error { using Error::Error; };
class DeviceError : public Error { using Error::Error; };
class IndexError : public Error { using Error::Error; };
class ValueError : public Error { using Error::Error; };
class IOError : public Error { using Error::Error; };

// Prints a shape as [2, 3, 4].
std::ostream& operator<<(std::ostream& os, const std::vector<int64_t>& shape);

// Warnings (TORCH_WARN's role): what is allowed but likely a mistake or deprecated. They go to the
// handler: stderr by default; the Python package routes them to Python's warnings module.
using WarningHandler = void (*)(const std::string& message);
void warn(const std::string& message);
// Installs a handler (nullptr: back to stderr); returns the previous one.
WarningHandler set_warning_handler(WarningHandler h);

namespace detail {
inline void str_into(std::ostringstream&) {}
template <class T, class... R>
void str_into(std::ostringstream& os, const T& v, const R&... rest) {
  os << v;
  str_into(os, rest...);
}
// Concatenates the arguments with operator<<.
template <class... A>
std::string str(const A&... a) {
  std::ostringstream os;
  str_into(os, a...);
  return os.str();
}
}  // namespace detail

}  // namespace tessera

// TS_CHECK(cond, "op: message ", value, ...) throws tessera::Error; the typed forms throw the
// matching subclass.
#define TS_CHECK_T(type, cond, ...) \
  do {                              \
    if (!(cond)) [[unlikely]]       \
      throw type(::tessera::detail::str(__VA_ARGS__)); \
  } while (0)
#define TS_CHECK(cond, ...) TS_CHECK_T(::tessera::Error, cond, __VA_ARGS__)
#define TS_CHECK_SHAPE(cond, ...) TS_CHECK_T(::tessera::ShapeError, cond, __VA_ARGS__)
#define TS_CHECK_DTYPE(cond, ...) TS_CHECK_T(::tessera::DTypeError, cond, __VA_ARGS__)
#define TS_CHECK_DEVICE(cond, ...) TS_CHECK_T(::tessera::DeviceError, cond, __VA_ARGS__)
#define TS_CHECK_INDEX(cond, ...) TS_CHECK_T(::tessera::IndexError, cond, __VA_ARGS__)
#define TS_CHECK_VALUE(cond, ...) TS_CHECK_T(::tessera::ValueError, cond, __VA_ARGS__)
