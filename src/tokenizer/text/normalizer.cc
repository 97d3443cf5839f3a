#include "tokenizer/text/normalizer.h"

#include "tokenizer/text/charsmap.h"
#include "tokenizer/text/regex.h"
#include "tokenizer/text/unicode_normalize.h"
#include "tokenizer/utf8.h"
#include "util/error.h"

namespace sieve {

struct Normalizer::Impl {
  std::vector<std::unique_ptr<Regex>> regexes;            // per step (Replace)
  std::vector<std::unique_ptr<PrecompiledCharsmap>> maps;  // per step (Precompiled)
};

namespace {

bool is_white_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

std::string strip(std::string_view s, bool left, bool right) {
  size_t b = 0, e = s.size();
  if (left) {
    while (b < e) {
      const size_t len = utf8::char_length(s, b);
      if (!is_white_space(utf8::decode_at(s, b, len)) || (len == 1 && static_cast<uint8_t>(s[b]) >= 0x80)) break;
      b += len;
    }
  }
  if (right) {
    while (e > b) {
      size_t start = e - 1;
      while (start > b && utf8::is_continuation(static_cast<uint8_t>(s[start]))) --start;
      const size_t len = utf8::char_length(s, start);
      if (start + len != e || !is_white_space(utf8::decode_at(s, start, len)) ||
          (len == 1 && static_cast<uint8_t>(s[start]) >= 0x80))
        break;
      e = start;
    }
  }
  return std::string(s.substr(b, e - b));
}

}  // namespace

Normalizer::Normalizer(const std::vector<NormStep>& steps, const std::string& label)
    : steps_(steps), impl_(std::make_unique<Impl>()) {
  for (const NormStep& s : steps_) {
    impl_->regexes.push_back(s.kind == NormStep::Kind::Replace ? std::make_unique<Regex>(s.pattern) : nullptr);
    impl_->maps.push_back(s.kind == NormStep::Kind::Precompiled
                              ? std::make_unique<PrecompiledCharsmap>(s.charsmap, label)
                              : nullptr);
  }
}

Normalizer::~Normalizer() = default;

std::string Normalizer::apply(std::string_view text) const {
  std::string s(text);
  std::vector<RegexPiece> pieces;
  for (size_t i = 0; i < steps_.size(); ++i) {
    const NormStep& st = steps_[i];
    switch (st.kind) {
      case NormStep::Kind::NFC: s = unicode_normalize(s, NormalForm::NFC); break;
      case NormStep::Kind::NFD: s = unicode_normalize(s, NormalForm::NFD); break;
      case NormStep::Kind::NFKC: s = unicode_normalize(s, NormalForm::NFKC); break;
      case NormStep::Kind::NFKD: s = unicode_normalize(s, NormalForm::NFKD); break;
      case NormStep::Kind::Lowercase: s = unicode_lowercase(s); break;
      case NormStep::Kind::Prepend:
        // Hugging Face prepends only to non-empty text.
        if (!s.empty()) s.insert(0, st.text);
        break;
      case NormStep::Kind::Strip: s = strip(s, st.left, st.right); break;
      case NormStep::Kind::Replace: {
        impl_->regexes[i]->pieces(s, pieces);
        std::string out;
        out.reserve(s.size());
        for (const RegexPiece& p : pieces) {
          if (p.match) out += st.text;
          else out.append(s, p.start, p.end - p.start);
          // A pattern that matches everywhere with a long replacement would
          // otherwise turn a prompt into gigabytes.
          if (out.size() > 16 * s.size() + (1 << 20)) throw Error("Replace normalizer output is too large");
        }
        s = std::move(out);
        break;
      }
      case NormStep::Kind::StripAccents: {
        // Removes nonspacing marks (what remains of accents after NFD).
        static const Regex marks(R"(\p{Mn})");
        marks.pieces(s, pieces);
        std::string out;
        for (const RegexPiece& p : pieces)
          if (!p.match) out.append(s, p.start, p.end - p.start);
        s = std::move(out);
        break;
      }
      case NormStep::Kind::Precompiled: s = impl_->maps[i]->normalize(s); break;
    }
  }
  return s;
}

}  // namespace sieve
