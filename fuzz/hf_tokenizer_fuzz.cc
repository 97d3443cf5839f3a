// libFuzzer target: a Hugging Face tokenizer.json (the only file in the
// folder), read by Tokenizer::from_hf_folder and then used.
#include <cstddef>
#include <cstdint>

#include "fuzz_common.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto dir = sieve::fuzz::scratch_folder("tokenizer.json", data, size);
  try {
    sieve::fuzz::exercise(*sieve::Tokenizer::from_hf_folder(dir.string()));
  } catch (const sieve::Error&) {
  }
  return 0;
}
