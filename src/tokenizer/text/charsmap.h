#pragma once
// SentencePiece's precompiled character map (NormalizerSpec's
// precompiled_charsmap; GGUF's tokenizer.ggml.precompiled_charsmap;
// tokenizer.json's Precompiled normalizer): a darts-clone double array of
// byte strings and, after it, the NUL-terminated replacement strings. At each
// position the longest prefix with an entry is replaced, as SentencePiece's
// normalizer does.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sieve {

class PrecompiledCharsmap {
 public:
  PrecompiledCharsmap() = default;
  // Checks the header; throws sieve::Error naming `label` when the blob is
  // not a charsmap. Lookups check every index too.
  PrecompiledCharsmap(std::string blob, const std::string& label);

  bool empty() const { return units_.empty(); }

  // The length of the longest prefix of text[pos..] that has a replacement
  // (0: none), and the replacement.
  size_t match(std::string_view text, size_t pos, std::string_view& replacement) const;

  // Replaces every longest prefix from left to right; other characters are
  // copied, a byte that is not UTF-8 becomes U+FFFD (as SentencePiece does).
  std::string normalize(std::string_view text) const;

 private:
  std::string label_;
  std::vector<uint32_t> units_;
  std::string pool_;
};

}  // namespace sieve
