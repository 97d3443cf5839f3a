// sieve: long-context LLM inference with selectable attention policies.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "cli/commands.h"
#include "util/error.h"

namespace {

struct Command {
  const char* name;
  int (*fn)(int, char**);
  const char* summary;
};

constexpr Command kCommands[] = {
    {"run", sieve::cli::run_command, "generate text from a prompt"},
    {"tokenize", sieve::cli::tokenize_command, "print the token ids of a text"},
    {"bench", sieve::cli::bench_command, "measure prefill and decode speed (llama-bench's tests)"},
    {"eval", sieve::cli::eval_command, "measure retrieval accuracy and perplexity per attention policy"},
    {"chat", sieve::cli::chat_command, "chat with a model through its chat template"},
    {"serve", sieve::cli::serve_command, "serve the model over an OpenAI-compatible HTTP API"},
    {"template", sieve::cli::template_command, "render a chat template with a JSON context"},
    {"inspect", sieve::cli::inspect_command,
     "show a model's attention: maps, sinks, dormant heads, head patterns, layer redundancy"},
    {"act-search", sieve::cli::act_search_command,
     "find the heads ACT calibrates (the file act:config= loads)"},
    {"minference-search", sieve::cli::minference_search_command,
     "find each head's sparse prefill pattern (the file minference:config= loads)"},
};

// Messages quote file contents (tensor names, JSON strings); a control
// character there must not break the one-line "error: ..." contract.
std::string one_line(const char* message) {
  std::string s;
  for (const char* p = message; *p; ++p) {
    const auto c = static_cast<unsigned char>(*p);
    if (c >= 0x20 && c != 0x7f) {
      s += *p;
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      s += hex;
    }
  }
  return s;
}

void print_usage(FILE* out) {
  std::fputs("usage: sieve <command> [options]   (sieve <command> --help for its options)\n\ncommands:\n", out);
  for (const Command& c : kCommands) std::fprintf(out, "  %-17s %s\n", c.name, c.summary);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    print_usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  for (const Command& c : kCommands) {
    if (std::strcmp(argv[1], c.name) != 0) continue;
    try {
      return c.fn(argc - 2, argv + 2);
    } catch (const sieve::Error& e) {
      std::fprintf(stderr, "error: %s\n", one_line(e.what()).c_str());
      return 1;
    } catch (const std::bad_alloc&) {
      std::fprintf(stderr, "error: out of memory\n");
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "error: %s\n", one_line(e.what()).c_str());
      return 1;
    }
  }
  std::fprintf(stderr, "error: unknown command '%s'\n", argv[1]);
  print_usage(stderr);
  return 2;
}
