#include "cli/layer_drop_option.h"

#include <cstdio>

#include "cli/haystack.h"
#include "inspect/layer_redundancy.h"
#include "kernels/thread_pool.h"
#include "runtime/transformer.h"
#include "util/error.h"
#include "util/text_file.h"

namespace sieve::cli {
namespace {

bool is_count(const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos; }

std::string joined(const std::vector<int64_t>& layers) {
  std::string s;
  for (int64_t l : layers) s += (s.empty() ? "" : ",") + std::to_string(l);
  return s.empty() ? "none" : s;
}

}  // namespace

void LayerDropOption::add_to(Args& args) {
  args.option("--drop-attn-layers", "N|LIST",
              "remove attention blocks (What Matters in Transformers): a number N drops the N most redundant on a "
              "calibration set; a list names the layers, e.g. 5,6 (one layer: --drop-layers attn:5); their KV cache "
              "is never allocated",
              &attention);
  args.option("--drop-layers", "N|LIST",
              "joint layer drop: the N most redundant of all attention and MLP blocks, or attn:5,6 / mlp:7 "
              "(separate with ';')",
              &joint);
  args.option("--drop-calibration", "SAMPLESxLENGTH",
              "calibration set that ranks the blocks for a number to drop: haystack windows (default 8x2048)",
              &calibration);
}

nlohmann::json dropped_blocks_json(const ModelConfig& c) {
  nlohmann::json attention = nlohmann::json::array(), mlp = nlohmann::json::array();
  for (int64_t l = 0; l < c.n_layers; ++l) {
    if (!c.attention_kept(l)) attention.push_back(l);
    if (!c.mlp_kept(l)) mlp.push_back(l);
  }
  return {{"attention", attention}, {"mlp", mlp}};
}

void LayerDropOption::apply(Model& model, int64_t threads) const {
  if (!given()) return;
  std::vector<int64_t> attention_layers, mlp_layers;
  const bool count = is_count(attention) || is_count(joint);
  if (!attention.empty() && !joint.empty() && count)
    throw Error("give a number of blocks to drop to one of --drop-attn-layers and --drop-layers");
  if (count) {
    ThreadPool pool(static_cast<int>(threads));
    Transformer tf(model, pool);
    const std::string text = read_text_file(haystack.empty() ? default_haystack() : haystack);
    int64_t n_samples = 0, length = 0;
    if (std::sscanf(calibration.c_str(), "%ldx%ld", &n_samples, &length) != 2 || n_samples < 1 || length < 16)
      throw Error("--drop-calibration must be SAMPLESxLENGTH, e.g. 8x2048 (got '" + calibration + "')");
    const auto samples =
        inspect::haystack_windows(model.tokenizer().encode(text, false), model.tokenizer().bos_id(), n_samples, length);
    const inspect::Redundancy r = inspect::measure_redundancy(tf, samples);
    const bool is_joint = is_count(joint);
    const inspect::DropChoice d = inspect::choose_drop(r, std::stoll(is_joint ? joint : attention), is_joint);
    attention_layers = d.attention;
    mlp_layers = d.mlp;
  } else {
    if (!attention.empty()) attention_layers = parse_int_list(attention, "--drop-attn-layers");
    size_t start = 0;
    while (start < joint.size()) {
      const size_t end = std::min(joint.find(';', start), joint.size());
      const std::string part = joint.substr(start, end - start);
      if (part.rfind("attn:", 0) == 0) {
        for (int64_t l : parse_int_list(part.substr(5), "--drop-layers attn:")) attention_layers.push_back(l);
      } else if (part.rfind("mlp:", 0) == 0) {
        for (int64_t l : parse_int_list(part.substr(4), "--drop-layers mlp:")) mlp_layers.push_back(l);
      } else {
        throw Error("--drop-layers: '" + part + "' is neither a number nor attn:LIST or mlp:LIST");
      }
      start = end + 1;
    }
  }
  model.drop_blocks(attention_layers, mlp_layers);
  std::fprintf(stderr, "sieve: dropped attention blocks %s, MLP blocks %s%s\n", joined(attention_layers).c_str(),
               joined(mlp_layers).c_str(),
               count ? " (the most redundant on the calibration set)" : "");
}

}  // namespace sieve::cli
