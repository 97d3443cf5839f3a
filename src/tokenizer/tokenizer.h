#pragma once
// Text <-> token ids, exactly as the model's own tokenizer does it.
// Three algorithms: SentencePiece-style BPE with scores and byte fallback
// (Llama 2, Mistral, Phi-3, the test model), byte-level BPE with merges and
// pre-tokenizer regexes (GPT-2, Llama 3, Qwen2, DeepSeek, ...), and
// SentencePiece Unigram with Viterbi segmentation (T5). Built from GGUF
// metadata or from a Hugging Face folder (tokenizer.json and/or
// tokenizer.model); docs/tokenizers.md lists the forms.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sieve {

class GgufFile;

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  static std::unique_ptr<Tokenizer> from_gguf(const GgufFile& file);
  static std::unique_ptr<Tokenizer> from_hf_folder(const std::string& dir);

  // Encodes text. add_bos: prepend BOS when the model's metadata asks for it
  // (and EOS likewise). Special-token text such as "<|eot_id|>" in the input
  // is matched to its token only when parse_special is true.
  virtual std::vector<int32_t> encode(std::string_view text, bool add_special = true,
                                      bool parse_special = false) const = 0;
  // The bytes one token stands for when it follows other tokens
  // (SentencePiece's leading-space rule is applied by decode()).
  virtual std::string piece(int32_t id) const = 0;
  // Whole-sequence decode; byte-exact inverse of encode for ordinary text.
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
  // Incremental form of decode(): appends the text of `id` to `out` as
  // decode() renders it at a point where at_start says that the sequence so
  // far produced no text (SentencePiece drops its dummy-prefix space only
  // there). Returns at_start for the next token. Lets StreamDecoder stay
  // linear in the length of the generation.
  virtual bool decode_append(int32_t id, bool at_start, std::string& out) const {
    std::string text = piece(id);
    out += text;
    return at_start && text.empty();
  }

  virtual int32_t vocab_size() const = 0;
  virtual int32_t bos_id() const = 0;   // -1 when the vocabulary has none
  virtual int32_t eos_id() const = 0;   // -1 when the vocabulary has none
  // End-of-generation tokens (EOS, <|eot_id|>, <|im_end|>, ...).
  virtual bool is_end_of_generation(int32_t id) const = 0;
};

// Turns a stream of token ids into text as they arrive, holding back bytes of
// a UTF-8 character split across tokens until it is complete.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}
  // Returns the text that became complete with this token (maybe empty).
  std::string push(int32_t id);
  // Returns whatever is still held back (invalid UTF-8 is passed through).
  std::string flush();

 private:
  const Tokenizer& tokenizer_;
  std::string pending_;   // decoded bytes not yet returned
  bool at_start_ = true;  // no text produced yet (see decode_append)
};

}  // namespace sieve
