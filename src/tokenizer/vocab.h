#pragma once
// What every tokenizer source (GGUF metadata, tokenizer.json, tokenizer.model)
// is reduced to before a tokenizer is built, and the base class that does the
// work common to both algorithms: special-token splitting, BOS/EOS, the
// end-of-generation set and whole-sequence decoding. Keeping one description
// means the three loaders cannot drift apart in how they treat a token.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "tokenizer/text/normalizer.h"
#include "tokenizer/text/pretokenizer.h"
#include "tokenizer/tokenizer.h"

namespace sieve {

// The values are those of GGUF's tokenizer.ggml.token_type and of
// SentencePiece's ModelProto.SentencePiece.Type.
enum class TokenType : int32_t {
  Undefined = 0, Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6,
};

enum class VocabKind { SentencePiece, ByteLevelBpe, Unigram };

// SentencePiece's space in pieces: U+2581.
inline constexpr std::string_view kSentencePieceSpace = "\xE2\x96\x81";
// A SentencePiece piece as text: each U+2581 back to a space.
std::string unescape_sentencepiece(std::string_view piece);

struct VocabSpec {
  std::string source;  // names the file in error messages
  VocabKind kind = VocabKind::SentencePiece;

  std::vector<std::string> tokens;
  std::vector<float> scores;      // SentencePiece merge priority; empty = all 0.
                                  // -infinity marks a piece BPE never forms.
  std::vector<TokenType> types;   // empty = all Normal
  std::vector<uint8_t> lstrip;    // per token, empty = none: a matched special
  std::vector<uint8_t> rstrip;    // token eats the whitespace on that side

  // Text steps before the model (tokenizer.json's normalizer and
  // pre_tokenizer); byte-level BPE and Unigram read them, SentencePiece BPE
  // applies the normalizers before its own space handling.
  std::vector<NormStep> normalizers;
  std::vector<PreStep> pre_steps;

  // SentencePiece (BPE and Unigram).
  bool add_space_prefix = true;
  bool remove_extra_whitespaces = false;
  bool byte_fallback = true;
  // Unigram: SentencePiece's own normalization (precompiled charsmap, then
  // the whitespace rules above) unless hf_text_steps, where normalizers and
  // pre_steps do all of it (tokenizer.json).
  std::string precompiled_charsmap;
  std::vector<double> exact_scores;  // tokenizer.json's scores as written (may be shorter than tokens)
  bool escape_whitespaces = true;
  bool treat_whitespace_as_suffix = false;
  bool hf_text_steps = false;

  // Byte-level BPE.
  std::vector<std::pair<std::string, std::string>> merges;  // rank order
  bool ignore_merges = false;  // a word that is a whole token skips merging
  // Raw UTF-8 vocabularies (Gemma 4 style): no byte alphabet, spaces written
  // U+2581, <0xNN> byte fallback, newline runs taken whole.
  bool byte_encode = true;
  bool escape_spaces = false;
  bool whole_newline_runs = false;

  bool add_bos = false;
  bool add_eos = false;
  int32_t bos = -1, eos = -1, unk = -1, eot = -1, eom = -1;
  std::vector<int32_t> extra_eog;  // more end-of-generation ids (HF configs)
};

// Checks the spec (sizes, ids in range, no duplicates) and builds the
// tokenizer for its kind. Throws sieve::Error naming spec.source.
std::unique_ptr<Tokenizer> build_tokenizer(VocabSpec spec);

// The two algorithms (spm_tokenizer.cc, bpe_tokenizer.cc); the spec is
// already validated.
std::unique_ptr<Tokenizer> make_spm_tokenizer(VocabSpec spec);
std::unique_ptr<Tokenizer> make_byte_bpe_tokenizer(VocabSpec spec);
std::unique_ptr<Tokenizer> make_unigram_tokenizer(VocabSpec spec);

// Parses "<0xNN>" (the byte-fallback piece form); -1 when it is not one.
int byte_piece_value(std::string_view text);

class VocabTokenizer : public Tokenizer {
 public:
  explicit VocabTokenizer(VocabSpec spec);

  std::vector<int32_t> encode(std::string_view text, bool add_special = true,
                              bool parse_special = false) const override;
  std::string piece(int32_t id) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  bool decode_append(int32_t id, bool at_start, std::string& out) const override;

  int32_t vocab_size() const override { return static_cast<int32_t>(spec_.tokens.size()); }
  int32_t bos_id() const override { return spec_.bos; }
  int32_t eos_id() const override { return spec_.eos; }
  bool is_end_of_generation(int32_t id) const override { return eog_.count(id) != 0; }

 protected:
  // Encodes one stretch of ordinary text. prev_special: the stretch starts
  // the input or follows a special token (SentencePiece adds its space
  // prefix there, as llama.cpp does). at_input_start: it starts the input.
  virtual void encode_text(std::string_view text, bool prev_special, bool at_input_start,
                           std::vector<int32_t>& out) const = 0;

  TokenType type(int32_t id) const { return spec_.types[static_cast<size_t>(id)]; }
  int32_t find_token(std::string_view text) const;
  void check_id(int32_t id) const;

  VocabSpec spec_;
  // Bytes each token decodes to in the middle of a sequence; filled by the
  // subclass constructor.
  std::vector<std::string> decoded_;
  // Whether a token's decoded text starts with the SentencePiece dummy-prefix
  // space that decode() drops at the start of the text.
  std::vector<uint8_t> strip_at_start_;

 private:
  struct Fragment {
    int32_t token;  // -1: text
    size_t offset, length;
  };
  void split_special(std::string_view text, bool parse_special, std::vector<Fragment>& frags) const;

  std::unordered_map<std::string_view, int32_t> token_ids_;  // views into spec_.tokens
  std::vector<int32_t> special_order_;  // control/user-defined/unknown, longest first
  std::unordered_set<int32_t> eog_;
};

}  // namespace sieve
