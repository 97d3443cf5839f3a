#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/prompt_input.h"
#include "format/gguf.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/text_file.h"

namespace sieve::cli {

int tokenize_command(int argc, char** argv) {
  std::string model_path, file;
  bool no_bos = false, parse_special = false;
  std::vector<std::string> text;
  Args args("sieve tokenize -m MODEL [--no-bos] [--file FILE | TEXT]",
            "Prints the token ids of a text as a JSON array. Works on tokenizer-only GGUF files.");
  args.option("-m,--model", "PATH", "a .gguf file (weights optional) or a Hugging Face folder", &model_path);
  args.option("-f,--file", "FILE", "read the text from a file", &file);
  args.flag("--no-bos", "do not add the BOS token", &no_bos);
  args.flag("--special", "match special-token text such as <|eot_id|> to its token", &parse_special);
  args.positional("TEXT", "the text to tokenize", &text);
  if (!args.parse(argc, argv)) return 0;
  if (model_path.empty()) throw Error("no model: give -m PATH");
  if (text.size() > 1) throw Error("give the text as one argument (quote it)");
  if (text.empty() == file.empty()) throw Error("give either TEXT or --file FILE");

  // Only the tokenizer is needed, so a GGUF file is not loaded as a model:
  // tokenizer-only files have no tensors.
  std::unique_ptr<GgufFile> gguf;
  std::unique_ptr<Tokenizer> tok;
  if (std::filesystem::is_directory(model_path)) {
    tok = Tokenizer::from_hf_folder(model_path);
  } else {
    gguf = std::make_unique<GgufFile>(model_path);
    tok = Tokenizer::from_gguf(*gguf);
  }
  std::vector<int32_t> ids = tok->encode(file.empty() ? text[0] : read_text_file(file), !no_bos, parse_special);
  std::puts(nlohmann::json(ids).dump().c_str());
  return 0;
}

}  // namespace sieve::cli
