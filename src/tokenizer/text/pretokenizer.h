#pragma once
// Splits text into the words a tokenizer model works within, as the
// pre-tokenizers of Hugging Face tokenizers and llama.cpp do: a sequence of
// steps, each applied to every word the previous one produced.
//
// - Split: a regular expression (run by PCRE2 in Unicode mode, with \s meaning
//   Unicode White_Space as in Oniguruma and Rust's regex) cuts each word into
//   matches and the text between them; the behaviour says what happens to the
//   matches (kept alone, removed, glued to a neighbour, runs joined). A
//   zero-width match cuts the word at its position. Nothing is ever dropped
//   except by Removed, so invalid UTF-8 survives.
// - PrefixSpace: ByteLevel's add_prefix_space (a space before every word that
//   does not start with one).
// - Metaspace: spaces become the replacement character (U+2581), which is
//   prepended always, on the first word of the input only, or never, and the
//   word is split before each replacement character.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/text/regex.h"

namespace sieve {

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

struct PreStep {
  enum class Kind { Split, PrefixSpace, Metaspace };
  enum class Prepend { Always, First, Never };

  Kind kind = Kind::Split;
  // Split.
  std::string pattern;
  SplitBehavior behavior = SplitBehavior::Isolated;
  bool invert = false;
  // Metaspace.
  std::string replacement;
  Prepend prepend = Prepend::Always;
  bool split = true;

  static PreStep regex(std::string pattern, SplitBehavior behavior = SplitBehavior::Isolated, bool invert = false);
  // A pattern that matches `text` literally.
  static PreStep literal(std::string_view text, SplitBehavior behavior, bool invert = false);
  static PreStep prefix_space();
  static PreStep metaspace(std::string replacement, Prepend prepend, bool split);
};

class Pretokenizer {
 public:
  // Compiles the patterns; throws sieve::Error when one does not compile.
  explicit Pretokenizer(const std::vector<PreStep>& steps);
  ~Pretokenizer();
  Pretokenizer(const Pretokenizer&) = delete;
  Pretokenizer& operator=(const Pretokenizer&) = delete;

  bool empty() const { return steps_.empty(); }

  // Appends the words of text. at_input_start: the text begins the input
  // (Metaspace's "first" prepend scheme only applies there).
  void split(std::string_view text, bool at_input_start, std::vector<std::string>& out) const;

  // Convenience for tests: the words of text, as a whole input.
  std::vector<std::string> words(std::string_view text) const;

 private:
  struct Step {
    PreStep spec;
    std::unique_ptr<Regex> re;  // Split and Metaspace (its split)
  };
  std::vector<Step> steps_;
};

}  // namespace sieve
