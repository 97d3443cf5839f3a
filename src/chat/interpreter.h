#pragma once
// Renders a parsed template: jinja2's semantics (scoping, undefined values,
// loops, macros, filters, tests) inside a sandbox with limits, so a hostile
// template ends in a sieve::Error rather than a hang, a crash or unbounded
// memory.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/ast.h"
#include "chat/value.h"

namespace sieve::chat {

struct Limits {
  size_t max_output_bytes = 16u << 20;       // the rendering and any string built on the way
  int64_t max_loop_iterations = 1'000'000;   // all loops together, plus items made by range() and `*`
  int max_call_depth = 64;                   // nested macro calls
  int max_eval_depth = 500;                  // nested evaluation of expressions and statements
};

struct RenderOptions {
  // The instant strftime_now() formats, "YYYY-MM-DDTHH:MM:SS"; empty: now (UTC).
  std::string now;
  Limits limits;
};

class Interpreter {
 public:
  explicit Interpreter(RenderOptions options);

  // Renders `body` with the variables of `context` (a Dict value) on top of
  // the globals (range, namespace, dict, raise_exception, strftime_now, ...).
  std::string render(const Body& body, const Value& context);

  // Used by the builtins.
  Value call(const Value& fn, CallArgs& args);
  Value filter(const std::string& name, const Value& input, CallArgs& args);
  bool test(const std::string& name, const Value& input, CallArgs& args);
  Value getattr(const Value& obj, const std::string& name);
  Value getitem(const Value& obj, const Value& key);
  // Counts work against max_loop_iterations.
  void charge(int64_t n);
  // Throws when a string being built would pass max_output_bytes.
  void check_size(size_t bytes) const;
  const RenderOptions& options() const { return options_; }
  // Registers a namespace() object: render() empties them all at the end,
  // which breaks any reference cycle a template made through them.
  void track(std::shared_ptr<Dict> ns) { namespaces_.push_back(std::move(ns)); }

 private:
  struct Scope {
    std::vector<std::pair<std::string, Value>> vars;
    std::shared_ptr<Scope> parent;
    const Value* find(const std::string& name) const;
    void set(const std::string& name, Value v);
  };
  using ScopePtr = std::shared_ptr<Scope>;
  enum class Flow { Normal, Break, Continue };
  struct Depth {
    explicit Depth(Interpreter& in);
    ~Depth() { --in_.depth_; }
    Interpreter& in_;
  };

  Flow exec_body(const Body& body);
  Flow exec(const Stmt& s);
  Flow exec_for(const Stmt& s);
  Flow run_loop(const Stmt& s, const Value& iterable, int depth);
  void exec_set(const Stmt& s, Value v);
  void emit(const std::string& text);
  std::string capture(const Body& body, ScopePtr scope);
  Value apply_filter_chain(const Expr& chain, Value input);
  Value make_macro(const Stmt& s, const Body* body, bool is_caller);

  Value eval(const Expr& e);
  Value eval_binary(const Expr& e);
  Value eval_compare(const Expr& e);
  CallArgs eval_args(const Expr& e);
  Value lookup(const std::string& name);

  void release();  // breaks the reference cycles of macros and namespaces

  RenderOptions options_;
  ScopePtr scope_;
  std::vector<std::shared_ptr<Dict>> namespaces_;
  std::vector<ScopePtr> macro_scopes_;  // scopes holding macros, which hold the scope
  std::string* out_ = nullptr;
  int64_t iterations_ = 0;
  int depth_ = 0;
  int calls_ = 0;
  int line_ = 0;
};

}  // namespace sieve::chat
