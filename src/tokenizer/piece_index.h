#pragma once
// Text -> token id lookup for the hot loop of SentencePiece BPE, which asks
// "is this pair of symbols a piece?" about once per input byte. An
// open-addressing table of (hash, id) pairs keeps a lookup to one or two cache
// lines; std::unordered_map's node chains made it the slowest part of
// encoding.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sieve {

class PieceIndex {
 public:
  // Indexes tokens[id] for every id where keep(id) is true. The tokens must
  // outlive the index; the first id wins for repeated text.
  template <typename Keep>
  void build(const std::vector<std::string>& tokens, Keep&& keep) {
    tokens_ = &tokens;
    size_t n = 0;
    for (size_t i = 0; i < tokens.size(); ++i) n += keep(static_cast<int32_t>(i)) ? 1 : 0;
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    slots_.assign(cap, Slot{0, -1});
    mask_ = cap - 1;
    for (size_t i = 0; i < tokens.size(); ++i) {
      const auto id = static_cast<int32_t>(i);
      if (!keep(id) || find(tokens[i]) >= 0) continue;
      const uint64_t h = hash(tokens[i]);
      size_t s = h & mask_;
      while (slots_[s].id >= 0) s = (s + 1) & mask_;
      slots_[s] = {h, id};
    }
  }

  int32_t find(std::string_view text) const {
    if (slots_.empty()) return -1;
    const uint64_t h = hash(text);
    for (size_t s = h & mask_;; s = (s + 1) & mask_) {
      const Slot& slot = slots_[s];
      if (slot.id < 0) return -1;
      if (slot.hash == h && (*tokens_)[static_cast<size_t>(slot.id)] == text) return slot.id;
    }
  }

 private:
  struct Slot {
    uint64_t hash;
    int32_t id;  // -1: empty
  };
  // FNV-1a with a final mix so the low bits (the slot) depend on every byte.
  static uint64_t hash(std::string_view s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (char c : s) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
  }

  const std::vector<std::string>* tokens_ = nullptr;
  std::vector<Slot> slots_;
  size_t mask_ = 0;
};

}  // namespace sieve
