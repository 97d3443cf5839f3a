// sieve inspect: a model's attention made visible (attention maps, sinks,
// dormant heads, head patterns, layer redundancy), as pictures, JSON and a
// short summary.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/haystack.h"
#include "cli/layer_drop_option.h"
#include "cli/prompt_input.h"
#include "eval/prompts.h"
#include "inspect/inspect_prompt.h"
#include "inspect/layer_redundancy.h"
#include "inspect/pictures.h"
#include "inspect/report.h"
#include "util/error.h"
#include "util/text_file.h"

namespace sieve::cli {

int inspect_command(int argc, char** argv) {
  std::string model_path, out_dir, json_path, haystack_path, task = "haystack", layers_text, heads_text;
  std::string calibration = "8x2048";
  PromptInput input;
  int64_t length = 4096, threads = std::max(1u, std::thread::hardware_concurrency());
  uint64_t seed = 0;
  bool json_out = false, no_patterns = false, with_maps = false;
  inspect::InspectOptions o;
  Args args("sieve inspect -m MODEL [-p TEXT | --file F | --length N] [-o DIR] [--json]",
            "Measures a model's attention on one prompt and shows it: attention maps per layer and head, attention\n"
            "sinks (the first tokens and later ones), dormant heads, value-state drains and residual-state peaks,\n"
            "MInference's head patterns, and layer redundancy over a calibration set (What Matters in\n"
            "Transformers' ranking, which --drop-attn-layers uses). Pictures (SVG) go to -o DIR; a summary to stdout.");
  args.option("-m,--model", "PATH", "model: a .gguf file or a Hugging Face folder", &model_path);
  args.option("-p,--prompt", "TEXT", "the prompt to inspect (BOS added)", &input.text);
  args.option("--file", "FILE", "read the prompt from a file", &input.file);
  args.option("--length", "N", "without a prompt: a haystack sample of N tokens (default 4096)", &length);
  args.option("--task", "NAME", "without a prompt: haystack (default), passkey, niah or niah-multikey (a needle at 50%)",
              &task);
  args.option("--seed", "S", "seed of the haystack sample or task prompt (default 0)", &seed);
  args.option("-o,--output", "DIR", "write the pictures (SVG) into DIR", &out_dir);
  args.flag("--json", "print the findings as JSON instead of the summary", &json_out);
  args.option("--json-file", "FILE", "also write the findings as JSON to FILE", &json_path);
  args.flag("--maps-in-json", "include every pooled map in the JSON", &with_maps);
  args.option("--layers", "LIST", "layers drawn in maps.svg (default all)", &layers_text);
  args.option("--heads", "LIST", "heads drawn in maps.svg (default all)", &heads_text);
  args.option("--block", "B", "tokens per map pixel (default: the prompt's length / 128, at least 1)", &o.block);
  args.option("--sink-threshold", "A", "mean attention above which a key is a sink (default 0.1, ACT's)",
              &o.sink_threshold);
  args.option("--dormant-mass", "M", "dormant: attention on the first 4 tokens at least M (default 0.9) ...",
              &o.dormant_mass);
  args.option("--dormant-output", "R", "... and output norm at most R x the layer's mean head (default 0.5)",
              &o.dormant_output);
  args.option("--pattern-budget", "B", "keys per query of MInference's pattern candidates (default 1024)",
              &o.pattern_budget);
  args.flag("--no-patterns", "skip MInference's pattern search", &no_patterns);
  args.option("--calibration", "SAMPLESxLENGTH",
              "layer redundancy's calibration set: haystack windows (default 8x2048; 0x0: none)", &calibration);
  args.option("--haystack", "FILE", "haystack text (default: the data/haystack.txt that ships with sieve)", &haystack_path);
  args.option("-t,--threads", "N", "threads (default: all cores)", &threads);
  if (!args.parse(argc, argv)) return 0;
  if (model_path.empty()) throw Error("no model: give -m PATH");
  if (threads < 1 || threads > 1024) throw Error("--threads must be between 1 and 1024");
  if (!(o.sink_threshold > 0 && o.sink_threshold < 1)) throw Error("--sink-threshold must be in (0, 1)");
  if (o.pattern_budget < 64) throw Error("--pattern-budget must be at least 64 keys per query");
  int64_t cal_samples = 0, cal_length = 0;
  if (std::sscanf(calibration.c_str(), "%ldx%ld", &cal_samples, &cal_length) != 2 || cal_samples < 0 ||
      (cal_samples > 0 && cal_length < 16))
    throw Error("--calibration must be SAMPLESxLENGTH, e.g. 8x2048, or 0x0 (got '" + calibration + "')");
  o.patterns = !no_patterns;

  auto model = Model::load(model_path);
  const ModelConfig& c = model->config();
  // The haystack is read only when a sample or the calibration set needs it.
  const bool own_prompt = !input.text.empty() || !input.file.empty();
  const std::string haystack = own_prompt && cal_samples == 0
                                   ? std::string()
                                   : read_text_file(haystack_path.empty() ? default_haystack() : haystack_path);
  std::vector<int32_t> tokens, hay;  // hay: the tokenized haystack, once, when a sample or the calibration reads it
  if (own_prompt) {
    tokens = input.tokens(model->tokenizer(), c.vocab_size);
  } else if (task == "haystack") {
    if (length < 16) throw Error("--length must be at least 16 tokens");
    hay = model->tokenizer().encode(haystack, false);
    tokens = inspect::haystack_windows(hay, model->tokenizer().bos_id(), 1, length)[0];
  } else {
    const eval::Task t = eval::parse_task(task);
    if (!eval::is_retrieval(t)) throw Error("--task must be haystack, passkey, niah or niah-multikey");
    tokens = eval::PromptBuilder(model->tokenizer(), haystack).build(t, seed, length, 50, 0).tokens;
  }
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (c.max_context > 0 && n > c.max_context)
    throw Error("the prompt holds " + std::to_string(n) + " tokens, past the model's trained context of " +
                std::to_string(c.max_context));
  if (!args.given("--block")) o.block = std::max<int64_t>(1, n / 128);
  if (o.block < 1) throw Error("--block must be at least 1");
  if (o.patterns && n < 2 * o.pattern_budget) {
    std::fprintf(stderr, "sieve inspect: the prompt is shorter than twice --pattern-budget; no pattern search\n");
    o.patterns = false;
  }

  ThreadPool pool(static_cast<int>(threads));
  Transformer tf(*model, pool);
  const auto t0 = std::chrono::steady_clock::now();
  const inspect::InspectReport report = inspect::inspect_prompt(tf, tokens, o);
  std::unique_ptr<inspect::Redundancy> redundancy;
  if (cal_samples > 0) {
    if (hay.empty()) hay = model->tokenizer().encode(haystack, false);
    redundancy = std::make_unique<inspect::Redundancy>(inspect::measure_redundancy(
        tf, inspect::haystack_windows(hay, model->tokenizer().bos_id(), cal_samples, cal_length)));
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  if (!out_dir.empty()) {
    std::vector<int64_t> layers, heads;
    for (int64_t l : layers_text.empty() ? std::vector<int64_t>{} : parse_int_list(layers_text, "--layers")) {
      if (l < 0 || l >= c.n_layers) throw Error("--layers: the model has layers 0-" + std::to_string(c.n_layers - 1));
      layers.push_back(l);
    }
    for (int64_t h : heads_text.empty() ? std::vector<int64_t>{} : parse_int_list(heads_text, "--heads")) {
      if (h < 0 || h >= c.n_heads) throw Error("--heads: the model has heads 0-" + std::to_string(c.n_heads - 1));
      heads.push_back(h);
    }
    for (const std::string& f : inspect::write_pictures(report, redundancy.get(), out_dir, layers, heads))
      std::fprintf(stderr, "sieve inspect: wrote %s\n", f.c_str());
  }
  const nlohmann::json j = inspect::report_json(report, redundancy.get(), with_maps);
  if (!json_path.empty()) {
    std::ofstream f(json_path);
    f << j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    if (!f) throw Error("cannot write '" + json_path + "'");
  }
  if (json_out) {
    std::puts(j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    std::printf("sieve inspect: %s, %s (%.1f s)\n", model_path.c_str(), c.summary().c_str(), seconds);
    std::fputs(inspect::report_summary(report, redundancy.get()).c_str(), stdout);
  }
  return 0;
}

}  // namespace sieve::cli
