#pragma once
// The syntax tree of a template: expressions and statements as jinja2's
// parser builds them.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/value.h"

namespace sieve::chat {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class ExprKind {
  Const,     // value
  Name,      // name
  List,      // items
  Tuple,     // items
  Dict,      // items: key, value, key, value, ...
  Getattr,   // a.name
  Getitem,   // a[b]
  Slice,     // a:b:c (any may be null); only as the index of Getitem
  Call,      // a(items..., kwargs..., *star_args, **star_kwargs)
  Filter,    // a|name(items..., kwargs...); a is null in {% filter %} blocks
  Test,      // a is name(items..., kwargs...)
  Unary,     // op ("-", "+", "not") a
  Binary,    // a op b: + - * / // % ** ~ and or
  Compare,   // a ops[0] items[0] ops[1] items[1] ...: == != < <= > >= in notin
  Cond,      // b if a else c (c may be null)
};

struct Expr {
  Expr() = default;
  Expr(const Expr&) = delete;
  Expr& operator=(const Expr&) = delete;
  // Frees the subtree without recursion: a long operator chain such as
  // 1+1+...+1 is a tree as deep as the chain is long.
  ~Expr();

  ExprKind kind;
  int line = 0;
  std::string name;  // Name, Getattr, Filter, Test; Unary/Binary operator
  Value value;       // Const
  ExprPtr a, b, c;
  std::vector<ExprPtr> items;
  std::vector<std::string> ops;  // Compare
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  ExprPtr star_args, star_kwargs;
};

enum class StmtKind {
  Data,         // text
  Output,       // {{ expr }}
  If,           // conds[i] -> bodies[i]; else_body
  For,          // targets in expr [if cond] [recursive]: body, else_body
  Set,          // targets = expr, or ns.attr = expr (target_attr set)
  SetBlock,     // {% set targets | filters %}body{% endset %}; filter = chain or null
  Macro,        // name(params=defaults): body
  CallBlock,    // {% call(params) expr %}body
  FilterBlock,  // {% filter chain %}body
  With,         // {% with targets[i] = values[i] %}body
  Break,
  Continue,
  Scope,        // body rendered in place (generation, block, autoescape)
};

struct Stmt {
  StmtKind kind;
  int line = 0;
  std::string text;                  // Data; Macro name
  ExprPtr expr;                      // Output, For iterable, Set value, CallBlock call
  ExprPtr cond;                      // For filter
  ExprPtr filter;                    // SetBlock, FilterBlock: a Filter chain whose innermost input is null
  std::vector<std::string> targets;  // For, Set, SetBlock; a tuple target when more than one
  bool target_is_tuple = false;
  std::string target_attr;           // Set: namespace attribute
  bool recursive = false;            // For
  std::vector<ExprPtr> conds;        // If conditions
  std::vector<Body> bodies;          // If bodies
  Body body, else_body;
  std::vector<std::string> params;   // Macro, CallBlock
  std::vector<ExprPtr> defaults;     // for the last params
  std::vector<ExprPtr> values;       // With
};

}  // namespace sieve::chat
