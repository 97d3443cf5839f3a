#include "tokenizer/text/charsmap.h"

#include "tokenizer/utf8.h"
#include "util/error.h"

namespace sieve {

namespace {

// A darts-clone unit: BASE in bits 10-30 (shifted by 8 when bit 9 is set),
// the label in bits 0-7 (bit 31 set on value units), the has-leaf flag in
// bit 8, and on value units the value in bits 0-30.
uint32_t unit_offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }
uint32_t unit_label(uint32_t u) { return u & ((1u << 31) | 0xFF); }
bool unit_has_leaf(uint32_t u) { return (u >> 8) & 1; }
uint32_t unit_value(uint32_t u) { return u & ((1u << 31) - 1); }

}  // namespace

PrecompiledCharsmap::PrecompiledCharsmap(std::string blob, const std::string& label) : label_(label) {
  if (blob.empty()) return;
  if (blob.size() < 4) throw Error(label + ": precompiled charsmap of " + std::to_string(blob.size()) + " bytes has no header");
  uint32_t trie_bytes = 0;
  for (int i = 0; i < 4; ++i) trie_bytes |= static_cast<uint32_t>(static_cast<uint8_t>(blob[i])) << (8 * i);
  if (trie_bytes % 4 != 0 || trie_bytes == 0 || trie_bytes > blob.size() - 4)
    throw Error(label + ": precompiled charsmap declares a trie of " + std::to_string(trie_bytes) +
                " bytes in a blob of " + std::to_string(blob.size()));
  units_.resize(trie_bytes / 4);
  for (size_t k = 0; k < units_.size(); ++k) {
    uint32_t u = 0;
    for (int i = 0; i < 4; ++i) u |= static_cast<uint32_t>(static_cast<uint8_t>(blob[4 + 4 * k + i])) << (8 * i);
    units_[k] = u;
  }
  pool_ = blob.substr(4 + trie_bytes);
}

size_t PrecompiledCharsmap::match(std::string_view text, size_t pos, std::string_view& replacement) const {
  if (units_.empty()) return 0;
  const auto unit = [&](size_t i) {
    if (i >= units_.size()) throw Error(label_ + ": precompiled charsmap index out of range");
    return units_[i];
  };
  size_t best_len = 0;
  uint32_t best_value = 0;
  size_t node = unit_offset(unit(0));
  for (size_t i = pos; i < text.size(); ++i) {
    const auto c = static_cast<uint8_t>(text[i]);
    if (c == 0) break;
    node ^= c;
    const uint32_t u = unit(node);
    if (unit_label(u) != c) break;
    node ^= unit_offset(u);
    if (unit_has_leaf(u)) {
      best_len = i - pos + 1;
      best_value = unit_value(unit(node));
    }
  }
  if (best_len == 0) return 0;
  if (best_value >= pool_.size()) throw Error(label_ + ": precompiled charsmap replacement out of range");
  const size_t end = pool_.find('\0', best_value);
  if (end == std::string::npos) throw Error(label_ + ": precompiled charsmap replacement is not terminated");
  replacement = std::string_view(pool_).substr(best_value, end - best_value);
  return best_len;
}

std::string PrecompiledCharsmap::normalize(std::string_view text) const {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    std::string_view repl;
    const size_t n = match(text, i, repl);
    if (n > 0) {
      out += repl;
      i += n;
      continue;
    }
    const size_t len = utf8::char_length(text, i);
    if (len == 1 && static_cast<uint8_t>(text[i]) >= 0x80) out += "\xEF\xBF\xBD";
    else out.append(text, i, len);
    i += len;
  }
  return out;
}

}  // namespace sieve
