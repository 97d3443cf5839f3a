#pragma once
// The values a chat template computes with, modelled on the Python objects
// jinja2 hands around: undefined, None, bool, int, float, str, list, tuple,
// dict (insertion-ordered), callables (builtins, macros, bound methods),
// namespace() objects and plain attribute objects (the `loop` variable).
// Lists, tuples and dicts are shared and never mutated once built (the
// sandbox forbids it); a namespace is the one mutable object.
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "util/error.h"

namespace sieve::chat {

class Interpreter;
struct Value;

enum class Kind { Undefined, None, Bool, Int, Float, String, List, Tuple, Dict, Callable, Namespace, Object };

// How deeply lists and dicts may nest, so that printing, comparing and
// freeing a value never recurses without bound.
constexpr int kMaxValueDepth = 256;

struct Dict {
  std::vector<std::pair<Value, Value>> items;
  const Value* find(const Value& key) const;
  const Value* find(const std::string& key) const;
  void set(Value key, Value value);  // replaces in place or appends
};

// Positional and keyword arguments of a call.
struct CallArgs {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
};

struct Callable {
  std::string name;
  std::function<Value(Interpreter&, CallArgs&)> fn;
};

struct Value {
  Kind kind = Kind::Undefined;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;  // String; for Undefined the message an error would give
  std::shared_ptr<std::vector<Value>> list;  // List, Tuple
  std::shared_ptr<Dict> dict;                // Dict, Namespace, Object
  std::shared_ptr<Callable> fn;              // Callable
  int depth = 0;  // nesting of lists/tuples/dicts inside (bounded by kMaxValueDepth)

  Value() = default;
  static Value undefined(std::string why) { Value v; v.s = std::move(why); return v; }
  static Value none() { Value v; v.kind = Kind::None; return v; }
  static Value boolean(bool x) { Value v; v.kind = Kind::Bool; v.b = x; return v; }
  static Value integer(int64_t x) { Value v; v.kind = Kind::Int; v.i = x; return v; }
  static Value number(double x) { Value v; v.kind = Kind::Float; v.f = x; return v; }
  static Value string(std::string x) { Value v; v.kind = Kind::String; v.s = std::move(x); return v; }
  static Value make_list(std::vector<Value> items, Kind kind = Kind::List);
  static Value make_dict(Dict d, Kind kind = Kind::Dict);
  static Value function(std::string name, std::function<Value(Interpreter&, CallArgs&)> fn);

  bool is_undefined() const { return kind == Kind::Undefined; }
  bool is_none() const { return kind == Kind::None; }
  bool is_string() const { return kind == Kind::String; }
  bool is_number() const { return kind == Kind::Int || kind == Kind::Float || kind == Kind::Bool; }
  bool is_sequence() const { return kind == Kind::List || kind == Kind::Tuple; }
  bool is_mapping() const { return kind == Kind::Dict; }
  bool has_attrs() const { return kind == Kind::Namespace || kind == Kind::Object; }
};

// Python's type name of a value, as error messages print it ("str", "dict").
const char* type_name(const Value& v);
// bool(v); never fails.
bool truthy(const Value& v);
// str(v) as jinja2 prints it: "" for undefined, "None", "True", repr of floats,
// Python reprs for lists and dicts.
std::string to_str(const Value& v);
// repr(v): strings quoted as Python quotes them.
std::string repr(const Value& v);
// Python's repr of a float ("1.0", "0.1", "1e+20", "inf", "nan").
std::string float_repr(double x);
// Python ==; never fails (undefined equals only undefined).
bool equals(const Value& a, const Value& b);
// Python <, for numbers, strings and sequences; throws sieve::Error otherwise.
bool less(const Value& a, const Value& b);
// The value as a Python float or int; throws for anything but numbers.
double as_double(const Value& v, const char* what);
// Throws the error an undefined value raises when it is used as a value.
[[noreturn]] void fail_undefined(const Value& v);

// The items `for x in v` visits: elements, dict keys, a string's characters;
// undefined gives none; other kinds throw.
std::vector<Value> iterate(const Value& v);
// len(v); undefined is 0; other kinds throw.
int64_t length(const Value& v);

// Boundary with JSON: every JSON value has a Python equivalent; objects keep
// their order. to_json throws for values json.dumps refuses (undefined,
// callables).
Value from_json(const nlohmann::ordered_json& j);
nlohmann::ordered_json to_json(const Value& v);

// Errors raised while rendering: the message names the problem the way
// jinja2 would ("'x' is undefined", "TypeError: ...").
[[noreturn]] void fail(const std::string& message);

}  // namespace sieve::chat
