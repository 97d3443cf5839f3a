#pragma once
// Slow-client protection. The HTTP library times out each read separately,
// so a client that sends one byte every few seconds could hold a connection
// (and a thread) forever. The guard watches the server's open connections
// and gives a client `timeout` to send each whole request: a connection that
// is not being answered and has been receiving for longer gets a 408 and is
// shut down. Connections whose request is being answered (a stream may run
// for minutes) are exempt.
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace sieve::server {

class ConnectionGuard {
 public:
  // keep_alive: how long the library itself waits for the next request on a
  // connection that was answered before closing it.
  ConnectionGuard(int port, std::chrono::seconds timeout, std::chrono::seconds keep_alive);
  ~ConnectionGuard();

  void busy(int fd);  // a request on fd was received and is being answered
  void idle(int fd);  // its answer was written; the next request's clock starts

 private:
  struct Conn {
    std::chrono::steady_clock::time_point since;
    bool busy = false;
    bool served = false;  // has answered a request (a kept-alive connection)
    bool killed = false;
  };
  using Key = std::pair<int, std::string>;  // fd, "peer address:port"

  void loop();
  void scan();
  static bool key_of(int fd, int port, Key& key);

  int port_;
  std::chrono::seconds timeout_, keep_alive_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::map<Key, Conn> conns_;
  std::thread thread_;
};

}  // namespace sieve::server
