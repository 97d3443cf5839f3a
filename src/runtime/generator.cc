#include "runtime/generator.h"

#include "util/error.h"

namespace sieve {

RequestResult generate(Engine& engine, const std::vector<int32_t>& prompt, const RequestOptions& options,
                       const std::function<void(std::string_view)>& on_text) {
  RequestResult result;
  bool done = false;
  RequestCallbacks cb;
  if (on_text)
    cb.on_token = [&](const TokenEvent& ev) {
      if (!ev.text.empty()) on_text(ev.text);
    };
  cb.on_finish = [&](const RequestResult& r) {
    result = r;
    done = true;
  };
  engine.submit(prompt, options, std::move(cb));
  while (!done && engine.step()) {
  }
  if (!done) throw Error("internal: the engine went idle before the request finished");
  if (result.stop_reason == "error") throw Error(result.error);
  return result;
}

}  // namespace sieve
