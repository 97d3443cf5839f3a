// Byte-level BPE (GPT-2, Llama 3, Qwen2, DeepSeek, ...).
//
// Text is normalized (tokenizer.json's normalizers, if any) and cut into
// words by the pre-tokenizer steps; each word's bytes are
// spelled with GPT-2's byte-to-unicode alphabet (so every byte is a printable
// character and a vocabulary entry), then merged pair by pair, always the pair
// with the lowest merge rank, leftmost on ties (Hugging Face's order). Merges
// work on token ids: a merge rule is (left id, right id) -> (rank, result id).
#include <array>
#include <queue>
#include <unordered_map>

#include "tokenizer/text/normalizer.h"
#include "tokenizer/text/pretokenizer.h"
#include "tokenizer/utf8.h"
#include "tokenizer/vocab.h"
#include "util/error.h"

namespace sieve {

namespace {

constexpr std::string_view kSpace = kSentencePieceSpace;

// GPT-2's bytes_to_unicode(): printable Latin-1 bytes stand for themselves,
// the other 68 bytes are moved to U+0100 and up, in byte order.
std::array<uint32_t, 256> byte_to_codepoint() {
  std::array<uint32_t, 256> map{};
  uint32_t next = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    map[b] = printable ? b : next++;
  }
  return map;
}

class ByteBpeTokenizer final : public VocabTokenizer {
 public:
  explicit ByteBpeTokenizer(VocabSpec spec);

 protected:
  void encode_text(std::string_view text, bool prev_special, bool at_input_start,
                   std::vector<int32_t>& out) const override;

 private:
  struct Merge {
    int32_t rank, result;
  };
  static uint64_t pair_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  struct Symbol {
    int32_t id, prev, next;  // id -1: a character the vocabulary lacks
    uint32_t offset, len;    // bytes of the word it covers
  };
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;
  void encode_raw_word(std::string_view word, std::vector<int32_t>& out) const;
  void merge(std::vector<Symbol>& sym, std::vector<int32_t>& out, std::string_view word) const;

  Normalizer normalizer_;
  Pretokenizer pretokenizer_;
  std::array<std::string, 256> byte_chars_;  // UTF-8 of each byte's stand-in
  std::array<int32_t, 256> byte_tokens_{};   // token of each single byte, -1 if none
  std::unordered_map<uint64_t, Merge> merges_;
};

ByteBpeTokenizer::ByteBpeTokenizer(VocabSpec spec)
    : VocabTokenizer(std::move(spec)), normalizer_(spec_.normalizers, spec_.source), pretokenizer_(spec_.pre_steps) {
  const auto to_cp = byte_to_codepoint();
  std::unordered_map<uint32_t, uint8_t> from_cp;
  for (uint32_t b = 0; b < 256; ++b) {
    utf8::append_codepoint(byte_chars_[b], to_cp[b]);
    from_cp[to_cp[b]] = static_cast<uint8_t>(b);
    const int32_t id = find_token(byte_chars_[b]);
    byte_tokens_[b] = spec_.byte_encode && id >= 0 && type(id) == TokenType::Normal ? id : -1;
  }
  if (!spec_.byte_encode) {
    // Raw UTF-8 vocabularies fall back to <0xNN> byte tokens.
    for (size_t i = 0; i < spec_.tokens.size(); ++i) {
      const int b = byte_piece_value(spec_.tokens[i]);
      if (b >= 0 && spec_.types[i] == TokenType::Byte) byte_tokens_[static_cast<size_t>(b)] = static_cast<int32_t>(i);
    }
  }

  const size_t n = spec_.tokens.size();
  decoded_.resize(n);
  strip_at_start_.assign(n, 0);
  for (size_t i = 0; i < n; ++i) {
    const std::string& text = spec_.tokens[i];
    switch (spec_.types[i]) {
      case TokenType::Normal: {
        std::string d;
        if (!spec_.byte_encode) {
          // Raw UTF-8 pieces, U+2581 standing for a space when escaped.
          for (size_t k = 0; k < text.size();) {
            if (spec_.escape_spaces && text.compare(k, kSpace.size(), kSpace) == 0) {
              d += ' ';
              k += kSpace.size();
            } else {
              d += text[k++];
            }
          }
          decoded_[i] = std::move(d);
          break;
        }
        for (size_t k = 0; k < text.size();) {
          const size_t len = utf8::char_length(text, k);
          const auto it = from_cp.find(utf8::decode_at(text, k, len));
          // A character outside the byte alphabet is kept as it is.
          if (it != from_cp.end()) d += static_cast<char>(it->second);
          else d.append(text, k, len);
          k += len;
        }
        decoded_[i] = std::move(d);
        break;
      }
      case TokenType::UserDefined:
        decoded_[i] = text;
        break;
      case TokenType::Byte: {
        const int b = byte_piece_value(text);
        if (b >= 0) decoded_[i] = std::string(1, static_cast<char>(b));
        break;
      }
      default:  // control, unknown, unused: invisible
        break;
    }
  }

  merges_.reserve(spec_.merges.size());
  for (size_t rank = 0; rank < spec_.merges.size(); ++rank) {
    const auto& [a, b] = spec_.merges[rank];
    const int32_t left = find_token(a), right = find_token(b), result = find_token(a + b);
    // Hugging Face refuses such rules; they can never apply, so skip them.
    if (left < 0 || right < 0 || result < 0) continue;
    merges_.emplace(pair_key(left, right), Merge{static_cast<int32_t>(rank), result});
  }
  // The merges are only needed as the table above.
  spec_.merges.clear();
  spec_.merges.shrink_to_fit();
}

void ByteBpeTokenizer::encode_text(std::string_view text, bool, bool at_input_start,
                                   std::vector<int32_t>& out) const {
  std::string normalized;
  if (!normalizer_.empty()) {
    normalized = normalizer_.apply(text);
    text = normalized;
  }
  if (spec_.escape_spaces) {
    std::string escaped;
    escaped.reserve(text.size() + text.size() / 4);
    for (char c : text) {
      if (c == ' ') escaped += kSpace;
      else escaped += c;
    }
    normalized = std::move(escaped);
    text = normalized;
  }
  if (pretokenizer_.empty()) {
    encode_word(text, out);
    return;
  }
  std::vector<std::string> words;
  pretokenizer_.split(text, at_input_start, words);
  for (const std::string& w : words) encode_word(w, out);
}

void ByteBpeTokenizer::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (!spec_.byte_encode) {
    encode_raw_word(word, out);
    return;
  }
  if (word.size() == 1) {
    const int32_t id = byte_tokens_[static_cast<uint8_t>(word[0])];
    if (id >= 0) out.push_back(id);
    return;
  }
  if (spec_.ignore_merges) {
    // Llama 3: a word that is itself a token is emitted whole, whatever the
    // merges would have made of it.
    std::string spelled;
    for (char c : word) spelled += byte_chars_[static_cast<uint8_t>(c)];
    const int32_t id = find_token(spelled);
    if (id >= 0 && type(id) == TokenType::Normal) {
      out.push_back(id);
      return;
    }
  }

  std::vector<Symbol> sym;
  sym.reserve(word.size());
  for (size_t i = 0; i < word.size(); ++i) {
    const int32_t id = byte_tokens_[static_cast<uint8_t>(word[i])];
    if (id < 0) continue;  // a byte the vocabulary cannot spell is dropped (as llama.cpp does)
    const auto idx = static_cast<int32_t>(sym.size());
    sym.push_back({id, idx - 1, idx + 1, static_cast<uint32_t>(i), 1});
  }
  merge(sym, out, word);
}

void ByteBpeTokenizer::encode_raw_word(std::string_view word, std::vector<int32_t>& out) const {
  // Gemma 4: a run of newlines that is a token is taken whole.
  if (spec_.whole_newline_runs && word.find_first_not_of('\n') == std::string_view::npos) {
    const int32_t id = find_token(word);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  // Symbols are characters; one the vocabulary lacks never merges and is
  // spelled in byte tokens at the end.
  std::vector<Symbol> sym;
  sym.reserve(word.size());
  for (size_t i = 0; i < word.size();) {
    const size_t len = utf8::char_length(word, i);
    const auto idx = static_cast<int32_t>(sym.size());
    sym.push_back({find_token(word.substr(i, len)), idx - 1, idx + 1, static_cast<uint32_t>(i),
                   static_cast<uint32_t>(len)});
    i += len;
  }
  merge(sym, out, word);
}

void ByteBpeTokenizer::merge(std::vector<Symbol>& sym, std::vector<int32_t>& out, std::string_view word) const {
  if (sym.empty()) return;
  sym.back().next = -1;

  struct Candidate {
    int32_t rank, left, right, left_id, right_id, result;
  };
  struct Later {
    bool operator()(const Candidate& a, const Candidate& b) const {
      return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, Later> queue;
  const auto try_pair = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const int32_t a = sym[static_cast<size_t>(left)].id, b = sym[static_cast<size_t>(right)].id;
    if (a < 0 || b < 0) return;
    const auto it = merges_.find(pair_key(a, b));
    if (it == merges_.end()) return;
    queue.push({it->second.rank, left, right, a, b, it->second.result});
  };
  for (int32_t i = 1; i < static_cast<int32_t>(sym.size()); ++i) try_pair(i - 1, i);

  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& l = sym[static_cast<size_t>(c.left)];
    Symbol& r = sym[static_cast<size_t>(c.right)];
    // Stale when either side changed or the right one was merged away.
    if (l.id != c.left_id || r.id != c.right_id || l.next != c.right || r.len == 0) continue;
    l.id = c.result;
    l.len += r.len;
    l.next = r.next;
    r.id = -1;
    r.len = 0;
    if (r.next >= 0) sym[static_cast<size_t>(r.next)].prev = c.left;
    try_pair(l.prev, c.left);
    try_pair(c.left, l.next);
  }
  for (int32_t i = 0; i >= 0; i = sym[static_cast<size_t>(i)].next) {
    const Symbol& x = sym[static_cast<size_t>(i)];
    if (x.id >= 0) {
      out.push_back(x.id);
      continue;
    }
    for (uint32_t k = 0; k < x.len; ++k) {
      const int32_t b = byte_tokens_[static_cast<uint8_t>(word[x.offset + k])];
      if (b >= 0) out.push_back(b);
    }
  }
}

}  // namespace

std::unique_ptr<Tokenizer> make_byte_bpe_tokenizer(VocabSpec spec) {
  return std::make_unique<ByteBpeTokenizer>(std::move(spec));
}

}  // namespace sieve
