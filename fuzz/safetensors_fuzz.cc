// libFuzzer target: a safetensors file from bytes (header JSON, tensor table,
// data views).
#include <cstddef>
#include <cstdint>

#include "format/safetensors.h"
#include "fuzz_common.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    sieve::SafetensorsFile file(data, size, "fuzz.safetensors");
    for (const sieve::Tensor& t : file.tensors()) {
      sieve::fuzz::touch(t.data, t.nbytes);
      (void)t.shape_string();
    }
  } catch (const sieve::Error&) {
  }
  return 0;
}
