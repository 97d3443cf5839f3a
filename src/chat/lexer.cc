#include "chat/lexer.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "chat/unicode.h"
#include "util/error.h"

namespace sieve::chat {

namespace {

[[noreturn]] void syntax_error(int line, const std::string& what) {
  throw Error("template syntax error at line " + std::to_string(line) + ": " + what);
}

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }
bool is_dig(char c) { return c >= '0' && c <= '9'; }

// Python's str.rstrip(): every Unicode whitespace character.
std::string rstrip_ws(const std::string& s) {
  std::u32string u = decode_utf8(s);
  size_t n = u.size();
  while (n > 0 && is_space(u[n - 1])) --n;
  if (n == u.size()) return s;
  return encode_utf8(u.substr(0, n));
}

// Length of the whitespace (Python's \s) starting at pos.
size_t skip_ws(const std::string& s, size_t pos) {
  size_t p = pos;
  while (p < s.size()) {
    if (is_ws(s[p])) {
      ++p;
      continue;
    }
    const auto b = static_cast<unsigned char>(s[p]);
    if (b < 0x80) break;
    size_t n = (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 1;
    std::u32string c = decode_utf8(s.substr(p, n));
    if (c.size() != 1 || !is_space(c[0])) break;
    p += n;
  }
  return p - pos;
}

int lines_in(const std::string& s, size_t from, size_t to) {
  int n = 0;
  for (size_t k = from; k < to && k < s.size(); ++k) n += s[k] == '\n';
  return n;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The body of a string literal decoded as Python's "unicode-escape" codec.
std::string unescape(const std::string& body, int line) {
  std::string out;
  for (size_t k = 0; k < body.size(); ++k) {
    if (body[k] != '\\' || k + 1 >= body.size()) {
      out += body[k];
      continue;
    }
    const char e = body[++k];
    switch (e) {
      case '\n': break;
      case '\\': out += '\\'; break;
      case '\'': out += '\''; break;
      case '"': out += '"'; break;
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'v': out += '\v'; break;
      case 'x':
      case 'u':
      case 'U': {
        const size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        char32_t c = 0;
        for (size_t d = 0; d < n; ++d) {
          const int h = k + 1 + d < body.size() ? hex_value(body[k + 1 + d]) : -1;
          if (h < 0) syntax_error(line, std::string("truncated \\") + e + " escape in a string");
          c = c * 16 + static_cast<char32_t>(h);
        }
        if (c > 0x10FFFF) syntax_error(line, "escape \\U beyond U+10FFFF in a string");
        k += n;
        append_utf8(out, c);
        break;
      }
      case 'N': syntax_error(line, "\\N{...} escapes are not supported");
      default:
        if (e >= '0' && e <= '7') {
          char32_t c = static_cast<char32_t>(e - '0');
          for (int d = 0; d < 2 && k + 1 < body.size() && body[k + 1] >= '0' && body[k + 1] <= '7'; ++d)
            c = c * 8 + static_cast<char32_t>(body[++k] - '0');
          append_utf8(out, c);
        } else {
          out += '\\';
          out += e;
        }
    }
  }
  return out;
}

class Lexer {
 public:
  explicit Lexer(const std::string& src) : s_(src) {}

  std::vector<Token> run() {
    size_t pos = 0;
    bool line_starting = true;
    while (pos < s_.size()) {
      size_t p = pos;
      while (p + 1 < s_.size() && !(s_[p] == '{' && (s_[p + 1] == '{' || s_[p + 1] == '%' || s_[p + 1] == '#'))) ++p;
      if (p + 1 >= s_.size()) {
        data(s_.substr(pos), line_of(pos));
        break;
      }
      const char kind = s_[p + 1];
      const char sign = p + 2 < s_.size() && (s_[p + 2] == '-' || s_[p + 2] == '+') ? s_[p + 2] : 0;
      std::string text = s_.substr(pos, p - pos);
      const int text_line = line_of(pos);
      size_t after = p + 2 + (sign ? 1 : 0);
      size_t raw_end = 0;
      const bool raw = kind == '%' && is_raw_begin(after, &raw_end);
      text = strip_before(text, sign, kind != '{', line_starting);
      data(text, text_line);
      if (raw) {
        pos = raw_block(raw_end, &line_starting);
      } else if (kind == '#') {
        pos = comment(after, p, &line_starting);
      } else {
        pos = tag(after, kind == '%', &line_starting);
      }
    }
    out_.push_back(Token{Tok::Eof, "", line_of(s_.size())});
    return std::move(out_);
  }

 private:
  int line_of(size_t pos) {
    // Positions are visited in increasing order, so count incrementally.
    if (pos < line_pos_) {
      line_pos_ = 0;
      line_ = 1;
    }
    line_ += lines_in(s_, line_pos_, pos);
    line_pos_ = pos;
    return line_;
  }

  void data(const std::string& text, int line) {
    if (!text.empty()) out_.push_back(Token{Tok::Data, text, line});
  }

  // jinja2's rule for the text before a tag: `-` strips all trailing
  // whitespace; otherwise lstrip_blocks removes the spaces and tabs between
  // the line's start and a block or comment tag.
  static std::string strip_before(const std::string& text, char sign, bool is_block, bool line_starting) {
    if (sign == '-') return rstrip_ws(text);
    if (sign == '+' || !is_block) return text;
    const size_t nl = text.rfind('\n');
    const size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
    if (l_pos == 0 && !line_starting) return text;
    for (size_t k = l_pos; k < text.size(); ++k)
      if (text[k] != ' ' && text[k] != '\t') return text;
    return text.substr(0, l_pos);
  }

  // `{%[-+]? raw [-]?%}` starting after the sign.
  bool is_raw_begin(size_t p, size_t* end) {
    p += skip_ws(s_, p);
    if (s_.compare(p, 3, "raw") != 0 || (p + 3 < s_.size() && is_name_char(s_[p + 3]))) return false;
    p += 3;
    p += skip_ws(s_, p);
    if (s_.compare(p, 3, "-%}") == 0) {
      *end = p + 3 + skip_ws(s_, p + 3);
      return true;
    }
    if (s_.compare(p, 2, "%}") == 0) {
      *end = p + 2;
      return true;
    }
    return false;
  }

  // Past the end of a block tag: `+%}`, `-%}` and its following whitespace,
  // or `%}` and one newline (trim_blocks).
  size_t block_end(size_t p, char sign, bool* line_starting) {
    size_t end = p + 2;
    if (sign == '-') end += skip_ws(s_, end);
    else if (sign == 0 && end < s_.size() && s_[end] == '\n') end += 1;
    *line_starting = end > 0 && s_[end - 1] == '\n';
    return end;
  }

  size_t raw_block(size_t body, bool* line_starting) {
    const int line = line_of(body);
    for (size_t p = s_.find("{%", body); p != std::string::npos; p = s_.find("{%", p + 1)) {
      size_t q = p + 2;
      const char sign = q < s_.size() && (s_[q] == '-' || s_[q] == '+') ? s_[q] : 0;
      if (sign) ++q;
      q += skip_ws(s_, q);
      if (s_.compare(q, 6, "endraw") != 0) continue;
      q += 6;
      q += skip_ws(s_, q);
      char end_sign = 0;
      if (q < s_.size() && (s_[q] == '-' || s_[q] == '+')) end_sign = s_[q++];
      if (s_.compare(q, 2, "%}") != 0) continue;
      data(strip_before(s_.substr(body, p - body), sign, true, *line_starting), line);
      return block_end(q, end_sign, line_starting);
    }
    syntax_error(line, "missing {% endraw %}");
  }

  size_t comment(size_t body, size_t start, bool* line_starting) {
    const size_t p = s_.find("#}", body);
    if (p == std::string::npos) syntax_error(line_of(start), "missing end of comment tag '#}'");
    char sign = 0;
    if (p > body && (s_[p - 1] == '-' || s_[p - 1] == '+')) sign = s_[p - 1];
    return block_end(p, sign, line_starting);
  }

  // Tokens of a {{ }} or {% %} tag from p; returns the position after it.
  size_t tag(size_t p, bool block, bool* line_starting) {
    const int start_line = line_of(p);
    out_.push_back(Token{block ? Tok::BlockBegin : Tok::VarBegin, "", start_line});
    std::string brackets;
    const char close = block ? '%' : '}';
    while (true) {
      if (p >= s_.size()) syntax_error(start_line, std::string("unexpected end of template, expected '") + close + "}'");
      const int line = line_of(p);
      if (brackets.empty()) {
        char sign = 0;
        size_t q = p;
        if (s_[q] == '-' || s_[q] == '+') sign = s_[q++];
        if (q + 1 < s_.size() && s_[q] == close && s_[q + 1] == '}') {
          out_.push_back(Token{block ? Tok::BlockEnd : Tok::VarEnd, "", line});
          if (block) return block_end(q, sign, line_starting);
          size_t end = q + 2;
          if (sign == '-') end += skip_ws(s_, end);
          *line_starting = end > 0 && s_[end - 1] == '\n';
          return end;
        }
      }
      const char c = s_[p];
      if (size_t w = skip_ws(s_, p)) {
        p += w;
      } else if (is_dig(c)) {
        p = number(p, line);
      } else if (is_name_start(c)) {
        size_t q = p;
        while (q < s_.size() && is_name_char(s_[q])) ++q;
        out_.push_back(Token{Tok::Name, s_.substr(p, q - p), line});
        p = q;
      } else if (c == '\'' || c == '"') {
        size_t q = p + 1;
        while (q < s_.size() && s_[q] != c) q += s_[q] == '\\' ? 2 : 1;
        if (q >= s_.size()) syntax_error(line, "unterminated string literal");
        out_.push_back(Token{Tok::String, unescape(s_.substr(p + 1, q - p - 1), line), line});
        p = q + 1;
      } else {
        static const char* two[] = {"//", "**", "==", "!=", "<=", ">="};
        std::string op;
        for (const char* t : two)
          if (s_.compare(p, 2, t) == 0) op = t;
        if (op.empty()) {
          if (!std::strchr("+-/*%~[](){}<>=.:|,;", c) || c == 0)
            syntax_error(line, std::string("unexpected character '") + c + "'");
          op = std::string(1, c);
        }
        if (op == "(" || op == "[" || op == "{") {
          if (brackets.size() >= 256) syntax_error(line, "brackets nested too deeply");
          brackets += op == "(" ? ')' : op == "[" ? ']' : '}';
        } else if (op == ")" || op == "]" || op == "}") {
          if (brackets.empty() || brackets.back() != op[0]) syntax_error(line, "unexpected '" + op + "'");
          brackets.pop_back();
        }
        out_.push_back(Token{Tok::Op, op, line});
        p += op.size();
      }
    }
  }

  size_t number(size_t p, int line) {
    auto digits = [&](size_t q) {  // (\d+_)*\d+
      while (q < s_.size() && (is_dig(s_[q]) || (s_[q] == '_' && q + 1 < s_.size() && is_dig(s_[q + 1])))) ++q;
      return q;
    };
    if (s_[p] == '0' && p + 2 < s_.size() && std::strchr("xXoObB", s_[p + 1]) && s_[p + 1] != 0) {
      const int base = (s_[p + 1] | 0x20) == 'x' ? 16 : (s_[p + 1] | 0x20) == 'o' ? 8 : 2;
      size_t q = p + 2;
      std::string text;
      while (q < s_.size() && (s_[q] == '_' || hex_value(s_[q]) >= 0) && hex_value(s_[q]) < base) {
        if (s_[q] != '_') text += s_[q];
        ++q;
      }
      if (!text.empty()) {
        errno = 0;
        const long long v = std::strtoll(text.c_str(), nullptr, base);
        if (errno == ERANGE) syntax_error(line, "integer literal is too large");
        Token t{Tok::Int, s_.substr(p, q - p), line};
        t.int_value = v;
        out_.push_back(std::move(t));
        return q;
      }
    }
    size_t q = digits(p);
    bool is_float = false;
    const bool after_dot = p > 0 && s_[p - 1] == '.';
    if (!after_dot && q + 1 < s_.size() && s_[q] == '.' && is_dig(s_[q + 1])) {
      q = digits(q + 1);
      is_float = true;
    }
    if (!after_dot && q < s_.size() && (s_[q] == 'e' || s_[q] == 'E')) {
      size_t e = q + 1;
      if (e < s_.size() && (s_[e] == '+' || s_[e] == '-')) ++e;
      if (e < s_.size() && is_dig(s_[e])) {
        q = digits(e);
        is_float = true;
      }
    }
    std::string text;
    for (size_t k = p; k < q; ++k)
      if (s_[k] != '_') text += s_[k];
    Token t{is_float ? Tok::Float : Tok::Int, text, line};
    if (is_float) {
      t.float_value = std::strtod(text.c_str(), nullptr);
    } else {
      errno = 0;
      const long long v = std::strtoll(text.c_str(), nullptr, 10);
      if (errno == ERANGE) syntax_error(line, "integer literal " + text + " is too large");
      t.int_value = v;
    }
    out_.push_back(std::move(t));
    return q;
  }

  const std::string& s_;
  std::vector<Token> out_;
  size_t line_pos_ = 0;
  int line_ = 1;
};

}  // namespace

std::vector<Token> tokenize(const std::string& source) {
  // jinja2 normalizes newlines to \n and drops one trailing newline
  // (keep_trailing_newline=False).
  std::string s;
  s.reserve(source.size());
  for (size_t k = 0; k < source.size(); ++k) {
    if (source[k] == '\r') {
      s += '\n';
      if (k + 1 < source.size() && source[k + 1] == '\n') ++k;
    } else {
      s += source[k];
    }
  }
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return Lexer(s).run();
}

}  // namespace sieve::chat
