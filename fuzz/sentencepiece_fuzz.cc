// libFuzzer target: a SentencePiece tokenizer.model, parsed from bytes and,
// when it parses, built into a tokenizer (via a folder holding only it) and
// used.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_common.h"
#include "tokenizer/sentencepiece_model.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    sieve::parse_sentencepiece_model(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.model");
  } catch (const sieve::Error&) {
    return 0;
  }
  // Only inputs that parse reach the (slower) file-based path.
  const auto dir = sieve::fuzz::scratch_folder("tokenizer.model", data, size);
  try {
    sieve::fuzz::exercise(*sieve::Tokenizer::from_hf_folder(dir.string()));
  } catch (const sieve::Error&) {
  }
  return 0;
}
