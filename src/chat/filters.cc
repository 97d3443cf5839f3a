// jinja2's builtin filters, with transformers' tojson.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unordered_map>

#include "chat/builtins.h"
#include "chat/interpreter.h"
#include "chat/unicode.h"

namespace sieve::chat {

namespace {

using FilterFn = Value (*)(Interpreter&, const Value&, CallArgs&);

int64_t to_int(const Value& v, const char* what) {
  if (v.kind == Kind::Int) return v.i;
  if (v.kind == Kind::Bool) return v.b;
  if (v.kind == Kind::Float) return static_cast<int64_t>(v.f);
  if (v.is_undefined()) fail_undefined(v);
  fail(std::string("TypeError: ") + what + " must be an integer, not '" + type_name(v) + "'");
}

// "a.b.0": attribute lookups (item first), as jinja2's attrgetter.
Value get_attribute(Interpreter& in, Value v, const std::string& path) {
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const bool digits = !part.empty() && part.size() < 18 &&
                        std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    v = in.getitem(v, digits ? Value::integer(std::stoll(part)) : Value::string(part));
    if (dot == std::string::npos) return v;
    start = dot + 1;
  }
}

Value attribute_of(Interpreter& in, const Value& item, const Value& attribute, const Value& def = Value()) {
  if (attribute.is_undefined() || attribute.is_none()) return item;
  Value v = attribute.is_string() ? get_attribute(in, item, attribute.s) : in.getitem(item, attribute);
  if (v.is_undefined() && !def.is_undefined()) return def;
  return v;
}

// The key sort and unique compare by: lowercased strings unless case_sensitive.
Value sort_key(const Value& v, bool case_sensitive) {
  if (!case_sensitive && v.is_string()) return Value::string(lower(v.s));
  return v;
}

Value list_of(std::vector<Value> items) { return Value::make_list(std::move(items)); }

Value f_abs(Interpreter&, const Value& v, CallArgs& a) {
  ArgBinder b("abs", a, {});
  if (v.kind == Kind::Int) {
    if (v.i == INT64_MIN) fail("integer overflow");
    return Value::integer(v.i < 0 ? -v.i : v.i);
  }
  if (v.kind == Kind::Bool) return Value::integer(v.b);
  return Value::number(std::fabs(as_double(v, "abs")));
}

Value f_attr(Interpreter& in, const Value& v, CallArgs& a) {
  ArgBinder b("attr", a, {"name"});
  // Python's getattr only: a dict's keys are not attributes.
  const std::string name = to_str(b.get(0));
  if (v.kind == Kind::Dict) {
    if (auto m = find_method(v, name)) return *m;
    return Value::undefined("'dict object' has no attribute '" + name + "'");
  }
  return in.getattr(v, name);
}

Value f_batch(Interpreter& in, const Value& v, CallArgs& a) {
  ArgBinder b("batch", a, {"linecount", "fill_with"});
  const int64_t n = to_int(b.get(0), "linecount");
  if (n <= 0) fail("ValueError: batch size must be positive");
  std::vector<Value> out, cur;
  for (Value& x : iterate(v)) {
    in.charge(1);
    cur.push_back(std::move(x));
    if (static_cast<int64_t>(cur.size()) == n) out.push_back(list_of(std::exchange(cur, {})));
  }
  if (!cur.empty()) {
    if (b.has(1))
      while (static_cast<int64_t>(cur.size()) < n) cur.push_back(b.get(1));
    out.push_back(list_of(std::move(cur)));
  }
  return list_of(std::move(out));
}

Value f_capitalize(Interpreter&, const Value& v, CallArgs& a) {
  ArgBinder b("capitalize", a, {});
  std::u32string u = decode_utf8(to_str(v));
  for (size_t k = 0; k < u.size(); ++k) u[k] = k == 0 ? to_upper(u[k]) : to_lower(u[k]);
  return Value::string(encode_utf8(u));
}

Value f_center(Interpreter& in, const Value& v, CallArgs& a) {
  ArgBinder b("center", a, {"width"});
  const std::string s = to_str(v);
  const int64_t width = to_int(b.get_or(0, Value::integer(80)), "width");
  const int64_t len = count_code_points(s);
  if (width <= len) return Value::string(s);
  in.check_size(static_cast<size_t>(width));
  const int64_t marg = width - len, left = marg / 2 + (marg & width & 1);
  return Value::string(std::string(static_cast<size_t>(left), ' ') + s + std::string(static_cast<size_t>(marg - left), ' '));
}

Value f_default(Interpreter&, const Value& v, CallArgs& a) {
  ArgBinder b("default", a, {"default_value", "boolean"});
  const bool boolean = truthy(b.get_or(1, Value::boolean(false)));
  if (v.is_undefined() || (boolean && !truthy(v))) return b.get_or(0, Value::string(""));
  return v;
}

Value f_dictsort(Interpreter&, const Value& v, CallArgs& a) {
  ArgBinder b("dictsort", a, {"case_sensitive", "by", "reverse"});
  if (v.kind != Kind::Dict) fail("FilterArgumentError: dictsort needs a dict");
  const bool cs = truthy(b.get_or(0, Value::boolean(false))), rev = truthy(b.get_or(2, Value::boolean(false)));
  const std::string by = b.has(1) ? to_str(b.get(1)) : "key";
  if (by != "key" && by != "value") fail("FilterArgumentError: You can only sort by either \"key\" or \"value\"");
  std::vector<std::pair<Value, Value>> items = v.dict->items;
  const bool by_key = by == "key";
  std::stable_sort(items.begin(), items.end(), [&](const auto& x, const auto& y) {
    const Value& p = by_key ? x.first : x.second;
    const Value& q = by_key ? y.first : y.second;
    return rev ? less(sort_key(q, cs), sort_key(p, cs)) : less(sort_key(p, cs), sort_key(q, cs));
  });
  std::vector<Value> out;
  for (auto& [k, x] : items) out.push_back(Value::make_list({k, x}, Kind::Tuple));
  return list_of(std::move(out));
}

Value f_escape(Interpreter&, const Value& v, CallArgs& a) {
  ArgBinder b("escape", a, {});
  std::string out;
  for (char c : to_str(v)) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return Value::string(out);
}

Value f_first(Interpreter&, const Value& v, CallArgs& a) {
  ArgBinder b("first", a, {});
  std::vector<Value> items = iterate(v);
  if (items.empty()) return Value::undefined("No first item, sequence was empty.");
  return items.front();
}

Value f_last(Interpreter&, const Value& v, CallArgs& a) {
  ArgBinder b("last", a, {});
  std::vector<Value> items = iterate(v);
  if (items.empty()) return Value::undefined("No last item, sequence was empty.");
  return items.back();
}

Value f_float(Interpreter&, const Value& v, CallArgs& a) {
  ArgBinder b("float", a, {"default"});
  const Value def = b.get_or(0, Value::number(0.0));
  if (v.is_number()) return Value::number(as_double(v, "float"));
  if (v.is_string()) {
    const std::string t = py_strip(v.s, Value::none(), true, true);
    char* end = nullptr;
    const double x = std::strtod(t.c_str(), &end);
    if (!t.empty() && end == t.c_str() + t.size()) return Value::number(x);
  }
  return def;
}

Value f_int(Interpreter&, const Value& v, CallArgs& a) {
  ArgBinder b("int", a, {"default", "base"});
  const Value def = b.get_or(0, Value::integer(0));
  if (v.kind == Kind::Int) return v;
  if (v.kind == Kind::Bool) return Value::integer(v.b);
  if (v.kind == Kind::Float) {
    if (!std::isfinite(v.f) || std::fabs(v.f) > 9.2e18) return def;
    return Value::integer(static_cast<int64_t>(v.f));
  }
  if (v.is_string()) {
    std::string t = py_strip(v.s, Value::none(), true, true);
    t.erase(std::remove(t.begin(), t.end(), '_'), t.end());
    const int base = static_cast<int>(to_int(b.get_or(1, Value::integer(10)), "base"));
    if (base < 2 || base > 36) fail("ValueError: int() base must be >= 2 and <= 36");
    char* end = nullptr;
    errno = 0;
    const long long x = std::strtoll(t.c_str(), &end, base);
    if (!t.empty() && end == t.c_str() + t.size() && errno == 0) return Value::integer(x);
    const double d = std::strtod(t.c_str(), &end);
    if (!t.empty() && end == t.c_str() + t.size() && std::isfinite(d) && std::fabs(d) < 9.2e18)
      return Value::integer(static_cast<int64_t>(d));
  }
  return def;
}

Value f_format(Interpreter& in, const Value& v, CallArgs& a) {
  if (!a.kw.empty() && !a.pos.empty()) fail("FilterArgumentError: can't handle positional and keyword arguments at the same time");
  return Value::string(percent_format(in, to_str(v), Value::make_list(a.pos, Kind::Tuple)));
}

Value f_indent(Interpreter& in, const Value& v, CallArgs& a) {
  ArgBinder b("indent", a, {"width", "first", "blank"});
  const Value w = b.get_or(0, Value::integer(4));
  std::string ind;
  if (w.is_string()) {
    ind = w.s;
  } else {
    const int64_t n = to_int(w, "width");
    in.check_size(static_cast<size_t>(std::max<int64_t>(n, 0)));
    ind = std::string(static_cast<size_t>(std::max<int64_t>(n, 0)), ' ');
  }
  const bool first = truthy(b.get_or(1, Value::boolean(false))), blank = truthy(b.get_or(2, Value::boolean(false)));
  std::string s = to_str(v) + "\n";
  // str.splitlines
  std::vector<std::string> lines;
  std::u32string u = decode_utf8(s);
  std::u32string cur;
  for (size_t k = 0; k < u.size(); ++k) {
    const char32_t c = u[k];
    const bool brk = c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E ||
                     c == 0x85 || c == 0x2028 || c == 0x2029;
    if (!brk) {
      cur += c;
      continue;
    }
    if (c == '\r' && k + 1 < u.size() && u[k + 1] == '\n') ++k;
    lines.push_back(encode_utf8(cur));
    cur.clear();
  }
  if (!cur.empty()) lines.push_back(encode_utf8(cur));
  std::string rv;
  for (size_t k = 0; k < lines.size(); ++k) {
    if (k) {
      rv += '\n';
      if (blank || !lines[k].empty()) rv += ind;
    }
    rv += lines[k];
    in.check_size(rv.size());
  }
  if (first) rv = ind + rv;
  return Value::string(rv);
}

Value f_items(Interpreter&, const Value& v, CallArgs& a) {
  ArgBinder b("items", a, {});
  if (v.is_undefined()) return list_of({});
  if (v.kind != Kind::Dict) fail(std::string("TypeError: can only get item pairs from a mapping, not ") + type_name(v));
  std::vector<Value> out;
  for (const auto& [k, x] : v.dict->items) out.push_back(Value::make_list({k, x}, Kind::Tuple));
  return list_of(std::move(out));
}

Value f_join(Interpreter& in, const Value& v, CallArgs& a) {
  ArgBinder b("join", a, {"d", "attribute"});
  const std::string sep = b.has(0) ? to_str(b.get(0)) : "";
  std::string out;
  bool first = true;
  for (const Value& x : iterate(v)) {
    if (!first) out += sep;
    first = false;
    out += to_str(attribute_of(in, x, b.get(1)));
    in.check_size(out.size());
  }
  return Value::string(out);
}

Value f_length(Interpreter&, const Value& v, CallArgs& a) {
  ArgBinder b("length", a, {});
  return Value::integer(length(v));
}

Value f_list(Interpreter&, const Value& v, CallArgs& a) {
  ArgBinder b("list", a, {});
  return list_of(iterate(v));
}

Value f_lower(Interpreter&, const Value& v, CallArgs& a) {
  ArgBinder b("lower", a, {});
  return Value::string(lower(to_str(v)));
}

Value f_upper(Interpreter&, const Value& v, CallArgs& a) {
  ArgBinder b("upper", a, {});
  return Value::string(upper(to_str(v)));
}

Value f_map(Interpreter& in, const Value& v, CallArgs& a) {
  std::vector<Value> out;
  const bool by_attr = a.pos.empty();
  Value attribute, def;
  std::string filter_name;
  CallArgs rest;
  if (by_attr) {
    for (auto& [k, x] : a.kw) {
      if (k == "attribute") attribute = x;
      else if (k == "default") def = x;
      else fail("FilterArgumentError: Unexpected keyword argument '" + k + "'");
    }
    if (attribute.is_undefined()) fail("FilterArgumentError: map requires a filter argument");
  } else {
    filter_name = to_str(a.pos[0]);
    rest.pos.assign(a.pos.begin() + 1, a.pos.end());
    rest.kw = a.kw;
  }
  for (const Value& x : iterate(v)) {
    in.charge(1);
    if (by_attr) {
      out.push_back(attribute_of(in, x, attribute, def));
    } else {
      CallArgs call = rest;
      out.push_back(in.filter(filter_name, x, call));
    }
  }
  return list_of(std::move(out));
}

Value select_impl(Interpreter& in, const Value& v, CallArgs& a, bool by_attr, bool keep) {
  size_t k = 0;
  Value attribute;
  if (by_attr) {
    if (a.pos.empty()) fail("TypeError: selectattr needs an attribute name");
    attribute = a.pos[k++];
  }
  std::string test_name;
  CallArgs rest;
  if (k < a.pos.size()) {
    test_name = to_str(a.pos[k++]);
    rest.pos.assign(a.pos.begin() + static_cast<ptrdiff_t>(k), a.pos.end());
    rest.kw = a.kw;
  }
  std::vector<Value> out;
  for (const Value& x : iterate(v)) {
    in.charge(1);
    const Value probe = by_attr ? attribute_of(in, x, attribute) : x;
    bool ok;
    if (test_name.empty()) {
      ok = truthy(probe);
    } else {
      CallArgs call = rest;
      ok = in.test(test_name, probe, call);
    }
    if (ok == keep) out.push_back(x);
  }
  return list_of(std::move(out));
}

Value f_select(Interpreter& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, false, true); }
Value f_reject(Interpreter& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, false, false); }
Value f_selectattr(Interpreter& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, true, true); }
Value f_rejectattr(Interpreter& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, true, false); }

Value minmax(Interpreter& in, const Value& v, CallArgs& a, bool want_max) {
  ArgBinder b(want_max ? "max" : "min", a, {"case_sensitive", "attribute"});
  const bool cs = truthy(b.get_or(0, Value::boolean(false)));
  std::vector<Value> items = iterate(v);
  if (items.empty()) return Value::undefined(std::string("No aggregated item, sequence was empty."));
  const Value* best = &items[0];
  for (const Value& x : items) {
    const Value kx = sort_key(attribute_of(in, x, b.get(1)), cs), kb = sort_key(attribute_of(in, *best, b.get(1)), cs);
    if (want_max ? less(kb, kx) : less(kx, kb)) best = &x;
  }
  return *best;
}

Value f_max(Interpreter& in, const Value& v, CallArgs& a) { return minmax(in, v, a, true); }
Value f_min(Interpreter& in, const Value& v, CallArgs& a) { return minmax(in, v, a, false); }

Value f_replace(Interpreter& in, const Value& v, CallArgs& a) {
  ArgBinder b("replace", a, {"old", "new", "count"});
  const int64_t count = b.has(2) && !b.get(2).is_none() ? to_int(b.get(2), "count") : -1;
  std::string r = py_replace(to_str(v), to_str(b.get(0)), to_str(b.get(1)), count);
  in.check_size(r.size());
  return Value::string(std::move(r));
}

Value f_reverse(Interpreter&, const Value& v, CallArgs& a) {
  ArgBinder b("reverse", a, {});
  if (v.is_string()) {
    std::u32string u = decode_utf8(v.s);
    std::reverse(u.begin(), u.end());
    return Value::string(encode_utf8(u));
  }
  std::vector<Value> items = iterate(v);
  std::reverse(items.begin(), items.end());
  return list_of(std::move(items));
}

Value f_round(Interpreter&, const Value& v, CallArgs& a) {
  ArgBinder b("round", a, {"precision", "method"});
  const int64_t prec = to_int(b.get_or(0, Value::integer(0)), "precision");
  const std::string method = b.has(1) ? to_str(b.get(1)) : "common";
  if (method != "common" && method != "ceil" && method != "floor")
    fail("FilterArgumentError: method must be common, ceil or floor");
  const double x = as_double(v, "round");
  if (method == "common") {
    if (v.kind != Kind::Float && prec >= 0) return Value::integer(v.kind == Kind::Bool ? v.b : v.i);
    if (prec < -300 || prec > 300) return Value::number(x);
    char buf[400];
    if (prec >= 0) {
      std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(prec), x);  // exact, ties to even
      return Value::number(std::strtod(buf, nullptr));
    }
    const double p = std::pow(10.0, static_cast<double>(-prec));
    return Value::number(std::nearbyint(x / p) * p);
  }
  const double p = std::pow(10.0, static_cast<double>(prec));
  return Value::number((method == "ceil" ? std::ceil(x * p) : std::floor(x * p)) / p);
}

Value f_safe(Interpreter&, const Value& v, CallArgs& a) {
  ArgBinder b("safe", a, {});
  return v.is_string() ? v : Value::string(to_str(v));
}

Value f_sort(Interpreter& in, const Value& v, CallArgs& a) {
  ArgBinder b("sort", a, {"reverse", "case_sensitive", "attribute"});
  const bool rev = truthy(b.get_or(0, Value::boolean(false))), cs = truthy(b.get_or(1, Value::boolean(false)));
  std::vector<Value> items = iterate(v);
  std::vector<std::pair<Value, Value>> keyed;
  for (Value& x : items) keyed.emplace_back(sort_key(attribute_of(in, x, b.get(2)), cs), std::move(x));
  std::stable_sort(keyed.begin(), keyed.end(),
                   [&](const auto& p, const auto& q) { return rev ? less(q.first, p.first) : less(p.first, q.first); });
  std::vector<Value> out;
  for (auto& kv : keyed) out.push_back(std::move(kv.second));
  return list_of(std::move(out));
}

Value f_string(Interpreter&, const Value& v, CallArgs& a) {
  ArgBinder b("string", a, {});
  return Value::string(to_str(v));
}

Value f_sum(Interpreter& in, const Value& v, CallArgs& a) {
  ArgBinder b("sum", a, {"attribute", "start"});
  Value total = b.get_or(1, Value::integer(0));
  for (const Value& x : iterate(v)) {
    const Value y = attribute_of(in, x, b.get(0));
    if (total.kind == Kind::Int && (y.kind == Kind::Int || y.kind == Kind::Bool)) {
      int64_t r;
      if (__builtin_add_overflow(total.i, y.kind == Kind::Bool ? y.b : y.i, &r)) fail("integer overflow in sum");
      total = Value::integer(r);
    } else {
      total = Value::number(as_double(total, "sum") + as_double(y, "sum"));
    }
  }
  return total;
}

Value f_title(Interpreter&, const Value& v, CallArgs& a) {
  ArgBinder b("title", a, {});
  // Words begin after '-', whitespace, '(', '{', '[' or '<'.
  std::u32string u = decode_utf8(to_str(v));
  bool start = true;
  for (char32_t& c : u) {
    const bool sep = c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || is_space(c);
    if (sep) {
      start = true;
      continue;
    }
    c = start ? to_upper(c) : to_lower(c);
    start = false;
  }
  return Value::string(encode_utf8(u));
}

Value f_tojson(Interpreter& in, const Value& v, CallArgs& a) {
  ArgBinder b("tojson", a, {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonStyle st;
  st.ensure_ascii = truthy(b.get_or(0, Value::boolean(false)));
  const Value indent = b.get_or(1, Value::none());
  if (!indent.is_none()) {
    st.indent_set = true;
    if (indent.is_string()) {
      st.indent = indent.s;
    } else {
      const int64_t n = to_int(indent, "indent");
      st.indent = std::string(static_cast<size_t>(std::clamp<int64_t>(n, 0, 1024)), ' ');
    }
    st.item_sep = ",";
  }
  const Value seps = b.get_or(2, Value::none());
  if (!seps.is_none()) {
    std::vector<Value> p = iterate(seps);
    if (p.size() != 2 || !p[0].is_string() || !p[1].is_string())
      fail("TypeError: tojson separators must be a pair of strings");
    st.item_sep = p[0].s;
    st.key_sep = p[1].s;
  }
  st.sort_keys = truthy(b.get_or(3, Value::boolean(false)));
  std::string out = json_dumps(v, st);
  in.check_size(out.size());
  return Value::string(std::move(out));
}

Value f_trim(Interpreter&, const Value& v, CallArgs& a) {
  ArgBinder b("trim", a, {"chars"});
  return Value::string(py_strip(to_str(v), b.get_or(0, Value::none()), true, true));
}

Value f_truncate(Interpreter&, const Value& v, CallArgs& a) {
  ArgBinder b("truncate", a, {"length", "killwords", "end", "leeway"});
  const std::u32string u = decode_utf8(to_str(v));
  const int64_t len = to_int(b.get_or(0, Value::integer(255)), "length");
  const bool killwords = truthy(b.get_or(1, Value::boolean(false)));
  const std::string end = b.has(2) ? to_str(b.get(2)) : "...";
  const int64_t leeway = to_int(b.get_or(3, Value::integer(5)), "leeway");
  const int64_t end_len = count_code_points(end);
  if (len < end_len) fail("AssertionError: expected length >= " + std::to_string(end_len));
  if (static_cast<int64_t>(u.size()) <= len + leeway) return Value::string(encode_utf8(u));
  std::u32string cut = u.substr(0, static_cast<size_t>(len - end_len));
  if (!killwords) {
    const size_t sp = cut.rfind(U' ');
    if (sp != std::u32string::npos) cut = cut.substr(0, sp);
  }
  return Value::string(encode_utf8(cut) + end);
}

Value f_unique(Interpreter& in, const Value& v, CallArgs& a) {
  ArgBinder b("unique", a, {"case_sensitive", "attribute"});
  const bool cs = truthy(b.get_or(0, Value::boolean(false)));
  std::vector<Value> out, seen;
  for (const Value& x : iterate(v)) {
    in.charge(static_cast<int64_t>(seen.size()) / 64 + 1);
    const Value key = sort_key(attribute_of(in, x, b.get(1)), cs);
    if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return equals(s, key); })) continue;
    seen.push_back(key);
    out.push_back(x);
  }
  return list_of(std::move(out));
}

Value f_wordcount(Interpreter&, const Value& v, CallArgs& a) {
  ArgBinder b("wordcount", a, {});
  int64_t n = 0;
  bool in_word = false;
  for (char32_t c : decode_utf8(to_str(v))) {
    const bool w = is_alnum(c) || c == '_';
    if (w && !in_word) ++n;
    in_word = w;
  }
  return Value::integer(n);
}

const std::unordered_map<std::string, FilterFn>& filters() {
  static const std::unordered_map<std::string, FilterFn> table = {
      {"abs", f_abs}, {"attr", f_attr}, {"batch", f_batch}, {"capitalize", f_capitalize},
      {"center", f_center}, {"count", f_length}, {"d", f_default}, {"default", f_default},
      {"dictsort", f_dictsort}, {"e", f_escape}, {"escape", f_escape}, {"first", f_first},
      {"float", f_float}, {"forceescape", f_escape}, {"format", f_format}, {"indent", f_indent},
      {"int", f_int}, {"items", f_items}, {"join", f_join}, {"last", f_last}, {"length", f_length},
      {"list", f_list}, {"lower", f_lower}, {"map", f_map}, {"max", f_max}, {"min", f_min},
      {"reject", f_reject}, {"rejectattr", f_rejectattr}, {"replace", f_replace}, {"reverse", f_reverse},
      {"round", f_round}, {"safe", f_safe}, {"select", f_select}, {"selectattr", f_selectattr},
      {"sort", f_sort}, {"string", f_string}, {"sum", f_sum}, {"title", f_title}, {"tojson", f_tojson},
      {"trim", f_trim}, {"truncate", f_truncate}, {"unique", f_unique}, {"upper", f_upper},
      {"wordcount", f_wordcount},
  };
  return table;
}

}  // namespace

Value call_filter(Interpreter& in, const std::string& name, const Value& input, CallArgs& args) {
  auto it = filters().find(name);
  if (it == filters().end()) fail("TemplateAssertionError: no filter named '" + name + "'");
  return it->second(in, input, args);
}

}  // namespace sieve::chat
