#pragma once
// A reference-counted block of memory on one device. Views share it; it is freed by its
// deleter when the last tensor using it goes away.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "tessera/core/device.h"

namespace tessera {

class StorageImpl {
 public:
  using Deleter = std::function<void(void*)>;
  StorageImpl(void* data, size_t nbytes, Device device, Deleter deleter)
      : data_(data), nbytes_(nbytes), device_(device), deleter_(std::move(deleter)) {}
  ~StorageImpl() {
    if (deleter_) deleter_(data_);
  }
  StorageImpl(const StorageImpl&) = delete;
  StorageImpl& operator=(const StorageImpl&) = delete;

  void* data() const { return data_; }
  // Puts the bytes somewhere else (same size and device), for every tensor using this storage:
  // the old block goes to the old deleter. share_memory_ moves a tensor into shared memory so.
  void replace(void* data, Deleter deleter, std::string shared_name) {
    if (deleter_) deleter_(data_);
    data_ = data;
    deleter_ = std::move(deleter);
    shared_name_ = std::move(shared_name);
  }
  // The POSIX shared-memory object holding the bytes (tessera/core/shared_memory.h), or empty.
  const std::string& shared_name() const { return shared_name_; }
  // Bumped by every in-place write through any view of this storage; autograd compares it with
  // the value a saved tensor had.
  uint64_t version() const { return version_; }
  void bump_version() { ++version_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_;
  size_t nbytes_;
  Device device_;
  Deleter deleter_;
  std::string shared_name_;
  uint64_t version_ = 0;
};
using Storage = std::shared_ptr<StorageImpl>;

}  // namespace tessera
