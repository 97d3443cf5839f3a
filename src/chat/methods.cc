// The Python methods of str, list and dict that templates call, as bound
// methods. The sandbox refuses the ones that mutate.
#include <algorithm>
#include <unordered_set>

#include "chat/builtins.h"
#include "chat/interpreter.h"
#include "chat/unicode.h"

namespace sieve::chat {

namespace {

int64_t int_arg(const Value& v, const char* what) {
  if (v.kind == Kind::Int) return v.i;
  if (v.kind == Kind::Bool) return v.b;
  if (v.is_undefined()) fail_undefined(v);
  fail(std::string("TypeError: ") + what + " must be an integer, not '" + type_name(v) + "'");
}

const std::string& str_arg(const Value& v, const char* what) {
  if (v.is_string()) return v.s;
  if (v.is_undefined()) fail_undefined(v);
  fail(std::string("TypeError: ") + what + " must be str, not " + type_name(v));
}

Value strings(const std::vector<std::string>& parts) {
  std::vector<Value> out;
  for (const std::string& p : parts) out.push_back(Value::string(p));
  return Value::make_list(std::move(out));
}

// str.startswith / endswith with a str or a tuple of str.
bool affix(const std::string& s, const Value& what, bool start) {
  auto one = [&](const std::string& a) {
    if (a.size() > s.size()) return false;
    return start ? s.compare(0, a.size(), a) == 0 : s.compare(s.size() - a.size(), a.size(), a) == 0;
  };
  if (what.is_sequence()) {
    for (const Value& x : *what.list)
      if (one(str_arg(x, "startswith first arg"))) return true;
    return false;
  }
  return one(str_arg(what, "startswith first arg"));
}

std::string str_format(Interpreter& in, const std::string& fmt, CallArgs& a) {
  std::string out;
  size_t auto_index = 0;
  for (size_t k = 0; k < fmt.size(); ++k) {
    const char c = fmt[k];
    if (c == '}') {
      if (k + 1 < fmt.size() && fmt[k + 1] == '}') ++k;
      else fail("ValueError: Single '}' encountered in format string");
      out += '}';
      continue;
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (k + 1 < fmt.size() && fmt[k + 1] == '{') {
      out += '{';
      ++k;
      continue;
    }
    const size_t end = fmt.find('}', k);
    if (end == std::string::npos) fail("ValueError: Single '{' encountered in format string");
    std::string field = fmt.substr(k + 1, end - k - 1);
    k = end;
    std::string spec;
    if (size_t colon = field.find(':'); colon != std::string::npos) {
      spec = field.substr(colon + 1);
      field = field.substr(0, colon);
    }
    if (size_t bang = field.find('!'); bang != std::string::npos) field = field.substr(0, bang);
    Value v;
    if (field.empty()) {
      if (auto_index >= a.pos.size()) fail("IndexError: Replacement index " + std::to_string(auto_index) + " out of range");
      v = a.pos[auto_index++];
    } else if (std::all_of(field.begin(), field.end(), [](char d) { return d >= '0' && d <= '9'; })) {
      const size_t idx = field.size() < 9 ? std::stoul(field) : SIZE_MAX;
      if (idx >= a.pos.size()) fail("IndexError: Replacement index " + field + " out of range");
      v = a.pos[idx];
    } else {
      bool found = false;
      for (auto& [name, x] : a.kw)
        if (name == field) {
          v = x;
          found = true;
        }
      if (!found) fail("KeyError: '" + field + "'");
    }
    std::string text = to_str(v);
    if (!spec.empty()) {
      // [[fill]align][width]: enough for the padding templates use.
      char fill = ' ', align = v.is_number() ? '>' : '<';
      size_t p = 0;
      if (spec.size() >= 2 && (spec[1] == '<' || spec[1] == '>' || spec[1] == '^')) {
        fill = spec[0];
        align = spec[1];
        p = 2;
      } else if (spec[0] == '<' || spec[0] == '>' || spec[0] == '^') {
        align = spec[0];
        p = 1;
      }
      const std::string w = spec.substr(p);
      if (!w.empty() && w.size() < 9 && std::all_of(w.begin(), w.end(), [](char d) { return d >= '0' && d <= '9'; })) {
        const int64_t width = std::stoll(w), len = count_code_points(text);
        in.check_size(static_cast<size_t>(width));
        if (len < width) {
          const size_t pad = static_cast<size_t>(width - len);
          if (align == '<') text += std::string(pad, fill);
          else if (align == '>') text = std::string(pad, fill) + text;
          else text = std::string(pad / 2, fill) + text + std::string(pad - pad / 2, fill);
        }
      }
    }
    out += text;
    in.check_size(out.size());
  }
  return out;
}

int64_t code_point_index(const std::string& s, size_t byte_pos) {
  return count_code_points(std::string_view(s).substr(0, byte_pos));
}

std::string python_title(const std::string& s) {
  std::u32string u = decode_utf8(s);
  bool prev_cased = false;
  for (char32_t& c : u) {
    const bool cased = is_upper(c) || is_lower(c);
    if (cased) c = prev_cased ? to_lower(c) : to_upper(c);
    prev_cased = cased;
  }
  return encode_utf8(u);
}

template <typename Pred>
Value all_chars(const std::string& s, Pred pred) {
  std::u32string u = decode_utf8(s);
  return Value::boolean(!u.empty() && std::all_of(u.begin(), u.end(), pred));
}

Value str_method(Interpreter& in, const std::string& s, const std::string& name, CallArgs& a) {
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    ArgBinder b(name, a, {"chars"});
    return Value::string(py_strip(s, b.get_or(0, Value::none()), name != "rstrip", name != "lstrip"));
  }
  if (name == "split" || name == "rsplit") {
    ArgBinder b(name, a, {"sep", "maxsplit"});
    return strings(py_split(s, b.get_or(0, Value::none()), int_arg(b.get_or(1, Value::integer(-1)), "maxsplit"),
                            name == "rsplit"));
  }
  if (name == "splitlines") {
    ArgBinder b(name, a, {"keepends"});
    std::vector<std::string> lines;
    std::string cur;
    for (size_t k = 0; k < s.size(); ++k) {
      if (s[k] == '\n' || s[k] == '\r') {
        std::string end(1, s[k]);
        if (s[k] == '\r' && k + 1 < s.size() && s[k + 1] == '\n') end += s[++k];
        lines.push_back(truthy(b.get_or(0, Value::boolean(false))) ? cur + end : cur);
        cur.clear();
      } else {
        cur += s[k];
      }
    }
    if (!cur.empty()) lines.push_back(cur);
    return strings(lines);
  }
  if (name == "startswith" || name == "endswith") {
    ArgBinder b(name, a, {"prefix"});
    return Value::boolean(affix(s, b.get(0), name == "startswith"));
  }
  if (name == "replace") {
    ArgBinder b(name, a, {"old", "new", "count"});
    std::string r = py_replace(s, str_arg(b.get(0), "replace() argument 1"), str_arg(b.get(1), "replace() argument 2"),
                               int_arg(b.get_or(2, Value::integer(-1)), "count"));
    in.check_size(r.size());
    return Value::string(std::move(r));
  }
  if (name == "upper") return Value::string(upper(s));
  if (name == "lower" || name == "casefold") return Value::string(lower(s));
  if (name == "title") return Value::string(python_title(s));
  if (name == "capitalize") {
    std::u32string u = decode_utf8(s);
    for (size_t k = 0; k < u.size(); ++k) u[k] = k ? to_lower(u[k]) : to_upper(u[k]);
    return Value::string(encode_utf8(u));
  }
  if (name == "swapcase") {
    std::u32string u = decode_utf8(s);
    for (char32_t& c : u) c = is_upper(c) ? to_lower(c) : to_upper(c);
    return Value::string(encode_utf8(u));
  }
  if (name == "format") return Value::string(str_format(in, s, a));
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
    ArgBinder b(name, a, {"sub"});
    const std::string& sub = str_arg(b.get(0), "argument");
    if (name == "count") {
      if (sub.empty()) return Value::integer(count_code_points(s) + 1);
      int64_t n = 0;
      for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
      return Value::integer(n);
    }
    const size_t p = name[0] == 'r' ? s.rfind(sub) : s.find(sub);
    if (p == std::string::npos) {
      if (name == "index" || name == "rindex") fail("ValueError: substring not found");
      return Value::integer(-1);
    }
    return Value::integer(code_point_index(s, p));
  }
  if (name == "join") {
    ArgBinder b(name, a, {"iterable"});
    std::string out;
    bool first = true;
    for (const Value& x : iterate(b.get(0))) {
      if (!first) out += s;
      first = false;
      out += str_arg(x, "sequence item");
      in.check_size(out.size());
    }
    return Value::string(out);
  }
  if (name == "isdigit" || name == "isnumeric" || name == "isdecimal") return all_chars(s, is_digit);
  if (name == "isalpha") return all_chars(s, is_alpha);
  if (name == "isalnum") return all_chars(s, is_alnum);
  if (name == "isspace") return all_chars(s, is_space);
  if (name == "isupper" || name == "islower") {
    bool cased = false, ok = true;
    for (char32_t c : decode_utf8(s)) {
      if (name == "isupper" ? is_lower(c) : is_upper(c)) ok = false;
      cased = cased || is_upper(c) || is_lower(c);
    }
    return Value::boolean(ok && cased);
  }
  if (name == "center" || name == "ljust" || name == "rjust" || name == "zfill") {
    ArgBinder b(name, a, {"width", "fillchar"});
    const int64_t width = int_arg(b.get(0), "width"), len = count_code_points(s);
    const std::string fill = name == "zfill" ? "0" : b.has(1) ? str_arg(b.get(1), "fillchar") : " ";
    if (width <= len) return Value::string(s);
    in.check_size(static_cast<size_t>(width) * std::max<size_t>(fill.size(), 1));
    const int64_t marg = width - len;
    int64_t left = name == "rjust" || name == "zfill" ? marg : name == "ljust" ? 0 : marg / 2 + (marg & width & 1);
    std::string out;
    std::string body = s;
    if (name == "zfill" && !s.empty() && (s[0] == '-' || s[0] == '+')) {
      out += s[0];
      body = s.substr(1);
    }
    for (int64_t k = 0; k < left; ++k) out += fill;
    out += body;
    for (int64_t k = 0; k < marg - left; ++k) out += fill;
    return Value::string(out);
  }
  if (name == "partition" || name == "rpartition") {
    ArgBinder b(name, a, {"sep"});
    const std::string& sep = str_arg(b.get(0), "sep");
    if (sep.empty()) fail("ValueError: empty separator");
    const size_t p = name == "partition" ? s.find(sep) : s.rfind(sep);
    if (p == std::string::npos)
      return name == "partition"
                 ? Value::make_list({Value::string(s), Value::string(""), Value::string("")}, Kind::Tuple)
                 : Value::make_list({Value::string(""), Value::string(""), Value::string(s)}, Kind::Tuple);
    return Value::make_list({Value::string(s.substr(0, p)), Value::string(sep), Value::string(s.substr(p + sep.size()))},
                            Kind::Tuple);
  }
  if (name == "removeprefix" || name == "removesuffix") {
    ArgBinder b(name, a, {"affix"});
    const std::string& x = str_arg(b.get(0), name.c_str());
    if (name == "removeprefix") return Value::string(s.compare(0, x.size(), x) == 0 ? s.substr(x.size()) : s);
    if (x.size() <= s.size() && s.compare(s.size() - x.size(), x.size(), x) == 0)
      return Value::string(s.substr(0, s.size() - x.size()));
    return Value::string(s);
  }
  fail("'str object' has no attribute '" + name + "'");
}

const std::unordered_set<std::string>& str_methods() {
  static const std::unordered_set<std::string> names = {
      "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith", "replace",
      "upper", "lower", "casefold", "title", "capitalize", "swapcase", "format", "find", "rfind", "index",
      "rindex", "count", "join", "isdigit", "isnumeric", "isdecimal", "isalpha", "isalnum", "isspace",
      "isupper", "islower", "center", "ljust", "rjust", "zfill", "partition", "rpartition", "removeprefix",
      "removesuffix"};
  return names;
}

// The sandbox answers an unsafe attribute with an undefined value that
// raises SecurityError when used.
Value unsafe(const std::string& name, const Value& obj) {
  return Value::undefined("SecurityError: access to attribute '" + name + "' of '" + type_name(obj) +
                          "' object is unsafe.");
}

Value bind_method(const Value& obj, const std::string& name, Value (*fn)(Interpreter&, const Value&, const std::string&, CallArgs&)) {
  return Value::function(name, [obj, name, fn](Interpreter& in, CallArgs& a) { return fn(in, obj, name, a); });
}

Value dict_method(Interpreter&, const Value& d, const std::string& name, CallArgs& a) {
  if (name == "get") {
    ArgBinder b("get", a, {"key", "default"});
    const Value* v = d.dict->find(b.get(0));
    return v ? *v : b.get_or(1, Value::none());
  }
  ArgBinder b(name, a, {});
  if (name == "copy") return Value::make_dict(*d.dict);
  std::vector<Value> out;
  for (const auto& [k, v] : d.dict->items) {
    if (name == "keys") out.push_back(k);
    else if (name == "values") out.push_back(v);
    else out.push_back(Value::make_list({k, v}, Kind::Tuple));
  }
  return Value::make_list(std::move(out));
}

Value list_method(Interpreter&, const Value& l, const std::string& name, CallArgs& a) {
  if (name == "copy") {
    ArgBinder b(name, a, {});
    return Value::make_list(*l.list, l.kind);
  }
  ArgBinder b(name, a, {"value"});
  int64_t n = 0;
  for (size_t k = 0; k < l.list->size(); ++k) {
    if (!equals((*l.list)[k], b.get(0))) continue;
    if (name == "index") return Value::integer(static_cast<int64_t>(k));
    ++n;
  }
  if (name == "index") fail("ValueError: " + repr(b.get(0)) + " is not in list");
  return Value::integer(n);
}

}  // namespace

std::optional<Value> find_method(const Value& obj, const std::string& name) {
  if (obj.is_string()) {
    if (!str_methods().count(name)) return std::nullopt;
    return bind_method(obj, name, [](Interpreter& in, const Value& o, const std::string& n, CallArgs& a) {
      return str_method(in, o.s, n, a);
    });
  }
  if (obj.kind == Kind::Dict) {
    if (name == "update" || name == "pop" || name == "popitem" || name == "setdefault" || name == "clear")
      return unsafe(name, obj);
    if (name == "get" || name == "items" || name == "keys" || name == "values" || name == "copy")
      return bind_method(obj, name, dict_method);
    return std::nullopt;
  }
  if (obj.is_sequence()) {
    if (obj.kind == Kind::List && (name == "append" || name == "extend" || name == "insert" || name == "pop" || name == "remove" ||
        name == "reverse" || name == "sort" || name == "clear"))
      return unsafe(name, obj);
    if (name == "index" || name == "count" || name == "copy") return bind_method(obj, name, list_method);
  }
  return std::nullopt;
}

}  // namespace sieve::chat
