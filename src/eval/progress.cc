#include "eval/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace sieve::eval {

Progress::Progress(std::string label, int64_t total_items, double total_work, bool enabled)
    : label_(std::move(label)),
      total_items_(total_items),
      total_work_(total_work),
      enabled_(enabled),
      tty_(::isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_print_(start_) {}

Progress::~Progress() {
  if (line_open_) std::fputc('\n', stderr);
}

std::string Progress::format_seconds(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const long long t = std::llround(s);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%lldh%02lldm", t / 3600, t / 60 % 60);
  else if (t >= 60) std::snprintf(buf, sizeof buf, "%lldm%02llds", t / 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%llds", t);
  return buf;
}

void Progress::advance(int64_t items, double work) {
  done_items_ += items;
  done_work_ += work;
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_print_ < std::chrono::seconds(tty_ ? 1 : 15)) return;
  last_print_ = now;
  print(false);
}

void Progress::finish() {
  if (!enabled_ || finished_) return;
  finished_ = true;
  print(true);
}

void Progress::print(bool final_line) {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double left = done_work_ > 0 ? elapsed * (total_work_ - done_work_) / done_work_ : NAN;
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s: %lld/%lld, %s elapsed, %s left", label_.c_str(),
                static_cast<long long>(done_items_), static_cast<long long>(total_items_),
                format_seconds(elapsed).c_str(), final_line ? "0s" : format_seconds(left).c_str());
  if (tty_) {
    std::fprintf(stderr, "\r%s\033[K%s", buf, final_line ? "\n" : "");
    line_open_ = !final_line;
  } else {
    std::fprintf(stderr, "%s\n", buf);
  }
  std::fflush(stderr);
}

}  // namespace sieve::eval
