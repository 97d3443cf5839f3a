// SentencePiece-style BPE (Llama 2, Mistral, Phi-3, the test model).
//
// The text is escaped (space -> U+2581, plus a leading one), split into
// characters, and adjacent symbols are merged greedily: always the pair whose
// merged piece has the highest score, leftmost on ties (SentencePiece's
// bpe_model.cc order). A priority queue of candidate pairs keeps this
// O(n log n) for long inputs; stale candidates are recognised by length.
// Characters that no piece covers fall back to <0xNN> byte tokens.
#include <array>
#include <cmath>
#include <queue>
#include <unordered_map>

#include "tokenizer/piece_index.h"
#include "tokenizer/text/normalizer.h"
#include "tokenizer/utf8.h"
#include "tokenizer/vocab.h"
#include "util/error.h"

namespace sieve {

namespace {

constexpr std::string_view kSpace = kSentencePieceSpace;

class SpmTokenizer final : public VocabTokenizer {
 public:
  explicit SpmTokenizer(VocabSpec spec);

 protected:
  void encode_text(std::string_view text, bool prev_special, bool at_input_start,
                   std::vector<int32_t>& out) const override;

 private:
  void bpe(std::string_view s, std::vector<int32_t>& out) const;
  void emit_unknown(std::string_view chr, std::vector<int32_t>& out) const;

  // Pieces BPE can produce (normal, user-defined, unused: SentencePiece's
  // pieces_ map); control, unknown and byte pieces are never formed from text.
  PieceIndex pieces_;
  Normalizer normalizer_;
  size_t max_piece_len_ = 0;
  std::array<int32_t, 256> byte_tokens_{};
  bool have_all_bytes_ = false;
  // No piece longer than one character contains a newline, so a newline can
  // never merge and BPE can run line by line with the same result (and
  // much smaller queues).
  bool newline_splits_ = false;
};

SpmTokenizer::SpmTokenizer(VocabSpec spec)
    : VocabTokenizer(std::move(spec)), normalizer_(spec_.normalizers, spec_.source) {
  const size_t n = spec_.tokens.size();
  byte_tokens_.fill(-1);
  decoded_.resize(n);
  strip_at_start_.assign(n, 0);
  for (size_t i = 0; i < n; ++i) {
    const std::string& text = spec_.tokens[i];
    const auto id = static_cast<int32_t>(i);
    switch (spec_.types[i]) {
      case TokenType::Normal: {
        decoded_[i] = unescape_sentencepiece(text);
        strip_at_start_[i] = spec_.add_space_prefix && text.starts_with(kSpace);
        [[fallthrough]];
      }
      case TokenType::UserDefined:
      case TokenType::Unused:
        max_piece_len_ = std::max(max_piece_len_, text.size());
        if (spec_.types[i] == TokenType::UserDefined) decoded_[i] = text;
        break;
      case TokenType::Byte: {
        const int b = byte_piece_value(text);
        if (b < 0) throw Error(spec_.source + ": byte token " + std::to_string(i) + " is '" + text + "', not <0xNN>");
        byte_tokens_[static_cast<size_t>(b)] = id;
        decoded_[i] = std::string(1, static_cast<char>(b));
        break;
      }
      default:  // control and unknown tokens render as nothing
        break;
    }
  }
  const auto formable = [&](int32_t id) {
    const TokenType t = type(id);
    return !spec_.tokens[static_cast<size_t>(id)].empty() &&
           (t == TokenType::Normal || t == TokenType::UserDefined || t == TokenType::Unused);
  };
  pieces_.build(spec_.tokens, formable);
  newline_splits_ = true;
  for (size_t i = 0; i < n; ++i) {
    const std::string& text = spec_.tokens[i];
    if (formable(static_cast<int32_t>(i)) && text.size() > 1 && text.find('\n') != std::string::npos)
      newline_splits_ = false;
  }
  have_all_bytes_ = spec_.byte_fallback;
  for (int32_t t : byte_tokens_) have_all_bytes_ = have_all_bytes_ && t >= 0;
}

void SpmTokenizer::encode_text(std::string_view text, bool prev_special, bool, std::vector<int32_t>& out) const {
  std::string normalized;
  if (!normalizer_.empty()) {
    normalized = normalizer_.apply(text);
    text = normalized;
  }
  std::string collapsed;
  if (spec_.remove_extra_whitespaces) {
    // SentencePiece's normalizer: drop leading and trailing spaces and squeeze
    // runs of spaces to one.
    for (char c : text) {
      if (c == ' ' && (collapsed.empty() || collapsed.back() == ' ')) continue;
      collapsed += c;
    }
    while (!collapsed.empty() && collapsed.back() == ' ') collapsed.pop_back();
    if (collapsed.empty()) return;
    text = collapsed;
  }
  std::string s;
  s.reserve(text.size() + text.size() / 2 + 3);
  if (spec_.add_space_prefix && prev_special) s += kSpace;
  for (char c : text) {
    if (c == ' ') s += kSpace;
    else s += c;
  }
  if (!newline_splits_) {
    bpe(s, out);
    return;
  }
  const std::string_view all(s);
  size_t start = 0;
  for (size_t nl = all.find('\n'); nl != std::string_view::npos; nl = all.find('\n', start)) {
    bpe(all.substr(start, nl - start), out);
    bpe(all.substr(nl, 1), out);
    start = nl + 1;
  }
  bpe(all.substr(start), out);
}

void SpmTokenizer::emit_unknown(std::string_view chr, std::vector<int32_t>& out) const {
  if (have_all_bytes_) {
    for (char c : chr) out.push_back(byte_tokens_[static_cast<uint8_t>(c)]);
    return;
  }
  if (spec_.unk < 0)
    throw Error(spec_.source + ": cannot encode a character that is not in the vocabulary (no byte tokens, no <unk>)");
  out.push_back(spec_.unk);
}

void SpmTokenizer::bpe(std::string_view s, std::vector<int32_t>& out) const {
  struct Symbol {
    int32_t prev, next;
    uint32_t offset, length;  // length 0: merged away
  };
  struct Candidate {
    float score;
    int32_t left, right;
    uint32_t length;  // of the merged piece; a mismatch later means stale
  };
  struct Lower {
    bool operator()(const Candidate& a, const Candidate& b) const {
      return a.score < b.score || (a.score == b.score && a.left > b.left);
    }
  };
  if (s.empty()) return;
  if (s.size() > UINT32_MAX / 2) throw Error("text too long to tokenize");

  std::vector<Symbol> sym;
  sym.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const size_t len = utf8::char_length(s, i);
    const auto idx = static_cast<int32_t>(sym.size());
    sym.push_back({idx - 1, idx + 1, static_cast<uint32_t>(i), static_cast<uint32_t>(len)});
    i += len;
  }
  sym.back().next = -1;

  std::vector<Candidate> storage;
  storage.reserve(sym.size());
  std::priority_queue<Candidate, std::vector<Candidate>, Lower> queue(Lower{}, std::move(storage));
  // Unused pieces may be formed but are then split back into the two symbols
  // that formed them (SentencePiece's resegmentation).
  std::unordered_map<std::string_view, std::pair<std::string_view, std::string_view>> unused_parts;

  const auto try_pair = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const size_t len = size_t{sym[static_cast<size_t>(left)].length} + sym[static_cast<size_t>(right)].length;
    if (len > max_piece_len_) return;
    const std::string_view merged = s.substr(sym[static_cast<size_t>(left)].offset, len);
    const int32_t id = pieces_.find(merged);
    if (id < 0) return;
    const float score = spec_.scores[static_cast<size_t>(id)];
    if (std::isinf(score) && score < 0) return;  // a piece no merge rule forms
    queue.push({score, left, right, static_cast<uint32_t>(len)});
    if (type(id) == TokenType::Unused) {
      const Symbol& l = sym[static_cast<size_t>(left)];
      const Symbol& r = sym[static_cast<size_t>(right)];
      unused_parts[merged] = {s.substr(l.offset, l.length), s.substr(r.offset, r.length)};
    }
  };

  for (int32_t i = 1; i < static_cast<int32_t>(sym.size()); ++i) try_pair(i - 1, i);

  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& l = sym[static_cast<size_t>(c.left)];
    Symbol& r = sym[static_cast<size_t>(c.right)];
    // Symbols only grow, so an unchanged total length means neither side was
    // touched since the candidate was queued.
    if (l.length == 0 || r.length == 0 || l.length + r.length != c.length) continue;
    l.length += r.length;
    r.length = 0;
    l.next = r.next;
    if (r.next >= 0) sym[static_cast<size_t>(r.next)].prev = c.left;
    try_pair(l.prev, c.left);
    try_pair(c.left, l.next);
  }

  // Resegmentation uses an explicit stack: a hostile vocabulary could chain
  // unused pieces as deep as its longest piece.
  std::vector<std::string_view> pending;
  for (int32_t i = 0; i >= 0; i = sym[static_cast<size_t>(i)].next) {
    const Symbol& x = sym[static_cast<size_t>(i)];
    pending.push_back(s.substr(x.offset, x.length));
    while (!pending.empty()) {
      const std::string_view piece = pending.back();
      pending.pop_back();
      const int32_t id = pieces_.find(piece);
      if (id < 0) {
        // Only single characters can be missing (merges always form pieces).
        emit_unknown(piece, out);
        continue;
      }
      if (type(id) == TokenType::Unused) {
        const auto parts = unused_parts.find(piece);
        if (parts != unused_parts.end()) {
          pending.push_back(parts->second.second);
          pending.push_back(parts->second.first);
          continue;
        }
      }
      out.push_back(id);
    }
  }
}

}  // namespace

std::unique_ptr<Tokenizer> make_spm_tokenizer(VocabSpec spec) {
  return std::make_unique<SpmTokenizer>(std::move(spec));
}

}  // namespace sieve
