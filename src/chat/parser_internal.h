#pragma once
// The parser's token cursor and its expression grammar (jinja2's operator
// precedence); the statements are parsed in parser.cc on top of it.
#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "chat/ast.h"
#include "chat/lexer.h"
#include "chat/parser.h"
#include "util/error.h"

namespace sieve::chat {

class ExpressionParser {
 public:
  explicit ExpressionParser(std::vector<Token> tokens) : t_(std::move(tokens)) {}

  // A comma-separated list as a tuple, or one expression; stops at the end
  // of a tag, ')' or a name in `extra`.
  ExprPtr parse_tuple(bool explicit_parens, const std::set<std::string>& extra, bool no_condexpr = false);
  ExprPtr parse_expression(bool with_condexpr);
  // `| name(args)` repeated; input may be null (filter blocks, block set).
  ExprPtr parse_filters(ExprPtr input, bool start_inline);

 protected:
  struct DepthGuard {
    explicit DepthGuard(ExpressionParser& p) : p_(p) {
      if (++p_.depth_ > kMaxParseDepth)
        p_.fail_at(p_.cur(), "nested too deeply (more than " + std::to_string(kMaxParseDepth) + " levels)");
    }
    ~DepthGuard() { --p_.depth_; }
    ExpressionParser& p_;
  };

  const Token& cur() const { return t_[pos_]; }
  const Token& peek(size_t n = 1) const { return t_[std::min(pos_ + n, t_.size() - 1)]; }
  const Token& next() {
    const Token& t = t_[pos_];
    if (pos_ + 1 < t_.size()) ++pos_;
    return t;
  }
  [[noreturn]] void fail_at(const Token& t, const std::string& what) const {
    throw Error("template syntax error at line " + std::to_string(t.line) + ": " + what);
  }
  static std::string describe(const Token& t) {
    switch (t.type) {
      case Tok::Data: return "text";
      case Tok::VarBegin: return "'{{'";
      case Tok::VarEnd: return "'}}'";
      case Tok::BlockBegin: return "'{%'";
      case Tok::BlockEnd: return "'%}'";
      case Tok::Eof: return "end of template";
      case Tok::String: return "string";
      default: return "'" + t.text + "'";
    }
  }
  bool is_op(const char* op) const { return cur().type == Tok::Op && cur().text == op; }
  bool is_name(const char* n) const { return cur().type == Tok::Name && cur().text == n; }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool skip_name(const char* n) {
    if (!is_name(n)) return false;
    next();
    return true;
  }
  void expect_op(const char* op) {
    if (!skip_op(op)) fail_at(cur(), std::string("expected '") + op + "', got " + describe(cur()));
  }
  std::string expect_name() {
    if (cur().type != Tok::Name) fail_at(cur(), "expected a name, got " + describe(cur()));
    return next().text;
  }
  void expect_block_end() {
    if (cur().type != Tok::BlockEnd) fail_at(cur(), "expected end of statement '%}', got " + describe(cur()));
    next();
  }
  ExprPtr make(ExprKind k, int line) {
    auto e = std::make_unique<Expr>();
    e->kind = k;
    e->line = line;
    return e;
  }

  std::vector<Token> t_;
  size_t pos_ = 0;
  int depth_ = 0;

 private:
  bool is_tuple_end(const std::set<std::string>& extra) const;
  ExprPtr parse_binary(const char* op);
  ExprPtr parse_not();
  ExprPtr parse_compare();
  ExprPtr binary(const std::string& op, ExprPtr a, ExprPtr b, int line);
  ExprPtr parse_math1();
  ExprPtr parse_concat();
  ExprPtr parse_math2();
  ExprPtr parse_pow();
  ExprPtr parse_unary(bool with_filter);
  ExprPtr parse_primary();
  ExprPtr parse_postfix(ExprPtr node);
  ExprPtr parse_subscribed();
  void parse_args(Expr& e);
  ExprPtr parse_call(ExprPtr callee);
  ExprPtr parse_filter_expr(ExprPtr node);
};

}  // namespace sieve::chat
