#pragma once
// A loaded model: its files (memory-mapped), config, weights bound by role,
// and tokenizer. Loaded from a GGUF file or a Hugging Face folder.
#include <memory>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "format/tensor.h"
#include "model/config.h"
#include "tokenizer/tokenizer.h"

namespace sieve {

class GgufFile;
class SafetensorsFile;

struct LayerWeights {
  std::vector<float> attn_norm, ffn_norm;
  std::vector<float> q_norm, k_norm;          // Qwen3, head_dim each
  std::vector<float> q_bias, k_bias, v_bias;  // Qwen2
  const Tensor* wq = nullptr;
  const Tensor* wk = nullptr;
  const Tensor* wv = nullptr;
  const Tensor* wo = nullptr;
  const Tensor* w_gate = nullptr;
  const Tensor* w_up = nullptr;
  const Tensor* w_down = nullptr;
};

struct ModelWeights {
  const Tensor* token_embd = nullptr;
  const Tensor* output = nullptr;  // == token_embd when tied
  std::vector<float> output_norm;
  std::vector<LayerWeights> layers;
  // Per-frequency divisors of the rotary angle (head_dim / 2 values); empty
  // when the model uses plain RoPE.
  std::vector<float> rope_freq_divisors;
};

class Model {
 public:
  // path: a .gguf file, or a folder with config.json + *.safetensors + tokenizer files.
  static std::unique_ptr<Model> load(const std::string& path);
  ~Model();

  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  // The chat templates the model ships (maybe none; see chat/chat_template.h).
  const chat::ChatTemplates& chat_templates() const { return chat_templates_; }
  const std::string& path() const { return path_; }
  // Bytes of weight data read per decoded token (every matrix once, plus one embedding row).
  size_t weight_bytes_per_token() const;
  // Removes blocks (--drop-attn-layers; docs/inspect.md): the forward pass skips them from
  // now on. Throws on a layer out of range or when no attention would remain.
  void drop_blocks(const std::vector<int64_t>& attention_layers, const std::vector<int64_t>& mlp_layers);

 private:
  Model() = default;
  void load_gguf(const std::string& path);
  void load_hf(const std::string& dir);

  std::string path_;
  ModelConfig config_;
  ModelWeights weights_;
  std::unique_ptr<Tokenizer> tokenizer_;
  chat::ChatTemplates chat_templates_;
  std::unique_ptr<GgufFile> gguf_;
  std::vector<std::unique_ptr<SafetensorsFile>> shards_;
};

}  // namespace sieve
