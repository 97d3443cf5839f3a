#include "chat/interpreter.h"

#include <cmath>

#include "chat/builtins.h"
#include "chat/unicode.h"

namespace sieve::chat {

namespace {

// Swaps a member for the duration of a scope.
template <typename T>
struct Swap {
  Swap(T& slot, T value) : slot_(slot), old_(std::move(slot)) { slot_ = std::move(value); }
  ~Swap() { slot_ = std::move(old_); }
  T& slot_;
  T old_;
};

std::string object_name(const Value& v) {
  if (v.is_none()) return "'None'";
  return std::string("'") + type_name(v) + " object'";
}

int64_t as_int(const Value& v) { return v.kind == Kind::Bool ? v.b : v.i; }
bool is_intlike(const Value& v) { return v.kind == Kind::Int || v.kind == Kind::Bool; }

}  // namespace

const Value* Interpreter::Scope::find(const std::string& name) const {
  for (const Scope* s = this; s; s = s->parent.get())
    for (const auto& kv : s->vars)
      if (kv.first == name) return &kv.second;
  return nullptr;
}

void Interpreter::Scope::set(const std::string& name, Value v) {
  for (auto& kv : vars)
    if (kv.first == name) {
      kv.second = std::move(v);
      return;
    }
  vars.emplace_back(name, std::move(v));
}

Interpreter::Depth::Depth(Interpreter& in) : in_(in) {
  if (++in_.depth_ > in_.options_.limits.max_eval_depth) {
    --in_.depth_;  // the destructor does not run when the constructor throws
    fail("template nested too deeply at run time (more than " + std::to_string(in_.options_.limits.max_eval_depth) +
         " levels)");
  }
}

Interpreter::Interpreter(RenderOptions options) : options_(std::move(options)) {}

std::string Interpreter::render(const Body& body, const Value& context) {
  auto globals = std::make_shared<Scope>();
  for (auto& [k, v] : make_globals().items) globals->set(k.s, v);
  scope_ = std::make_shared<Scope>();
  scope_->parent = globals;
  if (context.kind == Kind::Dict)
    for (const auto& [k, v] : context.dict->items)
      if (k.is_string()) scope_->set(k.s, v);
  std::string result;
  out_ = &result;
  iterations_ = 0;
  try {
    exec_body(body);
  } catch (const Error& e) {
    release();
    throw Error("template error at line " + std::to_string(line_) + ": " + e.what());
  } catch (...) {
    release();
    throw;
  }
  release();
  return result;
}

void Interpreter::release() {
  // Emptied one at a time while the lists still hold every one of them, so
  // no destructor recurses through a chain of namespaces or scopes.
  for (auto& ns : namespaces_) ns->items.clear();
  for (auto& sc : macro_scopes_) sc->vars.clear();
  namespaces_.clear();
  macro_scopes_.clear();
  scope_.reset();
}

void Interpreter::charge(int64_t n) {
  iterations_ += n;
  if (n < 0 || iterations_ > options_.limits.max_loop_iterations)
    fail("the template ran more than " + std::to_string(options_.limits.max_loop_iterations) +
         " loop iterations (limit)");
}

void Interpreter::check_size(size_t bytes) const {
  if (bytes > options_.limits.max_output_bytes)
    fail("the template built more than " + std::to_string(options_.limits.max_output_bytes) + " bytes of text (limit)");
}

void Interpreter::emit(const std::string& text) {
  check_size(out_->size() + text.size());
  *out_ += text;
}

Value Interpreter::lookup(const std::string& name) {
  if (const Value* v = scope_->find(name)) return *v;
  return Value::undefined("'" + name + "' is undefined");
}

Interpreter::Flow Interpreter::exec_body(const Body& body) {
  for (const StmtPtr& s : body) {
    Flow f = exec(*s);
    if (f != Flow::Normal) return f;
  }
  return Flow::Normal;
}

std::string Interpreter::capture(const Body& body, ScopePtr scope) {
  std::string text;
  Swap<std::string*> o(out_, &text);
  Swap<ScopePtr> sc(scope_, std::move(scope));
  exec_body(body);
  return text;
}

Interpreter::Flow Interpreter::exec(const Stmt& s) {
  Depth d(*this);
  line_ = s.line;
  switch (s.kind) {
    case StmtKind::Data: emit(s.text); break;
    case StmtKind::Output: emit(to_str(eval(*s.expr))); break;
    case StmtKind::If:
      for (size_t k = 0; k < s.conds.size(); ++k)
        if (truthy(eval(*s.conds[k]))) return exec_body(s.bodies[k]);
      return exec_body(s.else_body);
    case StmtKind::For: return exec_for(s);
    case StmtKind::Set: {
      Value v = eval(*s.expr);
      if (!s.target_attr.empty()) {
        Value ns = lookup(s.targets[0]);
        if (ns.kind != Kind::Namespace) fail("TemplateRuntimeError: cannot assign attribute on non-namespace object");
        ns.dict->set(Value::string(s.target_attr), std::move(v));
      } else {
        exec_set(s, std::move(v));
      }
      break;
    }
    case StmtKind::SetBlock: {
      Value v = Value::string(capture(s.body, scope_));
      if (s.filter) v = apply_filter_chain(*s.filter, std::move(v));
      exec_set(s, std::move(v));
      break;
    }
    case StmtKind::Macro:
      macro_scopes_.push_back(scope_);
      scope_->set(s.text, make_macro(s, &s.body, false));
      break;
    case StmtKind::CallBlock: {
      const Expr& call_expr = *s.expr;
      Value fn = eval(*call_expr.a);
      CallArgs args = eval_args(call_expr);
      args.kw.emplace_back("caller", make_macro(s, &s.body, true));
      emit(to_str(call(fn, args)));
      break;
    }
    case StmtKind::FilterBlock: emit(to_str(apply_filter_chain(*s.filter, Value::string(capture(s.body, scope_))))); break;
    case StmtKind::With: {
      auto inner = std::make_shared<Scope>();
      inner->parent = scope_;
      for (size_t k = 0; k < s.targets.size(); ++k) inner->set(s.targets[k], eval(*s.values[k]));
      Swap<ScopePtr> sc(scope_, inner);
      return exec_body(s.body);
    }
    case StmtKind::Break: return Flow::Break;
    case StmtKind::Continue: return Flow::Continue;
    case StmtKind::Scope: return exec_body(s.body);
  }
  return Flow::Normal;
}

void Interpreter::exec_set(const Stmt& s, Value v) {
  if (!s.target_is_tuple) {
    scope_->set(s.targets[0], std::move(v));
    return;
  }
  std::vector<Value> items = iterate(v);
  if (items.size() != s.targets.size())
    fail(std::string("ValueError: ") + (items.size() < s.targets.size() ? "not enough" : "too many") +
         " values to unpack (expected " + std::to_string(s.targets.size()) + ", got " + std::to_string(items.size()) +
         ")");
  for (size_t k = 0; k < items.size(); ++k) scope_->set(s.targets[k], std::move(items[k]));
}

Value Interpreter::apply_filter_chain(const Expr& chain, Value input) {
  Depth d(*this);
  if (chain.a) input = apply_filter_chain(*chain.a, std::move(input));
  CallArgs args = eval_args(chain);
  return filter(chain.name, input, args);
}

Interpreter::Flow Interpreter::exec_for(const Stmt& s) {
  Value iterable = eval(*s.expr);
  if (!iterable.is_undefined() && !iterable.is_sequence() && !iterable.is_mapping() && !iterable.is_string())
    fail(std::string("TypeError: '") + type_name(iterable) + "' object is not iterable");
  return run_loop(s, iterable, 1);
}

Interpreter::Flow Interpreter::run_loop(const Stmt& s, const Value& iterable, int depth) {
  const ScopePtr outer = scope_;
  std::vector<Value> items = iterate(iterable);
  if (s.cond) {
    std::vector<Value> kept;
    for (Value& item : items) {
      charge(1);
      auto sc = std::make_shared<Scope>();
      sc->parent = outer;
      Swap<ScopePtr> swap(scope_, sc);
      exec_set(s, item);
      if (truthy(eval(*s.cond))) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) return exec_body(s.else_body);
  const int64_t n = static_cast<int64_t>(items.size());
  auto last_changed = std::make_shared<std::optional<Value>>();
  for (int64_t k = 0; k < n; ++k) {
    charge(1);
    Dict loop;
    auto put = [&](const char* key, Value v) { loop.items.emplace_back(Value::string(key), std::move(v)); };
    put("index", Value::integer(k + 1));
    put("index0", Value::integer(k));
    put("revindex", Value::integer(n - k));
    put("revindex0", Value::integer(n - k - 1));
    put("first", Value::boolean(k == 0));
    put("last", Value::boolean(k == n - 1));
    put("length", Value::integer(n));
    put("depth", Value::integer(depth));
    put("depth0", Value::integer(depth - 1));
    if (k > 0) put("previtem", items[static_cast<size_t>(k - 1)]);
    if (k + 1 < n) put("nextitem", items[static_cast<size_t>(k + 1)]);
    put("cycle", Value::function("cycle", [k](Interpreter&, CallArgs& a) {
          if (a.pos.empty()) fail("TypeError: no items for cycling given");
          return a.pos[static_cast<size_t>(k) % a.pos.size()];
        }));
    put("changed", Value::function("changed", [last_changed](Interpreter&, CallArgs& a) {
          Value now = Value::make_list(a.pos, Kind::Tuple);
          if (*last_changed && equals(**last_changed, now)) return Value::boolean(false);
          *last_changed = now;
          return Value::boolean(true);
        }));
    Value loop_value = Value::make_dict(std::move(loop), Kind::Object);
    if (s.recursive) {
      const Stmt* st = &s;
      loop_value.fn = std::make_shared<Callable>(Callable{"loop", [st, depth](Interpreter& in, CallArgs& a) {
        if (a.pos.size() != 1) fail("TypeError: loop() takes exactly one argument");
        std::string text;
        Swap<std::string*> o(in.out_, &text);
        in.run_loop(*st, a.pos[0], depth + 1);
        return Value::string(text);
      }});
    }
    auto sc = std::make_shared<Scope>();
    sc->parent = outer;
    sc->set("loop", std::move(loop_value));
    Swap<ScopePtr> swap(scope_, sc);
    exec_set(s, items[static_cast<size_t>(k)]);
    if (exec_body(s.body) == Flow::Break) break;
  }
  return Flow::Normal;
}

Value Interpreter::make_macro(const Stmt& s, const Body* body, bool is_caller) {
  const ScopePtr def_scope = scope_;
  const Stmt* st = &s;
  const std::string name = is_caller ? "caller" : s.text;
  return Value::function(name, [st, body, def_scope, name](Interpreter& in, CallArgs& a) {
    if (++in.calls_ > in.options_.limits.max_call_depth) {
      --in.calls_;
      fail("macro calls nested more than " + std::to_string(in.options_.limits.max_call_depth) + " deep (limit)");
    }
    struct Release {
      int& c;
      ~Release() { --c; }
    } release{in.calls_};
    auto sc = std::make_shared<Scope>();
    sc->parent = def_scope;
    const size_t np = st->params.size(), nd = st->defaults.size();
    std::vector<bool> set(np, false);
    for (size_t k = 0; k < a.pos.size() && k < np; ++k) {
      sc->set(st->params[k], a.pos[k]);
      set[k] = true;
    }
    std::vector<Value> varargs(a.pos.begin() + static_cast<ptrdiff_t>(std::min(np, a.pos.size())), a.pos.end());
    Dict kwargs;
    Value caller;
    for (auto& [key, v] : a.kw) {
      size_t k = 0;
      while (k < np && st->params[k] != key) ++k;
      if (k < np) {
        if (set[k]) fail("TypeError: macro '" + name + "' got multiple values for argument '" + key + "'");
        sc->set(key, v);
        set[k] = true;
      } else if (key == "caller") {
        caller = v;
      } else {
        kwargs.set(Value::string(key), v);
      }
    }
    Swap<ScopePtr> swap(in.scope_, sc);
    for (size_t k = 0; k < np; ++k) {
      if (set[k]) continue;
      if (k + nd >= np) sc->set(st->params[k], in.eval(*st->defaults[k + nd - np]));
      else sc->set(st->params[k], Value::undefined("parameter '" + st->params[k] + "' was not provided"));
    }
    sc->set("varargs", Value::make_list(std::move(varargs), Kind::Tuple));
    sc->set("kwargs", Value::make_dict(std::move(kwargs)));
    if (!caller.is_undefined()) sc->set("caller", caller);
    std::string text;
    Swap<std::string*> o(in.out_, &text);
    in.exec_body(*body);
    return Value::string(text);
  });
}

CallArgs Interpreter::eval_args(const Expr& e) {
  CallArgs args;
  for (const ExprPtr& x : e.items) args.pos.push_back(eval(*x));
  for (const auto& [k, x] : e.kwargs) args.kw.emplace_back(k, eval(*x));
  if (e.star_args)
    for (Value& v : iterate(eval(*e.star_args))) args.pos.push_back(std::move(v));
  if (e.star_kwargs) {
    Value d = eval(*e.star_kwargs);
    if (d.kind != Kind::Dict) fail("TypeError: argument after ** must be a mapping");
    for (const auto& [k, v] : d.dict->items) args.kw.emplace_back(to_str(k), v);
  }
  return args;
}

Value Interpreter::call(const Value& fn, CallArgs& args) {
  if (fn.fn) {
    Depth d(*this);
    return fn.fn->fn(*this, args);
  }
  if (fn.is_undefined()) fail_undefined(fn);
  fail(std::string("TypeError: '") + type_name(fn) + "' object is not callable");
}

Value Interpreter::filter(const std::string& name, const Value& input, CallArgs& args) {
  return call_filter(*this, name, input, args);
}

bool Interpreter::test(const std::string& name, const Value& input, CallArgs& args) {
  return call_test(*this, name, input, args);
}

Value Interpreter::getattr(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) fail_undefined(obj);
  if (obj.has_attrs()) {
    if (const Value* v = obj.dict->find(name)) return *v;
  } else if (auto m = find_method(obj, name)) {
    return *m;
  } else if (obj.kind == Kind::Dict) {
    if (const Value* v = obj.dict->find(name)) return *v;
  }
  return Value::undefined(object_name(obj) + " has no attribute '" + name + "'");
}

Value Interpreter::getitem(const Value& obj, const Value& key) {
  if (obj.is_undefined()) fail_undefined(obj);
  if (obj.kind == Kind::Dict) {
    if (const Value* v = obj.dict->find(key)) return *v;
  } else if ((obj.is_sequence() || obj.is_string()) && is_intlike(key)) {
    const int64_t n = length(obj);
    int64_t k = as_int(key);
    if (k < 0) k += n;
    if (k >= 0 && k < n) {
      if (obj.is_sequence()) return (*obj.list)[static_cast<size_t>(k)];
      if (is_ascii(obj.s)) return Value::string(std::string(1, obj.s[static_cast<size_t>(k)]));
      return Value::string(encode_utf8(decode_utf8(obj.s).substr(static_cast<size_t>(k), 1)));
    }
    return Value::undefined(object_name(obj) + " has no element " + std::to_string(as_int(key)));
  } else if (obj.has_attrs() && key.is_string()) {
    if (const Value* v = obj.dict->find(key.s)) return *v;
  }
  if (key.is_string()) {
    if (!obj.has_attrs())
      if (auto m = find_method(obj, key.s)) return *m;
    return Value::undefined(object_name(obj) + " has no attribute '" + key.s + "'");
  }
  return Value::undefined(object_name(obj) + " has no element " + repr(key));
}

Value Interpreter::eval(const Expr& e) {
  Depth d(*this);
  switch (e.kind) {
    case ExprKind::Const: return e.value;
    case ExprKind::Name: return lookup(e.name);
    case ExprKind::List:
    case ExprKind::Tuple: {
      std::vector<Value> items;
      for (const ExprPtr& x : e.items) items.push_back(eval(*x));
      return Value::make_list(std::move(items), e.kind == ExprKind::List ? Kind::List : Kind::Tuple);
    }
    case ExprKind::Dict: {
      Dict dict;
      for (size_t k = 0; k + 1 < e.items.size(); k += 2) {
        Value key = eval(*e.items[k]);
        if (key.is_sequence() && key.kind == Kind::List) fail("TypeError: unhashable type: 'list'");
        if (key.kind == Kind::Dict) fail("TypeError: unhashable type: 'dict'");
        dict.set(std::move(key), eval(*e.items[k + 1]));
      }
      return Value::make_dict(std::move(dict));
    }
    case ExprKind::Getattr: return getattr(eval(*e.a), e.name);
    case ExprKind::Getitem: {
      Value obj = eval(*e.a);
      if (e.b->kind == ExprKind::Slice) {
        if (obj.is_undefined()) fail_undefined(obj);
        const Expr& sl = *e.b;
        return py_slice(obj, sl.a ? eval(*sl.a) : Value::none(), sl.b ? eval(*sl.b) : Value::none(),
                        sl.c ? eval(*sl.c) : Value::none());
      }
      return getitem(obj, eval(*e.b));
    }
    case ExprKind::Slice: fail("a slice is only allowed inside []");
    case ExprKind::Call: {
      Value fn = eval(*e.a);
      CallArgs args = eval_args(e);
      return call(fn, args);
    }
    case ExprKind::Filter: {
      Value input = e.a ? eval(*e.a) : Value();
      CallArgs args = eval_args(e);
      return filter(e.name, input, args);
    }
    case ExprKind::Test: {
      Value input = eval(*e.a);
      CallArgs args = eval_args(e);
      return Value::boolean(test(e.name, input, args));
    }
    case ExprKind::Unary: {
      Value v = eval(*e.a);
      if (e.name == "not") return Value::boolean(!truthy(v));
      if (v.is_undefined()) fail_undefined(v);
      if (is_intlike(v)) {
        if (e.name == "+") return Value::integer(as_int(v));
        if (as_int(v) == INT64_MIN) fail("integer overflow");
        return Value::integer(-as_int(v));
      }
      if (v.kind == Kind::Float) return Value::number(e.name == "-" ? -v.f : v.f);
      fail(std::string("TypeError: bad operand type for unary ") + e.name + ": '" + type_name(v) + "'");
    }
    case ExprKind::Binary: return eval_binary(e);
    case ExprKind::Compare: return eval_compare(e);
    case ExprKind::Cond:
      if (truthy(eval(*e.a))) return eval(*e.b);
      if (e.c) return eval(*e.c);
      return Value::undefined("the inline if-expression on line " + std::to_string(e.line) +
                              " evaluated to false and no else section was defined.");
  }
  return Value();
}

}  // namespace sieve::chat
