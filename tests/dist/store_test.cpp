// Rendezvous stores, the gloo group's failure paths and the launcher (`tessera run`), in one
// process (the two-rank collectives run as dist_two_ranks_gloo).
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "tessera/dist/launch.h"
#include "tessera/dist/process_group.h"
#include "tessera/dist/store.h"
#include "tessera/tessera.h"
#include "tests/expect_error.h"
#include "tests/temp_dir.h"

using namespace tessera;
using namespace std::chrono_literals;

namespace {
dist::Bytes bytes(const std::string& s) { return dist::Bytes(s.begin(), s.end()); }
std::string text(const dist::Bytes& b) { return std::string(b.begin(), b.end()); }

template <class F>
double seconds(const F& f) {
  auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void expect_error(const std::function<void()>& f, const std::string& part) {
  tessera::testing::expect_error<Error>(f, part);
}
}  // namespace

TEST(Stores, TcpSetGetWaitAddAndTokens) {
  dist::TcpStore server("127.0.0.1", 0, true, 2s, "secret");
  ASSERT_GT(server.port(), 0);
  dist::TcpStore client("127.0.0.1", server.port(), false, 2s, "secret");
  // get waits for a key another client sets later.
  std::thread later([&] {
    std::this_thread::sleep_for(100ms);
    server.set("rank_1", bytes("address of 1"));
  });
  EXPECT_EQ(text(client.get("rank_1")), "address of 1");
  later.join();
  EXPECT_TRUE(client.check("rank_1"));
  EXPECT_FALSE(client.check("rank_2"));
  EXPECT_EQ(client.add("count", 2), 2);
  EXPECT_EQ(server.add("count", 3), 5);
  client.set("empty", {});
  EXPECT_EQ(client.get("empty").size(), 0u);
  // A missing key: an error naming it after the timeout, not a hang.
  client.set_timeout(300ms);
  double t = seconds([&] { expect_error([&] { client.get("never"); }, "'never' not set within 0.3 s"); });
  EXPECT_LT(t, 3);
  expect_error([&] { client.wait({"rank_1", "rank_7"}); }, "'rank_7' not set");
  // Another job's token: the server drops the connection.
  dist::TcpStore intruder("127.0.0.1", server.port(), false, 2s, "guess");
  expect_error([&] { intruder.set("rank_1", bytes("mine")); }, "TESSERA_DIST_TOKEN");
  EXPECT_EQ(text(client.get("rank_1")), "address of 1");
  // Nobody serving: an error naming the address within the timeout.
  int port = server.port();
  expect_error([&] { dist::TcpStore("127.0.0.1", port + 1 == 65536 ? 1 : port + 1, false, 300ms, ""); },
               "cannot reach the store");
  expect_error([&] { dist::TcpStore("no.such.host.invalid", 1, false, 300ms, ""); }, "cannot resolve");
}

TEST(Stores, FileStore) {
  auto dir = tessera::testing::fresh_dir("file_store");
  dist::FileStore a(dir.string(), 300ms), b(dir.string(), 300ms);
  a.set("k/with:odd chars", bytes("v"));
  EXPECT_EQ(text(b.get("k/with:odd chars")), "v");
  EXPECT_EQ(a.add("n", 4), 4);
  EXPECT_EQ(b.add("n", -1), 3);
  expect_error([&] { b.get("missing"); }, "'missing' not set within");
}

TEST(Gloo, AMissingRankIsAnErrorWithinTheTimeout) {
  if (!dist::built_with_gloo()) GTEST_SKIP() << "built without gloo";
  dist::TcpStore probe("127.0.0.1", 0, true, 1s, "");  // (only to find a free port)
  int port = probe.port() + 1 == 65536 ? 20000 : probe.port() + 1;
  double t = seconds([&] {
    expect_error([&] { dist::init_process_group("gloo", "tcp://127.0.0.1:" + std::to_string(port), 2, 0, 1500ms); },
                 "not set within");
  });
  EXPECT_LT(t, 10);
  EXPECT_FALSE(dist::is_initialized());
  expect_error([&] { dist::init_process_group("gloo", "udp://x:1", 2, 0, 1s); }, "none of env://");
  expect_error([&] { dist::init_process_group("gloo", "tcp://127.0.0.1:1", 2, 2, 1s); }, "rank 2 is not in a world of 2");
  ::unsetenv("MASTER_ADDR");
  expect_error([&] { dist::init_process_group("gloo", "env://", 2, 0, 1s); }, "MASTER_ADDR");
}

TEST(Launcher, StatusesAndFailures) {
  dist::LaunchOptions o;
  o.nproc_per_node = 3;
  o.master_port = 0;
  // Every rank sees torchrun's variables.
  EXPECT_EQ(dist::launch({"/bin/sh", "-c", "[ \"$WORLD_SIZE\" = 3 ] && [ \"$LOCAL_RANK\" = \"$RANK\" ] && "
                                           "[ -n \"$MASTER_PORT\" ] && [ \"$MASTER_ADDR\" = 127.0.0.1 ]"},
                         o),
            0);
  // A rank that exits 3: its status, and the others (sleeping) are ended, not waited for.
  o.grace_seconds = 1;
  double t = seconds([&] {
    EXPECT_EQ(dist::launch({"/bin/sh", "-c", "if [ \"$RANK\" = 1 ]; then exit 3; fi; sleep 30"}, o), 3);
  });
  EXPECT_LT(t, 15);
  // A rank killed by a signal: 128 + the signal.
  EXPECT_EQ(dist::launch({"/bin/sh", "-c", "if [ \"$RANK\" = 2 ]; then kill -9 $$; fi; sleep 30"}, o), 128 + 9);
  // A program that does not exist.
  EXPECT_EQ(dist::launch({"/no/such/program"}, o), 127);
  EXPECT_THROW(dist::launch({}, o), ValueError);
  o.nnodes = 2;
  EXPECT_THROW(dist::launch({"/bin/true"}, o), ValueError);  // port 0 needs one node
}
