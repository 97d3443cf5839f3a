#pragma once
// Splits a template's source into tokens the way jinja2's lexer does with
// trim_blocks=True and lstrip_blocks=True: text between tags (whitespace
// control `-`/`+` and the two trimming rules already applied, {% raw %}
// bodies as text, comments dropped) and the tokens inside {{ }} and {% %}.
#include <cstdint>
#include <string>
#include <vector>

namespace sieve::chat {

enum class Tok { Data, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Int, Float, Op, Eof };

struct Token {
  Tok type;
  std::string text;  // Data text, name, decoded string literal, number text, operator
  int line = 1;
  int64_t int_value = 0;
  double float_value = 0;
};

// Throws sieve::Error naming the line for an unterminated tag, comment,
// string or raw block, an unknown character or unbalanced brackets.
std::vector<Token> tokenize(const std::string& source);

}  // namespace sieve::chat
