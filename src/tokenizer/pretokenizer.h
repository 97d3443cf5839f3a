#pragma once
// Splits text into the words that byte-level BPE merges within, using the
// regular expressions the original tokenizers use (GPT-2, Llama 3, Qwen2),
// run by PCRE2 in Unicode mode. Text between matches is kept as words too,
// so no byte is ever dropped, even in invalid UTF-8.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sieve {

class Pretokenizer {
 public:
  // Compiles the patterns (applied in sequence: each splits the words the
  // previous one produced). Throws sieve::Error when one does not compile.
  explicit Pretokenizer(const std::vector<std::string>& patterns);
  ~Pretokenizer();
  Pretokenizer(const Pretokenizer&) = delete;
  Pretokenizer& operator=(const Pretokenizer&) = delete;

  // The patterns for a GGUF tokenizer.ggml.pre value; throws sieve::Error
  // naming it and listing the known values when it is not one of them.
  static std::vector<std::string> patterns_for(const std::string& pre);

  // Appends the words of text (views into it) to out.
  void split(std::string_view text, std::vector<std::string_view>& out) const;

 private:
  struct Regex;
  void split_one(const Regex& re, std::string_view text, std::vector<std::string_view>& out) const;
  std::vector<std::unique_ptr<Regex>> regexes_;
};

}  // namespace sieve
