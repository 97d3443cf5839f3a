#pragma once
// Tiny random-weight models of the architectures sieve runs but ships no
// model for (Qwen2, Qwen3, Mistral, Llama 3.1 with llama3 rope scaling),
// written both as GGUF (as llama.cpp's convert_hf_to_gguf.py lays it out:
// Q/K rows permuted for llama-layout archs, rope_freqs.weight for llama3
// scaling, everything F32) and as a Hugging Face folder (config.json +
// model.safetensors + the test model's SentencePiece tokenizer).
//
// Generation is deterministic from each spec's seed (own PRNG, no std
// distributions) and byte-identical across runs and machines, so numbers
// computed once with llama.cpp on these files stay valid
// (tests/data/fixtures/llamacpp-<name>.json, tools/fixtures/README.md).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "format/dtype.h"

namespace sieve::fixtures {

struct FixtureSpec {
  std::string name;           // "qwen2", "qwen3", "mistral", "llama3"
  std::string gguf_arch;      // general.architecture: llama, qwen2, qwen3
  std::string hf_class;       // config.json architectures[0]
  std::string hf_model_type;  // config.json model_type
  int64_t vocab = 8192;       // the test model's tokenizer
  int64_t hidden = 64, n_layers = 2, n_heads = 4, n_kv_heads = 2, head_dim = 16, ffn_hidden = 128;
  int64_t max_context = 2048;
  double rms_eps = 1e-6, rope_theta = 10000.0;
  bool qkv_bias = false;       // Qwen2
  bool qk_norm = false;        // Qwen3
  bool tied = true;            // no separate output matrix
  bool head_dim_in_config = false;  // write head_dim / attention.key_length explicitly
  bool llama3_rope = false;
  double rope_factor = 8.0, low_freq_factor = 1.0, high_freq_factor = 4.0;
  int64_t original_context = 8192;
  DType hf_dtype = DType::BF16;  // safetensors storage; GGUF is always F32
  // config.json as transformers >= 5 writes it: rope_parameters (with
  // rope_theta inside) in place of rope_theta + rope_scaling.
  bool hf_rope_parameters = false;
  uint64_t seed = 0;
  // Deliberately wrong GGUF variants, to show the GGUF/HF comparison would
  // catch a missing permutation or a missing rope_freqs tensor.
  bool permute_qk = true;
  bool write_rope_freqs = true;
  // Hand-built weights: called on every tensor after it is drawn, with its
  // Hugging Face name and its values in torch's row-major layout.
  std::function<void(const std::string& name, std::vector<float>& values)> edit;
};

const std::vector<FixtureSpec>& all_fixtures();
const FixtureSpec& fixture(const std::string& name);
// The token ids every fixture is evaluated on (all < 8192).
const std::vector<int32_t>& fixture_tokens();

// tokenizer_dir: the test model folder (models/sieve-test-27m), whose GGUF
// tokenizer metadata and tokenizer.model the fixtures borrow.
void write_gguf(const FixtureSpec& spec, const std::string& tokenizer_dir, const std::string& path);
void write_hf_folder(const FixtureSpec& spec, const std::string& tokenizer_dir, const std::string& dir);

struct FixturePaths {
  std::string gguf, hf_dir;
};
// Writes <dir>/<name>.gguf and <dir>/<name>-hf/.
FixturePaths write_fixture(const FixtureSpec& spec, const std::string& tokenizer_dir, const std::string& dir);

// FNV-1a (64 bit) of a file's bytes, as 16 hex digits: identifies the exact
// GGUF the committed llama.cpp numbers were computed on.
std::string fnv1a64_file(const std::string& path);

}  // namespace sieve::fixtures
