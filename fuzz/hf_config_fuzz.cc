// libFuzzer target: a Hugging Face config.json from bytes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "model/config.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const std::string text(reinterpret_cast<const char*>(data), size);
    (void)sieve::config_from_hf_json(text, "fuzz/config.json").summary();
  } catch (const sieve::Error&) {
  }
  return 0;
}
