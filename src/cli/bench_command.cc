#include <sys/utsname.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "bench/bench.h"
#include "attention/policy.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/layer_drop_option.h"
#include "runtime/memory_budget.h"
#include "util/error.h"
#include "util/text_file.h"

namespace sieve::cli {
namespace {

std::string cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

std::string test_name(const BenchResult& r) {
  return r.test + (r.depth > 0 ? " @ d" + std::to_string(r.depth) : "");
}

void print_row(const BenchResult& r) {
  std::printf("| %-16s | %10.2f ± %-8.2f | %9.1f | %9.1f | %8.2f | %8.1f |\n", test_name(r).c_str(), r.mean, r.stddev,
              r.weight_bytes_per_token / 1e6, r.kv_bytes_per_token / 1e6, r.flops_per_token / 1e9,
              r.peak_rss_bytes / 1048576.0);
  std::fflush(stdout);
}

}  // namespace

int bench_command(int argc, char** argv) {
  std::string model_path, prompts = "512", gens = "128", depths = "0", cache_type = "f16", attn = "full", rope,
      text_file;
  int64_t reps = 5, threads = std::max(1u, std::thread::hardware_concurrency()), ubatch = Transformer::kMaxBatch;
  bool json = false, no_warmup = false;
  LayerDropOption drop;
  Args args("sieve bench -m MODEL [-p 512,2048] [-n 64] [-d 0,8192] [-r 3] [-t 2] [--json]",
            "Measures prefill (pp) and decode (tg) speed as llama.cpp's llama-bench does, at cache depths -d.");
  args.option("-m,--model", "PATH", "model: a .gguf file or a Hugging Face folder", &model_path);
  args.option("-p,--n-prompt", "LIST", "prefill sizes, comma-separated; 0 for none (default 512)", &prompts);
  args.option("-n,--n-gen", "LIST", "decode lengths, comma-separated; 0 for none (default 128)", &gens);
  args.option("-d,--n-depth", "LIST", "tokens already in the cache, comma-separated (default 0)", &depths);
  args.option("-r,--repetitions", "N", "repetitions of each test (default 5)", &reps);
  args.option("-t,--threads", "N", "threads (default: all cores)", &threads);
  args.option("-ub,--ubatch-size", "N",
              "prompt tokens per forward step, as llama-bench's -ub (default 512); sparse prefill methods estimate "
              "their indices once per step",
              &ubatch);
  args.option("--cache-type", "T", "KV cache element type: f32, f16, bf16, q8_0 (default f16)", &cache_type);
  args.option("--attn", "SPEC", "attention policy, e.g. full, streaming:sink=4,window=2044 (default full); policies:\n" + policy_help(), &attn);
  args.option("--rope", "SPEC", "RoPE context extension (default none); choices:\n" + rope_help(), &rope);
  args.option("--text", "FILE",
              "tokens from a text instead of random ids: the cache is filled with its start and the tests run on "
              "what follows (a selecting policy's reuse depends on real text; e.g. data/haystack.txt)",
              &text_file);
  args.flag("--no-warmup", "no untimed warm-up repetition before each test (as llama-bench's --no-warmup)", &no_warmup);
  args.flag("--json", "print a JSON array, one object per test, instead of a table", &json);
  drop.add_to(args);
  if (!args.parse(argc, argv)) return 0;
  if (model_path.empty()) throw Error("no model: give -m PATH");
  if (threads < 1 || threads > 1024) throw Error("--threads must be between 1 and 1024");
  if (reps < 1 || reps > 1000) throw Error("-r must be between 1 and 1000");
  if (ubatch < 1 || ubatch > 65536) throw Error("-ub must be between 1 and 65536");
  BenchOptions o;
  o.prompt_sizes = parse_int_list(prompts, "-p");
  o.gen_sizes = parse_int_list(gens, "-n");
  o.depths = parse_int_list(depths, "-d");
  o.repetitions = static_cast<int>(reps);
  o.warmup = !no_warmup;
  o.kv_type = kv_type_from_name(cache_type);
  o.attn = attn;
  o.rope = rope;

  auto model = Model::load(model_path);
  drop.apply(*model, threads);
  if (!text_file.empty()) {
    o.text = model->tokenizer().encode(read_text_file(text_file), true);
    if (o.text.size() < 2) throw Error("--text " + text_file + " has no tokens");
  }
  const std::string attn_spec = make_policy(attn, model->config())->spec();  // a bad spec fails before any work
  const PolicyParts parts = policy_parts(attn_spec);
  const std::string rope_canonical = rope.empty() ? "none" : RopeExtension::parse(rope, model->config()).spec();
  for (int64_t d : o.depths)
    for (int64_t n : o.prompt_sizes.size() > o.gen_sizes.size() ? o.prompt_sizes : o.gen_sizes)
      if (d + n > int64_t{1} << 22) throw Error("depth + test size " + std::to_string(d + n) + " is too large");
  ThreadPool pool(static_cast<int>(threads));
  Transformer tf(*model, pool, ubatch);
  // The longest test's cache must fit in memory (a policy that evicts also
  // keeps a snapshot of the filled cache).
  int64_t longest = 0;
  for (int64_t d : o.depths) {
    for (int64_t n : o.prompt_sizes) longest = std::max(longest, d + n);
    for (int64_t n : o.gen_sizes) longest = std::max(longest, d + n);
  }
  KvCacheShape shape = tf.cache_shape(o.kv_type);
  const size_t copies = make_policy(attn, model->config())->rewrites_cache() ? 2 : 1;
  check_memory_fits(static_cast<size_t>(longest) * KvCache(shape).bytes_per_token() * copies,
                    "the KV cache of the longest test (" + std::to_string(longest) + " tokens, " + cache_type + ")");
  const std::string machine = cpu_name() + ", " + std::to_string(std::thread::hardware_concurrency()) + " cores";
  if (!json) {
    std::printf("model: %s (%s)\nmachine: %s; threads: %lld; ubatch: %lld; KV cache: %s; attention: %s; tokens: %s\n\n",
                model_path.c_str(), model->config().summary().c_str(), machine.c_str(), static_cast<long long>(threads),
                static_cast<long long>(ubatch), cache_type.c_str(), attn_spec.c_str(),
                text_file.empty() ? "random" : text_file.c_str());
    std::printf("| %-16s | %21s | %9s | %9s | %8s | %8s |\n", "test", "t/s", "weight MB", "KV MB", "GFLOP", "RSS MiB");
    std::printf("| %-16s | %21s | %9s | %9s | %8s | %8s |\n", "---", "---:", "---:", "---:", "---:", "---:");
  }
  auto results = run_bench(tf, o, json ? nullptr : print_row);
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const BenchResult& r : results) {
      out.push_back({{"model", model_path}, {"test", r.test}, {"n_tokens", r.n_tokens}, {"depth", r.depth},
                     {"threads", threads}, {"ubatch", ubatch}, {"attn", attn_spec}, {"prefill", parts.prefill},
                     {"decode", parts.decode}, {"modifiers", parts.modifiers}, {"rope", rope_canonical}, {"cache_type", cache_type},
                     {"tokens", text_file.empty() ? std::string("random") : "text:" + text_file},
                     {"tokens_per_s", r.mean}, {"tokens_per_s_std", r.stddev}, {"samples_tokens_per_s", r.tokens_per_s},
                     {"weight_bytes_per_token", r.weight_bytes_per_token}, {"kv_bytes_per_token", r.kv_bytes_per_token},
                     {"flops_per_token", r.flops_per_token}, {"peak_rss_bytes", r.peak_rss_bytes}, {"machine", machine},
                     {"dropped_blocks", dropped_blocks_json(model->config())}});
      if (!r.policy_counters.empty()) {
        nlohmann::json counters = nlohmann::json::object();
        for (const auto& [name, value] : r.policy_counters) counters[name] = value;
        out.back()["policy_counters"] = counters;
      }
    }
    std::puts(out.dump(1).c_str());
  }
  return 0;
}

}  // namespace sieve::cli
