#include "cli/args.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "util/error.h"

namespace sieve::cli {
namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep)) out.push_back(item);
  return out;
}

int64_t to_int(const std::string& flag, const std::string& v) {
  errno = 0;
  char* end = nullptr;
  long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno == ERANGE) throw Error(flag + " expects an integer, got '" + v + "'");
  return x;
}

double to_double(const std::string& flag, const std::string& v) {
  errno = 0;
  char* end = nullptr;
  double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(x))
    throw Error(flag + " expects a number, got '" + v + "'");
  return x;
}

}  // namespace

void Args::add(const std::string& names, const std::string& metavar, const std::string& help, bool takes_value,
               std::function<void(const std::string&, const std::string&)> set) {
  specs_.push_back({split(names, ','), metavar, help, takes_value, std::move(set)});
}

void Args::option(const std::string& n, const std::string& m, const std::string& h, std::string* out) {
  add(n, m, h, true, [out](const std::string&, const std::string& v) { *out = v; });
}
void Args::option(const std::string& n, const std::string& m, const std::string& h, int64_t* out) {
  add(n, m, h, true, [out](const std::string& f, const std::string& v) { *out = to_int(f, v); });
}
void Args::option(const std::string& n, const std::string& m, const std::string& h, int* out) {
  add(n, m, h, true, [out](const std::string& f, const std::string& v) {
    int64_t x = to_int(f, v);
    if (x < INT32_MIN || x > INT32_MAX) throw Error(f + " is out of range");
    *out = static_cast<int>(x);
  });
}
void Args::option(const std::string& n, const std::string& m, const std::string& h, uint64_t* out) {
  add(n, m, h, true, [out](const std::string& f, const std::string& v) {
    int64_t x = to_int(f, v);
    if (x < 0) throw Error(f + " must not be negative");
    *out = static_cast<uint64_t>(x);
  });
}
void Args::option(const std::string& n, const std::string& m, const std::string& h, double* out) {
  add(n, m, h, true, [out](const std::string& f, const std::string& v) { *out = to_double(f, v); });
}
void Args::option(const std::string& n, const std::string& m, const std::string& h, float* out) {
  add(n, m, h, true, [out](const std::string& f, const std::string& v) { *out = static_cast<float>(to_double(f, v)); });
}
void Args::repeated(const std::string& n, const std::string& m, const std::string& h, std::vector<std::string>* out) {
  add(n, m, h, true, [out](const std::string&, const std::string& v) { out->push_back(v); });
}
void Args::flag(const std::string& n, const std::string& h, bool* out) {
  add(n, "", h, false, [out](const std::string&, const std::string&) { *out = true; });
}
void Args::positional(const std::string& metavar, const std::string& help, std::vector<std::string>* out) {
  positional_metavar_ = metavar;
  positional_help_ = help;
  positionals_ = out;
}

bool Args::given(const std::string& name) const {
  return std::find(given_.begin(), given_.end(), name) != given_.end();
}

bool Args::parse(int argc, char** argv) {
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::fputs(help().c_str(), stdout);
      return false;
    }
    if (a.size() > 1 && a[0] == '-' && !(a.size() > 1 && (std::isdigit(static_cast<unsigned char>(a[1])) || a[1] == '.'))) {
      std::string value;
      bool has_inline = false;
      if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
        value = a.substr(eq + 1);
        a = a.substr(0, eq);
        has_inline = true;
      }
      auto it = std::find_if(specs_.begin(), specs_.end(), [&](const Spec& s) {
        return std::find(s.names.begin(), s.names.end(), a) != s.names.end();
      });
      if (it == specs_.end()) throw Error("unknown option '" + a + "' (see " + usage_.substr(0, usage_.find(' ', 6)) + " --help)");
      if (it->takes_value && !has_inline) {
        if (i + 1 >= argc) throw Error(a + " needs a value (" + it->metavar + ")");
        value = argv[++i];
      } else if (!it->takes_value && has_inline) {
        throw Error(a + " takes no value");
      }
      it->set(a, value);
      for (const std::string& n : it->names) given_.push_back(n);
      continue;
    }
    if (!positionals_) throw Error("unexpected argument '" + a + "'");
    positionals_->push_back(a);
  }
  return true;
}

std::string Args::help() const {
  std::string s = "usage: " + usage_ + "\n\n" + summary_ + "\n\n";
  if (positionals_) s += "  " + positional_metavar_ + "\n      " + positional_help_ + "\n";
  for (const Spec& sp : specs_) {
    std::string names;
    for (const std::string& n : sp.names) names += (names.empty() ? "" : ", ") + n;
    s += "  " + names + (sp.takes_value ? " " + sp.metavar : "") + "\n      " + sp.help + "\n";
  }
  s += "  -h, --help\n      show this help\n";
  return s;
}

std::vector<int64_t> parse_int_list(const std::string& text, const std::string& what) {
  std::vector<int64_t> out;
  for (const std::string& item : split(text, ',')) out.push_back(to_int(what, item));
  if (out.empty()) throw Error(what + " is empty");
  return out;
}

}  // namespace sieve::cli
