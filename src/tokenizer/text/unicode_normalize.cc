#include "tokenizer/text/unicode_normalize.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <vector>

#include "tokenizer/utf8.h"

namespace sieve {

namespace {

#include "tokenizer/text/unicode_tables.inc"

// Invalid bytes ride along as code points past Unicode's range.
constexpr uint32_t kRawByte = 0x110000;

// Hangul syllables are composed and decomposed arithmetically.
constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

std::vector<uint32_t> decode(std::string_view s) {
  std::vector<uint32_t> cps;
  cps.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const size_t len = utf8::char_length(s, i);
    const bool valid = len > 1 || static_cast<uint8_t>(s[i]) < 0x80;
    cps.push_back(valid ? utf8::decode_at(s, i, len) : kRawByte + static_cast<uint8_t>(s[i]));
    i += len;
  }
  return cps;
}

std::string encode(const std::vector<uint32_t>& cps) {
  std::string out;
  out.reserve(cps.size());
  for (uint32_t cp : cps) {
    if (cp >= kRawByte) out += static_cast<char>(cp - kRawByte);
    else utf8::append_codepoint(out, cp);
  }
  return out;
}

uint32_t combining_class(uint32_t cp) {
  const auto* end = std::end(kCombiningClass);
  const auto* it = std::lower_bound(std::begin(kCombiningClass), end, cp,
                                    [](const uint32_t(&e)[2], uint32_t v) { return e[0] < v; });
  return it != end && (*it)[0] == cp ? (*it)[1] : 0;
}

void decompose(uint32_t cp, bool compat, std::vector<uint32_t>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const uint32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount) out.push_back(kTBase + s % kTCount);
    return;
  }
  const auto* end = std::end(kDecomposition);
  const auto* it = std::lower_bound(std::begin(kDecomposition), end, cp,
                                    [](const uint32_t(&e)[4], uint32_t v) { return e[0] < v; });
  if (it == end || (*it)[0] != cp || ((*it)[1] && !compat)) {
    out.push_back(cp);
    return;
  }
  for (uint32_t k = 0; k < (*it)[3]; ++k) decompose(kDecompositionPool[(*it)[2] + k], compat, out);
}

uint32_t compose_pair(uint32_t a, uint32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount)
    return a + (b - kTBase);
  const auto* end = std::end(kComposition);
  const auto* it = std::lower_bound(std::begin(kComposition), end, std::pair<uint32_t, uint32_t>{a, b},
                                    [](const uint32_t(&e)[3], const std::pair<uint32_t, uint32_t>& v) {
                                      return e[0] < v.first || (e[0] == v.first && e[1] < v.second);
                                    });
  return it != end && (*it)[0] == a && (*it)[1] == b ? (*it)[2] : 0;
}

}  // namespace

std::string unicode_normalize(std::string_view text, NormalForm form) {
  bool ascii = true;
  for (char c : text) ascii &= static_cast<uint8_t>(c) < 0x80;
  if (ascii) return std::string(text);
  const bool compat = form == NormalForm::NFKC || form == NormalForm::NFKD;
  std::vector<uint32_t> cps;
  for (uint32_t cp : decode(text)) {
    if (cp >= kRawByte) cps.push_back(cp);
    else decompose(cp, compat, cps);
  }
  // Canonical ordering: stable sort of each run of non-starters by class.
  for (size_t i = 0; i < cps.size();) {
    if (cps[i] >= kRawByte || combining_class(cps[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < cps.size() && cps[j] < kRawByte && combining_class(cps[j]) != 0) ++j;
    std::stable_sort(cps.begin() + static_cast<std::ptrdiff_t>(i), cps.begin() + static_cast<std::ptrdiff_t>(j),
                     [](uint32_t a, uint32_t b) { return combining_class(a) < combining_class(b); });
    i = j;
  }
  if (form == NormalForm::NFD || form == NormalForm::NFKD) return encode(cps);

  // Canonical composition.
  std::vector<uint32_t> out;
  out.reserve(cps.size());
  size_t starter = SIZE_MAX;
  uint32_t last_class = 0;
  for (uint32_t cp : cps) {
    const uint32_t cc = cp >= kRawByte ? 0 : combining_class(cp);
    if (cp < kRawByte && starter != SIZE_MAX && (out.size() == starter + 1 || (last_class != 0 && last_class < cc))) {
      const uint32_t composite = compose_pair(out[starter], cp);
      if (composite) {
        out[starter] = composite;
        continue;
      }
    }
    out.push_back(cp);
    if (cp >= kRawByte) {
      starter = SIZE_MAX;
      last_class = 0;
    } else if (cc == 0) {
      starter = out.size() - 1;
      last_class = 0;
    } else {
      last_class = cc;
    }
  }
  return encode(out);
}

namespace {

bool is_cased(uint32_t cp) {
  const auto* end = std::end(kCased);
  const auto* it = std::upper_bound(std::begin(kCased), end, cp,
                                    [](uint32_t v, const uint32_t(&e)[2]) { return v < e[0]; });
  return it != std::begin(kCased) && cp <= (*(it - 1))[1];
}

// Marks and the few punctuation marks Unicode lets sit inside a word.
bool is_case_ignorable(uint32_t cp) {
  return combining_class(cp) != 0 || cp == 0x27 || cp == 0xB7 || cp == 0x2019 || cp == 0xAD;
}

}  // namespace

std::string unicode_lowercase(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool ascii = true;
  for (char c : text) ascii &= static_cast<uint8_t>(c) < 0x80;
  if (ascii) {
    for (char c : text) out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    return out;
  }
  const std::vector<uint32_t> cps = decode(text);
  std::vector<uint32_t> res;
  res.reserve(cps.size());
  for (size_t i = 0; i < cps.size(); ++i) {
    const uint32_t cp = cps[i];
    if (cp == 0x3A3) {
      // Final sigma: after a cased letter and not before one.
      size_t b = i;
      while (b > 0 && cps[b - 1] < kRawByte && is_case_ignorable(cps[b - 1])) --b;
      size_t a = i + 1;
      while (a < cps.size() && cps[a] < kRawByte && is_case_ignorable(cps[a])) ++a;
      const bool after = b > 0 && cps[b - 1] < kRawByte && is_cased(cps[b - 1]);
      const bool before = a < cps.size() && cps[a] < kRawByte && is_cased(cps[a]);
      res.push_back(after && !before ? 0x3C2 : 0x3C3);
      continue;
    }
    const auto* end = std::end(kLowercase);
    const auto* it = std::lower_bound(std::begin(kLowercase), end, cp,
                                      [](const uint32_t(&e)[3], uint32_t v) { return e[0] < v; });
    if (cp < kRawByte && it != end && (*it)[0] == cp) {
      for (uint32_t k = 0; k < (*it)[2]; ++k) res.push_back(kLowercasePool[(*it)[1] + k]);
    } else {
      res.push_back(cp);
    }
  }
  return encode(res);
}

}  // namespace sieve
