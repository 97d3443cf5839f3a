#pragma once
// jinja2's builtin filters and tests, the Python str/dict/list methods that
// templates call, the globals transformers provides, and json.dumps.
#include <optional>
#include <string>
#include <vector>

#include "chat/value.h"

namespace sieve::chat {

class Interpreter;

// Binds a call's arguments to parameter names as Python does, with an
// error naming the function for an unknown keyword or too many arguments.
class ArgBinder {
 public:
  ArgBinder(const std::string& fn, CallArgs& args, std::vector<const char*> names, bool varargs = false);
  bool has(size_t k) const { return !bound_[k].is_undefined() || given_[k]; }
  const Value& get(size_t k) const { return bound_[k]; }
  Value get_or(size_t k, Value def) const { return has(k) ? bound_[k] : std::move(def); }
  const std::vector<Value>& rest() const { return rest_; }  // positional arguments past the names

 private:
  std::vector<Value> bound_;
  std::vector<bool> given_;
  std::vector<Value> rest_;
};

// Variables every template sees: range, namespace, dict, raise_exception,
// strftime_now, joiner, cycler.
Dict make_globals();

// Throws for an unknown filter or test ("no filter named 'x'").
Value call_filter(Interpreter& in, const std::string& name, const Value& input, CallArgs& args);
bool call_test(Interpreter& in, const std::string& name, const Value& input, CallArgs& args);

// obj.name as a bound method of a str, list, tuple or dict; nullopt when the
// type has no such method. Mutating methods (list.append, dict.update, ...)
// throw the sandbox's SecurityError.
std::optional<Value> find_method(const Value& obj, const std::string& name);

// Python's `format % args` for strings.
std::string percent_format(Interpreter& in, const std::string& format, const Value& args);

// Python's json.dumps(v, ensure_ascii, indent, separators, sort_keys).
struct JsonStyle {
  bool ensure_ascii = false;
  bool indent_set = false;
  std::string indent;  // the string each level adds, when indent_set
  std::string item_sep = ", ", key_sep = ": ";
  bool sort_keys = false;
};
std::string json_dumps(const Value& v, const JsonStyle& style);

// Python's str.split / strip and friends, shared by filters and methods.
std::vector<std::string> py_split(const std::string& s, const Value& sep, int64_t maxsplit, bool from_right);
std::string py_strip(const std::string& s, const Value& chars, bool left, bool right);
std::string py_replace(const std::string& s, const std::string& old, const std::string& repl, int64_t count);
// s[start:stop:step] on code points (or elements), Python's slice rules.
Value py_slice(const Value& v, const Value& start, const Value& stop, const Value& step);

}  // namespace sieve::chat
