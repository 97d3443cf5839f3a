// libFuzzer target: a GGUF file from bytes, then the model config and the
// tokenizer read from its metadata, as `sieve run` and `sieve tokenize` do.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "format/gguf.h"
#include "fuzz_common.h"
#include "model/config.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::unique_ptr<sieve::GgufFile> file;
  try {
    file = std::make_unique<sieve::GgufFile>(data, size, "fuzz.gguf");
  } catch (const sieve::Error&) {
    return 0;
  }
  for (const sieve::Tensor& t : file->tensors()) sieve::fuzz::touch(t.data, t.nbytes);
  // Each consumer may refuse the file independently: a tokenizer-only file
  // has no model config, and a model file may lack a usable tokenizer.
  try {
    (void)sieve::config_from_gguf(*file).summary();
  } catch (const sieve::Error&) {
  }
  try {
    sieve::fuzz::exercise(*sieve::Tokenizer::from_gguf(*file));
  } catch (const sieve::Error&) {
  }
  return 0;
}
