#pragma once
// A compiled PCRE2 pattern in UTF + Unicode-property mode, with \s and \S
// meaning Unicode White_Space as in Oniguruma and Rust's regex (PCRE2's own
// \s leaves out U+0085). Invalid UTF-8 in the subject is allowed.
#include <string>
#include <string_view>
#include <vector>

namespace sieve {

struct RegexPiece {
  size_t start, end;
  bool match;
};

// Escapes text so the pattern matches it literally.
std::string regex_quote(std::string_view text);

class Regex {
 public:
  // Throws sieve::Error when the pattern does not compile.
  explicit Regex(const std::string& pattern);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // The matches in text and the stretches between them, in order, as Hugging
  // Face's find_matches lists them: zero-width matches are included (as
  // empty pieces), so they cut the text where they occur.
  void pieces(std::string_view text, std::vector<RegexPiece>& out) const;

 private:
  void* code_ = nullptr;
};

}  // namespace sieve
