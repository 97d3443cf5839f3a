// sieve minference-search: MInference's offline pattern search on a model,
// writing the pattern file that `minference:config=FILE` loads.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/haystack.h"
#include "eval/minference_search.h"
#include "eval/prompts.h"
#include "util/error.h"
#include "util/text_file.h"

namespace sieve::cli {
namespace {

using json = nlohmann::json;

json candidates_json(const eval::MInferenceSearch& s) {
  json layers = json::array();
  for (const auto& layer : s.layers) {
    json heads = json::array();
    for (const HeadSearchResult& h : layer) {
      json cands = json::array();
      for (const PatternCandidate& c : h.candidates)
        cands.push_back({{"pattern", head_pattern_name(c.choice.pattern)}, {"vertical", c.choice.vertical},
                         {"slash", c.choice.slash}, {"topk", c.choice.topk}, {"keys_per_query", c.keys_per_query},
                         {"recall", c.choice.recall}, {"error", c.choice.error}});
      heads.push_back({{"best", h.best.describe()}, {"candidates", cands}});
    }
    layers.push_back(heads);
  }
  return layers;
}

}  // namespace

int minference_search_command(int argc, char** argv) {
  std::string model_path, out_path, candidates_path, haystack_path, task = "niah-multikey", cache_type = "f16";
  int64_t length = 0, budget = 2048, threads = std::max(1u, std::thread::hardware_concurrency());
  uint64_t seed = 0;
  double min_recall = 0;
  Args args("sieve minference-search -m MODEL -o FILE [--length N] [--budget B]",
            "MInference's kernel-aware pattern search: each head's pattern (A-shape, Vertical-Slash or Block-Sparse)\n"
            "at a budget of keys per query, chosen on a calibration prompt by how closely its output matches dense\n"
            "attention. Writes the file `--attn minference:config=FILE` loads; a summary per layer on stdout.");
  args.option("-m,--model", "PATH", "model: a .gguf file or a Hugging Face folder", &model_path);
  args.option("-o,--output", "FILE", "the pattern file to write", &out_path);
  args.option("--length", "N", "calibration prompt length in tokens (default: the model's trained context)", &length);
  args.option("--budget", "B", "keys each query reads, the cost every candidate is sized to (default 2048)", &budget);
  args.option("--task", "NAME", "calibration prompt: passkey, niah or niah-multikey (default niah-multikey)", &task);
  args.option("--seed", "S", "seed of the calibration prompt (default 0)", &seed);
  args.option("--min-recall", "R", "heads whose best pattern keeps less of their attention mass stay dense (default 0)",
              &min_recall);
  args.option("--candidates", "FILE", "also write every candidate's scores per head (JSON)", &candidates_path);
  args.option("--haystack", "FILE", "haystack text (default: the data/haystack.txt that ships with sieve)", &haystack_path);
  args.option("--cache-type", "T", "KV cache element type: f32, f16, bf16, q8_0 (default f16)", &cache_type);
  args.option("-t,--threads", "N", "threads (default: all cores)", &threads);
  if (!args.parse(argc, argv)) return 0;
  if (model_path.empty()) throw Error("no model: give -m PATH");
  if (out_path.empty()) throw Error("no output: give -o FILE");
  if (threads < 1 || threads > 1024) throw Error("--threads must be between 1 and 1024");
  if (budget < 64) throw Error("--budget must be at least 64 keys per query");
  if (!(min_recall >= 0 && min_recall <= 1)) throw Error("--min-recall must be in [0, 1]");
  const eval::Task t = eval::parse_task(task);
  if (!eval::is_retrieval(t)) throw Error("--task must be passkey, niah or niah-multikey");
  const KvType kv = kv_type_from_name(cache_type);
  auto model = Model::load(model_path);
  const ModelConfig& c = model->config();
  if (length == 0) length = c.max_context > 0 ? c.max_context : 8192;
  if (length < 2 * budget) throw Error("--length must be at least twice --budget (the search needs keys to skip)");
  const std::string haystack = read_text_file(haystack_path.empty() ? default_haystack() : haystack_path);
  eval::PromptBuilder builder(model->tokenizer(), haystack);
  const eval::Prompt prompt = builder.build(t, seed, length, 50, 0);

  ThreadPool pool(static_cast<int>(threads));
  Transformer tf(*model, pool);
  PatternSearchOptions o;
  o.budget = budget;
  o.min_recall = min_recall;
  const auto t0 = std::chrono::steady_clock::now();
  eval::MInferenceSearch s = eval::run_minference_search(tf, prompt.tokens, kv, o, [&](int64_t layer) {
    std::fprintf(stderr, "\rsieve minference-search: layer %lld of %lld searched", (long long)layer + 1,
                 (long long)c.attention_layers());
  });
  std::fprintf(stderr, "\n");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  s.config.search_json = json({{"model", model_path}, {"task", task}, {"seed", seed}, {"length", length},
                               {"budget", budget}, {"min_recall", min_recall}, {"cache_type", cache_type},
                               {"objective", "output error against dense attention (relative L2), lowest"}})
                             .dump();
  s.config.save(out_path);
  if (!candidates_path.empty()) {
    std::ofstream f(candidates_path);
    f << candidates_json(s).dump(1) << "\n";
    if (!f) throw Error("cannot write '" + candidates_path + "'");
  }
  std::printf("pattern search: %s, %s prompt of %lld tokens, budget %lld keys per query, %.0f s\n\n", model_path.c_str(),
              task.c_str(), (long long)length, (long long)budget, seconds);
  for (int64_t l = 0; l < c.attention_layers(); ++l) {
    std::printf("layer %2lld:", (long long)l);
    for (const HeadPatternChoice& h : s.config.layers[l]) std::printf(" %-14s", h.describe().c_str());
    std::printf("\n         ");
    for (const HeadPatternChoice& h : s.config.layers[l])
      std::printf(" r%.2f e%.3f  ", h.recall, h.error);
    std::printf("\n");
  }
  std::fprintf(stderr, "sieve minference-search: wrote %s\n", out_path.c_str());
  return 0;
}

}  // namespace sieve::cli
