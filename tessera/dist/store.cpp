#include "tessera/dist/store.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "tessera/core/error.h"
#include "tessera/io/safetensors.h"

namespace tessera::dist {

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint32_t kMaxKey = 4096, kMaxValue = 64u << 20, kMaxToken = 4096;
enum Op : uint8_t { kSet = 1, kGet = 2, kCheck = 3, kAdd = 4 };

// Polls f until it returns true or the timeout passes (sleeping 1 ms, growing to 50 ms).
template <class F>
bool poll_until(std::chrono::milliseconds timeout, const F& f) {
  auto end = Clock::now() + timeout;
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    if (f()) return true;
    if (Clock::now() >= end) return false;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

bool write_all(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t k = ::send(fd, c, n, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    c += k;
    n -= size_t(k);
  }
  return true;
}

bool read_all(int fd, void* p, size_t n) {
  char* c = static_cast<char*>(p);
  while (n > 0) {
    ssize_t k = ::recv(fd, c, n, 0);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    c += k;
    n -= size_t(k);
  }
  return true;
}

bool write_blob(int fd, const char* p, uint32_t n) { return write_all(fd, &n, 4) && (n == 0 || write_all(fd, p, n)); }

bool read_blob(int fd, std::string& out, uint32_t limit) {
  uint32_t n = 0;
  if (!read_all(fd, &n, 4) || n > limit) return false;
  out.resize(n);
  return n == 0 || read_all(fd, out.data(), n);
}

sockaddr_in resolve(const std::string& host, int port) {
  TS_CHECK_VALUE(port >= 0 && port < 65536, "dist store: port ", port, " is out of range");
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
  TS_CHECK_VALUE(rc == 0 && res, "dist store: cannot resolve host '", host, "': ", ::gai_strerror(rc));
  sockaddr_in a = *reinterpret_cast<sockaddr_in*>(res->ai_addr);
  ::freeaddrinfo(res);
  a.sin_port = htons(uint16_t(port));
  return a;
}

[[noreturn]] void not_set(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) {
  std::string names;
  for (auto& k : keys) names += (names.empty() ? "'" : ", '") + k + "'";
  throw Error(detail::str("dist store: ", names, " not set within ", timeout.count() / 1000.0,
                          " s (a process of the job failed or never started)"));
}

bool same_token(const std::string& a, const std::string& b) {  // no early exit on the first difference
  unsigned diff = unsigned(a.size() != b.size());
  for (size_t i = 0; i < std::max(a.size(), b.size()); ++i)
    diff |= unsigned(uint8_t(i < a.size() ? a[i] : 0) ^ uint8_t(i < b.size() ? b[i] : 0));
  return diff == 0;
}

}  // namespace

void Store::wait(const std::vector<std::string>& keys) {
  std::vector<std::string> missing;
  bool ok = poll_until(timeout_, [&] {
    missing.clear();
    for (auto& k : keys)
      if (!check(k)) missing.push_back(k);
    return missing.empty();
  });
  if (!ok) not_set(missing, timeout_);
}

// --- TcpStore ------------------------------------------------------------------------------------

struct TcpStore::Server {
  int listen_fd = -1, port = 0;
  std::string token;
  std::mutex m;
  std::map<std::string, std::string> data;
  std::vector<int> conns;
  std::vector<std::thread> threads;
  std::thread acceptor;
  std::atomic<bool> stopping{false};

  Server(const std::string& host, int p, std::string tok) : token(std::move(tok)) {
    sockaddr_in a = resolve(host, p);
    listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    TS_CHECK(listen_fd >= 0, "dist store: socket: ", std::strerror(errno));
    int one = 1;
    ::setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(listen_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listen_fd, 128) != 0) {
      int err = errno;
      ::close(listen_fd);
      throw Error(detail::str("dist store: cannot listen on ", host, ":", p, ": ", std::strerror(err)));
    }
    socklen_t len = sizeof a;
    ::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    acceptor = std::thread([this] { accept_loop(); });
  }

  ~Server() {
    stopping = true;
    ::shutdown(listen_fd, SHUT_RDWR);
    ::close(listen_fd);
    acceptor.join();
    {
      std::lock_guard<std::mutex> g(m);
      for (int fd : conns) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : threads) t.join();
    for (int fd : conns) ::close(fd);
  }

  void accept_loop() {
    while (!stopping) {
      int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        return;  // closed: stopping
      }
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      std::lock_guard<std::mutex> g(m);
      conns.push_back(fd);
      threads.emplace_back([this, fd] { serve(fd); });
    }
  }

  // One connection: the token first, then requests until the client leaves or breaks the protocol.
  void serve(int fd) {
    std::string tok;
    if (!read_blob(fd, tok, kMaxToken) || !same_token(tok, token)) {
      ::shutdown(fd, SHUT_RDWR);
      return;
    }
    for (;;) {
      uint8_t op = 0;
      std::string key, value;
      if (!read_all(fd, &op, 1) || !read_blob(fd, key, kMaxKey) || !read_blob(fd, value, kMaxValue)) break;
      uint8_t status = 1;
      std::string reply;
      {
        std::lock_guard<std::mutex> g(m);
        if (op == kSet) {
          data[key] = value;
        } else if (op == kGet || op == kCheck) {
          auto it = data.find(key);
          status = it != data.end();
          if (status && op == kGet) reply = it->second;
        } else if (op == kAdd && value.size() == 8) {
          int64_t delta = 0, now = 0;
          std::memcpy(&delta, value.data(), 8);
          auto it = data.find(key);
          if (it != data.end() && it->second.size() == 8) std::memcpy(&now, it->second.data(), 8);
          now += delta;
          reply.assign(reinterpret_cast<const char*>(&now), 8);
          data[key] = reply;
        } else {
          break;  // an unknown request: drop the connection
        }
      }
      if (!write_all(fd, &status, 1) || !write_blob(fd, reply.data(), uint32_t(reply.size()))) break;
    }
    ::shutdown(fd, SHUT_RDWR);
  }
};

struct TcpStore::Client {
  int fd = -1;
  std::string where;
  std::mutex m;

  Client(const std::string& host, int port, std::chrono::milliseconds timeout, const std::string& token)
      : where(host + ":" + std::to_string(port)) {
    sockaddr_in a = resolve(host, port);
    std::string last;
    bool ok = poll_until(timeout, [&] {
      fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return true;
      last = std::strerror(errno);
      if (fd >= 0) ::close(fd);
      fd = -1;
      return false;
    });
    TS_CHECK(ok, "dist store: cannot reach the store at ", where, " within ", timeout.count() / 1000.0, " s (",
             last, "; is rank 0 running, and MASTER_ADDR/MASTER_PORT right?)");
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    TS_CHECK(write_blob(fd, token.data(), uint32_t(token.size())), "dist store: lost the connection to ", where);
  }
  ~Client() {
    if (fd >= 0) ::close(fd);
  }

  // One request; false when the key was not there (get/check).
  bool request(Op op, const std::string& key, const std::string& value, std::string* reply) {
    TS_CHECK_VALUE(key.size() <= kMaxKey && value.size() <= kMaxValue, "dist store: key or value too large (",
                   key.size(), " and ", value.size(), " bytes)");
    std::lock_guard<std::mutex> g(m);
    uint8_t status = 0;
    std::string r;
    bool ok = write_all(fd, &op, 1) && write_blob(fd, key.data(), uint32_t(key.size())) &&
              write_blob(fd, value.data(), uint32_t(value.size())) && read_all(fd, &status, 1) &&
              read_blob(fd, r, kMaxValue);
    TS_CHECK(ok, "dist store: lost the connection to ", where,
             " (the store's process ended, or it refused this job's token: TESSERA_DIST_TOKEN must be the same "
             "on every rank)");
    if (reply) *reply = std::move(r);
    return status == 1;
  }
};

TcpStore::TcpStore(const std::string& host, int port, bool is_server, std::chrono::milliseconds timeout,
                   std::string token) {
  timeout_ = timeout;
  if (is_server) {
    server_ = std::make_unique<Server>(host, port, token);
    port = server_->port;
  }
  client_ = std::make_unique<Client>(host, port, timeout, token);
}

TcpStore::~TcpStore() {
  client_.reset();
  server_.reset();
}

int TcpStore::port() const { return server_ ? server_->port : -1; }

std::string TcpStore::default_token() {
  const char* t = std::getenv("TESSERA_DIST_TOKEN");
  return t ? t : "";
}

void TcpStore::set(const std::string& key, const Bytes& value) {
  client_->request(kSet, key, std::string(value.begin(), value.end()), nullptr);
}

bool TcpStore::check(const std::string& key) { return client_->request(kCheck, key, "", nullptr); }

Bytes TcpStore::get(const std::string& key) {
  std::string v;
  if (!poll_until(timeout_, [&] { return client_->request(kGet, key, "", &v); })) not_set({key}, timeout_);
  return Bytes(v.begin(), v.end());
}

int64_t TcpStore::add(const std::string& key, int64_t delta) {
  std::string v(reinterpret_cast<const char*>(&delta), 8), r;
  client_->request(kAdd, key, v, &r);
  int64_t out = 0;
  if (r.size() == 8) std::memcpy(&out, r.data(), 8);
  return out;
}

// --- FileStore -----------------------------------------------------------------------------------

FileStore::FileStore(std::string folder, std::chrono::milliseconds timeout) : folder_(std::move(folder)) {
  timeout_ = timeout;
  std::error_code ec;
  std::filesystem::create_directories(folder_, ec);
  TS_CHECK_T(IOError, std::filesystem::is_directory(folder_), "dist file store: cannot use folder '", folder_, "'");
}

std::string FileStore::path_of(const std::string& key) const {
  std::string safe;
  for (char c : key) safe += std::isalnum(uint8_t(c)) || c == '_' || c == '-' ? std::string(1, c) : detail::str("%", int(uint8_t(c)));
  return folder_ + "/" + safe;
}

void FileStore::set(const std::string& key, const Bytes& value) {
  io::write_file_atomic(path_of(key), std::string(value.begin(), value.end()));
}

bool FileStore::check(const std::string& key) { return std::filesystem::exists(path_of(key)); }

Bytes FileStore::get(const std::string& key) {
  wait({key});
  std::ifstream f(path_of(key), std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

int64_t FileStore::add(const std::string& key, int64_t delta) {
  // A counter as one file per increment: atomic without locks (link never overwrites a claim).
  for (int64_t n = 1;; ++n) {
    std::string claim = path_of(key) + ".add." + std::to_string(n);
    std::string tmp = claim + ".tmp." + std::to_string(::getpid());
    { std::ofstream(tmp, std::ios::binary) << delta; }
    if (::link(tmp.c_str(), claim.c_str()) == 0) {
      ::unlink(tmp.c_str());
      int64_t sum = 0;
      for (int64_t k = 1; k <= n; ++k) {
        std::ifstream f(path_of(key) + ".add." + std::to_string(k));
        int64_t d = 0;
        f >> d;
        sum += d;
      }
      return sum;
    }
    int err = errno;
    ::unlink(tmp.c_str());
    TS_CHECK_T(IOError, err == EEXIST, "dist file store: cannot write in '", folder_, "': ", std::strerror(err));
  }
}

}  // namespace tessera::dist
