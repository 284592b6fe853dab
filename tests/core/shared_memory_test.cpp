// Shared memory: share_memory_ moves a tensor's bytes in place (views follow), a forked child's
// writes reach the parent, another mapping by name sees the same bytes, and the errors.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tessera/core/shared_memory.h"
#include "tessera/tessera.h"

using namespace tessera;

TEST(SharedMemory, InPlaceForViewsForkedChildrenAndOtherMappings) {
  Tensor t = arange(0, 12, 1, {DType::Float32}).reshape({3, 4});
  Tensor row = t.select(0, 1);
  EXPECT_FALSE(t.is_shared());
  t.share_memory_();
  EXPECT_TRUE(t.is_shared());
  EXPECT_TRUE(row.is_shared());
  EXPECT_EQ(t.tolist<float>(), (std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
  row.fill_(-1);
  EXPECT_EQ(t[1][3].item<float>(), -1);
  // A forked child's writes reach the parent (the test exits the child without unwinding).
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    t.select(0, 2).fill_(42);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(t[2].tolist<float>(), (std::vector<float>{42, 42, 42, 42}));
  // A second mapping by name (what another process does) sees and makes the same bytes.
  const std::string& name = t.storage()->shared_name();
  Storage other = open_shared_storage(name, t.storage()->nbytes());
  static_cast<float*>(other->data())[0] = 5;
  EXPECT_EQ(t[0][0].item<float>(), 5);
  // Modules: every parameter and buffer.
  nn::BatchNorm1d bn(3);
  bn.share_memory();
  for (auto& [n, p] : bn.named_parameters()) EXPECT_TRUE(p.is_shared()) << n;
  for (auto& [n, b] : bn.named_buffers()) EXPECT_TRUE(b.is_shared()) << n;
}

TEST(SharedMemory, Errors) {
  EXPECT_THROW(open_shared_storage("/tessera_no_such_object", 8), IOError);
  EXPECT_THROW(open_shared_storage("no-slash", 8), ValueError);
  Tensor t = zeros({4});
  t.share_memory_();
  EXPECT_THROW(open_shared_storage(t.storage()->shared_name(), 1 << 20), IOError);  // larger than the object
  // Freed by its owner: the name is gone.
  std::string name = t.storage()->shared_name();
  t = Tensor();
  EXPECT_THROW(open_shared_storage(name, 16), IOError);
}
