#pragma once
// Where a tensor's memory lives: the CPU or the N-th CUDA device.
#include <cstdint>
#include <iosfwd>
#include <string>

namespace tessera {

enum class DeviceType : uint8_t { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;

  // Implicit from a type or a name, as LibTorch's (model.to(kCUDA), Device("cuda:1")).
  Device(DeviceType t = DeviceType::CPU, int i = 0) : type(t), index(i) {}
  Device(const std::string& s) : Device(parse(s)) {}
  Device(const char* s) : Device(parse(s)) {}

  static Device cpu() { return {DeviceType::CPU, 0}; }
  static Device cuda(int index = 0) { return {DeviceType::CUDA, index}; }
  // Parses "cpu", "cuda", "cuda:1".
  static Device parse(const std::string& s);
  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  std::string str() const;
  bool operator==(const Device&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Device& d);

// LibTorch's device constants: kCPU, kCUDA (tessera::ones({2}, kCUDA), model.to(kCUDA)).
inline constexpr DeviceType kCPU = DeviceType::CPU, kCUDA = DeviceType::CUDA;

}  // namespace tessera
