// libFuzzer target: a SentencePiece tokenizer.model, parsed from bytes; its
// precompiled character map (if any) is walked over the input itself and a
// fixed text, whatever the model type; and when the model parses, it is built
// into a tokenizer (via a folder holding only it) and used: BPE or Unigram
// with Viterbi.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_common.h"
#include "tokenizer/sentencepiece_model.h"
#include "tokenizer/text/charsmap.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  sieve::SentencePieceModel model;
  try {
    model = sieve::parse_sentencepiece_model(bytes, "fuzz.model");
  } catch (const sieve::Error&) {
    return 0;
  }
  try {
    const sieve::PrecompiledCharsmap map(model.precompiled_charsmap, "fuzz.model");
    (void)map.normalize("\xEF\xBC\xA1\xEF\xBC\xA2 caf\xC3\xA9 \xE3\x80\x80 x\xFF");
    (void)map.normalize(bytes.substr(0, 256));
  } catch (const sieve::Error&) {
  }
  // Only inputs that parse reach the (slower) file-based path.
  const auto dir = sieve::fuzz::scratch_folder("tokenizer.model", data, size);
  try {
    sieve::fuzz::exercise(*sieve::Tokenizer::from_hf_folder(dir.string()));
  } catch (const sieve::Error&) {
  }
  return 0;
}
