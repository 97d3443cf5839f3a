// sieve eval: retrieval accuracy and perplexity as EVALUATION.md defines
// them, comparing attention policies on identical prompts. A table (or JSON)
// on stdout, SVG pictures in --out-dir, progress and file paths on stderr.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "attention/policy.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/haystack.h"
#include "cli/layer_drop_option.h"
#include "cli/prompt_input.h"
#include "eval/perplexity.h"
#include "eval/progress.h"
#include "eval/retrieval.h"
#include "eval/svg.h"
#include "runtime/memory_budget.h"
#include "util/error.h"
#include "util/text_file.h"

namespace sieve::cli {
namespace {

using namespace sieve::eval;
using json = nlohmann::json;

struct EvalSetup {
  Task task = Task::Passkey;
  std::string model_path, model_name, out_dir = ".", cache_type = "f16";
  uint64_t seed = 0;
  std::vector<std::string> policies;  // as given
  std::string rope, rope_canonical = "none";  // RoPE context extension, as given and canonical
  bool json = false, plots = true, log_x = false;
};

std::string slug(const std::string& spec) {
  std::string s;
  for (char c : spec) s += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return s;
}

void write_svg(const EvalSetup& e, const std::string& name, const std::string& svg) {
  std::filesystem::create_directories(e.out_dir);
  const std::string path = (std::filesystem::path(e.out_dir) / name).string();
  std::ofstream out(path, std::ios::binary);
  out << svg;
  if (!out.flush()) throw Error("cannot write " + path);
  std::fprintf(stderr, "sieve eval: wrote %s\n", path.c_str());
}

// ", rope yarn:factor=4,..." after a policy's name, nothing for the model's own RoPE.
std::string rope_label(const EvalSetup& e) { return e.rope_canonical == "none" ? "" : ", rope " + e.rope_canonical; }
std::string rope_slug(const EvalSetup& e) { return e.rope_canonical == "none" ? "" : "-rope-" + slug(e.rope_canonical); }

std::string mb(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f MB", bytes / 1e6);
  return buf;
}

json segments_json(const std::vector<PplSegment>& segs) {
  json a = json::array();
  for (const PplSegment& s : segs)
    a.push_back({{"start", s.start}, {"end", s.end}, {"ppl", s.ppl()}, {"tokens", s.predicted},
                 {"kv_cache_bytes", s.kv_cache_bytes}});
  return a;
}

// "10", or "4/4/2" when the lengths have different sample counts.
std::string samples_text(const RetrievalOptions& o) {
  std::string text = std::to_string(o.samples[0]);
  if (std::all_of(o.samples.begin(), o.samples.end(), [&](int64_t n) { return n == o.samples[0]; })) return text;
  for (size_t i = 1; i < o.samples.size(); ++i) text += "/" + std::to_string(o.samples[i]);
  return text;
}

void report_retrieval(const EvalSetup& e, const RetrievalOptions& o, const std::vector<RetrievalCell>& cells,
                      const ModelConfig& config, json& results) {
  const size_t nl = o.lengths.size(), nd = o.depths.size();
  const bool random = o.depths.size() == 1 && o.depths[0] == kRandomDepth;
  for (size_t p = 0; p < o.policies.size(); ++p) {
    const std::string& attn = cells[p * nl * nd].attn;
    if (!e.json) {
      std::printf("\n%s, attention %s%s (%s samples per cell, seed %llu)\n| %6s |", task_name(o.task), attn.c_str(),
                  rope_label(e).c_str(), samples_text(o).c_str(), static_cast<unsigned long long>(o.seed), "length");
      for (int64_t d : o.depths)
        std::printf(" %6s |", d == kRandomDepth ? "random" : ("d" + std::to_string(d)).c_str());
      std::printf(" %5s | %13s |\n|-------:|", "mean", "KV read/token");
      for (size_t d = 0; d < nd; ++d) std::printf("-------:|");
      std::printf("------:|--------------:|\n");
    }
    Heatmap h;
    h.title = std::string(task_name(o.task)) + " accuracy: " + e.model_name + ", " + attn + rope_label(e);
    h.subtitle = samples_text(o) + " samples per cell, seed " + std::to_string(o.seed) + ", KV cache " +
                 e.cache_type;
    h.x_title = "context length (tokens)";
    h.y_title = random ? "needle depth" : "needle depth (% of the haystack)";
    for (int64_t d : o.depths) h.y_labels.push_back(d == kRandomDepth ? "random" : std::to_string(d) + "%");
    h.values.assign(nd, std::vector<double>(nl, NAN));
    for (size_t l = 0; l < nl; ++l) {
      h.x_labels.push_back(std::to_string(o.lengths[l]));
      int64_t correct = 0, samples = 0, decoded = 0;
      double bytes = 0;
      if (!e.json) std::printf("| %6lld |", static_cast<long long>(o.lengths[l]));
      for (size_t d = 0; d < nd; ++d) {
        const RetrievalCell& c = cells[(p * nl + l) * nd + d];
        correct += c.correct, samples += c.samples, decoded += c.decoded_tokens, bytes += c.kv_bytes_read;
        h.values[d][l] = c.accuracy();
        if (!e.json) std::printf(" %6.2f |", c.accuracy());
        const double slots = c.decoded_tokens ? c.kv_slots_read / static_cast<double>(c.decoded_tokens * config.attention_layers() *
                                                                                      config.n_kv_heads) : 0;
        results.push_back({{"attn", c.attn}, {"prefill", policy_parts(c.attn).prefill},
                           {"decode", policy_parts(c.attn).decode}, {"modifiers", policy_parts(c.attn).modifiers}, {"rope", e.rope_canonical}, {"length", c.length},
                           {"depth", c.depth == kRandomDepth ? json(nullptr) : json(c.depth)},
                           {"samples", c.samples}, {"correct", c.correct}, {"accuracy", c.accuracy()},
                           {"kv_bytes_per_token", c.kv_bytes_per_token()}, {"kv_slots_per_token", slots},
                           {"expected", c.expected}, {"outputs", c.outputs}});
        if (!c.counters.empty()) {
          json counters = json::object();  // per sample
          for (const auto& [name, sum] : c.counters) counters[name] = sum / static_cast<double>(std::max<int64_t>(1, c.samples));
          results.back()["policy_counters"] = counters;
        }
      }
      if (!e.json)
        std::printf(" %5.2f | %13s |\n", samples ? static_cast<double>(correct) / static_cast<double>(samples) : 0.0,
                    mb(decoded ? bytes / static_cast<double>(decoded) : 0).c_str());
    }
    if (e.plots)
      write_svg(e, "eval-" + std::string(task_name(o.task)) + "-" + slug(attn) + rope_slug(e) + ".svg", heatmap_svg(h));
  }
}

void run_retrieval_task(const EvalSetup& e, Engine& engine, const std::string& haystack, RetrievalOptions o,
                        PieceMode mode, json& results) {
  PromptBuilder builder(engine.model().tokenizer(), haystack, mode);
  // Fail on a too-short length before any model time is spent.
  for (int64_t len : o.lengths) builder.build(o.task, o.seed, len, o.depths[0], 0);
  double work = 0;
  int64_t prompts = 0;
  for (size_t l = 0; l < o.lengths.size(); ++l) {
    const int64_t runs = static_cast<int64_t>(o.depths.size() * o.policies.size()) * o.samples[l];
    prompts += runs;
    work += static_cast<double>(runs) * static_cast<double>(o.lengths[l]);
  }
  Progress progress("prompts", prompts, work);
  const auto cells = run_retrieval(engine, builder, o, &progress);
  progress.finish();
  report_retrieval(e, o, cells, engine.model().config(), results);
}

void run_ppl_task(const EvalSetup& e, Transformer& tf, const std::vector<int32_t>& hay, const std::vector<int64_t>& lengths,
                  int64_t max_tokens, int64_t continuation, KvType kv, json& results) {
  for (int64_t len : lengths)
    if (continuation >= len - 1)
      throw Error("--continuation " + std::to_string(continuation) + " leaves no prompt in a window of " +
                  std::to_string(len) + " tokens");
  double total = 0;
  for (int64_t len : lengths) total += static_cast<double>(windowed_ppl_tokens(static_cast<int64_t>(hay.size()), len, max_tokens));
  total *= static_cast<double>(e.policies.size());
  Progress progress("tokens", static_cast<int64_t>(total), total);
  LineChart chart;
  chart.title = "ppl: " + e.model_name + rope_label(e);
  chart.subtitle = "non-overlapping windows over the haystack, KV cache " + e.cache_type;
  if (continuation > 0) chart.subtitle += ", the last " + std::to_string(continuation) + " tokens of each scored";
  chart.x_title = "window length (tokens)";
  chart.y_title = "perplexity";
  chart.log_x = true;
  for (int64_t len : lengths) chart.x_ticks.push_back(static_cast<double>(len));  // powers of two read better
  std::vector<std::vector<double>> table(lengths.size());
  std::vector<std::string> names;
  for (const std::string& spec : e.policies) {
    Series series;
    series.name = make_policy(spec, tf.model().config())->spec();
    names.push_back(series.name);
    for (size_t l = 0; l < lengths.size(); ++l) {
      std::string rope_spec;
      const auto rope = make_rope(e.rope, tf.model().config(), tf.model().weights().rope_freq_divisors, lengths[l], &rope_spec);
      const auto segs = windowed_ppl(tf, kv, spec, hay, lengths[l], max_tokens, continuation,
                                     [&](int64_t n) { progress.advance(n, static_cast<double>(n)); }, rope.get());
      size_t peak = 0;
      int64_t predicted = 0;
      for (const PplSegment& s : segs) peak = std::max(peak, s.kv_cache_bytes), predicted += s.predicted;
      const double ppl = overall_ppl(segs);
      results.push_back({{"attn", series.name}, {"prefill", policy_parts(series.name).prefill},
                         {"decode", policy_parts(series.name).decode}, {"modifiers", policy_parts(series.name).modifiers}, {"rope", rope_spec}, {"length", lengths[l]}, {"windows", segs.size()}, {"tokens", predicted},
                         {"continuation", continuation}, {"ppl", ppl}, {"kv_cache_bytes", peak}, {"segments", segments_json(segs)}});
      series.x.push_back(static_cast<double>(lengths[l]));
      series.y.push_back(ppl);
      table[l].push_back(ppl);
    }
    chart.series.push_back(std::move(series));
  }
  progress.finish();
  if (!e.json) {
    std::printf("\nppl over non-overlapping windows (BOS first), KV cache %s", e.cache_type.c_str());
    if (continuation > 0) std::printf(", the last %lld tokens of each window scored", static_cast<long long>(continuation));
    std::printf("\n| %6s |", "length");
    for (const std::string& n : names) std::printf(" %s |", n.c_str());
    std::printf("\n|-------:|");
    for (size_t i = 0; i < names.size(); ++i) std::printf("------:|");
    std::printf("\n");
    for (size_t l = 0; l < lengths.size(); ++l) {
      std::printf("| %6lld |", static_cast<long long>(lengths[l]));
      for (double v : table[l]) std::printf(" %.3f |", v);
      std::printf("\n");
    }
  }
  if (e.plots) write_svg(e, "eval-ppl" + rope_slug(e) + ".svg", line_chart_svg(chart));
}

void run_ppl_stream_task(const EvalSetup& e, Transformer& tf, const std::vector<int32_t>& hay, int64_t tokens,
                         int64_t segment, KvType kv, json& results) {
  const double total = static_cast<double>(tokens - 1) * static_cast<double>(e.policies.size());
  Progress progress("tokens", static_cast<int64_t>(total), total);
  LineChart ppl_chart, kv_chart;
  ppl_chart.title = "ppl-stream: " + e.model_name + rope_label(e);
  ppl_chart.subtitle = "perplexity per " + std::to_string(segment) + "-token segment, one token per step, KV cache " +
                       e.cache_type;
  ppl_chart.x_title = kv_chart.x_title = "position (tokens)";
  ppl_chart.y_title = "perplexity";
  ppl_chart.log_x = kv_chart.log_x = e.log_x;
  kv_chart.title = "ppl-stream KV cache: " + e.model_name + rope_label(e);
  kv_chart.subtitle = "bytes allocated by the KV cache at the end of each segment";
  kv_chart.y_title = "KV cache (MiB)";
  std::vector<std::vector<PplSegment>> all;
  double lo = INFINITY, hi = 0;
  std::string rope_spec;
  const auto rope = make_rope(e.rope, tf.model().config(), tf.model().weights().rope_freq_divisors, tokens, &rope_spec);
  for (const std::string& spec : e.policies) {
    auto policy = make_policy(spec, tf.model().config());
    all.push_back(stream_ppl(tf, kv, *policy, hay, tokens, segment,
                             [&](int64_t n) { progress.advance(n, static_cast<double>(n)); }, rope.get()));
    Series ps, ks;
    ps.name = ks.name = policy->spec();
    for (const PplSegment& s : all.back()) {
      ps.x.push_back(static_cast<double>(s.end));
      ps.y.push_back(s.ppl());
      ks.x.push_back(static_cast<double>(s.end));
      ks.y.push_back(static_cast<double>(s.kv_cache_bytes) / 1048576.0);
      if (std::isfinite(s.ppl())) lo = std::min(lo, s.ppl()), hi = std::max(hi, s.ppl());
    }
    results.push_back({{"attn", ps.name}, {"prefill", policy_parts(ps.name).prefill},
                       {"decode", policy_parts(ps.name).decode}, {"modifiers", policy_parts(ps.name).modifiers}, {"rope", rope_spec}, {"tokens", tokens}, {"segment_tokens", segment}, {"ppl", overall_ppl(all.back())},
                       {"kv_bytes_per_token", policy->stats().bytes_per_token()}, {"segments", segments_json(all.back())}});
    ppl_chart.series.push_back(std::move(ps));
    kv_chart.series.push_back(std::move(ks));
  }
  progress.finish();
  // Full attention past the trained context blows perplexity up by orders of
  // magnitude; a log axis keeps the stable policies readable next to it.
  ppl_chart.log_y = hi > 20 * lo;
  if (!e.json) {
    std::printf("\nppl-stream, %lld tokens, ppl and KV cache MiB per %lld-token segment\n| %15s |",
                static_cast<long long>(tokens), static_cast<long long>(segment), "segment");
    for (const Series& s : ppl_chart.series) std::printf(" %s | MiB |", s.name.c_str());
    std::printf("\n|----------------:|");
    for (size_t i = 0; i < all.size(); ++i) std::printf("------:|----:|");
    std::printf("\n");
    for (size_t k = 0; k < all[0].size(); ++k) {
      std::printf("| %7lld-%-7lld |", static_cast<long long>(all[0][k].start), static_cast<long long>(all[0][k].end));
      for (const auto& segs : all)
        std::printf(" %.3f | %.1f |", segs[k].ppl(), static_cast<double>(segs[k].kv_cache_bytes) / 1048576.0);
      std::printf("\n");
    }
  }
  if (e.plots) {
    write_svg(e, "eval-ppl-stream-ppl" + rope_slug(e) + ".svg", line_chart_svg(ppl_chart));
    write_svg(e, "eval-ppl-stream-kv" + rope_slug(e) + ".svg", line_chart_svg(kv_chart));
  }
}

}  // namespace

int eval_command(int argc, char** argv) {
  EvalSetup e;
  std::string task = "passkey", lengths_text, depths_text, haystack_path, pieces = "separate", samples_list = "10";
  int64_t threads = std::max(1u, std::thread::hardware_concurrency()), tokens = 0, segment = 1024, continuation = 0;
  bool random_depth = false, no_plots = false;
  LayerDropOption drop;
  Args args("sieve eval -m MODEL --task passkey|niah|niah-multikey|ppl|ppl-stream [options]",
            "Measures retrieval accuracy or perplexity as EVALUATION.md defines them; several --attn compare\n"
            "policies on identical prompts. A table (or --json) on stdout; SVG pictures in --out-dir.");
  args.option("-m,--model", "PATH", "model: a .gguf file or a Hugging Face folder", &e.model_path);
  args.option("--task", "NAME", "passkey, niah, niah-multikey, ppl or ppl-stream (default passkey)", &task);
  args.option("--lengths", "LIST", "prompt / window lengths in tokens (default 1024,2048,4096; ppl: 1024)", &lengths_text);
  args.option("--depths", "LIST", "needle depths in % of the hay (default 0,10,...,100)", &depths_text);
  args.flag("--random-depth", "a random needle depth for every sample instead of a depth grid", &random_depth);
  args.option("--samples", "N[,N...]", "prompts per (length, depth) cell, or one count per length (default 10)",
              &samples_list);
  args.option("--seed", "S", "seed of the prompts: the same seed, the same prompts (default 0)", &e.seed);
  args.repeated("--attn", "SPEC", "attention policy, repeatable (default full), e.g. streaming:sink=4,window=2000; policies:\n" + policy_help(), &e.policies);
  args.option("--rope", "SPEC", "RoPE context extension for every prompt (default none: the model's own); "
              "dynamic's length is each prompt's; choices:\n" + rope_help(), &e.rope);
  args.option("--cache-type", "T", "KV cache element type: f32, f16, bf16, q8_0 (default f16)", &e.cache_type);
  args.option("--haystack", "FILE", "haystack text (default: the data/haystack.txt that ships with sieve)", &haystack_path);
  args.option("--tokens", "N", "ppl-stream: tokens to stream (default 16384); ppl: haystack tokens to use (default all)",
              &tokens);
  args.option("--continuation", "N",
              "ppl: score only the last N tokens of each window, one per step after the rest went in as a prompt "
              "(the prompt an eviction policy compresses; default 0: every token, no compression)",
              &continuation);
  args.option("--segment", "N", "ppl-stream: tokens per reported segment (default 1024)", &segment);
  args.flag("--log-x", "ppl-stream: logarithmic position axis in the pictures", &e.log_x);
  args.option("--pieces", "MODE", "template pieces tokenized separate (each on its own, as the test model was trained; "
              "default) or joined (as inside one string)",
              &pieces);
  args.option("--out-dir", "DIR", "where the SVG pictures go (default: the current folder)", &e.out_dir);
  args.flag("--no-plots", "write no pictures", &no_plots);
  args.flag("--json", "print one JSON object {task, model, seed, results} instead of tables", &e.json);
  args.option("-t,--threads", "N", "threads (default: all cores)", &threads);
  drop.add_to(args);
  if (!args.parse(argc, argv)) return 0;
  if (e.model_path.empty()) throw Error("no model: give -m PATH");
  if (threads < 1 || threads > 1024) throw Error("--threads must be between 1 and 1024");
  if (random_depth && !depths_text.empty()) throw Error("give either --depths or --random-depth, not both");
  if (segment < 1) throw Error("--segment must be positive");
  if (tokens < 0) throw Error("--tokens must not be negative");
  if (continuation < 0) throw Error("--continuation must not be negative");
  e.task = parse_task(task);
  e.plots = !no_plots;
  const PieceMode piece_mode = parse_piece_mode(pieces);
  const KvType kv = kv_type_from_name(e.cache_type);
  if (e.policies.empty()) e.policies.push_back("full");
  std::vector<int64_t> lengths =
      parse_int_list(lengths_text.empty() ? (e.task == Task::Ppl ? "1024" : "1024,2048,4096") : lengths_text, "--lengths");
  for (int64_t len : lengths)
    if (len < 2 || len > (int64_t{1} << 22)) throw Error("--lengths: " + std::to_string(len) + " is out of range");
  std::vector<int64_t> samples = parse_int_list(samples_list, "--samples");
  if (samples.size() == 1) samples.assign(lengths.size(), samples[0]);
  if (samples.size() != lengths.size())
    throw Error("--samples: give one count, or one per length (" + std::to_string(lengths.size()) + "), not " +
                std::to_string(samples.size()));
  for (int64_t n : samples)
    if (n < 1 || n > 1000000) throw Error("--samples must be between 1 and 1000000");
  std::vector<int64_t> depths{kRandomDepth};
  if (!random_depth) depths = parse_int_list(depths_text.empty() ? "0,10,20,30,40,50,60,70,80,90,100" : depths_text, "--depths");
  for (int64_t d : depths)
    if (d != kRandomDepth && (d < 0 || d > 100)) throw Error("--depths: " + std::to_string(d) + " is not in 0..100");

  const std::string haystack = read_text_file(haystack_path.empty() ? default_haystack() : haystack_path);
  auto t0 = std::chrono::steady_clock::now();
  auto model = Model::load(e.model_path);
  drop.haystack = haystack_path;
  drop.apply(*model, threads);
  e.model_name = std::filesystem::path(e.model_path).filename().string();
  for (const std::string& spec : e.policies) make_policy(spec, model->config());  // bad specs fail before any work
  if (!e.rope.empty()) e.rope_canonical = RopeExtension::parse(e.rope, model->config()).spec();
  ThreadPool pool(static_cast<int>(threads));
  std::fprintf(stderr, "sieve eval: %s on %s (%s), loaded in %.2f s; %lld threads, KV cache %s\n", task.c_str(),
               e.model_path.c_str(), model->config().summary().c_str(),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
               static_cast<long long>(threads), e.cache_type.c_str());

  json results = json::array();
  if (is_retrieval(e.task)) {
    if (*std::min_element(samples.begin(), samples.end()) < 10)
      std::fprintf(stderr, "sieve eval: note: fewer than 10 samples per cell; EVALUATION.md asks for at least 10\n");
    RetrievalOptions o;
    o.task = e.task, o.seed = e.seed, o.lengths = lengths, o.depths = depths, o.samples = samples;
    o.policies = e.policies;
    o.rope = e.rope;
    // One request at a time through the engine; the context is the longest
    // prompt and its answer (lengths past the trained context are allowed:
    // that is what long-context evaluation measures).
    EngineOptions eo;
    eo.kv_type = kv;
    eo.context = *std::max_element(lengths.begin(), lengths.end()) + o.max_new_tokens + 64;
    eo.kv_memory_bytes = kv_pool_bytes(*model, eo, eo.context);
    eo.max_running = 1;
    Engine engine(*model, pool, eo);
    run_retrieval_task(e, engine, haystack, o, piece_mode, results);
  } else {
    Transformer tf(*model, pool);
    const int64_t longest = e.task == Task::Ppl ? *std::max_element(lengths.begin(), lengths.end()) : (tokens ? tokens : 16384);
    check_memory_fits(static_cast<size_t>(longest) * KvCache(tf.cache_shape(kv)).bytes_per_token(),
                      "the KV cache of " + std::to_string(longest) + " tokens");
    const std::vector<int32_t> hay = model->tokenizer().encode(haystack, false);
    if (e.task == Task::Ppl) run_ppl_task(e, tf, hay, lengths, tokens, continuation, kv, results);
    else run_ppl_stream_task(e, tf, hay, tokens ? tokens : 16384, segment, kv, results);
  }
  if (e.json) {
    json out{{"task", task}, {"model", e.model_path}, {"seed", e.seed}, {"cache_type", e.cache_type}, {"rope", e.rope_canonical},
             {"threads", threads}, {"dropped_blocks", dropped_blocks_json(model->config())}, {"results", results}};
    if (is_retrieval(e.task)) out["pieces"] = pieces;
    std::puts(out.dump(1, ' ', false, json::error_handler_t::replace).c_str());
  }
  return 0;
}

}  // namespace sieve::cli
