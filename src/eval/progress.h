#pragma once
// Progress of a long evaluation on stderr: items done/total, elapsed time and
// an estimate of the time left. Work units weight the estimate (a 32K-token
// prompt costs far more than a 1K one), items are what the user counts.
// On a terminal one line is rewritten with \r at most once a second; when
// stderr is a file or pipe, a full line is written at most every 15 seconds
// so logs stay readable.
#include <chrono>
#include <cstdint>
#include <string>

namespace sieve::eval {

class Progress {
 public:
  Progress(std::string label, int64_t total_items, double total_work, bool enabled = true);
  ~Progress();  // ends the \r line if one is open

  void advance(int64_t items, double work);
  void finish();

  // "1h02m", "3m05s", "12s": for the progress line.
  static std::string format_seconds(double s);

 private:
  void print(bool final_line);

  std::string label_;
  int64_t total_items_, done_items_ = 0;
  double total_work_, done_work_ = 0;
  bool enabled_, tty_, line_open_ = false, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_print_;
};

}  // namespace sieve::eval
