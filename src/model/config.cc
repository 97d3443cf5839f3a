#include "model/config.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "format/gguf.h"
#include "util/error.h"

namespace sieve {
namespace {

// Architectures this transformer implements, by GGUF name, and the rope
// layout GGUF stores them in (llama.cpp permutes Q/K of "llama" only).
struct ArchInfo {
  const char* name;
  bool gguf_interleaved_rope;
};
constexpr ArchInfo kArchs[] = {
    {"llama", true}, {"mistral", true}, {"smollm", true}, {"qwen2", false}, {"qwen3", false}};

const ArchInfo* find_arch(const std::string& name) {
  for (const ArchInfo& a : kArchs)
    if (name == a.name) return &a;
  return nullptr;
}

std::string known_archs() {
  std::string s;
  for (const ArchInfo& a : kArchs) s += (s.empty() ? "" : ", ") + std::string(a.name);
  return s;
}

}  // namespace

void ModelConfig::validate(const std::string& source) const {
  auto bad = [&](const std::string& what) { throw Error(source + ": " + what); };
  auto in_range = [](int64_t v, int64_t lo, int64_t hi) { return v >= lo && v <= hi; };
  if (!in_range(vocab_size, 1, 1 << 24)) bad("vocabulary size " + std::to_string(vocab_size) + " is out of range");
  if (!in_range(hidden, 1, 1 << 17)) bad("hidden size " + std::to_string(hidden) + " is out of range");
  if (!in_range(n_layers, 1, 1024)) bad("layer count " + std::to_string(n_layers) + " is out of range");
  if (!in_range(n_heads, 1, 1024)) bad("head count " + std::to_string(n_heads) + " is out of range");
  if (!in_range(n_kv_heads, 1, n_heads) || n_heads % n_kv_heads != 0)
    bad("key/value head count " + std::to_string(n_kv_heads) + " does not divide head count " + std::to_string(n_heads));
  if (!in_range(head_dim, 2, 1024) || head_dim % 2 != 0) bad("head dimension " + std::to_string(head_dim) + " is not a positive even number");
  if (rope_dim != head_dim) bad("partial rotary embeddings (rope dim " + std::to_string(rope_dim) + " != head dim) are not supported");
  if (!in_range(ffn_hidden, 1, 1 << 20)) bad("feed-forward size " + std::to_string(ffn_hidden) + " is out of range");
  if (!in_range(max_context, 1, int64_t{1} << 24)) bad("context length " + std::to_string(max_context) + " is out of range");
  if (!(rms_eps > 0 && rms_eps < 1)) bad("rms_norm_eps must be in (0, 1)");
  if (!(rope_theta > 0 && std::isfinite(rope_theta))) bad("rope theta must be positive");
  if (rope_scaling != RopeScaling::None && !(rope_factor > 0 && std::isfinite(rope_factor)))
    bad("rope scaling factor must be positive");
  // llama3 scaling interpolates between the two wavelength bounds; equal or
  // reversed factors would divide by zero there.
  if (rope_scaling == RopeScaling::Llama3 &&
      !(rope_low_freq_factor > 0 && rope_high_freq_factor > rope_low_freq_factor && std::isfinite(rope_high_freq_factor)))
    bad("llama3 rope scaling needs 0 < low_freq_factor < high_freq_factor");
}

int64_t ModelConfig::attention_layers() const {
  int64_t n = 0;
  for (int64_t l = 0; l < n_layers; ++l) n += attention_kept(l);
  return n;
}

std::string ModelConfig::summary() const {
  std::string dropped;
  for (int64_t l = 0; l < n_layers; ++l) {
    if (!attention_kept(l)) dropped += (dropped.empty() ? "" : ",") + std::string("attn ") + std::to_string(l);
    if (!mlp_kept(l)) dropped += (dropped.empty() ? "" : ",") + std::string("mlp ") + std::to_string(l);
  }
  return arch + ": " + std::to_string(n_layers) + " layers, hidden " + std::to_string(hidden) + ", heads " +
         std::to_string(n_heads) + "/" + std::to_string(n_kv_heads) + " x " + std::to_string(head_dim) +
         ", ffn " + std::to_string(ffn_hidden) + ", vocab " + std::to_string(vocab_size) + ", context " +
         std::to_string(max_context) + (dropped.empty() ? "" : ", dropped: " + dropped);
}

ModelConfig config_from_gguf(const GgufFile& f) {
  ModelConfig c;
  c.arch = f.get_string("general.architecture");
  const ArchInfo* info = find_arch(c.arch);
  if (!info)
    throw Error(f.label() + ": unknown architecture '" + c.arch + "' (sieve runs " + known_archs() + ")");
  const std::string a = c.arch + ".";
  c.hidden = f.get_int(a + "embedding_length");
  c.n_layers = f.get_int(a + "block_count");
  c.n_heads = f.get_int(a + "attention.head_count");
  c.n_kv_heads = f.get_int_opt(a + "attention.head_count_kv").value_or(c.n_heads);
  c.head_dim = f.get_int_opt(a + "attention.key_length").value_or(c.n_heads > 0 ? c.hidden / c.n_heads : 0);
  c.ffn_hidden = f.get_int(a + "feed_forward_length");
  c.max_context = f.get_int(a + "context_length");
  c.rms_eps = f.get_float(a + "attention.layer_norm_rms_epsilon");
  c.rope_theta = f.get_float_opt(a + "rope.freq_base").value_or(10000.0);
  c.rope_dim = f.get_int_opt(a + "rope.dimension_count").value_or(c.head_dim);
  c.rope_interleaved = info->gguf_interleaved_rope;
  std::string scaling = f.get_string_opt(a + "rope.scaling.type").value_or("none");
  if (scaling == "linear") {
    c.rope_scaling = RopeScaling::Linear;
    c.rope_factor = f.get_float(a + "rope.scaling.factor");
  } else if (scaling != "none") {
    throw Error(f.label() + ": rope scaling type '" + scaling + "' is not supported (none, linear; llama3 comes as rope_freqs.weight)");
  }
  // Llama 3.1-style scaling is stored by llama.cpp as a rope_freqs.weight
  // tensor of per-frequency divisors; the transformer reads it when present.
  if (auto v = f.get_int_opt(a + "vocab_size")) c.vocab_size = *v;
  else if (const GgufValue* tokens = f.find("tokenizer.ggml.tokens")) {
    if (!tokens->is_array()) throw Error(f.label() + ": metadata 'tokenizer.ggml.tokens' should be an array");
    c.vocab_size = static_cast<int64_t>(tokens->as_array().items.size());
  }
  else if (const Tensor* t = f.find_tensor("token_embd.weight"); t && t->shape.size() == 2) c.vocab_size = t->shape[1];
  c.qkv_bias = f.find_tensor("blk.0.attn_q.bias") != nullptr;
  c.qk_norm = f.find_tensor("blk.0.attn_q_norm.weight") != nullptr;
  c.tied_embeddings = f.find_tensor("output.weight") == nullptr;
  c.validate(f.label());
  return c;
}

ModelConfig config_from_hf_json(const std::string& text, const std::string& source) {
  using json = nlohmann::json;
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw Error(source + ": config.json is not a JSON object");
  // Every field is type-checked here: nlohmann's own type errors would reach
  // the user without naming the file or the key.
  auto bad_type = [&](const std::string& key, const char* want) {
    throw Error(source + ": config.json '" + key + "' is not " + want);
  };
  auto find = [](const json& obj, const char* key) -> const json* {
    auto it = obj.find(key);
    return it == obj.end() || it->is_null() ? nullptr : &*it;
  };
  auto get_int = [&](const char* key) -> int64_t {
    const json* v = find(j, key);
    if (!v) throw Error(source + ": config.json lacks '" + key + "'");
    if (!v->is_number_integer()) bad_type(key, "an integer");
    return v->get<int64_t>();
  };
  auto int_or = [&](const char* key, int64_t fallback) { return find(j, key) ? get_int(key) : fallback; };
  auto num_or = [&](const json& obj, const std::string& where, const char* key, double fallback) -> double {
    const json* v = find(obj, key);
    if (!v) return fallback;
    if (!v->is_number()) bad_type(where + key, "a number");
    return v->get<double>();
  };
  auto str_or = [&](const json& obj, const std::string& where, const char* key, const std::string& fallback) {
    const json* v = find(obj, key);
    if (!v) return fallback;
    if (!v->is_string()) bad_type(where + key, "a string");
    return v->get<std::string>();
  };
  auto bool_or = [&](const char* key, bool fallback) -> bool {
    const json* v = find(j, key);
    if (!v) return fallback;
    if (!v->is_boolean()) bad_type(key, "true or false");
    return v->get<bool>();
  };
  std::string model_type = str_or(j, "", "model_type", "");
  std::string hf_arch;
  if (auto it = j.find("architectures"); it != j.end() && it->is_array() && !it->empty() && (*it)[0].is_string())
    hf_arch = (*it)[0].get<std::string>();
  ModelConfig c;
  if (hf_arch == "LlamaForCausalLM" || model_type == "llama") c.arch = "llama";
  else if (hf_arch == "MistralForCausalLM" || model_type == "mistral") c.arch = "mistral";
  else if (hf_arch == "Qwen2ForCausalLM" || model_type == "qwen2") c.arch = "qwen2";
  else if (hf_arch == "Qwen3ForCausalLM" || model_type == "qwen3") c.arch = "qwen3";
  else
    throw Error(source + ": unknown architecture '" + (hf_arch.empty() ? model_type : hf_arch) +
                "' (sieve runs LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM)");
  c.vocab_size = get_int("vocab_size");
  c.hidden = get_int("hidden_size");
  c.n_layers = get_int("num_hidden_layers");
  c.n_heads = get_int("num_attention_heads");
  c.n_kv_heads = int_or("num_key_value_heads", c.n_heads);
  c.head_dim = int_or("head_dim", c.n_heads > 0 ? c.hidden / c.n_heads : 0);
  c.rope_dim = c.head_dim;
  c.ffn_hidden = get_int("intermediate_size");
  c.max_context = get_int("max_position_embeddings");
  c.rms_eps = num_or(j, "", "rms_norm_eps", 1e-6);
  // transformers >= 5 writes rope_parameters {rope_type, rope_theta, factor,
  // ...} in place of rope_theta + rope_scaling; without this, such a config
  // would silently run with theta 10000.
  const json* rs = find(j, "rope_scaling");
  if (!rs) rs = find(j, "rope_parameters");
  const double nested_theta = rs && rs->is_object() ? num_or(*rs, "rope_parameters.", "rope_theta", 10000.0) : 10000.0;
  c.rope_theta = num_or(j, "", "rope_theta", nested_theta);
  c.rope_interleaved = false;
  c.tied_embeddings = bool_or("tie_word_embeddings", false);
  c.qkv_bias = c.arch == "qwen2" ? true : bool_or("attention_bias", false);
  c.qk_norm = c.arch == "qwen3";
  if (c.arch == "mistral" && find(j, "sliding_window") && int_or("sliding_window", 0) < c.max_context)
    throw Error(source + ": Mistral sliding-window attention is not supported; use a model with sliding_window null");
  if (rs) {
    if (!rs->is_object()) throw Error(source + ": rope_scaling is not an object");
    const std::string where = "rope_scaling.";
    std::string type = str_or(*rs, where, "rope_type", str_or(*rs, where, "type", "default"));
    if (type == "linear") {
      c.rope_scaling = RopeScaling::Linear;
      c.rope_factor = num_or(*rs, where, "factor", 1.0);
    } else if (type == "llama3") {
      c.rope_scaling = RopeScaling::Llama3;
      c.rope_factor = num_or(*rs, where, "factor", 8.0);
      c.rope_low_freq_factor = num_or(*rs, where, "low_freq_factor", 1.0);
      c.rope_high_freq_factor = num_or(*rs, where, "high_freq_factor", 4.0);
      // Range-checked as a double: converting an out-of-range one is UB.
      const double original = num_or(*rs, where, "original_max_position_embeddings", 8192);
      if (!(original >= 1 && original <= (1 << 24)))
        throw Error(source + ": rope_scaling original_max_position_embeddings is out of range");
      c.rope_original_context = static_cast<int64_t>(original);
    } else if (type != "default") {
      throw Error(source + ": rope_scaling type '" + type + "' is not supported (linear, llama3)");
    }
  }
  c.validate(source);
  return c;
}

}  // namespace sieve
