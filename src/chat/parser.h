#pragma once
// Builds the syntax tree of a template from its tokens, with jinja2's
// grammar and operator precedence.
#include <string>

#include "chat/ast.h"

namespace sieve::chat {

// Nesting depth the parser accepts (brackets, unary operators, blocks), so
// a hostile template cannot exhaust the stack.
constexpr int kMaxParseDepth = 128;

// Throws sieve::Error ("template syntax error at line N: ...").
Body parse_template(const std::string& source);

}  // namespace sieve::chat
