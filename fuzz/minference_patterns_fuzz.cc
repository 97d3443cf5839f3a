// libFuzzer target: a MInference pattern file (sieve minference-search's
// output, or the reference's own configs) from bytes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "attention/prefill/minference/head_patterns.h"
#include "model/config.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sieve::ModelConfig c;
  c.n_layers = 2;
  c.n_heads = 2;
  try {
    (void)sieve::PatternConfig::parse(std::string(reinterpret_cast<const char*>(data), size), "fuzz/patterns.json", c)
        .to_json();
  } catch (const sieve::Error&) {
  }
  return 0;
}
