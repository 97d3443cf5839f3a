#include "chat/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "chat/unicode.h"

namespace sieve::chat {

void fail(const std::string& message) { throw Error(message); }

void fail_undefined(const Value& v) {
  if (v.s.rfind("SecurityError", 0) == 0) fail(v.s);
  fail("UndefinedError: " + (v.s.empty() ? "value is undefined" : v.s));
}

const Value* Dict::find(const Value& key) const {
  for (const auto& kv : items)
    if (equals(kv.first, key)) return &kv.second;
  return nullptr;
}

const Value* Dict::find(const std::string& key) const {
  for (const auto& kv : items)
    if (kv.first.kind == Kind::String && kv.first.s == key) return &kv.second;
  return nullptr;
}

void Dict::set(Value key, Value value) {
  for (auto& kv : items)
    if (equals(kv.first, key)) {
      kv.second = std::move(value);
      return;
    }
  items.emplace_back(std::move(key), std::move(value));
}

namespace {

int nested_depth(int child_depth) {
  if (child_depth + 1 > kMaxValueDepth)
    fail("value nested more than " + std::to_string(kMaxValueDepth) + " levels deep (limit)");
  return child_depth + 1;
}

// The recursive walks below (repr, ==, <, to_json) also stop at a depth, as
// namespaces are mutable and may even contain themselves.
struct WalkDepth {
  explicit WalkDepth(int& d) : d_(d) {
    if (++d_ > 2 * kMaxValueDepth) {
      --d_;
      fail("value nested too deeply (or containing itself)");
    }
  }
  ~WalkDepth() { --d_; }
  int& d_;
};
thread_local int walk_depth = 0;

}  // namespace

Value Value::make_list(std::vector<Value> items, Kind kind) {
  Value v;
  v.kind = kind;
  int d = 0;
  for (const Value& x : items) d = std::max(d, x.depth);
  v.depth = nested_depth(d);
  v.list = std::make_shared<std::vector<Value>>(std::move(items));
  return v;
}

Value Value::make_dict(Dict d, Kind kind) {
  Value v;
  v.kind = kind;
  int depth = 0;
  for (const auto& kv : d.items) depth = std::max({depth, kv.first.depth, kv.second.depth});
  v.depth = nested_depth(depth);
  v.dict = std::make_shared<Dict>(std::move(d));
  return v;
}

Value Value::function(std::string name, std::function<Value(Interpreter&, CallArgs&)> fn) {
  Value v;
  v.kind = Kind::Callable;
  v.fn = std::make_shared<Callable>(Callable{std::move(name), std::move(fn)});
  return v;
}

const char* type_name(const Value& v) {
  switch (v.kind) {
    case Kind::Undefined: return "Undefined";
    case Kind::None: return "NoneType";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::String: return "str";
    case Kind::List: return "list";
    case Kind::Tuple: return "tuple";
    case Kind::Dict: return "dict";
    case Kind::Callable: return "function";
    case Kind::Namespace: return "Namespace";
    case Kind::Object: return "LoopContext";
  }
  return "object";
}

bool truthy(const Value& v) {
  switch (v.kind) {
    case Kind::Undefined:
    case Kind::None: return false;
    case Kind::Bool: return v.b;
    case Kind::Int: return v.i != 0;
    case Kind::Float: return v.f != 0;
    case Kind::String: return !v.s.empty();
    case Kind::List:
    case Kind::Tuple: return !v.list->empty();
    case Kind::Dict: return !v.dict->items.empty();
    default: return true;
  }
}

std::string float_repr(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x < 0 ? "-inf" : "inf";
  // Shortest round-trip digits, then Python's layout: positional for
  // exponents -4..15, scientific otherwise.
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific);
  std::string sci(buf, r.ptr);
  std::string sign;
  if (sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  const size_t e = sci.find('e');
  std::string digits = sci.substr(0, e);
  const int exp = std::stoi(sci.substr(e + 1));
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  if (exp >= -4 && exp < 16) {
    std::string out;
    if (exp < 0) {
      out = "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
    } else if (static_cast<size_t>(exp) + 1 >= digits.size()) {
      out = digits + std::string(static_cast<size_t>(exp) + 1 - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, static_cast<size_t>(exp) + 1) + "." + digits.substr(static_cast<size_t>(exp) + 1);
    }
    return sign + out;
  }
  std::string mant = digits.size() > 1 ? digits.substr(0, 1) + "." + digits.substr(1) : digits;
  char ebuf[16];
  std::snprintf(ebuf, sizeof ebuf, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
  return sign + mant + ebuf;
}

namespace {

std::string string_repr(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos, has_double = s.find('"') != std::string::npos;
  const char q = has_single && !has_double ? '"' : '\'';
  std::string out(1, q);
  for (char32_t c : decode_utf8(s)) {
    if (c == static_cast<char32_t>(q) || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7F || (c >= 0x80 && c < 0xA0) || (c >= 0xDC80 && c <= 0xDCFF)) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(c >= 0xDC80 ? c - 0xDC00 : c));
      out += buf;
    } else {
      append_utf8(out, c);
    }
  }
  out += q;
  return out;
}

}  // namespace

std::string repr(const Value& v) {
  WalkDepth guard(walk_depth);
  switch (v.kind) {
    case Kind::Undefined: return "Undefined";
    case Kind::String: return string_repr(v.s);
    case Kind::List:
    case Kind::Tuple: {
      std::string out = v.kind == Kind::List ? "[" : "(";
      for (size_t k = 0; k < v.list->size(); ++k) {
        if (k) out += ", ";
        out += repr((*v.list)[k]);
      }
      if (v.kind == Kind::Tuple && v.list->size() == 1) out += ",";
      return out + (v.kind == Kind::List ? "]" : ")");
    }
    case Kind::Dict: {
      std::string out = "{";
      bool first = true;
      for (const auto& [k, x] : v.dict->items) {
        if (!first) out += ", ";
        first = false;
        out += repr(k) + ": " + repr(x);
      }
      return out + "}";
    }
    case Kind::Namespace: {
      std::string out = "<Namespace {";
      bool first = true;
      for (const auto& [k, x] : v.dict->items) {
        if (!first) out += ", ";
        first = false;
        out += repr(k) + ": " + repr(x);
      }
      return out + "}>";
    }
    default: return to_str(v);
  }
}

std::string to_str(const Value& v) {
  switch (v.kind) {
    case Kind::Undefined: return "";
    case Kind::None: return "None";
    case Kind::Bool: return v.b ? "True" : "False";
    case Kind::Int: return std::to_string(v.i);
    case Kind::Float: return float_repr(v.f);
    case Kind::String: return v.s;
    case Kind::Callable: return "<function " + v.fn->name + ">";
    case Kind::Object: return "<LoopContext>";
    default: return repr(v);
  }
}

bool equals(const Value& a, const Value& b) {
  WalkDepth guard(walk_depth);
  if (a.is_number() && b.is_number()) {
    if (a.kind == Kind::Float || b.kind == Kind::Float) return as_double(a, "") == as_double(b, "");
    const int64_t x = a.kind == Kind::Bool ? a.b : a.i, y = b.kind == Kind::Bool ? b.b : b.i;
    return x == y;
  }
  if (a.is_sequence() && b.is_sequence()) {
    if (a.kind != b.kind || a.list->size() != b.list->size()) return false;
    for (size_t k = 0; k < a.list->size(); ++k)
      if (!equals((*a.list)[k], (*b.list)[k])) return false;
    return true;
  }
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Kind::Undefined:
    case Kind::None: return true;
    case Kind::String: return a.s == b.s;
    case Kind::Dict: {
      if (a.dict->items.size() != b.dict->items.size()) return false;
      for (const auto& [k, x] : a.dict->items) {
        const Value* y = b.dict->find(k);
        if (!y || !equals(x, *y)) return false;
      }
      return true;
    }
    case Kind::Namespace:
    case Kind::Object: return a.dict == b.dict;
    case Kind::Callable: return a.fn == b.fn;
    default: return false;
  }
}

double as_double(const Value& v, const char* what) {
  switch (v.kind) {
    case Kind::Bool: return v.b;
    case Kind::Int: return static_cast<double>(v.i);
    case Kind::Float: return v.f;
    case Kind::Undefined: fail_undefined(v);
    default: fail(std::string("TypeError: ") + what + ": expected a number, got '" + type_name(v) + "'");
  }
}

bool less(const Value& a, const Value& b) {
  WalkDepth guard(walk_depth);
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  if (a.is_number() && b.is_number()) {
    if (a.kind == Kind::Float || b.kind == Kind::Float) return as_double(a, "") < as_double(b, "");
    return (a.kind == Kind::Bool ? a.b : a.i) < (b.kind == Kind::Bool ? b.b : b.i);
  }
  if (a.is_string() && b.is_string()) return a.s < b.s;  // UTF-8 byte order is code point order
  if (a.is_sequence() && a.kind == b.kind) {
    const auto &x = *a.list, &y = *b.list;
    for (size_t k = 0; k < x.size() && k < y.size(); ++k) {
      if (equals(x[k], y[k])) continue;
      return less(x[k], y[k]);
    }
    return x.size() < y.size();
  }
  fail(std::string("TypeError: '<' not supported between instances of '") + type_name(a) + "' and '" +
       type_name(b) + "'");
}

std::vector<Value> iterate(const Value& v) {
  switch (v.kind) {
    case Kind::Undefined: return {};
    case Kind::List:
    case Kind::Tuple: return *v.list;
    case Kind::Dict: {
      std::vector<Value> keys;
      for (const auto& kv : v.dict->items) keys.push_back(kv.first);
      return keys;
    }
    case Kind::String: {
      std::vector<Value> chars;
      if (is_ascii(v.s)) {
        for (char c : v.s) chars.push_back(Value::string(std::string(1, c)));
      } else {
        for (char32_t c : decode_utf8(v.s)) chars.push_back(Value::string(encode_utf8(std::u32string(1, c))));
      }
      return chars;
    }
    default: fail(std::string("TypeError: '") + type_name(v) + "' object is not iterable");
  }
}

int64_t length(const Value& v) {
  switch (v.kind) {
    case Kind::Undefined: return 0;
    case Kind::List:
    case Kind::Tuple: return static_cast<int64_t>(v.list->size());
    case Kind::Dict: return static_cast<int64_t>(v.dict->items.size());
    case Kind::String: return count_code_points(v.s);
    default: fail(std::string("TypeError: object of type '") + type_name(v) + "' has no len()");
  }
}

Value from_json(const nlohmann::ordered_json& j) {
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return Value::none();
    case nlohmann::ordered_json::value_t::boolean: return Value::boolean(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Value::integer(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      const uint64_t u = j.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value::number(static_cast<double>(u));
      return Value::integer(static_cast<int64_t>(u));
    }
    case nlohmann::ordered_json::value_t::number_float: return Value::number(j.get<double>());
    case nlohmann::ordered_json::value_t::string: return Value::string(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& x : j) items.push_back(from_json(x));
      return Value::make_list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      Dict d;
      d.items.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it) d.items.emplace_back(Value::string(it.key()), from_json(it.value()));
      return Value::make_dict(std::move(d));
    }
    default: return Value::none();
  }
}

nlohmann::ordered_json to_json(const Value& v) {
  WalkDepth guard(walk_depth);
  switch (v.kind) {
    case Kind::None: return nullptr;
    case Kind::Bool: return v.b;
    case Kind::Int: return v.i;
    case Kind::Float: return v.f;
    case Kind::String: return v.s;
    case Kind::List:
    case Kind::Tuple: {
      nlohmann::ordered_json a = nlohmann::ordered_json::array();
      for (const Value& x : *v.list) a.push_back(to_json(x));
      return a;
    }
    case Kind::Dict: {
      nlohmann::ordered_json o = nlohmann::ordered_json::object();
      for (const auto& [k, x] : v.dict->items) o[k.kind == Kind::String ? k.s : to_str(k)] = to_json(x);
      return o;
    }
    default: fail(std::string("TypeError: Object of type ") + type_name(v) + " is not JSON serializable");
  }
}

}  // namespace sieve::chat
