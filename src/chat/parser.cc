#include "chat/parser.h"

#include <set>
#include <utility>

#include "chat/lexer.h"
#include "util/error.h"

namespace sieve::chat {

namespace {

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : t_(std::move(tokens)) {}

  Body run() {
    Body body;
    std::string end = subparse({}, body);
    if (!end.empty()) fail_at(cur(), "unexpected '" + end + "'");
    return body;
  }

 private:
  struct DepthGuard {
    explicit DepthGuard(Parser& p) : p_(p) {
      if (++p_.depth_ > kMaxParseDepth)
        p_.fail_at(p_.cur(), "nested too deeply (more than " + std::to_string(kMaxParseDepth) + " levels)");
    }
    ~DepthGuard() { --p_.depth_; }
    Parser& p_;
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

  // Parses statements into body until a {% NAME %} with NAME in `ends`;
  // returns that NAME (the stream is left on it) or "" at the end.
  std::string subparse(const std::set<std::string>& ends, Body& body) {
    while (true) {
      const Token& t = cur();
      if (t.type == Tok::Eof) {
        if (!ends.empty()) {
          std::string names;
          for (const std::string& e : ends) names += (names.empty() ? "'" : ", '") + e + "'";
          fail_at(t, "unexpected end of template, expected one of " + names);
        }
        return "";
      }
      if (t.type == Tok::Data) {
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::Data;
        s->line = t.line;
        s->text = t.text;
        body.push_back(std::move(s));
        next();
      } else if (t.type == Tok::VarBegin) {
        next();
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::Output;
        s->line = t.line;
        s->expr = parse_tuple(false, {});
        if (cur().type != Tok::VarEnd) fail_at(cur(), "expected '}}', got " + describe(cur()));
        next();
        body.push_back(std::move(s));
      } else if (t.type == Tok::BlockBegin) {
        next();
        if (cur().type != Tok::Name) fail_at(cur(), "expected a statement name, got " + describe(cur()));
        if (ends.count(cur().text)) return cur().text;
        body.push_back(statement());
      } else {
        fail_at(t, "unexpected " + describe(t));
      }
    }
  }

  // A body ending at one of `ends`; consumes the end tag's name.
  std::string body_until(const std::set<std::string>& ends, Body& body) {
    DepthGuard g(*this);
    std::string end = subparse(ends, body);
    next();
    return end;
  }

  StmtPtr statement() {
    const Token& kw = next();
    auto s = std::make_unique<Stmt>();
    s->line = kw.line;
    const std::string& k = kw.text;
    if (k == "if") {
      s->kind = StmtKind::If;
      while (true) {
        s->conds.push_back(parse_tuple(false, {}, true));
        expect_block_end();
        s->bodies.emplace_back();
        std::string end = body_until({"elif", "else", "endif"}, s->bodies.back());
        if (end == "elif") continue;
        if (end == "else") {
          expect_block_end();
          body_until({"endif"}, s->else_body);
        }
        break;
      }
    } else if (k == "for") {
      s->kind = StmtKind::For;
      assign_targets(*s, "in");
      if (!skip_name("in")) fail_at(cur(), "expected 'in' in a for loop, got " + describe(cur()));
      s->expr = parse_tuple(false, {"recursive", "if"}, /*no_condexpr=*/true);
      if (skip_name("if")) s->cond = parse_expression(true);
      s->recursive = skip_name("recursive");
      expect_block_end();
      ++loop_depth_;
      const std::string end = body_until({"endfor", "else"}, s->body);
      --loop_depth_;
      if (end == "else") {
        expect_block_end();
        body_until({"endfor"}, s->else_body);
      }
    } else if (k == "set") {
      if (cur().type == Tok::Name && peek().type == Tok::Op && peek().text == ".") {
        s->targets.push_back(next().text);
        next();
        s->target_attr = expect_name();
      } else {
        assign_targets(*s, "");
      }
      if (skip_op("=")) {
        s->kind = StmtKind::Set;
        s->expr = parse_tuple(false, {});
      } else {
        if (!s->target_attr.empty()) fail_at(cur(), "expected '=' after a namespace attribute");
        s->kind = StmtKind::SetBlock;
        if (is_op("|")) s->filter = parse_filters(nullptr, false);
        expect_block_end();
        body_until({"endset"}, s->body);
      }
    } else if (k == "macro") {
      s->kind = StmtKind::Macro;
      s->text = expect_name();
      signature(*s);
      expect_block_end();
      const int loops = std::exchange(loop_depth_, 0);
      body_until({"endmacro"}, s->body);
      loop_depth_ = loops;
    } else if (k == "call") {
      s->kind = StmtKind::CallBlock;
      if (is_op("(")) signature(*s);
      s->expr = parse_expression(true);
      if (s->expr->kind != ExprKind::Call) fail_at(kw, "{% call %} needs a call expression");
      expect_block_end();
      const int loops = std::exchange(loop_depth_, 0);
      body_until({"endcall"}, s->body);
      loop_depth_ = loops;
    } else if (k == "filter") {
      s->kind = StmtKind::FilterBlock;
      s->filter = parse_filters(nullptr, true);
      expect_block_end();
      body_until({"endfilter"}, s->body);
    } else if (k == "with") {
      s->kind = StmtKind::With;
      while (cur().type != Tok::BlockEnd) {
        if (!s->targets.empty()) expect_op(",");
        s->targets.push_back(expect_name());
        expect_op("=");
        s->values.push_back(parse_expression(true));
      }
      expect_block_end();
      body_until({"endwith"}, s->body);
    } else if (k == "break" || k == "continue") {
      if (loop_depth_ == 0) fail_at(kw, "'" + k + "' outside loop");
      s->kind = k == "break" ? StmtKind::Break : StmtKind::Continue;
    } else if (k == "generation" || k == "autoescape" || k == "block") {
      s->kind = StmtKind::Scope;
      if (k == "block") expect_name();
      while (k != "generation" && cur().type != Tok::BlockEnd) next();  // autoescape's flag; block's `scoped`
      expect_block_end();
      body_until({"end" + k}, s->body);
      if (k == "block" && cur().type == Tok::Name) next();  // {% endblock name %}
    } else if (k == "include" || k == "import" || k == "from" || k == "extends") {
      fail_at(kw, "'" + k + "' is not supported: a chat template cannot load other templates");
    } else {
      fail_at(kw, "unknown tag '" + k + "'");
    }
    expect_block_end();  // of a simple statement, or of the compound one's end tag
    return s;
  }

  // Names, or a tuple of names, optionally in parentheses.
  void assign_targets(Stmt& s, const char* stop) {
    const bool paren = skip_op("(");
    while (true) {
      s.targets.push_back(expect_name());
      if (!skip_op(",")) break;
      s.target_is_tuple = true;
      if (paren ? is_op(")") : (is_name(stop) || is_op("="))) break;
    }
    if (paren) {
      expect_op(")");
      s.target_is_tuple = true;
    }
  }

  void signature(Stmt& s) {
    expect_op("(");
    while (!is_op(")")) {
      if (!s.params.empty()) expect_op(",");
      s.params.push_back(expect_name());
      if (skip_op("=")) s.defaults.push_back(parse_expression(true));
      else if (!s.defaults.empty()) fail_at(cur(), "non-default argument follows default argument");
    }
    next();
  }

  bool is_tuple_end(const std::set<std::string>& extra) const {
    const Token& t = cur();
    if (t.type == Tok::VarEnd || t.type == Tok::BlockEnd || t.type == Tok::Eof) return true;
    if (t.type == Tok::Op && t.text == ")") return true;
    return t.type == Tok::Name && extra.count(t.text);
  }

  ExprPtr parse_tuple(bool explicit_parens, const std::set<std::string>& extra, bool no_condexpr = false) {
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

  ExprPtr parse_expression(bool with_condexpr) {
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

  ExprPtr parse_binary(const char* op) {
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

  ExprPtr parse_not() {
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

  ExprPtr parse_compare() {
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

  ExprPtr binary(const std::string& op, ExprPtr a, ExprPtr b, int line) {
    auto e = make(ExprKind::Binary, line);
    e->name = op;
    e->a = std::move(a);
    e->b = std::move(b);
    return e;
  }

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token& t = next();
      left = binary(t.text, std::move(left), parse_concat(), t.line);
    }
    return left;
  }

  ExprPtr parse_concat() {
    ExprPtr left = parse_math2();
    while (is_op("~")) {
      const Token& t = next();
      left = binary("~", std::move(left), parse_math2(), t.line);
    }
    return left;
  }

  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& t = next();
      left = binary(t.text, std::move(left), parse_pow(), t.line);
    }
    return left;
  }

  ExprPtr parse_pow() {
    ExprPtr left = parse_unary(true);
    while (is_op("**")) {
      const Token& t = next();
      left = binary("**", std::move(left), parse_unary(true), t.line);
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
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

  ExprPtr parse_primary() {
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

  ExprPtr parse_postfix(ExprPtr node) {
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

  ExprPtr parse_subscribed() {
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
  void parse_args(Expr& e) {
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

  ExprPtr parse_call(ExprPtr callee) {
    auto e = make(ExprKind::Call, cur().line);
    e->a = std::move(callee);
    parse_args(*e);
    return e;
  }

  // `| name(args)` repeated; input may be null (filter blocks).
  ExprPtr parse_filters(ExprPtr input, bool start_inline) {
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

  ExprPtr parse_filter_expr(ExprPtr node) {
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
};

}  // namespace

Body parse_template(const std::string& source) { return Parser(tokenize(source)).run(); }

}  // namespace sieve::chat
