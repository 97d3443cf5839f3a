#pragma once
// Small UTF-8 helpers shared by the tokenizers. Input text may be invalid
// UTF-8 (it comes from users); every helper here treats a malformed sequence
// as a run of single bytes instead of reading past the end.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sieve::utf8 {

// Length a lead byte announces (1 for ASCII, continuation and invalid bytes).
inline size_t lead_length(uint8_t c) {
  if (c < 0xC2) return 1;  // ASCII, continuation bytes, overlong C0/C1
  if (c < 0xE0) return 2;
  if (c < 0xF0) return 3;
  if (c < 0xF5) return 4;
  return 1;
}

inline bool is_continuation(uint8_t c) { return (c & 0xC0) == 0x80; }

// Byte length of the character starting at s[i]: the announced length when all
// its continuation bytes are present, otherwise 1 (the lone byte).
inline size_t char_length(std::string_view s, size_t i) {
  size_t n = lead_length(static_cast<uint8_t>(s[i]));
  if (n == 1 || i + n > s.size()) return 1;
  for (size_t k = 1; k < n; ++k)
    if (!is_continuation(static_cast<uint8_t>(s[i + k]))) return 1;
  return n;
}

inline void append_codepoint(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Decodes the character at s[i] (of length char_length(s, i)); a lone byte
// decodes to itself so callers can still map it.
inline uint32_t decode_at(std::string_view s, size_t i, size_t len) {
  const auto b = [&](size_t k) { return static_cast<uint32_t>(static_cast<uint8_t>(s[i + k])); };
  switch (len) {
    case 2: return ((b(0) & 0x1F) << 6) | (b(1) & 0x3F);
    case 3: return ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
    case 4: return ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
    default: return b(0);
  }
}

// Length of the longest prefix of s that does not end inside a UTF-8
// character that later bytes could still complete. Bytes that can never form
// a valid character are not held back (they pass through as they are).
inline size_t complete_prefix(std::string_view s) {
  const size_t n = s.size();
  // A character is at most 4 bytes, so only the last 3 bytes can be an
  // unfinished start.
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const auto c = static_cast<uint8_t>(s[n - back]);
    if (is_continuation(c)) continue;
    const size_t want = lead_length(c);
    if (want > back) {
      // All bytes after the lead are continuations (checked above), so the
      // character is merely incomplete.
      return n - back;
    }
    return n;
  }
  return n;
}

}  // namespace sieve::utf8
