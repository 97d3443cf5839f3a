#pragma once
// tokenizer.json's normalizers, applied in sequence to each stretch of text
// between special tokens before pre-tokenization: Unicode forms (NFC, NFD,
// NFKC, NFKD), Lowercase, Prepend, Replace (a string or a regex), Strip,
// StripAccents and SentencePiece's Precompiled character map.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sieve {

struct NormStep {
  enum class Kind { NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, Strip, StripAccents, Precompiled };
  Kind kind = Kind::NFC;
  std::string text;     // Prepend: the prefix; Replace: the replacement
  std::string pattern;  // Replace: a PCRE2 pattern (see regex_quote for strings)
  bool left = false, right = false;  // Strip
  std::string charsmap;              // Precompiled: the blob
};

class Normalizer {
 public:
  // Throws sieve::Error when a pattern does not compile or a charsmap is bad
  // (label names the file).
  Normalizer(const std::vector<NormStep>& steps, const std::string& label);
  ~Normalizer();
  Normalizer(const Normalizer&) = delete;
  Normalizer& operator=(const Normalizer&) = delete;

  bool empty() const { return steps_.empty(); }
  std::string apply(std::string_view text) const;

 private:
  struct Impl;
  std::vector<NormStep> steps_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sieve
