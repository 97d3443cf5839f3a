// jinja2's builtin tests (`x is defined`, `x is divisibleby 3`, ...).
#include <unordered_map>

#include "chat/builtins.h"
#include "chat/interpreter.h"
#include "chat/unicode.h"

namespace sieve::chat {

namespace {

using TestFn = bool (*)(Interpreter&, const Value&, ArgBinder&);

const Value& arg(ArgBinder& b) {
  if (!b.has(0)) fail("TypeError: the test needs an argument");
  return b.get(0);
}

int64_t int_of(const Value& v) {
  if (v.kind == Kind::Int) return v.i;
  if (v.kind == Kind::Bool) return v.b;
  if (v.is_undefined()) fail_undefined(v);
  fail(std::string("TypeError: expected an integer, got '") + type_name(v) + "'");
}

bool all_cased(const std::string& s, bool want_upper) {
  bool cased = false;
  for (char32_t c : decode_utf8(s)) {
    if (want_upper ? is_lower(c) : is_upper(c)) return false;
    cased = cased || is_upper(c) || is_lower(c);
  }
  return cased;
}

bool t_callable(Interpreter&, const Value& v, ArgBinder&) { return v.fn != nullptr || v.is_undefined(); }
bool t_defined(Interpreter&, const Value& v, ArgBinder&) { return !v.is_undefined(); }
bool t_undefined(Interpreter&, const Value& v, ArgBinder&) { return v.is_undefined(); }
bool t_none(Interpreter&, const Value& v, ArgBinder&) { return v.is_none(); }
bool t_string(Interpreter&, const Value& v, ArgBinder&) { return v.is_string(); }
bool t_number(Interpreter&, const Value& v, ArgBinder&) { return v.is_number(); }
bool t_integer(Interpreter&, const Value& v, ArgBinder&) { return v.kind == Kind::Int; }
bool t_float(Interpreter&, const Value& v, ArgBinder&) { return v.kind == Kind::Float; }
bool t_boolean(Interpreter&, const Value& v, ArgBinder&) { return v.kind == Kind::Bool; }
bool t_true(Interpreter&, const Value& v, ArgBinder&) { return v.kind == Kind::Bool && v.b; }
bool t_false(Interpreter&, const Value& v, ArgBinder&) { return v.kind == Kind::Bool && !v.b; }
bool t_mapping(Interpreter&, const Value& v, ArgBinder&) { return v.kind == Kind::Dict; }
bool t_iterable(Interpreter&, const Value& v, ArgBinder&) {
  return v.is_undefined() || v.is_string() || v.is_sequence() || v.kind == Kind::Dict;
}
bool t_sequence(Interpreter& in, const Value& v, ArgBinder& b) { return t_iterable(in, v, b); }
bool t_sameas(Interpreter&, const Value& v, ArgBinder& b) {
  const Value& o = arg(b);
  if (v.kind != o.kind) return false;
  switch (v.kind) {
    case Kind::None:
    case Kind::Undefined: return true;
    case Kind::Bool: return v.b == o.b;
    case Kind::Int: return v.i == o.i && v.i >= -5 && v.i <= 256;  // CPython's small-int cache
    case Kind::String: return v.s == o.s;
    case Kind::List:
    case Kind::Tuple: return v.list == o.list;
    case Kind::Dict:
    case Kind::Namespace:
    case Kind::Object: return v.dict == o.dict;
    case Kind::Callable: return v.fn == o.fn;
    default: return false;
  }
}
bool t_eq(Interpreter&, const Value& v, ArgBinder& b) { return equals(v, arg(b)); }
bool t_ne(Interpreter&, const Value& v, ArgBinder& b) { return !equals(v, arg(b)); }
bool t_lt(Interpreter&, const Value& v, ArgBinder& b) { return less(v, arg(b)); }
bool t_le(Interpreter&, const Value& v, ArgBinder& b) { return less(v, arg(b)) || equals(v, arg(b)); }
bool t_gt(Interpreter&, const Value& v, ArgBinder& b) { return less(arg(b), v); }
bool t_ge(Interpreter&, const Value& v, ArgBinder& b) { return less(arg(b), v) || equals(v, arg(b)); }
bool t_in(Interpreter&, const Value& v, ArgBinder& b) {
  const Value& c = arg(b);
  if (c.is_string()) {
    if (!v.is_string()) fail("TypeError: 'in <string>' requires string as left operand");
    return c.s.find(v.s) != std::string::npos;
  }
  if (c.kind == Kind::Dict) return c.dict->find(v) != nullptr;
  for (const Value& x : iterate(c))
    if (equals(x, v)) return true;
  return false;
}
bool t_odd(Interpreter&, const Value& v, ArgBinder&) { return int_of(v) % 2 != 0; }
bool t_even(Interpreter&, const Value& v, ArgBinder&) { return int_of(v) % 2 == 0; }
bool t_divisibleby(Interpreter&, const Value& v, ArgBinder& b) {
  const int64_t d = int_of(arg(b));
  if (d == 0) fail("ZeroDivisionError: integer modulo by zero");
  if (d == -1) return true;
  return int_of(v) % d == 0;
}
bool t_lower(Interpreter&, const Value& v, ArgBinder&) { return all_cased(to_str(v), false); }
bool t_upper(Interpreter&, const Value& v, ArgBinder&) { return all_cased(to_str(v), true); }
bool t_escaped(Interpreter&, const Value&, ArgBinder&) { return false; }
bool t_filter(Interpreter&, const Value& v, ArgBinder&);
bool t_test(Interpreter&, const Value& v, ArgBinder&);

const std::unordered_map<std::string, TestFn>& tests() {
  static const std::unordered_map<std::string, TestFn> table = {
      {"boolean", t_boolean}, {"callable", t_callable}, {"defined", t_defined}, {"divisibleby", t_divisibleby},
      {"eq", t_eq}, {"equalto", t_eq}, {"==", t_eq}, {"escaped", t_escaped}, {"even", t_even},
      {"false", t_false}, {"filter", t_filter}, {"float", t_float}, {"ge", t_ge}, {">=", t_ge},
      {"gt", t_gt}, {">", t_gt}, {"greaterthan", t_gt}, {"in", t_in}, {"integer", t_integer},
      {"iterable", t_iterable}, {"le", t_le}, {"<=", t_le}, {"lower", t_lower}, {"lt", t_lt},
      {"<", t_lt}, {"lessthan", t_lt}, {"mapping", t_mapping}, {"ne", t_ne}, {"!=", t_ne},
      {"none", t_none}, {"number", t_number}, {"odd", t_odd}, {"sameas", t_sameas},
      {"sequence", t_sequence}, {"string", t_string}, {"test", t_test}, {"true", t_true},
      {"undefined", t_undefined}, {"upper", t_upper},
  };
  return table;
}

bool t_filter(Interpreter&, const Value& v, ArgBinder&) {
  static const char* known[] = {"abs", "attr", "batch", "capitalize", "center", "count", "d", "default",
                                "dictsort", "e", "escape", "first", "float", "forceescape", "format", "indent",
                                "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min",
                                "reject", "rejectattr", "replace", "reverse", "round", "safe", "select",
                                "selectattr", "sort", "string", "sum", "title", "tojson", "trim", "truncate",
                                "unique", "upper", "wordcount"};
  for (const char* k : known)
    if (v.is_string() && v.s == k) return true;
  return false;
}

bool t_test(Interpreter&, const Value& v, ArgBinder&) { return v.is_string() && tests().count(v.s) > 0; }

}  // namespace

bool call_test(Interpreter& in, const std::string& name, const Value& input, CallArgs& args) {
  auto it = tests().find(name);
  if (it == tests().end()) fail("TemplateAssertionError: no test named '" + name + "'");
  ArgBinder b(name, args, {"other"});
  return it->second(in, input, b);
}

}  // namespace sieve::chat
