#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "attention/policy.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/layer_drop_option.h"
#include "cli/prompt_input.h"
#include "runtime/generator.h"
#include "util/error.h"

namespace sieve::cli {

int default_threads() { return std::max(1u, std::thread::hardware_concurrency()); }

int run_command(int argc, char** argv) {
  std::string model_path;
  PromptInput prompt;
  RequestOptions gen;
  EngineOptions engine_options;
  gen.attn = "full";
  gen.sampling.temperature = 0.8f;
  int64_t threads = default_threads();
  int64_t seed = -1;
  bool json = false, logits = false;
  std::string cache_type = "f16";
  LayerDropOption drop;
  Args args("sieve run -m MODEL (-p TEXT | --file FILE | --prompt-tokens IDS) [options]",
            "Generates text from a prompt, streaming it to stdout; load time and speed go to stderr.");
  args.option("-m,--model", "PATH", "model: a .gguf file or a Hugging Face folder", &model_path);
  args.option("-p,--prompt", "TEXT", "prompt text", &prompt.text);
  args.option("-f,--file", "FILE", "read the prompt text from a file", &prompt.file);
  args.option("--prompt-tokens", "IDS", "prompt as comma-separated token ids (no BOS is added)", &prompt.token_ids);
  args.flag("--no-bos", "do not add the model's BOS token to a text prompt", &prompt.no_bos);
  args.option("-n,--n-predict", "N", "generate at most N tokens (default 128)", &gen.max_tokens);
  args.option("-c,--ctx", "N", "context size in tokens (default: the model's trained context)", &engine_options.context);
  args.option("--temp", "T", "temperature; 0 is greedy (default 0.8)", &gen.sampling.temperature);
  args.option("--top-k", "K", "keep the K most likely tokens; 0 is off (default 40)", &gen.sampling.top_k);
  args.option("--top-p", "P", "keep the smallest set with probability >= P; 1 is off (default 0.95)", &gen.sampling.top_p);
  args.option("--min-p", "P", "drop tokens below P x the top probability; 0 is off (default 0.05)", &gen.sampling.min_p);
  args.option("--repeat-penalty", "R", "penalise recently seen tokens; 1 is off (default 1)", &gen.sampling.repeat_penalty);
  args.option("--repeat-last-n", "N", "tokens the penalty looks back over (default 64)", &gen.sampling.repeat_last_n);
  args.option("--seed", "S", "random seed; the same seed gives the same output (default: random, printed)", &seed);
  args.repeated("--stop", "TEXT", "stop before this text (repeatable)", &gen.stop);
  args.option("--attn", "SPEC", "attention policy, e.g. full, streaming:sink=4,window=2000 (default full); policies:\n" + policy_help(), &gen.attn);
  args.option("--rope", "SPEC", "RoPE context extension (default none: the model's own); choices:\n" + rope_help(), &gen.rope);
  args.option("--cache-type", "T", "KV cache element type: f32, f16, bf16, q8_0 (default f16)", &cache_type);
  args.option("-t,--threads", "N", "threads (default: all cores)", &threads);
  args.flag("--json", "print one JSON object {prompt_tokens, tokens, text, ...} instead of streaming", &json);
  args.flag("--logits", "with --json: add the float32 logits at the last prompt position", &logits);
  drop.add_to(args);
  if (!args.parse(argc, argv)) return 0;
  if (model_path.empty()) throw Error("no model: give -m PATH");
  if (threads < 1 || threads > 1024) throw Error("--threads must be between 1 and 1024");
  if (engine_options.context < 0) throw Error("--ctx must be positive");
  if (gen.max_tokens < 0) throw Error("the token limit must be >= 0");
  if (logits && !json) throw Error("--logits needs --json");
  gen.sampling.seed = seed >= 0 ? static_cast<uint64_t>(seed) : std::random_device{}();
  gen.sampling.validate();
  engine_options.kv_type = kv_type_from_name(cache_type);

  auto t0 = std::chrono::steady_clock::now();
  auto model = Model::load(model_path);
  drop.apply(*model, threads);
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::vector<int32_t> tokens = prompt.tokens(model->tokenizer(), model->config().vocab_size);
  ThreadPool pool(static_cast<int>(threads));
  // A pool for this one request: its prompt and generation, within the
  // context (a policy that evicts keeps at most about a context).
  const int64_t context = engine_options.context > 0 ? engine_options.context : model->config().max_context;
  const int64_t tokens_held = std::min<int64_t>(static_cast<int64_t>(tokens.size()) + gen.max_tokens,
                                                context + engine_options.batch_tokens);
  engine_options.kv_memory_bytes = kv_pool_bytes(*model, engine_options, tokens_held);
  Engine engine(*model, pool, engine_options);
  std::fprintf(stderr, "sieve: loaded %s (%s) in %.2f s; %zu prompt tokens, seed %llu\n", model_path.c_str(),
               model->config().summary().c_str(), load_s, tokens.size(), static_cast<unsigned long long>(gen.sampling.seed));

  std::function<void(std::string_view)> stream;
  if (!json) stream = [](std::string_view s) {
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
  };
  RequestResult r = generate(engine, tokens, gen, stream);
  if (json) {
    nlohmann::json out;
    out["prompt_tokens"] = r.prompt_tokens;
    out["tokens"] = r.tokens;
    out["text"] = r.text;
    out["stop_reason"] = r.stop_reason;
    out["attn"] = r.attn;
    out["rope"] = r.rope;
    if (logits) out["logits"] = r.last_prompt_logits;
    std::puts(out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    std::fputs("\n", stdout);
  }
  const ModelConfig& mc = model->config();
  std::fprintf(stderr, "sieve: attention %s read %.0f KV slots per layer and head (%.2f MB in all) per decoded token; cache %.1f MiB\n",
               r.attn.c_str(), r.attention_reads.slots_per_token(mc.attention_layers(), mc.n_kv_heads),
               r.attention_reads.bytes_per_token() / 1e6, r.kv_cache_bytes / 1048576.0);
  std::fprintf(stderr, "sieve: prefill %zu tokens in %.3f s (%.1f t/s); generated %zu tokens in %.3f s (%.1f t/s); stop: %s\n",
               r.prompt_tokens.size(), r.prefill_seconds, r.prompt_tokens.size() / std::max(r.prefill_seconds, 1e-9),
               r.tokens.size(), r.decode_seconds, r.tokens.size() / std::max(r.decode_seconds, 1e-9), r.stop_reason.c_str());
  return 0;
}

}  // namespace sieve::cli
