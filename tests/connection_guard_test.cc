// The slow-client guard and the connection probes, on real loopback sockets.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "server/connection.h"
#include "server/connection_guard.h"

namespace sieve::server {
namespace {

// A socket listening on a free loopback port; `a` gets its address.
int listen_on_loopback(int backlog, sockaddr_in& a) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  a = sockaddr_in{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  EXPECT_EQ(listen(fd, backlog), 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return fd;
}

struct Loopback {
  int listener = -1, client = -1, accepted = -1, port = 0;

  Loopback() {
    sockaddr_in a;
    listener = listen_on_loopback(4, a);
    port = ntohs(a.sin_port);
    client = socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_EQ(connect(client, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    accepted = accept(listener, nullptr, nullptr);
  }
  ~Loopback() {
    for (int fd : {client, accepted, listener}) {
      if (fd >= 0) close(fd);
    }
  }
  int client_port() const {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    getsockname(client, reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
  }
  // What the client receives within `ms` (empty when nothing; "<closed>" appended at EOF).
  std::string client_reads(int ms) const {
    std::string got;
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < end) {
      pollfd p{client, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      char buf[512];
      const ssize_t n = read(client, buf, sizeof buf);
      if (n <= 0) return got + "<closed>";
      got.append(buf, static_cast<size_t>(n));
    }
    return got;
  }
};

TEST(Connection, FindsTheSocketByItsAddressPair) {
  Loopback l;
  EXPECT_EQ(find_connection_socket("127.0.0.1", l.client_port(), l.port), l.accepted);
  EXPECT_EQ(find_connection_socket("127.0.0.1", l.client_port() + 1, l.port), -1);
  EXPECT_EQ(find_connection_socket("10.0.0.1", l.client_port(), l.port), -1);
}

TEST(Connection, SeesThePeerClose) {
  Loopback l;
  EXPECT_FALSE(peer_closed(l.accepted));
  ASSERT_EQ(write(l.client, "GET", 3), 3);
  EXPECT_FALSE(peer_closed(l.accepted));  // data is not a close
  close(l.client);
  l.client = -1;
  EXPECT_TRUE(peer_closed(l.accepted));
  EXPECT_FALSE(peer_closed(-1));
}

// Connects to a listener nobody accepts from that the kernel completes
// within 200 ms each (at most its backlog + 1; the rest wait for SYN retries).
int completed_connects(int port, int n, std::vector<int>& fds) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int done = 0;
  for (int i = 0; i < n; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    fds.push_back(fd);
    connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    pollfd p{fd, POLLOUT, 0};
    int err = -1;
    socklen_t len = sizeof err;
    if (poll(&p, 1, 200) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) ++done;
  }
  return done;
}

TEST(Connection, WidensTheListenBacklog) {
  sockaddr_in a;
  const int listener = listen_on_loopback(1, a);
  const int port = ntohs(a.sin_port);
  std::vector<int> fds;
  EXPECT_LE(completed_connects(port, 5, fds), 3);  // a backlog of 1 overflows
  EXPECT_FALSE(widen_listen_backlog(port + 1 == 65536 ? 1 : port + 1));
  EXPECT_TRUE(widen_listen_backlog(port));
  EXPECT_EQ(completed_connects(port, 5, fds), 5);
  for (int fd : fds) close(fd);
  close(listener);
}

TEST(ConnectionGuard, TimesOutASlowRequestWith408) {
  Loopback l;
  ConnectionGuard guard(l.port, std::chrono::seconds(1), std::chrono::seconds(1));
  ASSERT_EQ(write(l.client, "POST / HTTP/1.1\r\n", 17), 17);
  const std::string got = l.client_reads(4000);
  EXPECT_EQ(got.rfind("HTTP/1.1 408 Request Timeout\r\n", 0), 0u) << got;
  EXPECT_NE(got.find("\"error\""), std::string::npos);
  EXPECT_NE(got.find("<closed>"), std::string::npos);
}

TEST(ConnectionGuard, LeavesAConnectionBeingAnsweredAlone) {
  Loopback l;
  ConnectionGuard guard(l.port, std::chrono::seconds(1), std::chrono::seconds(1));
  guard.busy(l.accepted);
  EXPECT_EQ(l.client_reads(2500), "");
  guard.idle(l.accepted);  // answered: now it has keep-alive + timeout for the next request
  const std::string got = l.client_reads(4500);
  EXPECT_EQ(got.rfind("HTTP/1.1 408", 0), 0u) << got;
}

}  // namespace
}  // namespace sieve::server
