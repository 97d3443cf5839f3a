// sieve chat: an interactive conversation laid out by the model's chat
// template. The conversation stays in the engine between turns (a parked
// sequence), so each turn prefills only its new tokens.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "attention/policy.h"
#include "chat/chat_template.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/layer_drop_option.h"
#include "cli/prompt_input.h"
#include "runtime/engine.h"
#include "util/error.h"
#include "util/text_file.h"

namespace sieve::cli {
namespace {

constexpr const char* kHelp =
    "commands: /reset (forget the conversation), /attn SPEC (switch the attention policy), /exit\n";

struct Turn {
  RequestResult result;
  bool done = false;
};

}  // namespace

int chat_command(int argc, char** argv) {
  std::string model_path, system, template_file, template_name, cache_type = "f16";
  RequestOptions gen;
  EngineOptions eo;
  gen.attn = "full";
  gen.max_tokens = 512;
  gen.sampling.temperature = 0.8f;
  int64_t threads = std::max(1u, std::thread::hardware_concurrency());
  int64_t seed = -1;
  LayerDropOption drop;
  Args args("sieve chat -m MODEL [--system TEXT] [--attn SPEC] [options]",
            "Chats with a model through its chat template: type a message, the answer streams back, then its "
            "speed.\n" + std::string(kHelp));
  args.option("-m,--model", "PATH", "model: a .gguf file or a Hugging Face folder", &model_path);
  args.option("--system", "TEXT", "a system message that opens the conversation", &system);
  args.option("--chat-template-file", "FILE", "a Jinja chat template to use instead of the model's", &template_file);
  args.option("--chat-template", "NAME", "one of the model's named templates (e.g. tool_use)", &template_name);
  args.option("-n,--n-predict", "N", "most tokens per answer (default 512)", &gen.max_tokens);
  args.option("-c,--ctx", "N", "context size in tokens (default: the model's trained context)", &eo.context);
  args.option("--temp", "T", "temperature; 0 is greedy (default 0.8)", &gen.sampling.temperature);
  args.option("--top-k", "K", "keep the K most likely tokens; 0 is off (default 40)", &gen.sampling.top_k);
  args.option("--top-p", "P", "nucleus sampling; 1 is off (default 0.95)", &gen.sampling.top_p);
  args.option("--min-p", "P", "drop tokens below P x the top probability; 0 is off (default 0.05)", &gen.sampling.min_p);
  args.option("--seed", "S", "random seed (default: random)", &seed);
  args.option("--attn", "SPEC", "attention policy (default full); policies:\n" + policy_help(), &gen.attn);
  args.option("--rope", "SPEC", "RoPE context extension (default none); dynamic:...,length=N keeps one base for the whole "
              "conversation; choices:\n" + rope_help(), &gen.rope);
  args.option("--cache-type", "T", "KV cache element type: f32, f16, bf16, q8_0 (default f16)", &cache_type);
  args.option("-t,--threads", "N", "threads (default: all cores)", &threads);
  drop.add_to(args);
  if (!args.parse(argc, argv)) return 0;
  if (model_path.empty()) throw Error("no model: give -m PATH");
  if (threads < 1 || threads > 1024) throw Error("--threads must be between 1 and 1024");
  if (gen.max_tokens < 1) throw Error("-n must be at least 1");
  gen.sampling.seed = seed >= 0 ? static_cast<uint64_t>(seed) : std::random_device{}();
  gen.sampling.validate();
  eo.kv_type = kv_type_from_name(cache_type);
  eo.max_running = 1;

  auto model = Model::load(model_path);
  drop.apply(*model, threads);
  make_policy(gen.attn, model->config());
  if (!gen.rope.empty()) RopeExtension::parse(gen.rope, model->config());
  chat::ChatOptions chat_options;
  chat_options.template_name = template_name;
  if (!template_file.empty()) chat_options.template_override = read_text_file(template_file);
  else if (model->chat_templates().empty())
    throw Error(chat::no_template_message(model->chat_templates().origin));
  ThreadPool pool(static_cast<int>(threads));
  Engine engine(*model, pool, eo);
  const bool tty = ::isatty(STDIN_FILENO);
  std::fprintf(stderr, "sieve chat: %s (%s), attention %s. %s", model_path.c_str(), model->config().summary().c_str(),
               gen.attn.c_str(), kHelp);

  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  auto reset = [&] {
    messages = nlohmann::ordered_json::array();
    if (!system.empty()) messages.push_back({{"role", "system"}, {"content", system}});
  };
  reset();
  uint64_t parked = 0;  // the engine's id of the conversation so far
  for (std::string line;;) {
    if (tty) std::fputs("> ", stdout), std::fflush(stdout);
    if (!std::getline(std::cin, line)) break;
    if (line.empty()) continue;
    if (line == "/exit" || line == "/quit") break;
    if (line == "/reset") {
      if (parked) engine.release(parked);
      parked = 0;
      reset();
      std::fputs("(conversation reset)\n", stdout);
      continue;
    }
    if (line.rfind("/attn", 0) == 0) {
      const std::string spec = line.size() > 6 ? line.substr(6) : "";
      try {
        gen.attn = make_policy(spec, model->config())->spec();
        std::printf("(attention %s from the next turn)\n", gen.attn.c_str());
      } catch (const Error& e) {
        std::printf("(%s)\n", e.what());
      }
      continue;
    }
    if (line[0] == '/') {
      std::fputs(kHelp, stdout);
      continue;
    }
    messages.push_back({{"role", "user"}, {"content", line}});
    std::vector<int32_t> prompt;
    try {
      prompt = chat::tokenize_chat(model->tokenizer(), chat::render_chat(model->chat_templates(), messages, chat_options));
    } catch (const Error& e) {
      messages.erase(messages.end() - 1);
      std::printf("(the template refused the conversation: %s)\n", e.what());
      continue;
    }
    RequestOptions o = gen;
    o.keep = true;
    o.continue_from = parked;
    Turn turn;
    RequestCallbacks cb;
    cb.on_token = [](const TokenEvent& ev) {
      std::fwrite(ev.text.data(), 1, ev.text.size(), stdout);
      std::fflush(stdout);
    };
    cb.on_finish = [&](const RequestResult& r) {
      turn.result = r;
      turn.done = true;
    };
    try {
      parked = engine.submit(prompt, o, cb);
    } catch (const RequestError& e) {
      messages.erase(messages.end() - 1);
      std::printf("(%s; /reset starts over)\n", e.what());
      continue;
    }
    while (!turn.done && engine.step()) {
    }
    const RequestResult& r = turn.result;
    std::fputs("\n", stdout);
    std::fflush(stdout);  // the answer before its speed line (stderr)
    const size_t prefilled = r.prompt_tokens.size() - static_cast<size_t>(r.cached_prompt_tokens);
    std::fprintf(stderr, "[%zu tokens, %.1f t/s; prefilled %zu new of %zu tokens in %.2f s; %s]\n", r.tokens.size(),
                 static_cast<double>(r.tokens.size()) / std::max(r.decode_seconds, 1e-9), prefilled,
                 r.prompt_tokens.size(), r.prefill_seconds, r.attn.c_str());
    messages.push_back({{"role", "assistant"}, {"content", r.text}});
    if (r.stop_reason == "error" || r.stop_reason == "context") {
      if (r.stop_reason == "context") std::puts("(the context is full; /reset starts over)");
      parked = 0;
    }
  }
  if (parked) engine.release(parked);
  return 0;
}

}  // namespace sieve::cli
