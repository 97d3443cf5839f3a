#include "cli/prompt_input.h"

#include <fstream>
#include <sstream>

#include "cli/args.h"
#include "util/error.h"
#include "util/text_file.h"

namespace sieve::cli {

std::vector<int32_t> PromptInput::tokens(const Tokenizer& tokenizer, int64_t vocab_size) const {
  const int sources = !text.empty() + !file.empty() + !token_ids.empty();
  if (sources == 0) throw Error("no prompt: give -p TEXT, --file FILE or --prompt-tokens IDS");
  if (sources > 1) throw Error("give only one of -p, --file and --prompt-tokens");
  if (!token_ids.empty()) {
    std::vector<int32_t> ids;
    for (int64_t id : parse_int_list(token_ids, "--prompt-tokens")) {
      if (id < 0 || id >= vocab_size)
        throw Error("token id " + std::to_string(id) + " is out of range (vocabulary has " +
                    std::to_string(vocab_size) + " tokens)");
      ids.push_back(static_cast<int32_t>(id));
    }
    return ids;
  }
  return tokenizer.encode(file.empty() ? text : read_text_file(file), !no_bos);
}

}  // namespace sieve::cli
