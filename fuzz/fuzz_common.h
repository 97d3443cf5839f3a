#pragma once
// Shared by the fuzz targets. Only sieve::Error is an acceptable way for a
// parser to refuse input; any other exception escapes LLVMFuzzerTestOneInput
// and libFuzzer reports it as a crash, as it should (the CLI would print a
// message that does not name the problem, or the server would drop a request).
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace sieve::fuzz {

// Runs a tokenizer built from hostile input over a fixed text that touches
// every path (spaces, digits, UTF-8, special-token text, invalid bytes), then
// decodes the result and every id back, whole and streamed.
inline void exercise(const Tokenizer& tok) {
  static const std::string text =
      " Hello  world\n\t123 4567 caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x99\x82 <s></s><|endoftext|>"
      "<unk> don't I'M \xff\xfe end ";
  for (bool special : {false, true}) {
    std::vector<int32_t> ids = tok.encode(text, special, special);
    (void)tok.decode(ids);
    StreamDecoder stream(tok);
    for (int32_t id : ids) (void)stream.push(id);
    (void)stream.flush();
  }
  // Every id once, capped so a large vocabulary does not slow the fuzzer.
  const int32_t n = std::min(tok.vocab_size(), 4096);
  std::vector<int32_t> all;
  for (int32_t id = 0; id < n; ++id) {
    (void)tok.piece(id);
    (void)tok.is_end_of_generation(id);
    all.push_back(id);
  }
  (void)tok.decode(all);
}

// Reads the first, middle and last byte a tensor claims, so AddressSanitizer
// sees a view that runs past the input; the volatile store keeps the reads.
inline volatile unsigned sink = 0;
inline void touch(const uint8_t* data, size_t n) {
  if (n > 0) sink = data[0] + data[n / 2] + data[n - 1];
}

// Tokenizer::from_hf_folder reads files, so the tokenizer targets write the
// input into a folder of their own (per process: libFuzzer -jobs runs several).
// Set TMPDIR=/dev/shm to keep this off the disk.
inline std::filesystem::path scratch_folder(const std::string& file, const uint8_t* data, size_t size) {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("sieve-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  std::ofstream(dir / file, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return dir;
}

}  // namespace sieve::fuzz
