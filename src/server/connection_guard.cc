#include "server/connection_guard.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <set>
#include <string_view>

#include "server/connection.h"

namespace sieve::server {
namespace {

constexpr std::string_view kTimeoutReply =
    "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: 135\r\n\r\n"
    "{\"error\":{\"message\":\"the request took too long to arrive (--request-timeout)\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":null}}";

int port_of(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port);
  return -1;
}

std::string text_of(const sockaddr_storage& ss) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET) inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr, buf, sizeof buf);
  if (ss.ss_family == AF_INET6) inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof buf);
  return std::string(buf) + ":" + std::to_string(port_of(ss));
}

}  // namespace

static_assert(kTimeoutReply.size() - kTimeoutReply.find("\r\n\r\n") - 4 == 135, "Content-Length of the 408 body");

ConnectionGuard::ConnectionGuard(int port, std::chrono::seconds timeout, std::chrono::seconds keep_alive)
    : port_(port), timeout_(timeout), keep_alive_(keep_alive), thread_([this] { loop(); }) {}

ConnectionGuard::~ConnectionGuard() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

bool ConnectionGuard::key_of(int fd, int port, Key& key) {
  sockaddr_storage local{}, peer{};
  socklen_t ll = sizeof local, pl = sizeof peer;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &ll) != 0 || port_of(local) != port) return false;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &pl) != 0) return false;
  key = {fd, text_of(peer)};
  return true;
}

void ConnectionGuard::busy(int fd) {
  Key key;
  if (fd < 0 || !key_of(fd, port_, key)) return;
  std::lock_guard<std::mutex> lock(mutex_);
  Conn& c = conns_[key];
  c.busy = true;
}

void ConnectionGuard::idle(int fd) {
  Key key;
  if (fd < 0 || !key_of(fd, port_, key)) return;
  std::lock_guard<std::mutex> lock(mutex_);
  Conn& c = conns_[key];
  c.busy = false;
  c.served = true;
  c.since = std::chrono::steady_clock::now();
}

void ConnectionGuard::loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_) {
    wake_.wait_for(lock, std::chrono::milliseconds(500));
    if (stop_) break;
    lock.unlock();
    scan();
    lock.lock();
  }
}

// Lists the server's connections (sockets on its port with a peer), adds new
// ones, forgets closed ones, and times out the ones past their deadline.
void ConnectionGuard::scan() {
  std::set<Key> open;
  for_each_socket([&](int fd) {
    Key key;
    if (key_of(fd, port_, key)) open.insert(key);
    return false;
  });
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = conns_.begin(); it != conns_.end();) {
    it = open.count(it->first) ? std::next(it) : conns_.erase(it);
  }
  for (const Key& key : open) {
    auto [it, added] = conns_.try_emplace(key);
    Conn& c = it->second;
    if (added) c.since = now;
    if (c.busy || c.killed) continue;
    // A kept-alive connection first waits up to keep_alive for its next
    // request (the library closes it if none comes); past that, a request is
    // on its way and gets `timeout` like the first.
    const auto deadline = c.since + timeout_ + (c.served ? keep_alive_ : std::chrono::seconds(0));
    if (now < deadline) continue;
    c.killed = true;
    (void)!send(key.first, kTimeoutReply.data(), kTimeoutReply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    shutdown(key.first, SHUT_RDWR);
  }
}

}  // namespace sieve::server
