// Expressions: jinja2's grammar from conditional expressions down to
// literals, postfix access, calls, filters and tests.
#include "chat/parser_internal.h"

namespace sieve::chat {

bool ExpressionParser::is_tuple_end(const std::set<std::string>& extra) const {
  const Token& t = cur();
  if (t.type == Tok::VarEnd || t.type == Tok::BlockEnd || t.type == Tok::Eof) return true;
  if (t.type == Tok::Op && t.text == ")") return true;
  return t.type == Tok::Name && extra.count(t.text);
}

ExprPtr ExpressionParser::parse_tuple(bool explicit_parens, const std::set<std::string>& extra, bool no_condexpr) {
  const int line = cur().line;
  std::vector<ExprPtr> items;
  bool is_tuple = false;
  while (true) {
    if (!items.empty()) expect_op(",");
    if (is_tuple_end(extra)) break;
    items.push_back(parse_expression(!no_condexpr));
    if (is_op(",")) is_tuple = true;
    else break;
  }
  if (!is_tuple) {
    if (!items.empty()) return std::move(items[0]);
    if (!explicit_parens) fail_at(cur(), "expected an expression, got " + describe(cur()));
  }
  auto e = make(ExprKind::Tuple, line);
  e->items = std::move(items);
  return e;
}

ExprPtr ExpressionParser::parse_expression(bool with_condexpr) {
  DepthGuard g(*this);
  ExprPtr e = parse_binary("or");
  if (!with_condexpr) return e;
  while (is_name("if")) {
    const int line = next().line;
    auto c = make(ExprKind::Cond, line);
    c->a = parse_binary("or");
    c->b = std::move(e);
    if (skip_name("else")) c->c = parse_expression(true);
    e = std::move(c);
  }
  return e;
}

ExprPtr ExpressionParser::parse_binary(const char* op) {
  const bool is_or = std::string(op) == "or";
  ExprPtr left = is_or ? parse_binary("and") : parse_not();
  while (is_name(op)) {
    const int line = next().line;
    auto e = make(ExprKind::Binary, line);
    e->name = op;
    e->a = std::move(left);
    e->b = is_or ? parse_binary("and") : parse_not();
    left = std::move(e);
  }
  return left;
}

ExprPtr ExpressionParser::parse_not() {
  if (is_name("not")) {
    DepthGuard g(*this);
    const int line = next().line;
    auto e = make(ExprKind::Unary, line);
    e->name = "not";
    e->a = parse_not();
    return e;
  }
  return parse_compare();
}

ExprPtr ExpressionParser::parse_compare() {
  const int line = cur().line;
  ExprPtr first = parse_math1();
  auto e = make(ExprKind::Compare, line);
  while (true) {
    const Token& t = cur();
    if (t.type == Tok::Op && (t.text == "==" || t.text == "!=" || t.text == "<" || t.text == "<=" ||
                              t.text == ">" || t.text == ">=")) {
      e->ops.push_back(next().text);
    } else if (is_name("in")) {
      next();
      e->ops.push_back("in");
    } else if (is_name("not") && peek().type == Tok::Name && peek().text == "in") {
      next();
      next();
      e->ops.push_back("notin");
    } else {
      break;
    }
    e->items.push_back(parse_math1());
  }
  if (e->ops.empty()) return first;
  e->a = std::move(first);
  return e;
}

ExprPtr ExpressionParser::binary(const std::string& op, ExprPtr a, ExprPtr b, int line) {
  auto e = make(ExprKind::Binary, line);
  e->name = op;
  e->a = std::move(a);
  e->b = std::move(b);
  return e;
}

ExprPtr ExpressionParser::parse_math1() {
  ExprPtr left = parse_concat();
  while (is_op("+") || is_op("-")) {
    const Token& t = next();
    left = binary(t.text, std::move(left), parse_concat(), t.line);
  }
  return left;
}

ExprPtr ExpressionParser::parse_concat() {
  ExprPtr left = parse_math2();
  while (is_op("~")) {
    const Token& t = next();
    left = binary("~", std::move(left), parse_math2(), t.line);
  }
  return left;
}

ExprPtr ExpressionParser::parse_math2() {
  ExprPtr left = parse_pow();
  while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
    const Token& t = next();
    left = binary(t.text, std::move(left), parse_pow(), t.line);
  }
  return left;
}

ExprPtr ExpressionParser::parse_pow() {
  ExprPtr left = parse_unary(true);
  while (is_op("**")) {
    const Token& t = next();
    left = binary("**", std::move(left), parse_unary(true), t.line);
  }
  return left;
}

ExprPtr ExpressionParser::parse_unary(bool with_filter) {
  DepthGuard g(*this);
  ExprPtr node;
  if (is_op("-") || is_op("+")) {
    const Token& t = next();
    node = make(ExprKind::Unary, t.line);
    node->name = t.text;
    node->a = parse_unary(false);
  } else {
    node = parse_primary();
  }
  node = parse_postfix(std::move(node));
  if (with_filter) node = parse_filter_expr(std::move(node));
  return node;
}

ExprPtr ExpressionParser::parse_primary() {
  const Token& t = cur();
  if (t.type == Tok::Name) {
    next();
    auto e = make(ExprKind::Const, t.line);
    if (t.text == "true" || t.text == "True") e->value = Value::boolean(true);
    else if (t.text == "false" || t.text == "False") e->value = Value::boolean(false);
    else if (t.text == "none" || t.text == "None") e->value = Value::none();
    else {
      e->kind = ExprKind::Name;
      e->name = t.text;
    }
    return e;
  }
  if (t.type == Tok::String) {
    auto e = make(ExprKind::Const, t.line);
    std::string s;
    while (cur().type == Tok::String) s += next().text;  // adjacent literals concatenate
    e->value = Value::string(std::move(s));
    return e;
  }
  if (t.type == Tok::Int || t.type == Tok::Float) {
    next();
    auto e = make(ExprKind::Const, t.line);
    e->value = t.type == Tok::Int ? Value::integer(t.int_value) : Value::number(t.float_value);
    return e;
  }
  if (is_op("(")) {
    next();
    ExprPtr e = parse_tuple(true, {});
    expect_op(")");
    return e;
  }
  if (is_op("[")) {
    next();
    auto e = make(ExprKind::List, t.line);
    while (!is_op("]")) {
      if (!e->items.empty()) expect_op(",");
      if (is_op("]")) break;
      e->items.push_back(parse_expression(true));
    }
    next();
    return e;
  }
  if (is_op("{")) {
    next();
    auto e = make(ExprKind::Dict, t.line);
    while (!is_op("}")) {
      if (!e->items.empty()) expect_op(",");
      if (is_op("}")) break;
      e->items.push_back(parse_expression(true));
      expect_op(":");
      e->items.push_back(parse_expression(true));
    }
    next();
    return e;
  }
  fail_at(t, "unexpected " + describe(t));
}

ExprPtr ExpressionParser::parse_postfix(ExprPtr node) {
  while (true) {
    if (is_op(".")) {
      const int line = next().line;
      const Token& a = cur();
      if (a.type == Tok::Name) {
        auto e = make(ExprKind::Getattr, line);
        e->name = next().text;
        e->a = std::move(node);
        node = std::move(e);
      } else if (a.type == Tok::Int) {
        auto e = make(ExprKind::Getitem, line);
        e->b = make(ExprKind::Const, line);
        e->b->value = Value::integer(next().int_value);
        e->a = std::move(node);
        node = std::move(e);
      } else {
        fail_at(a, "expected a name or number after '.'");
      }
    } else if (is_op("[")) {
      const int line = next().line;
      std::vector<ExprPtr> args;
      while (!is_op("]")) {
        if (!args.empty()) expect_op(",");
        args.push_back(parse_subscribed());
      }
      next();
      if (args.empty()) fail_at(cur(), "expected a subscript");
      auto e = make(ExprKind::Getitem, line);
      e->a = std::move(node);
      if (args.size() == 1) {
        e->b = std::move(args[0]);
      } else {
        e->b = make(ExprKind::Tuple, line);
        e->b->items = std::move(args);
      }
      node = std::move(e);
    } else if (is_op("(")) {
      node = parse_call(std::move(node));
    } else {
      return node;
    }
  }
}

ExprPtr ExpressionParser::parse_subscribed() {
  const int line = cur().line;
  ExprPtr start;
  if (!is_op(":")) {
    start = parse_expression(true);
    if (!is_op(":")) return start;
  }
  next();
  auto e = make(ExprKind::Slice, line);
  e->a = std::move(start);
  if (!is_op("]") && !is_op(",") && !is_op(":")) e->b = parse_expression(true);
  if (skip_op(":") && !is_op("]") && !is_op(",")) e->c = parse_expression(true);
  return e;
}

// Arguments of a call, filter or test: positional, name=value, *args, **kwargs.
void ExpressionParser::parse_args(Expr& e) {
  expect_op("(");
  bool first = true;
  while (!is_op(")")) {
    if (!first) {
      expect_op(",");
      if (is_op(")")) break;
    }
    first = false;
    if (skip_op("*")) {
      e.star_args = parse_expression(true);
    } else if (skip_op("**")) {
      e.star_kwargs = parse_expression(true);
    } else if (cur().type == Tok::Name && peek().type == Tok::Op && peek().text == "=") {
      std::string key = next().text;
      next();
      e.kwargs.emplace_back(std::move(key), parse_expression(true));
    } else {
      if (!e.kwargs.empty() || e.star_args || e.star_kwargs)
        fail_at(cur(), "positional argument follows keyword argument");
      e.items.push_back(parse_expression(true));
    }
  }
  next();
}

ExprPtr ExpressionParser::parse_call(ExprPtr callee) {
  auto e = make(ExprKind::Call, cur().line);
  e->a = std::move(callee);
  parse_args(*e);
  return e;
}

// `| name(args)` repeated; input may be null (filter blocks).
ExprPtr ExpressionParser::parse_filters(ExprPtr input, bool start_inline) {
  bool first = true;
  while (is_op("|") || (start_inline && first)) {
    if (!(start_inline && first)) next();
    first = false;
    auto e = make(ExprKind::Filter, cur().line);
    e->name = expect_name();
    while (is_op(".")) {
      next();
      e->name += "." + expect_name();
    }
    if (is_op("(")) parse_args(*e);
    e->a = std::move(input);
    input = std::move(e);
  }
  return input;
}

ExprPtr ExpressionParser::parse_filter_expr(ExprPtr node) {
  while (true) {
    if (is_op("|")) {
      node = parse_filters(std::move(node), false);
    } else if (is_name("is")) {
      const int line = next().line;
      const bool negated = skip_name("not");
      auto e = make(ExprKind::Test, line);
      e->name = expect_name();
      while (is_op(".")) {
        next();
        e->name += "." + expect_name();
      }
      const Token& t = cur();
      if (is_op("(")) {
        parse_args(*e);
      } else if ((t.type == Tok::Name || t.type == Tok::String || t.type == Tok::Int || t.type == Tok::Float ||
                  is_op("[") || is_op("{")) &&
                 !is_name("else") && !is_name("or") && !is_name("and")) {
        if (is_name("is")) fail_at(t, "cannot chain tests with 'is'");
        DepthGuard g(*this);
        e->items.push_back(parse_postfix(parse_primary()));
      }
      e->a = std::move(node);
      node = std::move(e);
      if (negated) {
        auto n = make(ExprKind::Unary, line);
        n->name = "not";
        n->a = std::move(node);
        node = std::move(n);
      }
    } else if (is_op("(")) {
      node = parse_call(std::move(node));
    } else {
      return node;
    }
  }
}

std::vector<Token> t_;
size_t pos_ = 0;
int depth_ = 0;
int loop_depth_ = 0;  // enclosing for loops, for break/continue

}  // namespace sieve::chat
