#pragma once
// Host memory that other processes can map: POSIX shared-memory objects (/dev/shm). A tensor
// moved there with Tensor::share_memory_() keeps its storage in place for every view, and a
// process forked afterwards writes the same bytes (Hogwild-style training); another process
// (multiprocessing's spawn) maps it by name with open_shared_storage.
#include <string>

#include "tessera/core/storage.h"

namespace tessera {

// nbytes of fresh shared memory (zeroed), owned by this process: the object's name is unlinked
// when the storage is freed, after which no new process can open it (those mapping it keep it).
Storage new_shared_storage(size_t nbytes);
// Maps an existing object by name (as StorageImpl::shared_name gives it); nbytes must not
// exceed its size. Throws IOError naming the object when it is gone or smaller.
Storage open_shared_storage(const std::string& name, size_t nbytes);
// Moves st's bytes into a new shared-memory object in place (nothing when already shared).
void move_to_shared_memory(StorageImpl& st);

}  // namespace tessera
