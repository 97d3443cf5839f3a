// libFuzzer target: the body of an HTTP request to sieve serve. The first
// byte picks the route (completions, chat completions, tokenize, detokenize);
// the rest is the body. A refusal must be a RequestError (a sieve::Error);
// an accepted request must make the response shapes serializable.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/openai_request.h"
#include "server/openai_response.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    switch (data[0] % 4) {
      case 0:
      case 1: {
        sieve::server::RequestLimits limits;
        limits.vocab_size = 8192;
        const sieve::server::CompletionRequest r = sieve::server::parse_completion_request(body, data[0] % 4 == 1, limits);
        sieve::RequestResult result;
        result.prompt_tokens = r.prompt_tokens;
        result.text = r.prompt;
        result.stop_reason = "stop";
        const sieve::server::ResponseHeader h{"cmpl-fuzz", 0, r.model, r.chat};
        (void)sieve::server::dump(sieve::server::completion_json(h, result, nullptr));
        break;
      }
      case 2: (void)sieve::server::parse_tokenize_request(body); break;
      case 3: (void)sieve::server::parse_detokenize_request(body, 8192); break;
    }
  } catch (const sieve::Error&) {
  }
  return 0;
}
