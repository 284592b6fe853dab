#pragma once
// Rendezvous stores: the key-value places where the processes of a job find each other before
// their first collective (torch.distributed's Store). TcpStore: rank 0 serves, every rank is a
// client; FileStore: a folder on a file system every rank sees.
//
//   dist::TcpStore store("127.0.0.1", 29500, /*is_server=*/rank == 0, std::chrono::seconds(60));
//   store.set("key", bytes);  auto v = store.get("key");  // get waits for the key (timeout)
#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace tessera::dist {

using Bytes = std::vector<char>;

class Store {
 public:
  virtual ~Store() = default;
  virtual void set(const std::string& key, const Bytes& value) = 0;
  // The value, once some rank has set it; an Error naming the key after the timeout.
  virtual Bytes get(const std::string& key) = 0;
  virtual bool check(const std::string& key) = 0;  // whether the key is set (no waiting)
  // Adds delta to the integer at key (0 when unset) and returns the sum: a counter every rank
  // can bump.
  virtual int64_t add(const std::string& key, int64_t delta) = 0;
  // Waits until every key is set; an Error naming the missing ones after the timeout.
  void wait(const std::vector<std::string>& keys);
  std::chrono::milliseconds timeout() const { return timeout_; }
  void set_timeout(std::chrono::milliseconds t) { timeout_ = t; }

 protected:
  std::chrono::milliseconds timeout_{std::chrono::minutes(30)};
};

// A store served over TCP by the process with is_server (it listens on host:port, host being
// the address it binds: the one MASTER_ADDR names, never every interface unless host is
// "0.0.0.0"). Every connection first presents `token` (by default the TESSERA_DIST_TOKEN
// environment variable, or empty); the server drops connections with another one. Port 0 on the
// server picks a free port (port() tells which).
class TcpStore : public Store {
 public:
  TcpStore(const std::string& host, int port, bool is_server, std::chrono::milliseconds timeout,
           std::string token = default_token());
  ~TcpStore() override;
  void set(const std::string& key, const Bytes& value) override;
  Bytes get(const std::string& key) override;
  bool check(const std::string& key) override;
  int64_t add(const std::string& key, int64_t delta) override;
  int port() const;
  static std::string default_token();

 private:
  struct Server;
  struct Client;
  std::unique_ptr<Server> server_;
  std::unique_ptr<Client> client_;
};

// A store in a folder (file:///path/to/folder): one file per key, written atomically.
class FileStore : public Store {
 public:
  FileStore(std::string folder, std::chrono::milliseconds timeout);
  void set(const std::string& key, const Bytes& value) override;
  Bytes get(const std::string& key) override;
  bool check(const std::string& key) override;
  int64_t add(const std::string& key, int64_t delta) override;

 private:
  std::string path_of(const std::string& key) const;
  std::string folder_;
};

}  // namespace tessera::dist
