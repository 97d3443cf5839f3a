#pragma once
// Retrieval prompts (passkey, niah, niah-multikey), assembled in token space
// exactly as the evaluation protocol (EVALUATION.md) defines them:
//   [BOS] + header + hay-with-needles + question, exactly `length` tokens,
// with the hay read from the tokenized haystack at a seeded offset (wrapping
// around) and each needle inserted at floor(n_hay * depth / 100).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace sieve::eval {

enum class Task { Passkey, Niah, NiahMultikey, Ppl, PplStream };

Task parse_task(const std::string& name);  // throws sieve::Error listing the valid names
const char* task_name(Task task);
bool is_retrieval(Task task);

constexpr int64_t kRandomDepth = -1;

// How a piece of template text becomes tokens (see PromptBuilder::piece).
enum class PieceMode {
  Separate,  // tokenizer.encode(piece) on its own, as the test model was trained (default)
  Joined,    // as the piece would tokenize inside one string with its neighbours
};
PieceMode parse_piece_mode(const std::string& name);

struct Needle {
  int64_t start = 0;  // index of its first token in the prompt
  int64_t size = 0;   // tokens
  std::string word;   // niah: the key word; empty for passkey
  std::string value;  // the digits it holds
};

struct Prompt {
  std::vector<int32_t> tokens;  // exactly `length` of them
  std::string expected;         // the digits of the asked needle
  std::vector<Needle> needles;  // in prompt order
  int asked = 0;                // index into needles
  int64_t hay_offset = 0;       // where the hay was read from the haystack
  int64_t n_hay = 0;            // haystack tokens in the prompt
  int64_t header_size = 0;      // BOS + header tokens, before the hay
};

// The words that key niah needles (EVALUATION.md's list).
const std::vector<std::string>& needle_words();

class PromptBuilder {
 public:
  // haystack: the whole haystack text, tokenized once here without BOS.
  PromptBuilder(const Tokenizer& tokenizer, std::string_view haystack, PieceMode mode = PieceMode::Separate);

  // depth: 0..100, or kRandomDepth (insertion index drawn uniformly). The
  // same arguments always give the same prompt. Throws sieve::Error when
  // `length` cannot hold the header, needles and question.
  Prompt build(Task task, uint64_t seed, int64_t length, int64_t depth, int64_t sample) const;

  // Tokens of a piece of template text that sits inside the prompt.
  std::vector<int32_t> piece(std::string_view text) const;
  const std::vector<int32_t>& hay() const { return hay_; }
  const Tokenizer& tokenizer() const { return tokenizer_; }

 private:
  const Tokenizer& tokenizer_;
  PieceMode mode_;
  bool dummy_prefix_ = false;  // the tokenizer prepends a space to every encode()
  std::vector<int32_t> hay_;
};

// True when the generated text, leading spaces removed, starts with the
// expected digits.
bool answer_correct(std::string_view generated, std::string_view expected);

}  // namespace sieve::eval
