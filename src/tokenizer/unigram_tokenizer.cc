// SentencePiece Unigram (T5, mT5, XLM-R, ALBERT, ...).
//
// The text is normalized (SentencePiece's precompiled character map and its
// whitespace rules, or tokenizer.json's normalizers and pre-tokenizer), then
// segmented by Viterbi over the pieces: at every character boundary the best
// path ending there is kept, every piece that starts at a reachable boundary
// extends it by the piece's score, and a character no piece covers is the
// unknown piece at (lowest score - 10). This is SentencePiece's
// EncodeOptimized, with its float scores (double for tokenizer.json, as
// Hugging Face sums them) and tie rule (the first candidate found wins;
// candidates are tried left to right, shortest first). Unknown
// runs become one unknown token, or bytes with byte fallback.
#include <array>
#include <cfloat>
#include <cmath>

#include "tokenizer/text/charsmap.h"
#include "tokenizer/text/normalizer.h"
#include "tokenizer/text/pretokenizer.h"
#include "tokenizer/utf8.h"
#include "tokenizer/vocab.h"
#include "util/error.h"

namespace sieve {

namespace {

constexpr std::string_view kSpace = kSentencePieceSpace;
constexpr float kUnknownPenalty = 10.0f;

// A byte trie over the pieces Viterbi may use: its edges (node, byte) ->
// child in one open-addressing table, about 16 bytes an edge, so a 250k-piece
// vocabulary costs tens of megabytes, not hundreds.
class PieceTrie {
 public:
  void insert(std::string_view key, int32_t id) {
    uint32_t node = 0;
    for (char c : key) {
      if (step(node, c)) continue;  // step moved to the existing child
      values_.push_back(-1);
      const auto child = static_cast<uint32_t>(values_.size() - 1);
      add_edge(edge(node, c), child);
      node = child;
    }
    if (values_[node] < 0) values_[node] = id;  // the first id wins for repeated text
  }
  // Follows one byte; returns false when there is no such edge.
  bool step(uint32_t& node, char c) const {
    if (slots_.empty()) return false;
    const uint64_t k = edge(node, c);
    for (size_t s = hash(k) & mask_;; s = (s + 1) & mask_) {
      if (slots_[s].key == kEmpty) return false;
      if (slots_[s].key == k) {
        node = slots_[s].child;
        return true;
      }
    }
  }
  int32_t value(uint32_t node) const { return values_[node]; }

 private:
  struct Slot {
    uint64_t key;
    uint32_t child;
  };
  static constexpr uint64_t kEmpty = ~0ull;
  static uint64_t edge(uint32_t node, char c) { return (static_cast<uint64_t>(node) << 8) | static_cast<uint8_t>(c); }
  static uint64_t hash(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
  }
  void add_edge(uint64_t k, uint32_t child) {
    if (2 * (count_ + 1) > slots_.size()) grow();
    size_t s = hash(k) & mask_;
    while (slots_[s].key != kEmpty) s = (s + 1) & mask_;
    slots_[s] = {k, child};
    ++count_;
  }
  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 1024 : old.size() * 2, Slot{kEmpty, 0});
    mask_ = slots_.size() - 1;
    for (const Slot& o : old) {
      if (o.key == kEmpty) continue;
      size_t s = hash(o.key) & mask_;
      while (slots_[s].key != kEmpty) s = (s + 1) & mask_;
      slots_[s] = o;
    }
  }
  std::vector<Slot> slots_;
  size_t mask_ = 0, count_ = 0;
  std::vector<int32_t> values_{-1};  // node 0 is the root
};

class UnigramTokenizer final : public VocabTokenizer {
 public:
  explicit UnigramTokenizer(VocabSpec spec);

 protected:
  void encode_text(std::string_view text, bool prev_special, bool at_input_start,
                   std::vector<int32_t>& out) const override;

 private:
  std::string sentencepiece_normalize(std::string_view text) const;
  void viterbi(std::string_view s, std::vector<int32_t>& out) const {
    // SentencePiece sums path scores in float, Hugging Face in double.
    if (spec_.hf_text_steps) viterbi_with<double>(s, out);
    else viterbi_with<float>(s, out);
  }
  template <typename Score>
  void viterbi_with(std::string_view s, std::vector<int32_t>& out) const;
  template <typename Score>
  Score score_of(int32_t id) const {
    const auto i = static_cast<size_t>(id);
    return i < spec_.exact_scores.size() ? static_cast<Score>(spec_.exact_scores[i])
                                         : static_cast<Score>(spec_.scores[i]);
  }

  PieceTrie trie_;
  PrecompiledCharsmap charsmap_;
  Normalizer normalizer_;
  Pretokenizer pretokenizer_;
  float min_score_ = FLT_MAX, max_score_ = FLT_MIN;  // SentencePiece's starting values
  double exact_min_score_ = 0;  // Hugging Face's: over every tokenizer.json score
  std::array<int32_t, 256> byte_tokens_{};
  bool have_all_bytes_ = false;
};

UnigramTokenizer::UnigramTokenizer(VocabSpec spec)
    : VocabTokenizer(std::move(spec)),
      charsmap_(spec_.precompiled_charsmap, spec_.source),
      normalizer_(spec_.normalizers, spec_.source),
      pretokenizer_(spec_.pre_steps) {
  if (spec_.unk < 0) throw Error(spec_.source + ": the Unigram model has no unknown token");
  const size_t n = spec_.tokens.size();
  byte_tokens_.fill(-1);
  decoded_.resize(n);
  strip_at_start_.assign(n, 0);
  for (size_t i = 0; i < n; ++i) {
    const std::string& text = spec_.tokens[i];
    const auto id = static_cast<int32_t>(i);
    const TokenType t = spec_.types[i];
    if (t == TokenType::Normal) {
      min_score_ = std::min(min_score_, spec_.scores[i]);
      max_score_ = std::max(max_score_, spec_.scores[i]);
    }
    if ((t == TokenType::Normal || t == TokenType::UserDefined || t == TokenType::Unused) && !text.empty())
      trie_.insert(text, id);
    switch (t) {
      case TokenType::Normal: {
        decoded_[i] = unescape_sentencepiece(text);
        strip_at_start_[i] = spec_.add_space_prefix && text.starts_with(kSpace);
        break;
      }
      case TokenType::UserDefined: decoded_[i] = text; break;
      case TokenType::Byte: {
        const int b = byte_piece_value(text);
        if (b < 0) throw Error(spec_.source + ": byte token " + std::to_string(i) + " is '" + text + "', not <0xNN>");
        byte_tokens_[static_cast<size_t>(b)] = id;
        decoded_[i] = std::string(1, static_cast<char>(b));
        break;
      }
      default: break;  // control, unknown, unused: invisible
    }
  }
  if (!spec_.exact_scores.empty()) {
    exact_min_score_ = spec_.exact_scores.front();
    for (double v : spec_.exact_scores) exact_min_score_ = std::min(exact_min_score_, v);
  }
  have_all_bytes_ = spec_.byte_fallback;
  for (int32_t t : byte_tokens_) have_all_bytes_ = have_all_bytes_ && t >= 0;
}

std::string UnigramTokenizer::sentencepiece_normalize(std::string_view input) const {
  const std::string_view space = spec_.escape_whitespaces ? kSpace : std::string_view(" ");
  const bool squeeze = spec_.remove_extra_whitespaces;
  // The character map's replacement (or the character itself) at pos.
  const auto next_piece = [&](size_t pos, std::string_view& piece) {
    const size_t n = charsmap_.match(input, pos, piece);
    if (n > 0) return n;
    const size_t len = utf8::char_length(input, pos);
    if (len == 1 && static_cast<uint8_t>(input[pos]) >= 0x80) piece = "\xEF\xBF\xBD";
    else piece = input.substr(pos, len);
    return len;
  };
  size_t pos = 0;
  std::string_view piece;
  if (squeeze) {
    while (pos < input.size()) {
      const size_t n = next_piece(pos, piece);
      if (piece != " ") break;
      pos += n;
    }
  }
  if (pos >= input.size()) return {};
  std::string out;
  out.reserve(input.size() * 3 / 2 + 3);
  if (!spec_.treat_whitespace_as_suffix && spec_.add_space_prefix) out += space;
  bool prev_space = squeeze;
  while (pos < input.size()) {
    pos += next_piece(pos, piece);
    if (prev_space)
      while (piece.starts_with(' ')) piece.remove_prefix(1);
    if (!piece.empty()) {
      for (char c : piece) {
        if (c == ' ' && spec_.escape_whitespaces) out += kSpace;
        else out += c;
      }
      prev_space = piece.ends_with(' ');
    }
    if (!squeeze) prev_space = false;
  }
  if (squeeze)
    while (out.ends_with(space)) out.resize(out.size() - space.size());
  if (spec_.treat_whitespace_as_suffix && spec_.add_space_prefix) out += space;
  return out;
}

void UnigramTokenizer::encode_text(std::string_view text, bool, bool at_input_start,
                                   std::vector<int32_t>& out) const {
  if (!spec_.hf_text_steps) {
    viterbi(sentencepiece_normalize(text), out);
    return;
  }
  std::string normalized;
  if (!normalizer_.empty()) {
    normalized = normalizer_.apply(text);
    text = normalized;
  }
  if (pretokenizer_.empty()) {
    viterbi(text, out);
    return;
  }
  std::vector<std::string> words;
  pretokenizer_.split(text, at_input_start, words);
  for (const std::string& w : words) viterbi(w, out);
}

template <typename Score>
void UnigramTokenizer::viterbi_with(std::string_view s, std::vector<int32_t>& out) const {
  if (s.empty()) return;
  struct Best {
    int32_t id = -1;
    Score score = 0;
    int64_t starts_at = -1;
  };
  const size_t size = s.size();
  const Score unk_score = spec_.exact_scores.empty()
                              ? static_cast<Score>(min_score_) - static_cast<Score>(kUnknownPenalty)
                              : static_cast<Score>(exact_min_score_) - static_cast<Score>(kUnknownPenalty);
  std::vector<Best> best(size + 1);
  for (size_t start = 0; start < size;) {
    const Score till_here = best[start].score;
    const size_t mblen = utf8::char_length(s, start);
    bool single = false;
    uint32_t node = 0;
    for (size_t pos = start; pos < size && trie_.step(node, s[pos]); ++pos) {
      const int32_t id = trie_.value(node);
      if (id < 0 || type(id) == TokenType::Unused) continue;
      const size_t end = pos + 1, length = end - start;
      // A user-defined piece gets a bonus so that it is always chosen. The
      // sum is a double in SentencePiece too (its ternary mixes double and
      // float), compared with the stored path score and then stored rounded:
      // equal-looking paths are decided by exactly these roundings.
      const double candidate = type(id) == TokenType::UserDefined
                                   ? static_cast<double>(length) * max_score_ - 0.1 + static_cast<double>(till_here)
                                   : score_of<double>(id) + static_cast<double>(till_here);
      Best& target = best[end];
      if (target.starts_at == -1 || candidate > static_cast<double>(target.score))
        target = {id, static_cast<Score>(candidate), static_cast<int64_t>(start)};
      if (length == mblen) single = true;
    }
    if (!single) {
      Best& target = best[start + mblen];
      const Score candidate = unk_score + till_here;  // in float for SentencePiece, as it sums these
      if (target.starts_at == -1 || candidate > target.score) target = {spec_.unk, candidate, static_cast<int64_t>(start)};
    }
    start += mblen;
  }
  std::vector<std::pair<size_t, size_t>> path;  // (start, end) of each piece
  std::vector<int32_t> ids;
  for (size_t end = size; end > 0;) {
    const Best& b = best[end];
    path.emplace_back(static_cast<size_t>(b.starts_at), end);
    ids.push_back(b.id);
    end = static_cast<size_t>(b.starts_at);
  }
  bool prev_unknown = false;
  for (size_t k = ids.size(); k-- > 0;) {
    const int32_t id = ids[k];
    const bool unknown = id == spec_.unk;
    if (unknown && have_all_bytes_) {
      for (size_t i = path[k].first; i < path[k].second; ++i) out.push_back(byte_tokens_[static_cast<uint8_t>(s[i])]);
    } else if (!(unknown && prev_unknown)) {
      out.push_back(id);  // a run of unknown characters is one unknown token
    }
    prev_unknown = unknown;
  }
}

}  // namespace

std::unique_ptr<Tokenizer> make_unigram_tokenizer(VocabSpec spec) {
  return std::make_unique<UnigramTokenizer>(std::move(spec));
}

}  // namespace sieve
