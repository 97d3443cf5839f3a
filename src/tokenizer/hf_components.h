#pragma once
// The text steps of a tokenizer.json: its "normalizer" and "pre_tokenizer"
// objects (nested Sequences included) turned into sieve's NormStep and
// PreStep lists. An unknown or malformed component is an error naming the
// file, the component type and what is wrong.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tokenizer/text/normalizer.h"
#include "tokenizer/text/pretokenizer.h"

namespace sieve {

std::vector<NormStep> parse_hf_normalizer(const nlohmann::json& node, const std::string& source);
std::vector<PreStep> parse_hf_pre_tokenizer(const nlohmann::json& node, const std::string& source);

// Decodes standard base64 (Precompiled's charsmap); throws sieve::Error
// naming `what` on bad input.
std::string decode_base64(const std::string& text, const std::string& what);

}  // namespace sieve
