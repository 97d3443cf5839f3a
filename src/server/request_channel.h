#pragma once
// Hands one request's tokens and result from the engine thread (which fills
// it through the request's callbacks) to the HTTP thread that answers it.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "runtime/request.h"

namespace sieve::server {

class RequestChannel {
 public:
  // Engine thread: must not block, so it only appends and notifies.
  void push(const TokenEvent& e) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      events_.push_back(e);
    }
    cv_.notify_one();
  }
  void finish(const RequestResult& r) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      result_ = r;
      finished_ = true;
    }
    cv_.notify_one();
  }

  // HTTP thread: waits up to `timeout` for tokens or the end, moves the
  // tokens so far into `out`, and returns true once the request has finished
  // and every token has been taken.
  bool wait(std::vector<TokenEvent>& out, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait_for(lock, timeout, [&] { return finished_ || !events_.empty(); });
    out.insert(out.end(), std::make_move_iterator(events_.begin()), std::make_move_iterator(events_.end()));
    events_.clear();
    return finished_;
  }
  // Valid once wait() has returned true.
  const RequestResult& result() const { return result_; }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<TokenEvent> events_;
  RequestResult result_;
  bool finished_ = false;
};

}  // namespace sieve::server
