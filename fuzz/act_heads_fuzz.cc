// libFuzzer target: an ACT head file (sieve act-search's output) from bytes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "attention/modifiers/act.h"
#include "model/config.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sieve::ModelConfig c;
  c.n_layers = 8;
  c.n_heads = 8;
  try {
    (void)sieve::parse_act_heads(std::string(reinterpret_cast<const char*>(data), size), "fuzz/heads.json", c);
  } catch (const sieve::Error&) {
  }
  return 0;
}
