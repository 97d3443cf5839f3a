// The functions every template can call: jinja2's range, dict, namespace,
// joiner and cycler, and transformers' raise_exception and strftime_now.
#include <ctime>

#include "chat/builtins.h"
#include "chat/interpreter.h"

namespace sieve::chat {

namespace {

int64_t int_arg(const Value& v) {
  if (v.kind == Kind::Int) return v.i;
  if (v.kind == Kind::Bool) return v.b;
  if (v.is_undefined()) fail_undefined(v);
  fail(std::string("TypeError: '") + type_name(v) + "' object cannot be interpreted as an integer");
}

Value range_fn(Interpreter& in, CallArgs& a) {
  if (!a.kw.empty()) fail("TypeError: range() takes no keyword arguments");
  if (a.pos.empty() || a.pos.size() > 3) fail("TypeError: range expected 1 to 3 arguments");
  int64_t start = 0, stop, step = 1;
  if (a.pos.size() == 1) {
    stop = int_arg(a.pos[0]);
  } else {
    start = int_arg(a.pos[0]);
    stop = int_arg(a.pos[1]);
    if (a.pos.size() == 3) step = int_arg(a.pos[2]);
  }
  if (step == 0) fail("ValueError: range() arg 3 must not be zero");
  // Count first, so a huge range is refused before it is built.
  const __int128 span = step > 0 ? static_cast<__int128>(stop) - start : static_cast<__int128>(start) - stop;
  const __int128 st = step > 0 ? step : -static_cast<__int128>(step);
  const __int128 n = span <= 0 ? 0 : (span + st - 1) / st;
  if (n > in.options().limits.max_loop_iterations) in.charge(in.options().limits.max_loop_iterations + 1);
  in.charge(static_cast<int64_t>(n));
  std::vector<Value> out;
  out.reserve(static_cast<size_t>(n));
  for (__int128 k = 0; k < n; ++k) out.push_back(Value::integer(static_cast<int64_t>(start + k * step)));
  return Value::make_list(std::move(out));
}

// dict(mapping_or_pairs, **kwargs)
Dict dict_from(CallArgs& a, const char* fn) {
  Dict d;
  if (a.pos.size() > 1) fail(std::string("TypeError: ") + fn + " expected at most 1 positional argument");
  if (!a.pos.empty()) {
    const Value& src = a.pos[0];
    if (src.kind == Kind::Dict || src.kind == Kind::Namespace) {
      d = *src.dict;
    } else {
      for (const Value& pair : iterate(src)) {
        std::vector<Value> kv = iterate(pair);
        if (kv.size() != 2) fail(std::string("ValueError: ") + fn + " update sequence element has length " +
                                 std::to_string(kv.size()) + "; 2 is required");
        d.set(kv[0], kv[1]);
      }
    }
  }
  for (auto& [k, v] : a.kw) d.set(Value::string(k), v);
  return d;
}

Value strftime_now(Interpreter& in, CallArgs& a) {
  ArgBinder b("strftime_now", a, {"format"});
  if (!b.get(0).is_string()) fail("TypeError: strftime_now() needs a format string");
  const std::string& fmt = b.get(0).s;
  if (fmt.size() > 512) fail("strftime_now(): format longer than 512 characters");
  std::tm tm{};
  const std::string& now = in.options().now;
  if (now.empty()) {
    const std::time_t t = std::time(nullptr);
    localtime_r(&t, &tm);
  } else {
    int Y, M, D, h = 0, m = 0, s = 0;
    if (std::sscanf(now.c_str(), "%d-%d-%dT%d:%d:%d", &Y, &M, &D, &h, &m, &s) < 3)
      fail("the time '" + now + "' is not ISO 8601 (YYYY-MM-DDTHH:MM:SS)");
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = s;
    const std::time_t t = timegm(&tm);  // fills in the weekday and day of the year
    gmtime_r(&t, &tm);
  }
  std::string out(fmt.size() * 64 + 64, '\0');
  const size_t n = std::strftime(out.data(), out.size(), fmt.c_str(), &tm);
  if (n == 0 && !fmt.empty()) return Value::string("");
  out.resize(n);
  return Value::string(out);
}

}  // namespace

Dict make_globals() {
  Dict g;
  auto add = [&](const char* name, std::function<Value(Interpreter&, CallArgs&)> fn) {
    g.items.emplace_back(Value::string(name), Value::function(name, std::move(fn)));
  };
  add("range", range_fn);
  add("dict", [](Interpreter&, CallArgs& a) { return Value::make_dict(dict_from(a, "dict")); });
  add("namespace", [](Interpreter& in, CallArgs& a) {
    Value ns = Value::make_dict(dict_from(a, "namespace"), Kind::Namespace);
    in.track(ns.dict);
    return ns;
  });
  add("raise_exception", [](Interpreter&, CallArgs& a) -> Value {
    ArgBinder b("raise_exception", a, {"message"});
    fail(to_str(b.get(0)));
  });
  add("strftime_now", strftime_now);
  add("joiner", [](Interpreter&, CallArgs& a) {
    ArgBinder b("joiner", a, {"sep"});
    const std::string sep = b.has(0) ? to_str(b.get(0)) : ", ";
    auto used = std::make_shared<bool>(false);
    return Value::function("joiner", [sep, used](Interpreter&, CallArgs&) {
      if (!*used) {
        *used = true;
        return Value::string("");
      }
      return Value::string(sep);
    });
  });
  add("cycler", [](Interpreter&, CallArgs& a) {
    if (a.pos.empty()) fail("TypeError: cycler needs at least one item");
    auto items = std::make_shared<std::vector<Value>>(a.pos);
    auto pos = std::make_shared<size_t>(0);
    Dict obj;
    obj.set(Value::string("next"), Value::function("next", [items, pos](Interpreter&, CallArgs&) {
              Value v = (*items)[*pos];
              *pos = (*pos + 1) % items->size();
              return v;
            }));
    obj.set(Value::string("reset"), Value::function("reset", [pos](Interpreter&, CallArgs&) {
              *pos = 0;
              return Value::none();
            }));
    obj.set(Value::string("items"), Value::make_list(*items));
    return Value::make_dict(std::move(obj), Kind::Object);
  });
  return g;
}

}  // namespace sieve::chat
