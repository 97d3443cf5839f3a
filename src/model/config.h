#pragma once
// The shape of a Llama-family model, read from GGUF metadata or from a
// Hugging Face config.json. One struct drives one transformer implementation.
#include <cstdint>
#include <string>
#include <vector>

namespace sieve {

class GgufFile;

enum class RopeScaling { None, Linear, Llama3 };

struct ModelConfig {
  std::string arch;  // "llama", "mistral", "qwen2", "qwen3", "smollm" (GGUF general.architecture names)
  int64_t vocab_size = 0;
  int64_t hidden = 0;
  int64_t n_layers = 0;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t ffn_hidden = 0;
  int64_t max_context = 0;  // trained context length
  double rms_eps = 1e-5;

  double rope_theta = 10000.0;
  int64_t rope_dim = 0;  // rotated dimensions per head (== head_dim for this family)
  // true: pairs (2i, 2i+1) rotate together (GGUF llama layout, after
  // llama.cpp's Q/K row permutation); false: pairs (i, i + d/2) ("rotate half",
  // Hugging Face layout and GGUF qwen2/qwen3).
  bool rope_interleaved = false;
  RopeScaling rope_scaling = RopeScaling::None;
  double rope_factor = 1.0;
  double rope_low_freq_factor = 1.0;    // llama3
  double rope_high_freq_factor = 4.0;   // llama3
  int64_t rope_original_context = 8192; // llama3

  bool qkv_bias = false;  // Qwen2
  bool qk_norm = false;   // Qwen3: RMSNorm over each head of Q and K before RoPE
  bool tied_embeddings = false;

  // Blocks removed after loading (What Matters in Transformers' attention
  // and joint layer drop; docs/inspect.md): a dropped block passes the
  // residual stream through unchanged, and a dropped attention block has no
  // KV cache. Empty: nothing dropped.
  std::vector<bool> attention_dropped, mlp_dropped;
  bool attention_kept(int64_t layer) const {
    return attention_dropped.empty() || !attention_dropped[static_cast<size_t>(layer)];
  }
  bool mlp_kept(int64_t layer) const { return mlp_dropped.empty() || !mlp_dropped[static_cast<size_t>(layer)]; }
  // Layers whose attention is kept: the KV cache's layers, numbered in order.
  int64_t attention_layers() const;

  // Checks the numbers are usable (positive, divisible, not absurd).
  void validate(const std::string& source) const;
  std::string summary() const;
};

ModelConfig config_from_gguf(const GgufFile& file);
// Reads a Hugging Face config.json (the whole text).
ModelConfig config_from_hf_json(const std::string& json_text, const std::string& source);

}  // namespace sieve
