#pragma once
// A small command-line parser: typed options with help text, --help, and
// errors that name the bad flag or value.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace sieve::cli {

class Args {
 public:
  Args(std::string usage, std::string summary) : usage_(std::move(usage)), summary_(std::move(summary)) {}

  // names: "-m,--model". Values are parsed and range-checked when seen.
  void option(const std::string& names, const std::string& metavar, const std::string& help, std::string* out);
  void option(const std::string& names, const std::string& metavar, const std::string& help, int64_t* out);
  void option(const std::string& names, const std::string& metavar, const std::string& help, int* out);
  void option(const std::string& names, const std::string& metavar, const std::string& help, double* out);
  void option(const std::string& names, const std::string& metavar, const std::string& help, float* out);
  void option(const std::string& names, const std::string& metavar, const std::string& help, uint64_t* out);
  // An option that may be repeated; every value is appended.
  void repeated(const std::string& names, const std::string& metavar, const std::string& help,
                std::vector<std::string>* out);
  void flag(const std::string& names, const std::string& help, bool* out);
  void positional(const std::string& metavar, const std::string& help, std::vector<std::string>* out);

  // Returns false when --help was asked for (help already printed).
  bool parse(int argc, char** argv);
  std::string help() const;
  bool given(const std::string& name) const;  // was the option on the command line

 private:
  struct Spec {
    std::vector<std::string> names;
    std::string metavar, help;
    bool takes_value = true;
    std::function<void(const std::string&, const std::string&)> set;
  };
  void add(const std::string& names, const std::string& metavar, const std::string& help, bool takes_value,
           std::function<void(const std::string&, const std::string&)> set);

  std::string usage_, summary_;
  std::vector<Spec> specs_;
  std::string positional_metavar_, positional_help_;
  std::vector<std::string>* positionals_ = nullptr;
  std::vector<std::string> given_;
};

// Parses "1,2,3" into integers; throws sieve::Error naming the bad item.
std::vector<int64_t> parse_int_list(const std::string& text, const std::string& what);

}  // namespace sieve::cli
