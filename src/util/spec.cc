#include "util/spec.h"

#include <cerrno>
#include <cstdlib>
#include <utility>

#include "util/error.h"

namespace sieve {

Spec::Spec(const std::string& text, std::string kind) : text_(text), kind_(std::move(kind)) {
  const size_t colon = text.find(':');
  name_ = text.substr(0, colon);
  if (name_.empty()) throw Error("empty " + kind_ + " spec");
  if (colon == std::string::npos) return;
  std::string rest = text.substr(colon + 1);
  size_t start = 0;
  while (start <= rest.size()) {
    size_t comma = rest.find(',', start);
    std::string item = rest.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size())
      throw Error(kind_ + " '" + text + "': expected key=value, got '" + item + "'");
    if (!params_.emplace(item.substr(0, eq), item.substr(eq + 1)).second)
      throw Error(kind_ + " '" + text + "': '" + item.substr(0, eq) + "' given twice");
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
}

int64_t Spec::take_int(const std::string& key, int64_t fallback, int64_t min) {
  auto it = params_.find(key);
  if (it == params_.end()) return fallback;
  used_[key] = true;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(it->second.c_str(), &end, 10);
  if (*end != '\0' || errno == ERANGE) throw Error(kind_ + " '" + text_ + "': " + key + " must be an integer");
  if (v < min) throw Error(kind_ + " '" + text_ + "': " + key + " must be >= " + std::to_string(min));
  return v;
}

double Spec::take_double(const std::string& key, double fallback, double min, double max) {
  auto it = params_.find(key);
  if (it == params_.end()) return fallback;
  used_[key] = true;
  char* end = nullptr;
  double v = std::strtod(it->second.c_str(), &end);
  if (*end != '\0' || !(v >= min && v <= max))
    throw Error(kind_ + " '" + text_ + "': " + key + " must be a number in [" + std::to_string(min) + ", " +
                std::to_string(max) + "]");
  return v;
}

bool Spec::take_bool(const std::string& key, bool fallback) {
  auto it = params_.find(key);
  if (it == params_.end()) return fallback;
  used_[key] = true;
  if (it->second == "1" || it->second == "true" || it->second == "on") return true;
  if (it->second == "0" || it->second == "false" || it->second == "off") return false;
  throw Error(kind_ + " '" + text_ + "': " + key + " must be on or off");
}

std::string Spec::take_string(const std::string& key, const std::string& fallback) {
  auto it = params_.find(key);
  if (it == params_.end()) return fallback;
  used_[key] = true;
  return it->second;
}

std::string Spec::take_choice(const std::string& key, const std::string& fallback,
                                    const std::vector<std::string>& valid) {
  auto it = params_.find(key);
  if (it == params_.end()) return fallback;
  used_[key] = true;
  std::string list;
  for (const std::string& v : valid) {
    if (v == it->second) return v;
    list += (list.empty() ? "" : ", ") + v;
  }
  throw Error(kind_ + " '" + text_ + "': " + key + " must be one of " + list + " (got '" + it->second + "')");
}

void Spec::finish(const std::vector<std::string>& valid) const {
  for (const auto& [key, value] : params_) {
    if (used_.count(key)) continue;
    std::string list;
    for (const std::string& v : valid) list += (list.empty() ? "" : ", ") + v;
    throw Error(kind_ + " '" + name_ + "' has no parameter '" + key + "' (valid: " +
                (list.empty() ? "none" : list) + ")");
  }
}

}  // namespace sieve
