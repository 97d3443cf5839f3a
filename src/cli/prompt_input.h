#pragma once
// The prompt of a request, from exactly one of: text, a file, token ids.
#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace sieve::cli {

struct PromptInput {
  std::string text;
  std::string file;
  std::string token_ids;  // "1,2,3"
  bool no_bos = false;

  // Tokenizes (or parses) the prompt; throws sieve::Error when none or more
  // than one source is given, the file cannot be read, or an id is out of range.
  std::vector<int32_t> tokens(const Tokenizer& tokenizer, int64_t vocab_size) const;
};

}  // namespace sieve::cli
