#include "tessera/core/shared_memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "tessera/core/error.h"

namespace tessera {

namespace {

std::string fresh_name() {
  static std::atomic<uint64_t> counter{0};
  return "/tessera_" + std::to_string(::getpid()) + "_" + std::to_string(counter.fetch_add(1));
}

// Maps the object open on fd (size at least nbytes; a 0-byte storage maps one byte).
void* map(int fd, size_t nbytes, const std::string& name) {
  void* p = ::mmap(nullptr, std::max<size_t>(nbytes, 1), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int err = errno;
  ::close(fd);
  TS_CHECK_T(IOError, p != MAP_FAILED, "shared memory: cannot map ", name, " (", nbytes, " bytes): ", std::strerror(err));
  return p;
}

// Unmaps; the creating process (not a child forked from it) also unlinks the name.
Storage::element_type::Deleter unmapper(size_t nbytes, std::string unlink_name) {
  pid_t owner = ::getpid();
  return [nbytes, unlink_name, owner](void* p) {
    ::munmap(p, std::max<size_t>(nbytes, 1));
    if (!unlink_name.empty() && ::getpid() == owner) ::shm_unlink(unlink_name.c_str());
  };
}

// A new object of nbytes, mapped; its name in `name`.
void* create(size_t nbytes, std::string& name) {
  name = fresh_name();
  int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  TS_CHECK_T(IOError, fd >= 0, "shared memory: cannot create ", name, " in /dev/shm: ", std::strerror(errno));
  if (::ftruncate(fd, off_t(std::max<size_t>(nbytes, 1))) != 0) {
    int err = errno;
    ::close(fd);
    ::shm_unlink(name.c_str());
    TS_CHECK_T(IOError, false, "shared memory: cannot size ", name, " to ", nbytes, " bytes: ", std::strerror(err),
               " (is /dev/shm large enough?)");
  }
  try {
    return map(fd, nbytes, name);
  } catch (...) {
    ::shm_unlink(name.c_str());
    throw;
  }
}

}  // namespace

Storage new_shared_storage(size_t nbytes) {
  std::string name;
  void* p = create(nbytes, name);
  auto st = std::make_shared<StorageImpl>(nullptr, nbytes, Device::cpu(), nullptr);
  st->replace(p, unmapper(nbytes, name), name);
  return st;
}

Storage open_shared_storage(const std::string& name, size_t nbytes) {
  TS_CHECK_VALUE(name.size() > 1 && name[0] == '/' && name.find('/', 1) == std::string::npos,
                 "shared memory: '", name, "' is not a shared-memory object name");
  int fd = ::shm_open(name.c_str(), O_RDWR, 0600);
  TS_CHECK_T(IOError, fd >= 0, "shared memory: cannot open ", name, ": ", std::strerror(errno),
             " (the process that shared it may have freed it)");
  struct stat sb {};
  if (::fstat(fd, &sb) != 0 || size_t(sb.st_size) < nbytes) {
    ::close(fd);
    TS_CHECK_T(IOError, false, "shared memory: ", name, " holds ", int64_t(sb.st_size), " bytes, ", nbytes,
               " were expected");
  }
  void* p = map(fd, nbytes, name);
  auto st = std::make_shared<StorageImpl>(nullptr, nbytes, Device::cpu(), nullptr);
  st->replace(p, unmapper(nbytes, ""), name);
  return st;
}

void move_to_shared_memory(StorageImpl& st) {
  if (!st.shared_name().empty()) return;
  TS_CHECK_DEVICE(st.device().is_cpu(), "share_memory_: the storage is on ", st.device(),
                  "; only host memory is shared between processes");
  std::string name;
  void* p = create(st.nbytes(), name);
  if (st.nbytes() > 0) std::memcpy(p, st.data(), st.nbytes());
  st.replace(p, unmapper(st.nbytes(), name), name);
}

}  // namespace tessera
