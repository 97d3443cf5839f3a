#include "runtime/memory_budget.h"

#include <cstdio>
#include <fstream>

#include "util/error.h"

namespace sieve {

size_t available_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key, unit;
  size_t value = 0;
  while (in >> key >> value >> unit)
    if (key == "MemAvailable:") return value * 1024;
  return 0;
}

void check_memory_fits(size_t need, const std::string& what) {
  const size_t available = available_memory_bytes();
  if (available == 0 || need <= available) return;
  throw Error(what + " needs " + mib(need) + " but the system has " + mib(available) + " available");
}

std::string mib(size_t bytes) {
  char buf[64];
  const double m = static_cast<double>(bytes) / 1048576.0;
  std::snprintf(buf, sizeof buf, m >= 100 ? "%.0f MiB" : "%.1f MiB", m);
  return buf;
}

}  // namespace sieve
