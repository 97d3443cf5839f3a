#include "chat/parser.h"

#include <set>
#include <utility>

#include "chat/parser_internal.h"

namespace sieve::chat {

namespace {

// Statements, on top of the expression parser.
class Parser : public ExpressionParser {
 public:
  using ExpressionParser::ExpressionParser;

  Body run() {
    Body body;
    std::string end = subparse({}, body);
    if (!end.empty()) fail_at(cur(), "unexpected '" + end + "'");
    return body;
  }

 private:
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


  int loop_depth_ = 0;  // enclosing for loops, for break/continue
};

}  // namespace

Body parse_template(const std::string& source) { return Parser(tokenize(source)).run(); }

}  // namespace sieve::chat
