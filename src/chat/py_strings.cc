// Python's string operations that filters and methods share, and the
// argument binder of the builtins.
#include <cmath>
#include <cstdio>

#include "chat/builtins.h"
#include "chat/interpreter.h"
#include "chat/unicode.h"

namespace sieve::chat {

ArgBinder::ArgBinder(const std::string& fn, CallArgs& args, std::vector<const char*> names, bool varargs)
    : bound_(names.size()), given_(names.size(), false) {
  for (size_t k = 0; k < args.pos.size(); ++k) {
    if (k < names.size()) {
      bound_[k] = args.pos[k];
      given_[k] = true;
    } else if (varargs) {
      rest_.push_back(args.pos[k]);
    } else {
      fail("TypeError: " + fn + "() takes at most " + std::to_string(names.size()) + " argument(s) (" +
           std::to_string(args.pos.size()) + " given)");
    }
  }
  for (auto& [key, v] : args.kw) {
    size_t k = 0;
    while (k < names.size() && key != names[k]) ++k;
    if (k == names.size()) fail("TypeError: " + fn + "() got an unexpected keyword argument '" + key + "'");
    if (given_[k]) fail("TypeError: " + fn + "() got multiple values for argument '" + key + "'");
    bound_[k] = v;
    given_[k] = true;
  }
}

namespace {

// The split points of s by Python whitespace, on code points.
std::vector<std::string> split_whitespace(const std::string& s, int64_t maxsplit, bool from_right) {
  std::u32string u = decode_utf8(s);
  std::vector<std::string> parts;
  if (!from_right) {
    size_t k = 0;
    while (k < u.size()) {
      while (k < u.size() && is_space(u[k])) ++k;
      if (k == u.size()) break;
      if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
        parts.push_back(encode_utf8(u.substr(k)));  // the rest keeps its trailing whitespace
        break;
      }
      size_t start = k;
      while (k < u.size() && !is_space(u[k])) ++k;
      parts.push_back(encode_utf8(u.substr(start, k - start)));
    }
    return parts;
  }
  size_t k = u.size();
  while (k > 0) {
    while (k > 0 && is_space(u[k - 1])) --k;
    if (k == 0) break;
    if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
      parts.push_back(encode_utf8(u.substr(0, k)));  // the rest keeps its leading whitespace
      break;
    }
    size_t end = k;
    while (k > 0 && !is_space(u[k - 1])) --k;
    parts.push_back(encode_utf8(u.substr(k, end - k)));
  }
  return {parts.rbegin(), parts.rend()};
}

}  // namespace

std::vector<std::string> py_split(const std::string& s, const Value& sep, int64_t maxsplit, bool from_right) {
  if (sep.is_none() || sep.is_undefined()) return split_whitespace(s, maxsplit, from_right);
  if (!sep.is_string()) fail(std::string("TypeError: must be str or None, not ") + type_name(sep));
  const std::string& d = sep.s;
  if (d.empty()) fail("ValueError: empty separator");
  std::vector<std::string> parts;
  if (!from_right) {
    size_t start = 0;
    while (true) {
      if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) break;
      const size_t p = s.find(d, start);
      if (p == std::string::npos) break;
      parts.push_back(s.substr(start, p - start));
      start = p + d.size();
    }
    parts.push_back(s.substr(start));
    return parts;
  }
  size_t end = s.size();
  while (true) {
    if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) break;
    if (end < d.size()) break;
    const size_t p = s.rfind(d, end - d.size());
    if (p == std::string::npos) break;
    parts.push_back(s.substr(p + d.size(), end - p - d.size()));
    end = p;
  }
  parts.push_back(s.substr(0, end));
  return {parts.rbegin(), parts.rend()};
}

std::string py_strip(const std::string& s, const Value& chars, bool left, bool right) {
  std::u32string u = decode_utf8(s);
  std::u32string set;
  const bool ws = chars.is_none() || chars.is_undefined();
  if (!ws) {
    if (!chars.is_string()) fail(std::string("TypeError: strip arg must be None or str, not ") + type_name(chars));
    set = decode_utf8(chars.s);
  }
  auto strip_char = [&](char32_t c) { return ws ? is_space(c) : set.find(c) != std::u32string::npos; };
  size_t a = 0, b = u.size();
  if (left)
    while (a < b && strip_char(u[a])) ++a;
  if (right)
    while (b > a && strip_char(u[b - 1])) --b;
  if (a == 0 && b == u.size()) return s;
  return encode_utf8(u.substr(a, b - a));
}

std::string py_replace(const std::string& s, const std::string& old, const std::string& repl, int64_t count) {
  std::string out;
  if (old.empty()) {
    // Python inserts repl before every code point and at the end.
    std::u32string u = decode_utf8(s);
    int64_t n = 0;
    for (char32_t c : u) {
      if (count < 0 || n < count) {
        out += repl;
        ++n;
      }
      append_utf8(out, c);
    }
    if (count < 0 || n < count) out += repl;
    return out;
  }
  size_t start = 0;
  int64_t n = 0;
  while (count < 0 || n < count) {
    const size_t p = s.find(old, start);
    if (p == std::string::npos) break;
    out.append(s, start, p - start);
    out += repl;
    start = p + old.size();
    ++n;
  }
  out.append(s, start, std::string::npos);
  return out;
}

Value py_slice(const Value& v, const Value& start_v, const Value& stop_v, const Value& step_v) {
  auto index = [](const Value& x, const char* what) -> std::optional<int64_t> {
    if (x.is_none()) return std::nullopt;
    if (x.kind == Kind::Int) return x.i;
    if (x.kind == Kind::Bool) return x.b;
    if (x.is_undefined()) fail_undefined(x);
    fail(std::string("TypeError: slice ") + what + " must be an integer or None");
  };
  const std::optional<int64_t> a = index(start_v, "start"), b = index(stop_v, "stop"), c = index(step_v, "step");
  const int64_t step = c.value_or(1);
  if (step == 0) fail("ValueError: slice step cannot be zero");
  std::u32string u;
  int64_t n;
  if (v.is_string()) {
    u = decode_utf8(v.s);
    n = static_cast<int64_t>(u.size());
  } else if (v.is_sequence()) {
    n = static_cast<int64_t>(v.list->size());
  } else {
    fail(std::string("TypeError: '") + type_name(v) + "' object is not subscriptable");
  }
  auto adjust = [&](std::optional<int64_t> x, int64_t def) {
    if (!x) return def;
    int64_t k = *x;
    if (k < 0) {
      k += n;
      if (k < 0) k = step < 0 ? -1 : 0;
    } else if (k >= n) {
      k = step < 0 ? n - 1 : n;
    }
    return k;
  };
  const int64_t lo = adjust(a, step < 0 ? n - 1 : 0), hi = adjust(b, step < 0 ? -1 : n);
  std::vector<int64_t> picks;
  if (step > 0)
    for (int64_t k = lo; k < hi; k += step) picks.push_back(k);
  else
    for (int64_t k = lo; k > hi; k += step) picks.push_back(k);
  if (v.is_string()) {
    std::u32string out;
    for (int64_t k : picks) out += u[static_cast<size_t>(k)];
    return Value::string(encode_utf8(out));
  }
  std::vector<Value> out;
  for (int64_t k : picks) out.push_back((*v.list)[static_cast<size_t>(k)]);
  return Value::make_list(std::move(out), v.kind);
}

std::string percent_format(Interpreter& in, const std::string& format, const Value& args) {
  std::vector<Value> items = args.kind == Kind::Tuple ? *args.list : std::vector<Value>{args};
  size_t next = 0;
  std::string out;
  for (size_t k = 0; k < format.size(); ++k) {
    if (format[k] != '%') {
      out += format[k];
      continue;
    }
    if (++k >= format.size()) fail("ValueError: incomplete format");
    const Value* mapped = nullptr;
    if (format[k] == '(') {
      const size_t close = format.find(')', k);
      if (close == std::string::npos) fail("ValueError: incomplete format key");
      if (args.kind != Kind::Dict) fail("TypeError: format requires a mapping");
      mapped = args.dict->find(format.substr(k + 1, close - k - 1));
      if (!mapped) fail("KeyError: '" + format.substr(k + 1, close - k - 1) + "'");
      k = close + 1;
      if (k >= format.size()) fail("ValueError: incomplete format");
    }
    std::string spec = "%";
    while (k < format.size() && std::string("-+ #0123456789.").find(format[k]) != std::string::npos)
      spec += format[k++];
    if (k >= format.size()) fail("ValueError: incomplete format");
    const char conv = format[k];
    if (conv == '%') {
      out += '%';
      continue;
    }
    if (!mapped && next >= items.size()) fail("TypeError: not enough arguments for format string");
    const Value& v = mapped ? *mapped : items[next++];
    char buf[512];
    if (spec.size() > 20) fail("ValueError: format specification too long");
    switch (conv) {
      case 's':
      case 'r': {
        std::string s = conv == 's' ? to_str(v) : repr(v);
        const int width = std::atoi(spec.c_str() + 1 + (spec.size() > 1 && spec[1] == '-'));
        const int64_t len = count_code_points(s);
        if (len < width) {
          in.check_size(static_cast<size_t>(width));
          std::string pad(static_cast<size_t>(width - len), ' ');
          s = spec.find('-') != std::string::npos ? s + pad : pad + s;
        }
        out += s;
        break;
      }
      case 'd':
      case 'i':
      case 'x':
      case 'X':
      case 'o': {
        if (!v.is_number()) fail(std::string("TypeError: %") + conv + " format: a number is required, not " + type_name(v));
        const long long x = v.kind == Kind::Float ? static_cast<long long>(v.f) : (v.kind == Kind::Bool ? v.b : v.i);
        std::snprintf(buf, sizeof buf, (spec + "ll" + (conv == 'i' ? 'd' : conv)).c_str(), x);
        out += buf;
        break;
      }
      case 'f':
      case 'F':
      case 'e':
      case 'E':
      case 'g':
      case 'G':
        std::snprintf(buf, sizeof buf, (spec + conv).c_str(), as_double(v, "%f format"));
        out += buf;
        break;
      default: fail(std::string("ValueError: unsupported format character '") + conv + "'");
    }
    in.check_size(out.size());
  }
  if (next < items.size() && args.kind != Kind::Dict)
    fail("TypeError: not all arguments converted during string formatting");
  return out;
}

}  // namespace sieve::chat
