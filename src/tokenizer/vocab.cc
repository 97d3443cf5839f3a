#include "tokenizer/vocab.h"

#include <algorithm>

#include "util/error.h"

namespace sieve {

std::string unescape_sentencepiece(std::string_view piece) {
  std::string d;
  for (size_t k = 0; k < piece.size();) {
    if (piece.compare(k, kSentencePieceSpace.size(), kSentencePieceSpace) == 0) {
      d += ' ';
      k += kSentencePieceSpace.size();
    } else {
      d += piece[k++];
    }
  }
  return d;
}


namespace {

bool is_ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

void check_special_id(const VocabSpec& spec, int32_t id, const char* what) {
  if (id < -1 || id >= static_cast<int64_t>(spec.tokens.size()))
    throw Error(spec.source + ": " + what + " token id " + std::to_string(id) + " is outside the vocabulary of " +
                std::to_string(spec.tokens.size()) + " tokens");
}

void validate(VocabSpec& spec) {
  const size_t n = spec.tokens.size();
  if (n == 0) throw Error(spec.source + ": the tokenizer vocabulary is empty");
  if (n > static_cast<size_t>(INT32_MAX)) throw Error(spec.source + ": the tokenizer vocabulary is too large");
  const auto check_len = [&](size_t got, const char* what) {
    if (got != 0 && got != n)
      throw Error(spec.source + ": tokenizer " + what + " has " + std::to_string(got) + " entries but there are " +
                  std::to_string(n) + " tokens");
  };
  check_len(spec.scores.size(), "scores");
  check_len(spec.types.size(), "token types");
  check_len(spec.lstrip.size(), "lstrip flags");
  check_len(spec.rstrip.size(), "rstrip flags");
  if (spec.scores.empty()) spec.scores.assign(n, 0.0f);
  if (spec.types.empty()) spec.types.assign(n, TokenType::Normal);
  if (spec.lstrip.empty()) spec.lstrip.assign(n, 0);
  if (spec.rstrip.empty()) spec.rstrip.assign(n, 0);
  for (size_t i = 0; i < n; ++i) {
    const auto t = static_cast<int32_t>(spec.types[i]);
    if (t < 0 || t > 6)
      throw Error(spec.source + ": token " + std::to_string(i) + " has unknown token type " + std::to_string(t));
    // GGUF's "undefined" carries no meaning beyond "not special".
    if (spec.types[i] == TokenType::Undefined) spec.types[i] = TokenType::Normal;
  }
  check_special_id(spec, spec.bos, "BOS");
  check_special_id(spec, spec.eos, "EOS");
  check_special_id(spec, spec.unk, "unknown");
  check_special_id(spec, spec.eot, "end-of-turn");
  check_special_id(spec, spec.eom, "end-of-message");
  for (int32_t id : spec.extra_eog) check_special_id(spec, id, "end-of-generation");
  if (spec.add_bos && spec.bos < 0) throw Error(spec.source + ": the tokenizer adds BOS but has no BOS token id");
  if (spec.add_eos && spec.eos < 0) throw Error(spec.source + ": the tokenizer adds EOS but has no EOS token id");
}

}  // namespace

int byte_piece_value(std::string_view text) {
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return -1;
  int v = 0;
  for (char c : text.substr(3, 2)) {
    v <<= 4;
    if (c >= '0' && c <= '9') v |= c - '0';
    else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
    else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
    else return -1;
  }
  return v;
}

std::unique_ptr<Tokenizer> build_tokenizer(VocabSpec spec) {
  validate(spec);
  if (spec.kind == VocabKind::SentencePiece) return make_spm_tokenizer(std::move(spec));
  if (spec.kind == VocabKind::Unigram) return make_unigram_tokenizer(std::move(spec));
  return make_byte_bpe_tokenizer(std::move(spec));
}

VocabTokenizer::VocabTokenizer(VocabSpec spec) : spec_(std::move(spec)) {
  const auto n = static_cast<int32_t>(spec_.tokens.size());
  token_ids_.reserve(static_cast<size_t>(n));
  for (int32_t id = 0; id < n; ++id) {
    const std::string& text = spec_.tokens[static_cast<size_t>(id)];
    // An empty token can never be matched or formed; keep it out of the map.
    if (text.empty()) continue;
    if (!token_ids_.emplace(text, id).second)
      throw Error(spec_.source + ": duplicate token '" + text + "' (ids " + std::to_string(token_ids_[text]) +
                  " and " + std::to_string(id) + ")");
    const TokenType t = type(id);
    if (t == TokenType::Control || t == TokenType::UserDefined || t == TokenType::Unknown)
      special_order_.push_back(id);
  }
  // Longest first, so "<|im_start|>" wins over a shorter token inside it
  // (llama.cpp's tokenizer_st_partition order).
  std::stable_sort(special_order_.begin(), special_order_.end(), [&](int32_t a, int32_t b) {
    return spec_.tokens[static_cast<size_t>(a)].size() > spec_.tokens[static_cast<size_t>(b)].size();
  });

  for (int32_t id : {spec_.eos, spec_.eot, spec_.eom})
    if (id >= 0) eog_.insert(id);
  for (int32_t id : spec_.extra_eog) eog_.insert(id);
  // Chat models end a turn with one of these; GGUF files often name only EOS.
  for (const char* text : {"<|eot_id|>", "<|im_end|>", "<|end|>", "<|endoftext|>", "<|eom_id|>"}) {
    const int32_t id = find_token(text);
    if (id >= 0 && type(id) == TokenType::Control) eog_.insert(id);
  }
}

int32_t VocabTokenizer::find_token(std::string_view text) const {
  auto it = token_ids_.find(text);
  return it == token_ids_.end() ? -1 : it->second;
}

void VocabTokenizer::check_id(int32_t id) const {
  if (id < 0 || id >= vocab_size())
    throw Error("token id " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(vocab_size()) +
                " tokens");
}

void VocabTokenizer::split_special(std::string_view text, bool parse_special, std::vector<Fragment>& frags) const {
  frags.clear();
  if (text.empty()) return;
  frags.push_back({-1, 0, text.size()});
  std::vector<Fragment> next;
  for (int32_t id : special_order_) {
    const TokenType t = type(id);
    // User-defined tokens are always split out (as SentencePiece and HF do);
    // control and unknown tokens only when the caller asks for it.
    if (!parse_special && (t == TokenType::Control || t == TokenType::Unknown)) continue;
    const std::string& st = spec_.tokens[static_cast<size_t>(id)];
    const bool lstrip = spec_.lstrip[static_cast<size_t>(id)] != 0;
    const bool rstrip = spec_.rstrip[static_cast<size_t>(id)] != 0;
    bool changed = false;
    next.clear();
    for (const Fragment& f : frags) {
      if (f.token >= 0) {
        next.push_back(f);
        continue;
      }
      size_t pos = f.offset;
      const size_t end = f.offset + f.length;
      const std::string_view window = text.substr(0, end);
      while (pos < end) {
        const size_t m = window.find(st, pos);
        if (m == std::string_view::npos) break;
        changed = true;
        size_t left_end = m;
        if (lstrip)
          while (left_end > pos && is_ascii_space(text[left_end - 1])) --left_end;
        if (left_end > pos) next.push_back({-1, pos, left_end - pos});
        next.push_back({id, m, st.size()});
        pos = m + st.size();
        if (rstrip)
          while (pos < end && is_ascii_space(text[pos])) ++pos;
      }
      if (pos < end) next.push_back({-1, pos, end - pos});
    }
    if (changed) frags.swap(next);
  }
}

std::vector<int32_t> VocabTokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (add_special && spec_.add_bos) out.push_back(spec_.bos);
  std::vector<Fragment> frags;
  split_special(text, parse_special, frags);
  bool prev_special = true;
  for (const Fragment& f : frags) {
    if (f.token >= 0) {
      out.push_back(f.token);
      prev_special = true;
    } else {
      encode_text(text.substr(f.offset, f.length), prev_special, f.offset == 0, out);
      prev_special = false;
    }
  }
  if (add_special && spec_.add_eos) out.push_back(spec_.eos);
  return out;
}

std::string VocabTokenizer::piece(int32_t id) const {
  check_id(id);
  return decoded_[static_cast<size_t>(id)];
}

bool VocabTokenizer::decode_append(int32_t id, bool at_start, std::string& out) const {
  check_id(id);
  const std::string& text = decoded_[static_cast<size_t>(id)];
  if (at_start && strip_at_start_[static_cast<size_t>(id)]) {
    // SentencePiece drops the space its encoder put in front of the text,
    // once, and only while nothing has been produced yet.
    out.append(text, 1, std::string::npos);
    return false;
  }
  out += text;
  return at_start && text.empty();
}

std::string VocabTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  bool at_start = true;
  for (int32_t id : ids) at_start = decode_append(id, at_start, out);
  return out;
}

}  // namespace sieve
