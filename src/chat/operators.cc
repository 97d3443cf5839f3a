// The operators of expressions: arithmetic with Python's int/float rules,
// concatenation, comparisons (chained) and membership.
#include <cmath>

#include "chat/builtins.h"
#include "chat/interpreter.h"

namespace sieve::chat {

namespace {

bool add_overflows(int64_t a, int64_t b, int64_t* r) { return __builtin_add_overflow(a, b, r); }
bool sub_overflows(int64_t a, int64_t b, int64_t* r) { return __builtin_sub_overflow(a, b, r); }
bool mul_overflows(int64_t a, int64_t b, int64_t* r) { return __builtin_mul_overflow(a, b, r); }

int64_t as_int(const Value& v) { return v.kind == Kind::Bool ? v.b : v.i; }
bool is_intlike(const Value& v) { return v.kind == Kind::Int || v.kind == Kind::Bool; }

[[noreturn]] void unsupported(const char* op, const Value& a, const Value& b) {
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  if (a.is_string() && std::string(op) == "+")
    fail(std::string("TypeError: can only concatenate str (not \"") + type_name(b) + "\") to str");
  if (a.is_sequence() && std::string(op) == "+")
    fail(std::string("TypeError: can only concatenate ") + type_name(a) + " (not \"" + type_name(b) + "\") to " +
         type_name(a));
  fail(std::string("TypeError: unsupported operand type(s) for ") + op + ": '" + type_name(a) + "' and '" +
       type_name(b) + "'");
}

bool contains(const Value& container, const Value& item) {
  switch (container.kind) {
    case Kind::Undefined: return false;
    case Kind::String:
      if (!item.is_string()) {
        if (item.is_undefined()) fail_undefined(item);
        fail(std::string("TypeError: 'in <string>' requires string as left operand, not ") + type_name(item));
      }
      return container.s.find(item.s) != std::string::npos;
    case Kind::List:
    case Kind::Tuple:
      for (const Value& x : *container.list)
        if (equals(x, item)) return true;
      return false;
    case Kind::Dict: return container.dict->find(item) != nullptr;
    default: fail(std::string("TypeError: argument of type '") + type_name(container) + "' is not iterable");
  }
}

}  // namespace

Value Interpreter::eval_compare(const Expr& e) {
  Value left = eval(*e.a);
  for (size_t k = 0; k < e.ops.size(); ++k) {
    Value right = eval(*e.items[k]);
    const std::string& op = e.ops[k];
    bool r;
    if (op == "==") r = equals(left, right);
    else if (op == "!=") r = !equals(left, right);
    else if (op == "<") r = less(left, right);
    else if (op == "<=") r = less(left, right) || equals(left, right);
    else if (op == ">") r = less(right, left);
    else if (op == ">=") r = less(right, left) || equals(left, right);
    else if (op == "in") r = contains(right, left);
    else r = !contains(right, left);
    if (!r) return Value::boolean(false);
    left = std::move(right);
  }
  return Value::boolean(true);
}

Value Interpreter::eval_binary(const Expr& e) {
  const std::string& op = e.name;
  if (op == "and" || op == "or") {
    Value a = eval(*e.a);
    if (truthy(a) == (op == "or")) return a;
    return eval(*e.b);
  }
  Value a = eval(*e.a), b = eval(*e.b);
  if (op == "~") {
    std::string s = to_str(a);
    std::string t = to_str(b);
    check_size(s.size() + t.size());
    return Value::string(s + t);
  }
  const bool ints = is_intlike(a) && is_intlike(b);
  const bool nums = a.is_number() && b.is_number();
  int64_t r = 0;
  if (op == "+") {
    if (ints) {
      if (add_overflows(as_int(a), as_int(b), &r)) fail("integer overflow in +");
      return Value::integer(r);
    }
    if (nums) return Value::number(as_double(a, "+") + as_double(b, "+"));
    if (a.is_string() && b.is_string()) {
      check_size(a.s.size() + b.s.size());
      return Value::string(a.s + b.s);
    }
    if (a.is_sequence() && a.kind == b.kind) {
      check_size((a.list->size() + b.list->size()) * sizeof(Value) / 8);
      std::vector<Value> items = *a.list;
      items.insert(items.end(), b.list->begin(), b.list->end());
      return Value::make_list(std::move(items), a.kind);
    }
    unsupported("+", a, b);
  }
  if (op == "-") {
    if (ints) {
      if (sub_overflows(as_int(a), as_int(b), &r)) fail("integer overflow in -");
      return Value::integer(r);
    }
    if (nums) return Value::number(as_double(a, "-") - as_double(b, "-"));
    unsupported("-", a, b);
  }
  if (op == "*") {
    if (ints) {
      if (mul_overflows(as_int(a), as_int(b), &r)) fail("integer overflow in *");
      return Value::integer(r);
    }
    if (nums) return Value::number(as_double(a, "*") * as_double(b, "*"));
    const Value* seq = is_intlike(b) ? &a : &b;
    const Value* count = is_intlike(b) ? &b : &a;
    if (is_intlike(*count) && (seq->is_string() || seq->is_sequence())) {
      const int64_t n = std::max<int64_t>(0, as_int(*count));
      if (seq->is_string()) {
        if (n > 0 && seq->s.size() > 0) check_size(seq->s.size() * static_cast<size_t>(std::min<int64_t>(n, INT32_MAX)));
        std::string out;
        for (int64_t k = 0; k < n && !seq->s.empty(); ++k) out += seq->s;
        return Value::string(out);
      }
      int64_t total = 0;
      if (mul_overflows(n, static_cast<int64_t>(seq->list->size()), &total)) fail("list too large");
      charge(total);
      std::vector<Value> items;
      for (int64_t k = 0; k < n && !seq->list->empty(); ++k) items.insert(items.end(), seq->list->begin(), seq->list->end());
      return Value::make_list(std::move(items), seq->kind);
    }
    unsupported("*", a, b);
  }
  if (op == "%" && a.is_string()) return Value::string(percent_format(*this, a.s, b));
  if (!nums) unsupported(op.c_str(), a, b);
  if (op == "/") {
    const double y = as_double(b, "/");
    if (y == 0) fail("ZeroDivisionError: division by zero");
    return Value::number(as_double(a, "/") / y);
  }
  if (op == "//" || op == "%") {
    if (ints) {
      const int64_t x = as_int(a), y = as_int(b);
      if (y == 0) fail(op == "//" ? "ZeroDivisionError: integer division by zero" : "ZeroDivisionError: integer modulo by zero");
      if (x == INT64_MIN && y == -1) fail("integer overflow");
      int64_t q = x / y, m = x % y;
      if (m != 0 && ((m < 0) != (y < 0))) {
        --q;
        m += y;
      }
      return Value::integer(op == "//" ? q : m);
    }
    const double x = as_double(a, op.c_str()), y = as_double(b, op.c_str());
    if (y == 0) fail("ZeroDivisionError: float division by zero");
    double m = std::fmod(x, y);
    if (m != 0 && ((m < 0) != (y < 0))) m += y;
    if (op == "%") return Value::number(m);
    const double div = (x - m) / y;
    double q = std::floor(div);
    if (div - q > 0.5) q += 1;
    return Value::number(q);
  }
  if (op == "**") {
    if (ints && as_int(b) >= 0) {
      int64_t base = as_int(a), exp = as_int(b), result = 1;
      while (exp > 0) {
        if (exp & 1)
          if (mul_overflows(result, base, &result)) fail("integer overflow in **");
        exp >>= 1;
        if (exp > 0 && mul_overflows(base, base, &base)) fail("integer overflow in **");
      }
      return Value::integer(result);
    }
    const double x = as_double(a, "**"), y = as_double(b, "**");
    if (x == 0 && y < 0) fail("ZeroDivisionError: 0.0 cannot be raised to a negative power");
    return Value::number(std::pow(x, y));
  }
  fail("unknown operator " + op);
}

}  // namespace sieve::chat
