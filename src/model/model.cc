#include "model/model.h"

#include <filesystem>
#include <fstream>
#include <cmath>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "format/gguf.h"
#include "format/safetensors.h"
#include "kernels/matmul.h"
#include "util/error.h"
#include "util/text_file.h"

namespace sieve {
namespace fs = std::filesystem;

namespace {

// Looks tensors up by name and checks their shapes against the config.
class Binder {
 public:
  Binder(std::string source, std::function<const Tensor*(const std::string&)> find)
      : source_(std::move(source)), find_(std::move(find)) {}

  const Tensor* optional(const std::string& name, std::vector<int64_t> shape) {
    const Tensor* t = find_(name);
    if (!t) return nullptr;
    if (t->shape != shape) {
      Tensor want;
      want.shape = shape;
      throw Error(source_ + ": tensor '" + name + "' has shape " + t->shape_string() + ", expected " +
                  want.shape_string());
    }
    return t;
  }
  const Tensor* required(const std::string& name, std::vector<int64_t> shape) {
    const Tensor* t = optional(name, shape);
    if (!t) throw Error(source_ + ": missing tensor '" + name + "'");
    return t;
  }
  // Small vectors (norms, biases) are converted to float once at load.
  std::vector<float> vec(const std::string& name, int64_t n, bool required_ = true) {
    const Tensor* t = required_ ? required(name, {n}) : optional(name, {n});
    if (!t) return {};
    std::vector<float> v(n);
    kernels::dequantize_row(t->type, t->data, v.data(), n);
    return v;
  }

 private:
  std::string source_;
  std::function<const Tensor*(const std::string&)> find_;
};

// Tensor names for one layout: GGUF (llama.cpp names) or Hugging Face.
struct Names {
  std::string embd, output, output_norm;
  std::function<std::string(int, const char*)> layer;  // role -> name
};

Names gguf_names() {
  static const std::map<std::string, std::string> roles = {
      {"attn_norm", "attn_norm.weight"}, {"wq", "attn_q.weight"}, {"wk", "attn_k.weight"},
      {"wv", "attn_v.weight"}, {"wo", "attn_output.weight"}, {"q_bias", "attn_q.bias"},
      {"k_bias", "attn_k.bias"}, {"v_bias", "attn_v.bias"}, {"q_norm", "attn_q_norm.weight"},
      {"k_norm", "attn_k_norm.weight"}, {"ffn_norm", "ffn_norm.weight"}, {"w_gate", "ffn_gate.weight"},
      {"w_up", "ffn_up.weight"}, {"w_down", "ffn_down.weight"}};
  return {"token_embd.weight", "output.weight", "output_norm.weight",
          [](int l, const char* role) { return "blk." + std::to_string(l) + "." + roles.at(role); }};
}

Names hf_names() {
  static const std::map<std::string, std::string> roles = {
      {"attn_norm", "input_layernorm.weight"}, {"wq", "self_attn.q_proj.weight"},
      {"wk", "self_attn.k_proj.weight"}, {"wv", "self_attn.v_proj.weight"},
      {"wo", "self_attn.o_proj.weight"}, {"q_bias", "self_attn.q_proj.bias"},
      {"k_bias", "self_attn.k_proj.bias"}, {"v_bias", "self_attn.v_proj.bias"},
      {"q_norm", "self_attn.q_norm.weight"}, {"k_norm", "self_attn.k_norm.weight"},
      {"ffn_norm", "post_attention_layernorm.weight"}, {"w_gate", "mlp.gate_proj.weight"},
      {"w_up", "mlp.up_proj.weight"}, {"w_down", "mlp.down_proj.weight"}};
  return {"model.embed_tokens.weight", "lm_head.weight", "model.norm.weight",
          [](int l, const char* role) { return "model.layers." + std::to_string(l) + "." + roles.at(role); }};
}

ModelWeights bind_weights(const ModelConfig& c, const Names& n, Binder& b) {
  ModelWeights w;
  const int64_t q_dim = c.n_heads * c.head_dim, kv_dim = c.n_kv_heads * c.head_dim;
  w.token_embd = b.required(n.embd, {c.hidden, c.vocab_size});
  w.output = c.tied_embeddings ? w.token_embd : b.optional(n.output, {c.hidden, c.vocab_size});
  if (!w.output) w.output = w.token_embd;  // some files omit the output matrix when tied
  w.output_norm = b.vec(n.output_norm, c.hidden);
  for (int l = 0; l < c.n_layers; ++l) {
    LayerWeights L;
    L.attn_norm = b.vec(n.layer(l, "attn_norm"), c.hidden);
    L.ffn_norm = b.vec(n.layer(l, "ffn_norm"), c.hidden);
    L.wq = b.required(n.layer(l, "wq"), {c.hidden, q_dim});
    L.wk = b.required(n.layer(l, "wk"), {c.hidden, kv_dim});
    L.wv = b.required(n.layer(l, "wv"), {c.hidden, kv_dim});
    L.wo = b.required(n.layer(l, "wo"), {q_dim, c.hidden});
    L.w_gate = b.required(n.layer(l, "w_gate"), {c.hidden, c.ffn_hidden});
    L.w_up = b.required(n.layer(l, "w_up"), {c.hidden, c.ffn_hidden});
    L.w_down = b.required(n.layer(l, "w_down"), {c.ffn_hidden, c.hidden});
    if (c.qkv_bias) {
      L.q_bias = b.vec(n.layer(l, "q_bias"), q_dim);
      L.k_bias = b.vec(n.layer(l, "k_bias"), kv_dim);
      L.v_bias = b.vec(n.layer(l, "v_bias"), kv_dim);
    }
    if (c.qk_norm) {
      L.q_norm = b.vec(n.layer(l, "q_norm"), c.head_dim);
      L.k_norm = b.vec(n.layer(l, "k_norm"), c.head_dim);
    }
    w.layers.push_back(std::move(L));
  }
  return w;
}

// Llama 3.1 "llama3" rope scaling as per-frequency divisors of the angle:
// low frequencies (long wavelengths) are divided by the factor, high ones
// kept, and the band between smoothly interpolated.
std::vector<float> llama3_divisors(const ModelConfig& c) {
  std::vector<float> d(c.head_dim / 2);
  const double low_wavelen = c.rope_original_context / c.rope_low_freq_factor;
  const double high_wavelen = c.rope_original_context / c.rope_high_freq_factor;
  for (size_t i = 0; i < d.size(); ++i) {
    double freq = std::pow(c.rope_theta, -2.0 * static_cast<double>(i) / static_cast<double>(c.head_dim));
    double wavelen = 2 * M_PI / freq;
    if (wavelen < high_wavelen) d[i] = 1.0f;
    else if (wavelen > low_wavelen) d[i] = static_cast<float>(c.rope_factor);
    else {
      double smooth = (c.rope_original_context / wavelen - c.rope_low_freq_factor) /
                      (c.rope_high_freq_factor - c.rope_low_freq_factor);
      double scaled = (1 - smooth) * freq / c.rope_factor + smooth * freq;
      d[i] = static_cast<float>(freq / scaled);
    }
  }
  return d;
}

}  // namespace

Model::~Model() = default;

std::unique_ptr<Model> Model::load(const std::string& path) {
  std::unique_ptr<Model> m(new Model());
  m->path_ = path;
  std::error_code ec;
  if (fs::is_directory(path, ec)) m->load_hf(path);
  else if (fs::exists(path, ec)) m->load_gguf(path);
  else throw Error("model '" + path + "' not found (give a .gguf file or a Hugging Face folder)");
  if (m->tokenizer_->vocab_size() > m->config_.vocab_size)
    throw Error(path + ": tokenizer has " + std::to_string(m->tokenizer_->vocab_size()) +
                " tokens but the model only " + std::to_string(m->config_.vocab_size));
  return m;
}

void Model::load_gguf(const std::string& path) {
  gguf_ = std::make_unique<GgufFile>(path);
  config_ = config_from_gguf(*gguf_);
  Binder b(path, [&](const std::string& n) { return gguf_->find_tensor(n); });
  weights_ = bind_weights(config_, gguf_names(), b);
  if (config_.rope_scaling == RopeScaling::Linear)
    weights_.rope_freq_divisors.assign(config_.head_dim / 2, static_cast<float>(config_.rope_factor));
  if (b.optional("rope_freqs.weight", {config_.head_dim / 2}))
    weights_.rope_freq_divisors = b.vec("rope_freqs.weight", config_.head_dim / 2);
  tokenizer_ = Tokenizer::from_gguf(*gguf_);
  chat_templates_ = chat::ChatTemplates::from_gguf(*gguf_);
}

void Model::load_hf(const std::string& dir) {
  const fs::path d(dir);
  config_ = config_from_hf_json(read_text_file((d / "config.json").string()), (d / "config.json").string());
  std::vector<fs::path> files;
  if (fs::exists(d / "model.safetensors.index.json")) {
    nlohmann::json idx = nlohmann::json::parse(read_text_file((d / "model.safetensors.index.json").string()), nullptr, false);
    if (idx.is_discarded() || !idx.contains("weight_map") || !idx["weight_map"].is_object())
      throw Error((d / "model.safetensors.index.json").string() + ": no weight_map object");
    std::set<std::string> names;
    for (auto& [tensor, file] : idx["weight_map"].items()) {
      if (!file.is_string()) throw Error("model.safetensors.index.json: weight_map entry '" + tensor + "' is not a file name");
      std::string f = file.get<std::string>();
      if (f.find('/') != std::string::npos || f.find("..") != std::string::npos)
        throw Error("model.safetensors.index.json: shard name '" + f + "' must be a plain file name");
      names.insert(f);
    }
    for (const std::string& f : names) files.push_back(d / f);
  } else if (fs::exists(d / "model.safetensors")) {
    files.push_back(d / "model.safetensors");
  } else {
    throw Error(dir + ": no model.safetensors or model.safetensors.index.json");
  }
  std::map<std::string, const Tensor*> by_name;
  for (const fs::path& f : files) {
    shards_.push_back(std::make_unique<SafetensorsFile>(f.string()));
    for (const Tensor& t : shards_.back()->tensors())
      if (!by_name.emplace(t.name, &t).second) throw Error(dir + ": tensor '" + t.name + "' appears in two shards");
  }
  Binder b(dir, [&](const std::string& n) -> const Tensor* {
    auto it = by_name.find(n);
    return it == by_name.end() ? nullptr : it->second;
  });
  weights_ = bind_weights(config_, hf_names(), b);
  if (config_.rope_scaling == RopeScaling::Linear)
    weights_.rope_freq_divisors.assign(config_.head_dim / 2, static_cast<float>(config_.rope_factor));
  else if (config_.rope_scaling == RopeScaling::Llama3)
    weights_.rope_freq_divisors = llama3_divisors(config_);
  tokenizer_ = Tokenizer::from_hf_folder(dir);
  chat_templates_ = chat::ChatTemplates::from_hf_folder(dir);
}

size_t Model::weight_bytes_per_token() const {
  size_t n = weights_.token_embd->row_bytes() + weights_.output->nbytes;
  for (int64_t l = 0; l < config_.n_layers; ++l) {
    const LayerWeights& L = weights_.layers[static_cast<size_t>(l)];
    if (config_.attention_kept(l))
      for (const Tensor* t : {L.wq, L.wk, L.wv, L.wo}) n += t->nbytes;
    if (config_.mlp_kept(l))
      for (const Tensor* t : {L.w_gate, L.w_up, L.w_down}) n += t->nbytes;
  }
  return n;
}

void Model::drop_blocks(const std::vector<int64_t>& attention_layers, const std::vector<int64_t>& mlp_layers) {
  ModelConfig c = config_;
  const auto mark = [&](const std::vector<int64_t>& layers, std::vector<bool>& dropped, const char* what) {
    if (dropped.empty()) dropped.assign(static_cast<size_t>(c.n_layers), false);
    for (int64_t l : layers) {
      if (l < 0 || l >= c.n_layers)
        throw Error(std::string("cannot drop the ") + what + " of layer " + std::to_string(l) + ": the model has " +
                    std::to_string(c.n_layers) + " layers (0-" + std::to_string(c.n_layers - 1) + ")");
      dropped[static_cast<size_t>(l)] = true;
    }
  };
  mark(attention_layers, c.attention_dropped, "attention");
  mark(mlp_layers, c.mlp_dropped, "MLP");
  if (c.attention_layers() == 0) throw Error("cannot drop every attention block: at least one must remain");
  config_ = std::move(c);
}

}  // namespace sieve
