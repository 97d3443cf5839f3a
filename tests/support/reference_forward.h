#pragma once
// An independent, deliberately naive float64 forward pass of the Llama family,
// written from the model definitions (Hugging Face modeling_llama / qwen2 /
// qwen3) rather than from sieve's transformer. Tests compare sieve's logits
// with it. It shares only the weight binding (Model) and dequantize_row.
#include <cstdint>
#include <vector>

#include "model/model.h"

namespace sieve::testing {

// Logits (vocab_size doubles) of every position of `tokens`.
std::vector<std::vector<double>> reference_forward(const Model& model, const std::vector<int32_t>& tokens);

}  // namespace sieve::testing
