#pragma once
// Parsing of spec strings, "name:key=value,key=value": attention policies
// (attn=), RoPE extensions (rope=).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sieve {

class Spec {
 public:
  // Throws sieve::Error on malformed text; errors name the spec as `kind`
  // ("attention policy 'quest:budget=x': ...").
  explicit Spec(const std::string& text, std::string kind = "attention policy");

  const std::string& name() const { return name_; }
  // Reads an integer parameter (default when absent); throws when the value
  // is not an integer or below min.
  int64_t take_int(const std::string& key, int64_t fallback, int64_t min);
  double take_double(const std::string& key, double fallback, double min, double max);
  bool take_bool(const std::string& key, bool fallback);
  // Reads a free-form parameter (a file path, say).
  std::string take_string(const std::string& key, const std::string& fallback);
  // Whether a parameter was given.
  bool has(const std::string& key) const { return params_.count(key) > 0; }
  // Reads a parameter that takes one of `valid` (a name); throws listing them.
  std::string take_choice(const std::string& key, const std::string& fallback, const std::vector<std::string>& valid);
  // Throws when a parameter was given that no take_* asked for, naming the valid ones.
  void finish(const std::vector<std::string>& valid) const;

 private:
  std::string text_, kind_, name_;
  std::map<std::string, std::string> params_;
  std::map<std::string, bool> used_;
};

}  // namespace sieve
