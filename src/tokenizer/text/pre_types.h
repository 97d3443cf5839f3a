#pragma once
// The pre-tokenizer of each GGUF `tokenizer.ggml.pre` value that llama.cpp
// knows for byte-level BPE vocabularies: the regular expressions (applied in
// sequence, every match and every stretch between matches a word) and the
// settings that go with the name (ignore_merges, BOS by default, ...).
//
// The regexes are those of the models' own tokenizer.json / tiktoken files.
// Where llama.cpp rewrote one for std::regex (lookaheads emulated, (?i:)
// spelled out, possessive quantifiers dropped) the original is used, since
// PCRE2 runs it as written; the two agree on every input (see
// docs/tokenizers.md for the few deliberate differences).
#include <string>
#include <vector>

namespace sieve {

struct PreType {
  std::vector<std::string> regexes;
  bool ignore_merges = false;    // a word that is itself a token skips the merges
  bool add_bos = false;          // BOS added unless tokenizer.ggml.add_bos_token says otherwise
  bool no_bos = false;           // no BOS token unless tokenizer.ggml.bos_token_id names one
  bool merges_optional = false;  // the file may omit tokenizer.ggml.merges
  // Raw UTF-8 BPE (Gemma 4 style): pieces are characters, not GPT-2's byte
  // alphabet; spaces are written U+2581 before splitting; a run of newlines
  // that is a token is taken whole; BOS even when the file says otherwise.
  bool byte_encode = true;
  bool escape_spaces = false;
  bool whole_newline_runs = false;
  bool force_bos = false;
};

// The settings for a tokenizer.ggml.pre value; throws sieve::Error naming it
// and listing the known values when it is not one of them.
const PreType& pre_type(const std::string& name);

// Every known value, sorted.
std::vector<std::string> known_pre_types();

}  // namespace sieve
