// libFuzzer target: a chat template from bytes, compiled and rendered with a
// conversation that exercises the usual paths (system, user, assistant with
// tool calls, tool results, tools). Limits are set low so a slow template
// ends in a sieve::Error within the fuzzer's time budget.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "chat/template.h"
#include "util/error.h"

namespace {

const nlohmann::ordered_json& context() {
  static const nlohmann::ordered_json c = nlohmann::ordered_json::parse(R"({
    "messages": [
      {"role": "system", "content": "You are helpful."},
      {"role": "user", "content": "Hi \"there\" \u00e9\u4e2d"},
      {"role": "assistant", "content": "", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "get", "arguments": {"x": 1, "y": [1.5, null, true]}}}]},
      {"role": "tool", "tool_call_id": "c1", "content": "{\"ok\": 1}"},
      {"role": "assistant", "content": "<think>hm</think>Done."}],
    "tools": [{"type": "function", "function": {"name": "get", "description": "d",
      "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}}}],
    "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>"})");
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const std::string source(reinterpret_cast<const char*>(data), size);
    const sieve::chat::Template tpl(source);
    sieve::chat::RenderOptions options;
    options.now = "2026-01-15T12:00:00";
    options.limits.max_output_bytes = 1 << 20;
    options.limits.max_loop_iterations = 100000;
    (void)tpl.render(context(), options);
  } catch (const sieve::Error&) {
  }
  return 0;
}
