#include <cstdio>
#include <nlohmann/json.hpp>

#include "chat/template.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/prompt_input.h"
#include "util/error.h"
#include "util/text_file.h"

namespace sieve::cli {

int template_command(int argc, char** argv) {
  std::string template_file, context_file, now;
  Args args("sieve template -t FILE.jinja --context CONTEXT.json [--now ISO-8601]",
            "Renders a chat template with the variables of a JSON object (messages, add_generation_prompt,\n"
            "bos_token, tools, ...) exactly as Hugging Face transformers renders it, and prints the text\n"
            "with no newline added.");
  args.option("-t,--template", "FILE", "the Jinja template", &template_file);
  args.option("-c,--context", "FILE", "a JSON object whose members become the template's variables", &context_file);
  args.option("--now", "TIME", "the instant strftime_now() formats, YYYY-MM-DDTHH:MM:SS (default: now)", &now);
  if (!args.parse(argc, argv)) return 0;
  if (template_file.empty()) throw Error("no template: give -t FILE.jinja");
  if (context_file.empty()) throw Error("no context: give --context CONTEXT.json");
  const std::string source = read_text_file(template_file);
  const std::string context_text = read_text_file(context_file);
  nlohmann::ordered_json context = nlohmann::ordered_json::parse(context_text, nullptr, false);
  if (context.is_discarded()) throw Error(context_file + ": not valid JSON");
  if (!context.is_object()) throw Error(context_file + ": the context must be a JSON object");
  chat::RenderOptions options;
  options.now = now;
  if (!now.empty()) {
    int Y, M, D;
    if (std::sscanf(now.c_str(), "%d-%d-%d", &Y, &M, &D) != 3) throw Error("--now '" + now + "' is not ISO 8601 (YYYY-MM-DDTHH:MM:SS)");
  }
  std::string text;
  try {
    text = chat::Template(source).render(context, options);
  } catch (const Error& e) {
    throw Error(template_file + ": " + e.what());
  }
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

}  // namespace sieve::cli
