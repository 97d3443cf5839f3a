#include "support/fixture_models.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "format/gguf.h"
#include "format/gguf_writer.h"
#include "format/safetensors_writer.h"
#include "util/error.h"

namespace sieve::fixtures {
namespace fs = std::filesystem;

namespace {

std::vector<FixtureSpec> make_specs() {
  std::vector<FixtureSpec> v;
  {  // Qwen2: Q/K/V biases, tied embeddings, GQA 2, NEOX rope in GGUF too.
    FixtureSpec s;
    s.name = "qwen2", s.gguf_arch = "qwen2", s.hf_class = "Qwen2ForCausalLM", s.hf_model_type = "qwen2";
    s.hidden = 64, s.n_heads = 4, s.n_kv_heads = 2, s.head_dim = 16, s.ffn_hidden = 160;
    s.rope_theta = 1000000.0, s.rms_eps = 1e-6, s.qkv_bias = true, s.tied = true;
    s.hf_dtype = DType::F16, s.seed = 0x5157454e32ull;
    v.push_back(s);
  }
  {  // Qwen3: per-head Q/K RMSNorm, GQA 3, head_dim 32 while hidden / heads = 10;
     // config.json in the transformers 5 style (rope_parameters).
    FixtureSpec s;
    s.name = "qwen3", s.gguf_arch = "qwen3", s.hf_class = "Qwen3ForCausalLM", s.hf_model_type = "qwen3";
    s.hidden = 64, s.n_heads = 6, s.n_kv_heads = 2, s.head_dim = 32, s.ffn_hidden = 128;
    s.rope_theta = 1000000.0, s.rms_eps = 1e-6, s.qk_norm = true, s.tied = true, s.head_dim_in_config = true;
    s.hf_dtype = DType::F32, s.hf_rope_parameters = true, s.seed = 0x5157454e33ull;
    v.push_back(s);
  }
  {  // Mistral: llama.cpp converts it to arch "llama" (permuted Q/K); MHA, untied.
    FixtureSpec s;
    s.name = "mistral", s.gguf_arch = "llama", s.hf_class = "MistralForCausalLM", s.hf_model_type = "mistral";
    s.hidden = 96, s.n_heads = 4, s.n_kv_heads = 4, s.head_dim = 24, s.ffn_hidden = 192;
    s.rope_theta = 1000000.0, s.rms_eps = 1e-5, s.tied = false;
    s.hf_dtype = DType::BF16, s.seed = 0x4d495354ull;
    v.push_back(s);
  }
  {  // Llama 3.1: llama3 rope scaling with a small original context so that
     // all three frequency bands (kept, interpolated, divided) occur and the
     // scaling changes the logits within 12 tokens; GQA 4, untied.
    FixtureSpec s;
    s.name = "llama3", s.gguf_arch = "llama", s.hf_class = "LlamaForCausalLM", s.hf_model_type = "llama";
    s.hidden = 128, s.n_heads = 8, s.n_kv_heads = 2, s.head_dim = 16, s.ffn_hidden = 256;
    s.max_context = 512, s.rope_theta = 500000.0, s.rms_eps = 1e-5, s.tied = false, s.head_dim_in_config = true;
    s.llama3_rope = true, s.rope_factor = 8.0, s.low_freq_factor = 1.0, s.high_freq_factor = 4.0;
    s.original_context = 64;
    s.hf_dtype = DType::BF16, s.seed = 0x4c4c414d41ull;
    v.push_back(s);
  }
  return v;
}

uint64_t fnv1a64(const void* data, size_t n, uint64_t h = 0xcbf29ce484222325ull) {
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

// splitmix64: tiny, well mixed, and the same on every platform.
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [-1, 1), exactly representable (24 random bits).
  float uniform() { return static_cast<float>(static_cast<int64_t>(next() >> 40) - (1 << 23)) / static_cast<float>(1 << 23); }
};

// Rounds to a value that BF16, F16 and F32 all hold exactly (8 significant
// bits, magnitude 0 or >= 2^-14), so every storage type carries the same
// weights and GGUF (F32) and HF (BF16/F16) logits can be compared tightly.
float exact_in_all_types(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  float r;
  std::memcpy(&r, &u, 4);
  return std::fabs(r) < 0x1p-14f ? 0.0f : r;
}

// One weight of the Hugging Face layout: torch shape (outermost first) and
// row-major values.
struct HfTensor {
  std::string name;
  std::vector<int64_t> torch_shape;
  std::vector<float> values;
  std::vector<int64_t> sieve_shape() const { return {torch_shape.rbegin(), torch_shape.rend()}; }
};

// Each tensor draws from its own stream (seed and name), so adding a tensor
// never changes the others. value = offset + scale * U[-1, 1).
HfTensor random_tensor(const FixtureSpec& s, const std::string& name, std::vector<int64_t> shape, float scale,
                       float offset) {
  HfTensor t{name, std::move(shape), {}};
  int64_t n = 1;
  for (int64_t d : t.torch_shape) n *= d;
  Rng rng{s.seed ^ fnv1a64(name.data(), name.size())};
  t.values.resize(static_cast<size_t>(n));
  // In double the product is exact, so the result is the same whether or not
  // the compiler fuses the multiply-add (byte-identical files everywhere).
  for (float& v : t.values)
    v = exact_in_all_types(static_cast<float>(static_cast<double>(offset) + static_cast<double>(scale) * rng.uniform()));
  return t;
}

// The model in Hugging Face names and layout. Linear weights are uniform with
// unit output variance for unit input, so attention scores and logits are
// O(1): softmax stays far from one-hot and the top logits are well apart.
std::vector<HfTensor> hf_weights(const FixtureSpec& s) {
  std::vector<HfTensor> w;
  const float in_h = std::sqrt(3.0f / static_cast<float>(s.hidden));
  const int64_t q_dim = s.n_heads * s.head_dim, kv_dim = s.n_kv_heads * s.head_dim;
  w.push_back(random_tensor(s, "model.embed_tokens.weight", {s.vocab, s.hidden}, 1.0f, 0.0f));
  for (int64_t l = 0; l < s.n_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    w.push_back(random_tensor(s, p + "input_layernorm.weight", {s.hidden}, 0.25f, 1.0f));
    w.push_back(random_tensor(s, p + "self_attn.q_proj.weight", {q_dim, s.hidden}, in_h, 0.0f));
    w.push_back(random_tensor(s, p + "self_attn.k_proj.weight", {kv_dim, s.hidden}, in_h, 0.0f));
    w.push_back(random_tensor(s, p + "self_attn.v_proj.weight", {kv_dim, s.hidden}, in_h, 0.0f));
    if (s.qkv_bias) {
      w.push_back(random_tensor(s, p + "self_attn.q_proj.bias", {q_dim}, 0.5f, 0.0f));
      w.push_back(random_tensor(s, p + "self_attn.k_proj.bias", {kv_dim}, 0.5f, 0.0f));
      w.push_back(random_tensor(s, p + "self_attn.v_proj.bias", {kv_dim}, 0.5f, 0.0f));
    }
    if (s.qk_norm) {
      w.push_back(random_tensor(s, p + "self_attn.q_norm.weight", {s.head_dim}, 0.25f, 1.0f));
      w.push_back(random_tensor(s, p + "self_attn.k_norm.weight", {s.head_dim}, 0.25f, 1.0f));
    }
    w.push_back(random_tensor(s, p + "self_attn.o_proj.weight", {s.hidden, q_dim},
                              std::sqrt(3.0f / static_cast<float>(q_dim)), 0.0f));
    w.push_back(random_tensor(s, p + "post_attention_layernorm.weight", {s.hidden}, 0.25f, 1.0f));
    w.push_back(random_tensor(s, p + "mlp.gate_proj.weight", {s.ffn_hidden, s.hidden}, in_h, 0.0f));
    w.push_back(random_tensor(s, p + "mlp.up_proj.weight", {s.ffn_hidden, s.hidden}, in_h, 0.0f));
    w.push_back(random_tensor(s, p + "mlp.down_proj.weight", {s.hidden, s.ffn_hidden},
                              std::sqrt(3.0f / static_cast<float>(s.ffn_hidden)), 0.0f));
  }
  w.push_back(random_tensor(s, "model.norm.weight", {s.hidden}, 0.25f, 1.0f));
  if (!s.tied) w.push_back(random_tensor(s, "lm_head.weight", {s.vocab, s.hidden}, 2.0f * in_h, 0.0f));
  if (s.edit)
    for (HfTensor& t : w) s.edit(t.name, t.values);
  return w;
}

// llama.cpp's LlamaModel.permute: within each head, output rows (i, i + d/2)
// of the rotate-half layout become rows (2i, 2i + 1), so that GGUF llama
// files rotate adjacent pairs. Applies to weight rows and bias entries alike.
std::vector<float> permute_rows(const std::vector<float>& src, int64_t n_rows, int64_t row_len, int64_t n_head) {
  std::vector<float> dst(src.size());
  const int64_t hd = n_rows / n_head;
  for (int64_t h = 0; h < n_head; ++h)
    for (int64_t i = 0; i < hd / 2; ++i)
      for (int64_t j = 0; j < 2; ++j) {
        const float* from = src.data() + (h * hd + j * hd / 2 + i) * row_len;
        std::copy(from, from + row_len, dst.data() + (h * hd + 2 * i + j) * row_len);
      }
  return dst;
}

// HF name -> GGUF name (the subset these fixtures use).
std::string gguf_name(const std::string& hf) {
  if (hf == "model.embed_tokens.weight") return "token_embd.weight";
  if (hf == "model.norm.weight") return "output_norm.weight";
  if (hf == "lm_head.weight") return "output.weight";
  static const std::pair<const char*, const char*> roles[] = {
      {"input_layernorm.weight", "attn_norm.weight"}, {"self_attn.q_proj.weight", "attn_q.weight"},
      {"self_attn.k_proj.weight", "attn_k.weight"}, {"self_attn.v_proj.weight", "attn_v.weight"},
      {"self_attn.o_proj.weight", "attn_output.weight"}, {"self_attn.q_proj.bias", "attn_q.bias"},
      {"self_attn.k_proj.bias", "attn_k.bias"}, {"self_attn.v_proj.bias", "attn_v.bias"},
      {"self_attn.q_norm.weight", "attn_q_norm.weight"}, {"self_attn.k_norm.weight", "attn_k_norm.weight"},
      {"post_attention_layernorm.weight", "ffn_norm.weight"}, {"mlp.gate_proj.weight", "ffn_gate.weight"},
      {"mlp.up_proj.weight", "ffn_up.weight"}, {"mlp.down_proj.weight", "ffn_down.weight"}};
  const std::string prefix = "model.layers.";
  const size_t dot = hf.find('.', prefix.size());
  const std::string layer = hf.substr(prefix.size(), dot - prefix.size()), role = hf.substr(dot + 1);
  for (const auto& [from, to] : roles)
    if (role == from) return "blk." + layer + "." + to;
  throw Error("fixture: no GGUF name for '" + hf + "'");
}

// The rope_freqs.weight convert_hf_to_gguf.py's LlamaModel.generate_extra_tensors
// writes for rope_type llama3: per-frequency divisors of the angle (1 for
// short wavelengths, the factor for long ones, interpolated between). The
// converter computes in float32; this computes in double and rounds once,
// which can differ from it in the last bit but does not depend on the
// platform's float pow.
std::vector<float> llama3_rope_freqs(const FixtureSpec& s) {
  std::vector<float> out;
  const double low_wavelen = static_cast<double>(s.original_context) / s.low_freq_factor;
  const double high_wavelen = static_cast<double>(s.original_context) / s.high_freq_factor;
  for (int64_t i = 0; i < s.head_dim; i += 2) {
    const double freq = 1.0 / std::pow(s.rope_theta, static_cast<double>(i) / static_cast<double>(s.head_dim));
    const double wavelen = 2 * M_PI / freq;
    if (wavelen < high_wavelen) out.push_back(1.0f);
    else if (wavelen > low_wavelen) out.push_back(static_cast<float>(s.rope_factor));
    else {
      const double smooth = (static_cast<double>(s.original_context) / wavelen - s.low_freq_factor) /
                            (s.high_freq_factor - s.low_freq_factor);
      out.push_back(static_cast<float>(1.0 / ((1 - smooth) / s.rope_factor + smooth)));
    }
  }
  return out;
}

void copy_into(const fs::path& from, const fs::path& to) {
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
}

}  // namespace

const std::vector<FixtureSpec>& all_fixtures() {
  static const std::vector<FixtureSpec> specs = make_specs();
  return specs;
}

const FixtureSpec& fixture(const std::string& name) {
  for (const FixtureSpec& s : all_fixtures())
    if (s.name == name) return s;
  throw Error("no fixture named '" + name + "'");
}

const std::vector<int32_t>& fixture_tokens() {
  // BOS, byte-fallback tokens, ordinary pieces and the last id of the vocabulary.
  static const std::vector<int32_t> ids = {1, 415, 2936, 3, 7088, 259, 1331, 8191, 42, 5120, 977, 6401};
  return ids;
}

void write_gguf(const FixtureSpec& s, const std::string& tokenizer_dir, const std::string& path) {
  GgufWriter w;
  const std::string a = s.gguf_arch + ".";
  namespace gv = gguf_value;
  w.set("general.architecture", gv::string(s.gguf_arch));
  w.set("general.name", gv::string("sieve-fixture-" + s.name));
  w.set(a + "block_count", gv::u32(static_cast<uint32_t>(s.n_layers)));
  w.set(a + "context_length", gv::u32(static_cast<uint32_t>(s.max_context)));
  w.set(a + "embedding_length", gv::u32(static_cast<uint32_t>(s.hidden)));
  w.set(a + "feed_forward_length", gv::u32(static_cast<uint32_t>(s.ffn_hidden)));
  w.set(a + "attention.head_count", gv::u32(static_cast<uint32_t>(s.n_heads)));
  w.set(a + "attention.head_count_kv", gv::u32(static_cast<uint32_t>(s.n_kv_heads)));
  w.set(a + "rope.freq_base", gv::f32(static_cast<float>(s.rope_theta)));
  w.set(a + "attention.layer_norm_rms_epsilon", gv::f32(static_cast<float>(s.rms_eps)));
  if (s.head_dim_in_config) {
    w.set(a + "attention.key_length", gv::u32(static_cast<uint32_t>(s.head_dim)));
    w.set(a + "attention.value_length", gv::u32(static_cast<uint32_t>(s.head_dim)));
  }
  w.set("general.file_type", gv::u32(0));  // LLAMA_FTYPE_ALL_F32
  if (s.gguf_arch == "llama") {  // LlamaModel.set_gguf_parameters adds these
    w.set(a + "vocab_size", gv::u32(static_cast<uint32_t>(s.vocab)));
    w.set(a + "rope.dimension_count", gv::u32(static_cast<uint32_t>(s.head_dim)));
  }
  GgufFile tok((fs::path(tokenizer_dir) / "model-bf16.gguf").string());
  for (const auto& [key, value] : tok.metadata())
    if (key.rfind("tokenizer.", 0) == 0) w.set(key, value);

  const bool permute = s.gguf_arch == "llama" && s.permute_qk;
  for (const HfTensor& t : hf_weights(s)) {
    std::vector<float> values = t.values;
    const bool is_q = t.name.find("q_proj.") != std::string::npos, is_k = t.name.find("k_proj.") != std::string::npos;
    if (permute && (is_q || is_k)) {
      const int64_t rows = t.torch_shape[0], row_len = t.torch_shape.size() > 1 ? t.torch_shape[1] : 1;
      values = permute_rows(values, rows, row_len, is_q ? s.n_heads : s.n_kv_heads);
    }
    w.add_tensor_f32(gguf_name(t.name), t.sieve_shape(), values.data(), DType::F32);
  }
  if (s.llama3_rope && s.write_rope_freqs) {
    const std::vector<float> f = llama3_rope_freqs(s);
    w.add_tensor_f32("rope_freqs.weight", {static_cast<int64_t>(f.size())}, f.data(), DType::F32);
  }
  w.write(path);
}

void write_hf_folder(const FixtureSpec& s, const std::string& tokenizer_dir, const std::string& dir) {
  fs::create_directories(dir);
  const char* dtype_name = s.hf_dtype == DType::F32 ? "float32" : s.hf_dtype == DType::F16 ? "float16" : "bfloat16";
  nlohmann::ordered_json c;
  c["architectures"] = nlohmann::ordered_json::array({s.hf_class});
  c["model_type"] = s.hf_model_type;
  c["vocab_size"] = s.vocab;
  c["hidden_size"] = s.hidden;
  c["intermediate_size"] = s.ffn_hidden;
  c["num_hidden_layers"] = s.n_layers;
  c["num_attention_heads"] = s.n_heads;
  c["num_key_value_heads"] = s.n_kv_heads;
  if (s.head_dim_in_config) c["head_dim"] = s.head_dim;
  c["hidden_act"] = "silu";
  c["max_position_embeddings"] = s.max_context;
  c["rms_norm_eps"] = s.rms_eps;
  nlohmann::ordered_json rope = {{"rope_type", s.llama3_rope ? "llama3" : "default"}};
  if (s.llama3_rope) {
    rope["factor"] = s.rope_factor;
    rope["low_freq_factor"] = s.low_freq_factor;
    rope["high_freq_factor"] = s.high_freq_factor;
    rope["original_max_position_embeddings"] = s.original_context;
  }
  if (s.hf_rope_parameters) {
    rope["rope_theta"] = s.rope_theta;
    c["rope_parameters"] = rope;
  } else {
    c["rope_theta"] = s.rope_theta;
    c["rope_scaling"] = s.llama3_rope ? rope : nlohmann::ordered_json(nullptr);
  }
  if (s.hf_model_type == "mistral") c["sliding_window"] = nullptr;  // full attention
  if (s.hf_model_type == "qwen2" || s.hf_model_type == "qwen3") {
    c["use_sliding_window"] = false;
    c["sliding_window"] = s.max_context;
  }
  if (s.hf_model_type == "llama" || s.hf_model_type == "qwen3") c["attention_bias"] = false;
  c["tie_word_embeddings"] = s.tied;
  c["bos_token_id"] = 1;
  c["eos_token_id"] = 2;
  c["torch_dtype"] = dtype_name;
  std::ofstream(fs::path(dir) / "config.json") << c.dump(2) << "\n";

  SafetensorsWriter st;
  st.set_metadata("format", "pt");
  for (const HfTensor& t : hf_weights(s)) st.add_tensor_f32(t.name, t.sieve_shape(), t.values.data(), s.hf_dtype);
  st.write((fs::path(dir) / "model.safetensors").string());
  copy_into(fs::path(tokenizer_dir) / "tokenizer.model", fs::path(dir) / "tokenizer.model");
  copy_into(fs::path(tokenizer_dir) / "tokenizer_config.json", fs::path(dir) / "tokenizer_config.json");
}

FixturePaths write_fixture(const FixtureSpec& s, const std::string& tokenizer_dir, const std::string& dir) {
  fs::create_directories(dir);
  FixturePaths p{(fs::path(dir) / (s.name + ".gguf")).string(), (fs::path(dir) / (s.name + "-hf")).string()};
  write_gguf(s, tokenizer_dir, p.gguf);
  write_hf_folder(s, tokenizer_dir, p.hf_dir);
  return p;
}

std::string fnv1a64_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read '" + path + "'");
  uint64_t h = 0xcbf29ce484222325ull;
  std::vector<char> buf(1 << 16);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    h = fnv1a64(buf.data(), static_cast<size_t>(in.gcount()), h);
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

}  // namespace sieve::fixtures
