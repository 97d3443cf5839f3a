#include "support/hand_built_model.h"

#include <unistd.h>

#include <filesystem>

#include "support/fixture_models.h"
#include "test_paths.h"

namespace sieve::testing_support {
namespace {

constexpr int64_t kHidden = 64, kHeadDim = 16, kBosFlag = 0, kConstant = 1;
constexpr int32_t kBos = 1;

// w[row][col] of a torch [out, in] matrix with `in` columns.
float& at(std::vector<float>& w, int64_t row, int64_t col) { return w[static_cast<size_t>(row * kHidden + col)]; }

void edit(const std::string& name, std::vector<float>& w) {
  if (name == "model.embed_tokens.weight") {
    // Dimension 0 flags BOS, dimension 1 is 1 for every other token; the
    // rest stays small and random so values differ between tokens.
    for (int64_t t = 0; t * kHidden < static_cast<int64_t>(w.size()); ++t) {
      for (int64_t d = 2; d < kHidden; ++d) at(w, t, d) *= 0.1f;
      at(w, t, kBosFlag) = t == kBos ? 4.0f : 0.0f;
      at(w, t, kConstant) = t == kBos ? 0.0f : 1.0f;
    }
    return;
  }
  const std::string layer0 = "model.layers.0.", layer1 = "model.layers.1.";
  if (name == layer0 + "input_layernorm.weight") {
    std::fill(w.begin(), w.end(), 1.0f);
  } else if (name == layer0 + "self_attn.q_proj.weight") {
    std::fill(w.begin(), w.end(), 0.0f);
    at(w, kSinkHead * kHeadDim + 7, kConstant) = 1.5f;  // the slowest pair (7, 15)
    for (int64_t i = 0; i < kHeadDim / 2; ++i) at(w, kLocalHead * kHeadDim + i, kConstant) = 1.5f;
  } else if (name == layer0 + "self_attn.k_proj.weight") {
    std::fill(w.begin(), w.end(), 0.0f);
    at(w, 0 * kHeadDim + 7, kBosFlag) = 1.5f;  // KV head 0 serves the sink head
    for (int64_t i = 0; i < kHeadDim / 2; ++i) at(w, 1 * kHeadDim + i, kConstant) = 1.5f;  // KV head 1: local
  } else if (name == layer0 + "self_attn.v_proj.weight") {
    // KV head 0's values read the constant only, which BOS lacks: BOS's value is zero.
    for (int64_t r = 0; r < kHeadDim; ++r)
      for (int64_t d = 0; d < kHidden; ++d)
        if (d != kConstant) at(w, r, d) = 0.0f;
  } else if (name == layer1 + "self_attn.o_proj.weight" || name == layer1 + "mlp.down_proj.weight") {
    std::fill(w.begin(), w.end(), 0.0f);
  }
}

// The folder, removed when the test process ends.
struct Folder {
  std::string path;
  ~Folder() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

}  // namespace

std::string hand_built_model_dir() {
  static const Folder folder{[] {
    fixtures::FixtureSpec s;
    s.name = "hand-built";
    s.gguf_arch = "llama";
    s.hf_class = "LlamaForCausalLM";
    s.hf_model_type = "llama";
    s.hf_dtype = DType::F32;
    s.rope_theta = 10000.0;
    s.seed = 11;
    s.edit = edit;
    const auto path = std::filesystem::temp_directory_path() / ("sieve-hand-built-" + std::to_string(::getpid()));
    fixtures::write_hf_folder(s, test_model_dir(), path.string());
    return path.string();
  }()};
  return folder.path;
}

}  // namespace sieve::testing_support
