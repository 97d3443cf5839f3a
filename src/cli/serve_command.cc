#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "cli/args.h"
#include "chat/template.h"
#include "cli/commands.h"
#include "cli/layer_drop_option.h"
#include "cli/prompt_input.h"
#include "server/server.h"
#include "util/error.h"
#include "util/text_file.h"

namespace sieve::cli {

int default_threads();

int serve_command(int argc, char** argv) {
  server::ServerOptions o;
  int64_t port = 8080, threads = default_threads(), parallel = o.engine.max_running, kv_mib = 0;
  int64_t max_body_mib = 8, http_threads = 0, request_timeout = o.request_timeout;
  std::string cache_type = "f16";
  bool no_prefix_cache = false;
  std::string chat_template_file;
  LayerDropOption drop;
  Args args("sieve serve -m MODEL [options]",
            "Serves the model over an OpenAI-compatible HTTP API (/v1/completions, /v1/chat/completions, /v1/models,\n"
            "/tokenize, /detokenize, /health, /metrics); every request may choose its attention policy with \"attn\".");
  args.option("-m,--model", "PATH", "model: a .gguf file or a Hugging Face folder", &o.model_path);
  args.option("--host", "ADDR", "address to listen on (default 127.0.0.1)", &o.host);
  args.option("--port", "N", "port to listen on; 0 picks a free one (default 8080)", &port);
  args.option("--alias", "NAME", "the model's name in the API (default: the file or folder name)", &o.alias);
  args.option("--api-key", "KEY", "require 'Authorization: Bearer KEY' on every route but /health", &o.api_key);
  args.option("-np,--parallel", "N", "sequences running at once (default 16)", &parallel);
  args.option("--max-waiting", "N", "queued requests beyond which new ones get 429 (default 256)", &o.engine.max_waiting);
  args.option("--batch-tokens", "N", "tokens per engine step, over all sequences (default 512)", &o.engine.batch_tokens);
  args.option("--kv-memory", "MiB", "KV-cache page pool shared by all sequences (default: a full context per --parallel sequence, within a quarter of the free memory; at least one)", &kv_mib);
  args.option("-c,--ctx", "N", "context size per sequence in tokens (default: the model's trained context)", &o.engine.context);
  args.option("--chat-template-file", "FILE", "a Jinja chat template used instead of the model's", &chat_template_file);
  args.option("--attn", "SPEC", "default attention policy for requests without \"attn\" (default full)", &o.engine.default_attn);
  args.option("--rope", "SPEC", "default RoPE context extension for requests without \"rope\" (default none: the "
              "model's own), e.g. yarn:factor=4 with --ctx 32768", &o.engine.default_rope);
  args.repeated("--pattern-file", "FILE",
                "a MInference pattern file or ACT head file requests may name, as \"attn\": "
                "\"minference:config=FILE\" or \"full+act:config=FILE\" (repeatable; requests may name no other file)",
                &o.pattern_files);
  args.option("--cache-type", "T", "KV cache element type: f32, f16, bf16, q8_0 (default f16)", &cache_type);
  args.option("-t,--threads", "N", "compute threads (default: all cores)", &threads);
  args.flag("--batch-invariant", "greedy results exactly as if each request ran alone (slower matmuls)", &o.engine.batch_invariant);
  args.flag("--no-prefix-cache", "do not reuse the KV pages of earlier prompts' common prefixes", &no_prefix_cache);
  args.option("--http-threads", "N", "connections served at once (default: parallel + max-waiting + 4)", &http_threads);
  args.option("--max-body", "MiB", "largest request body accepted; larger gets 413 (default 8)", &max_body_mib);
  args.option("--request-timeout", "S", "seconds a client may pause while sending a request (default 30)", &request_timeout);
  args.option("--shutdown-timeout", "S", "on SIGTERM/SIGINT, seconds running requests may take before they are cancelled (default 30)",
              &o.shutdown_timeout);
  args.option("--stream-heartbeat", "S",
              "seconds a streamed response may stay silent (queued, prefilling) before an SSE comment keeps it open (default 15)",
              &o.stream_heartbeat);
  drop.add_to(args);
  if (!args.parse(argc, argv)) return 0;
  if (o.model_path.empty()) throw Error("no model: give -m PATH");
  if (port < 0 || port > 65535) throw Error("--port must be between 0 and 65535");
  if (threads < 1 || threads > 1024) throw Error("--threads must be between 1 and 1024");
  if (parallel < 1 || parallel > 4096) throw Error("--parallel must be between 1 and 4096");
  if (o.engine.max_waiting < 0) throw Error("--max-waiting must be >= 0");
  if (o.engine.batch_tokens < 1) throw Error("--batch-tokens must be >= 1");
  if (kv_mib < 0 || kv_mib > (int64_t{1} << 30)) throw Error("--kv-memory must be a positive number of MiB");
  if (o.engine.context < 0) throw Error("--ctx must be positive");
  if (http_threads < 0 || http_threads > 4096) throw Error("--http-threads must be between 1 and 4096");
  if (max_body_mib < 1 || max_body_mib > 4096) throw Error("--max-body must be between 1 and 4096 MiB");
  if (request_timeout < 1 || request_timeout > 3600) throw Error("--request-timeout must be between 1 and 3600 seconds");
  if (!(o.shutdown_timeout >= 0 && o.shutdown_timeout <= 86400)) throw Error("--shutdown-timeout must be between 0 and 86400 seconds");
  if (!(o.stream_heartbeat >= 0.1 && o.stream_heartbeat <= 3600)) throw Error("--stream-heartbeat must be between 0.1 and 3600 seconds");
  o.port = static_cast<int>(port);
  o.threads = static_cast<int>(threads);
  if (drop.given()) o.prepare_model = [drop, threads](Model& model) { drop.apply(model, threads); };
  o.http_threads = static_cast<int>(http_threads);
  o.max_body = static_cast<size_t>(max_body_mib) << 20;
  o.request_timeout = static_cast<int>(request_timeout);
  o.engine.max_running = parallel;
  o.engine.kv_memory_bytes = kv_mib << 20;
  o.engine.kv_type = kv_type_from_name(cache_type);
  o.engine.prefix_cache = !no_prefix_cache;
  if (!chat_template_file.empty()) {
    o.chat_template = read_text_file(chat_template_file);
    try {
      chat::Template check(o.chat_template);  // a syntax error stops the start, not every request
    } catch (const Error& e) {
      throw Error(chat_template_file + ": " + e.what());
    }
  }

  // Signals go to one thread that asks the server to drain; every other
  // thread (HTTP, engine, compute) inherits the blocked mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  server::Server server(o);
  server.bind();
  std::fprintf(stderr, "sieve serve: listening on http://%s:%d (loading %s)\n", o.host.c_str(), server.port(), o.model_path.c_str());
  std::thread([&server, stop_signals] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    std::fprintf(stderr, "sieve serve: %s, draining\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    server.request_shutdown();
    sigwait(&stop_signals, &sig);  // a second signal: stop now
    std::fprintf(stderr, "sieve serve: second signal, exiting\n");
    std::fflush(nullptr);
    _exit(1);
  }).detach();
  server.load();
  std::fprintf(stderr, "sieve serve: ready\n");
  server.serve_until_shutdown();
  std::fprintf(stderr, "sieve serve: stopped\n");
  return 0;
}

}  // namespace sieve::cli
