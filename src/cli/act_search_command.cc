// sieve act-search: ACT's head search on a model (eval/act_search.h),
// writing the head file `--attn POLICY+act:config=FILE` loads.
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "attention/modifiers/act.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/haystack.h"
#include "eval/act_search.h"
#include "util/error.h"
#include "util/text_file.h"

namespace sieve::cli {

int act_search_command(int argc, char** argv) {
  std::string model_path, out_path, haystack_path, tasks_text = "passkey,niah", cache_type = "f16", base = "full";
  int64_t length = 2048, samples = 8, threads = std::max(1u, std::thread::hardware_concurrency());
  uint64_t seed = 1000;
  double beta = 0.4, threshold = 0.1;
  Args args("sieve act-search -m MODEL -o FILE [--tasks passkey,niah] [--length 2048] [--samples 8]",
            "ACT's head search: each head of layers 2 to L-2 calibrated alone on retrieval prompts; the heads whose\n"
            "calibration loses no accuracy and lowers the answers' NLL are kept. Writes the file\n"
            "`--attn POLICY+act:config=FILE` loads; a line per head on stderr.");
  args.option("-m,--model", "PATH", "model: a .gguf file or a Hugging Face folder", &model_path);
  args.option("-o,--output", "FILE", "the head file to write", &out_path);
  args.option("--tasks", "LIST", "calibration tasks: passkey, niah, niah-multikey (default passkey,niah)", &tasks_text);
  args.option("--length", "N", "calibration prompt length in tokens (default 2048)", &length);
  args.option("--samples", "N", "prompts per task, needles at random depths (default 8)", &samples);
  args.option("--seed", "S", "seed of the calibration prompts (default 1000, apart from eval's 0)", &seed);
  args.option("--beta", "B", "share of a sink's attention kept (default 0.4)", &beta);
  args.option("--threshold", "A", "mean attention above which a key is a sink (default 0.1)", &threshold);
  args.option("--base", "SPEC", "the policy ACT wraps while searching (default full)", &base);
  args.option("--haystack", "FILE", "haystack text (default: the data/haystack.txt that ships with sieve)", &haystack_path);
  args.option("--cache-type", "T", "KV cache element type: f32, f16, bf16, q8_0 (default f16)", &cache_type);
  args.option("-t,--threads", "N", "threads (default: all cores)", &threads);
  if (!args.parse(argc, argv)) return 0;
  if (model_path.empty()) throw Error("no model: give -m PATH");
  if (out_path.empty()) throw Error("no output: give -o FILE");
  if (threads < 1 || threads > 1024) throw Error("--threads must be between 1 and 1024");
  if (samples < 1) throw Error("--samples must be at least 1");
  if (!(beta >= 0 && beta <= 1)) throw Error("--beta must be in [0, 1]");
  if (!(threshold > 0 && threshold < 1)) throw Error("--threshold must be in (0, 1)");
  const KvType kv = kv_type_from_name(cache_type);
  auto model = Model::load(model_path);
  make_policy(base, model->config());  // a bad base fails before any work
  const std::string haystack = read_text_file(haystack_path.empty() ? default_haystack() : haystack_path);
  eval::PromptBuilder builder(model->tokenizer(), haystack);
  std::vector<eval::Prompt> prompts;
  size_t start = 0;
  while (start <= tasks_text.size()) {
    const size_t end = std::min(tasks_text.find(',', start), tasks_text.size());
    const eval::Task t = eval::parse_task(tasks_text.substr(start, end - start));
    if (!eval::is_retrieval(t)) throw Error("--tasks: passkey, niah or niah-multikey");
    for (int64_t i = 0; i < samples; ++i) prompts.push_back(builder.build(t, seed, length, eval::kRandomDepth, i));
    start = end + 1;
  }

  ThreadPool pool(static_cast<int>(threads));
  Transformer tf(*model, pool);
  const auto t0 = std::chrono::steady_clock::now();
  const eval::ActSearch s = eval::run_act_search(tf, kv, base, beta, threshold, prompts, [&](const eval::ActHeadResult& h) {
    std::fprintf(stderr, "layer %lld head %lld: accuracy %.3f, answer NLL %.4f%s\n", (long long)h.layer, (long long)h.head,
                 h.score.accuracy(), h.score.nll, h.kept ? "  kept" : "");
  });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  nlohmann::json heads = nlohmann::json::array();
  for (const eval::ActHeadResult& h : s.heads)
    heads.push_back({{"layer", h.layer}, {"head", h.head}, {"accuracy", h.score.accuracy()}, {"nll", h.score.nll},
                     {"kept", h.kept}});
  const nlohmann::json search = {
      {"model", model_path}, {"tasks", tasks_text}, {"length", length}, {"samples", samples}, {"seed", seed},
      {"beta", beta}, {"threshold", threshold}, {"base", make_policy(base, model->config())->spec()},
      {"baseline", {{"accuracy", s.baseline.accuracy()}, {"nll", s.baseline.nll}}},
      {"rule", "kept: accuracy not below the baseline's and a lower mean answer NLL"}, {"candidates", heads}};
  save_act_heads(out_path, s.kept, search.dump());
  std::printf("ACT head search: %s, %zu prompts of %lld tokens, %.0f s\nbaseline (%s): accuracy %.3f, answer NLL %.4f\n"
              "kept %zu of %zu heads; wrote %s\n",
              model_path.c_str(), prompts.size(), (long long)length, seconds, base.c_str(), s.baseline.accuracy(),
              s.baseline.nll, s.kept.size(), s.heads.size(), out_path.c_str());
  return 0;
}

}  // namespace sieve::cli
