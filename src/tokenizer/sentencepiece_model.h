#pragma once
// Reads a SentencePiece tokenizer.model (a serialized ModelProto) with a small
// protobuf wire-format reader: only the fields the tokenizers need, every
// length checked against the bytes present.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sieve {

struct SentencePieceModel {
  struct Piece {
    std::string text;
    float score = 0.0f;
    int32_t type = 1;  // ModelProto.SentencePiece.Type, NORMAL by default
  };
  std::vector<Piece> pieces;

  // TrainerSpec (the proto's defaults when a field is absent).
  int32_t model_type = 1;  // 1 unigram, 2 BPE, 3 word, 4 char
  bool byte_fallback = false;
  bool treat_whitespace_as_suffix = false;
  int32_t unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;

  // NormalizerSpec.
  std::string normalizer_name;
  std::string precompiled_charsmap;
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
};

// Throws sieve::Error naming `label` when the bytes are not a ModelProto.
SentencePieceModel parse_sentencepiece_model(std::string_view bytes, const std::string& label);

}  // namespace sieve
