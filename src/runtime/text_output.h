#pragma once
// Generated tokens to the text a client sees: complete UTF-8 only, cut
// before the first stop string, and never a piece of text that may turn out
// to start a stop string (held back until it cannot).
#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace sieve {

class TextOutput {
 public:
  TextOutput(const Tokenizer& tokenizer, std::vector<std::string> stops);

  // Adds a token; returns the text that became final with it. Sets
  // `stopped` when a stop string was reached (the text ends before it).
  std::string push(int32_t token, bool& stopped);
  // At the end of a generation not ended by a stop string: what was held back.
  std::string flush();

 private:
  StreamDecoder decoder_;
  std::vector<std::string> stops_;
  std::string pending_;  // decoded, not yet final
};

}  // namespace sieve
