// Real-world chat templates that are not in the conformance set (Llama 2,
// Zephyr, ChatML, Phi-4, Gemma 3, DeepSeek-R1, Mistral v3 with tool calls),
// each rendered against expectations checked by hand against the models'
// documented prompt formats (and against jinja2 3.1 configured as
// transformers configures it).
#include <gtest/gtest.h>

#include <string>

#include "chat/template.h"
#include "util/error.h"

namespace sieve::chat {
namespace {

using ojson = nlohmann::ordered_json;

std::string render(const char* tpl, const char* context) { return Template(tpl).render(ojson::parse(context)); }

void expect_error(const char* tpl, const char* context, const std::string& message) {
  try {
    render(tpl, context);
    ADD_FAILURE() << "rendered; expected the error: " << message;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
  }
}

constexpr const char* kLlama2 = R"J({% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %})J";

constexpr const char* kZephyr = R"J({% for message in messages %}
{% if message['role'] == 'user' %}
{{ '<|user|>
' + message['content'] + eos_token }}
{% elif message['role'] == 'system' %}
{{ '<|system|>
' + message['content'] + eos_token }}
{% elif message['role'] == 'assistant' %}
{{ '<|assistant|>
'  + message['content'] + eos_token }}
{% endif %}
{% if loop.last and add_generation_prompt %}
{{ '<|assistant|>' }}
{% endif %}
{% endfor %})J";

constexpr const char* kChatML = R"J({% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %})J";

constexpr const char* kPhi4 = R"J({% for message in messages %}{% if (message['role'] == 'system') %}{{'<|im_start|>system<|im_sep|>' + message['content'] + '<|im_end|>'}}{% elif (message['role'] == 'user') %}{{'<|im_start|>user<|im_sep|>' + message['content'] + '<|im_end|>'}}{% elif (message['role'] == 'assistant') %}{{'<|im_start|>assistant<|im_sep|>' + message['content'] + '<|im_end|>'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant<|im_sep|>' }}{% endif %})J";

constexpr const char* kGemma3 = R"J({{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '

' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '

' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '
' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>
' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model
'}}
{%- endif -%}
)J";

constexpr const char* kDeepSeekR1 = R"J({% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='') %}{%- for message in messages %}{%- if message['role'] == 'system' %}{% set ns.system_prompt = message['content'] %}{%- endif %}{%- endfor %}{{bos_token}}{{ns.system_prompt}}{%- for message in messages %}{%- if message['role'] == 'user' %}{%- set ns.is_tool = false -%}{{'<｜User｜>' + message['content']}}{%- endif %}{%- if message['role'] == 'assistant' and message['content'] is none %}{%- set ns.is_tool = false -%}{%- for tool in message['tool_calls']%}{%- if not ns.is_first %}{{'<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\n' + '```json' + '\n' + tool['function']['arguments'] + '\n' + '```' + '<｜tool▁call▁end｜>'}}{%- set ns.is_first = true -%}{%- else %}{{'\n' + '<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\n' + '```json' + '\n' + tool['function']['arguments'] + '\n' + '```' + '<｜tool▁call▁end｜>'}}{{'<｜tool▁calls▁end｜><｜end▁of▁sentence｜>'}}{%- endif %}{%- endfor %}{%- endif %}{%- if message['role'] == 'assistant' and message['content'] is not none %}{%- if ns.is_tool %}{{'<｜tool▁outputs▁end｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}{%- set ns.is_tool = false -%}{%- else %}{% set content = message['content'] %}{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}{%- endif %}{%- endif %}{%- if message['role'] == 'tool' %}{%- set ns.is_tool = true -%}{%- if ns.is_output_first %}{{'<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- set ns.is_output_first = false %}{%- else %}{{'\n<｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- endif %}{%- endif %}{%- endfor -%}{% if ns.is_tool %}{{'<｜tool▁outputs▁end｜>'}}{% endif %}{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜><think>\n'}}{% endif %})J";

constexpr const char* kMistralV3Tools = R"J({%- if messages[0]["role"] == "system" %}
    {%- set system_message = messages[0]["content"] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}
{%- set user_messages = loop_messages | selectattr("role", "equalto", "user") | list %}

{#- This block checks for alternating user/assistant messages, skipping tool calling messages #}
{%- set ns = namespace() %}
{%- set ns.index = 0 %}
{%- for message in loop_messages %}
    {%- if not (message.role == "tool" or message.role == "tool_results" or (message.tool_calls is defined and message.tool_calls is not none)) %}
        {%- if (message["role"] == "user") != (ns.index % 2 == 0) %}
            {{- raise_exception("After the optional system message, conversation roles must alternate user/assistant/user/assistant/...") }}
        {%- endif %}
        {%- set ns.index = ns.index + 1 %}
    {%- endif %}
{%- endfor %}

{{- bos_token }}
{%- for message in loop_messages %}
    {%- if message["role"] == "user" %}
        {%- if tools is not none and (message == user_messages[-1]) %}
            {{- "[AVAILABLE_TOOLS] [" }}
            {%- for tool in tools %}
                {%- set tool = tool.function %}
                {{- '{"type": "function", "function": {' }}
                {%- for key, val in tool.items() if key != "return" %}
                    {%- if val is string %}
                        {{- '"' + key + '": "' + val + '"' }}
                    {%- else %}
                        {{- '"' + key + '": ' + val|tojson }}
                    {%- endif %}
                    {%- if not loop.last %}
                        {{- ", " }}
                    {%- endif %}
                {%- endfor %}
                {{- "}}" }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- else %}
                    {{- "]" }}
                {%- endif %}
            {%- endfor %}
            {{- "[/AVAILABLE_TOOLS]" }}
            {%- endif %}
        {%- if loop.last and system_message is defined %}
            {{- "[INST] " + system_message + "\n\n" + message["content"] + "[/INST]" }}
        {%- else %}
            {{- "[INST] " + message["content"] + "[/INST]" }}
        {%- endif %}
    {%- elif message.tool_calls is defined and message.tool_calls is not none %}
        {{- "[TOOL_CALLS] [" }}
        {%- for tool_call in message.tool_calls %}
            {%- set out = tool_call.function|tojson %}
            {{- out[:-1] }}
            {%- if not tool_call.id is defined or tool_call.id|length != 9 %}
                {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
            {%- endif %}
            {{- ', "id": "' + tool_call.id + '"}' }}
            {%- if not loop.last %}
                {{- ", " }}
            {%- else %}
                {{- "]" + eos_token }}
            {%- endif %}
        {%- endfor %}
    {%- elif message["role"] == "assistant" %}
        {{- " " + message["content"]|trim + eos_token}}
    {%- elif message["role"] == "tool_results" or message["role"] == "tool" %}
        {%- if message.content is defined and message.content.content is defined %}
            {%- set content = message.content.content %}
        {%- else %}
            {%- set content = message.content %}
        {%- endif %}
        {{- '[TOOL_RESULTS] {"content": ' + content|string + ", " }}
        {%- if not message.tool_call_id is defined or message.tool_call_id|length != 9 %}
            {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
        {%- endif %}
        {{- '"call_id": "' + message.tool_call_id + '"}[/TOOL_RESULTS]' }}
    {%- else %}
        {{- raise_exception("Only user and assistant roles are supported, with the exception of an initial optional system message!") }}
    {%- endif %}
{%- endfor %}
)J";

TEST(ChatRealTemplates, Llama2SystemMultiTurn) {
  EXPECT_EQ(render(kLlama2, R"J({"bos_token": "<s>", "eos_token": "</s>", "add_generation_prompt": true, "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi "}, {"role": "assistant", "content": " Hello! "}, {"role": "user", "content": "Café \"2\"?"}]})J"),
            R"J(<s>[INST] <<SYS>>
Be brief.
<</SYS>>

Hi [/INST] Hello! </s><s>[INST] Café "2"? [/INST])J");
}

TEST(ChatRealTemplates, Llama2NoSystem) {
  EXPECT_EQ(render(kLlama2, R"J({"bos_token": "<s>", "eos_token": "</s>", "add_generation_prompt": true, "messages": [{"role": "user", "content": "Hi "}, {"role": "assistant", "content": " Hello! "}, {"role": "user", "content": "Café \"2\"?"}]})J"),
            R"J(<s>[INST] Hi [/INST] Hello! </s><s>[INST] Café "2"? [/INST])J");
}

TEST(ChatRealTemplates, Llama2NotAlternating) {
  expect_error(kLlama2, R"J({"bos_token": "<s>", "eos_token": "</s>", "add_generation_prompt": true, "messages": [{"role": "user", "content": "Hi "}, {"role": "user", "content": "Hi "}]})J",
               "Conversation roles must alternate user/assistant/user/assistant/...");
}

TEST(ChatRealTemplates, ZephyrWithGenerationPrompt) {
  EXPECT_EQ(render(kZephyr, R"J({"bos_token": "<s>", "eos_token": "</s>", "add_generation_prompt": true, "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi "}, {"role": "assistant", "content": " Hello! "}, {"role": "user", "content": "Café \"2\"?"}]})J"),
            R"J(<|system|>
Be brief.</s>
<|user|>
Hi </s>
<|assistant|>
 Hello! </s>
<|user|>
Café "2"?</s>
<|assistant|>
)J");
}

TEST(ChatRealTemplates, ZephyrWithout) {
  EXPECT_EQ(render(kZephyr, R"J({"bos_token": "<s>", "eos_token": "</s>", "add_generation_prompt": false, "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi "}]})J"),
            R"J(<|system|>
Be brief.</s>
<|user|>
Hi </s>
)J");
}

TEST(ChatRealTemplates, ChatMLConversation) {
  EXPECT_EQ(render(kChatML, R"J({"bos_token": "<s>", "eos_token": "</s>", "add_generation_prompt": true, "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi "}, {"role": "assistant", "content": " Hello! "}, {"role": "user", "content": "Café \"2\"?"}]})J"),
            R"J(<|im_start|>system
Be brief.<|im_end|>
<|im_start|>user
Hi <|im_end|>
<|im_start|>assistant
 Hello! <|im_end|>
<|im_start|>user
Café "2"?<|im_end|>
<|im_start|>assistant
)J");
}

TEST(ChatRealTemplates, Phi4Conversation) {
  EXPECT_EQ(render(kPhi4, R"J({"bos_token": "<s>", "eos_token": "</s>", "add_generation_prompt": true, "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi "}, {"role": "assistant", "content": " Hello! "}, {"role": "user", "content": "Café \"2\"?"}]})J"),
            R"J(<|im_start|>system<|im_sep|>Be brief.<|im_end|><|im_start|>user<|im_sep|>Hi <|im_end|><|im_start|>assistant<|im_sep|> Hello! <|im_end|><|im_start|>user<|im_sep|>Café "2"?<|im_end|><|im_start|>assistant<|im_sep|>)J");
}

TEST(ChatRealTemplates, Gemma3SystemFoldedIntoFirstUser) {
  EXPECT_EQ(render(kGemma3, R"J({"bos_token": "<s>", "eos_token": "</s>", "add_generation_prompt": true, "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi "}, {"role": "assistant", "content": " Hello! "}, {"role": "user", "content": "Café \"2\"?"}]})J"),
            R"J(<s><start_of_turn>user
Be brief.

Hi<end_of_turn>
<start_of_turn>model
Hello!<end_of_turn>
<start_of_turn>user
Café "2"?<end_of_turn>
<start_of_turn>model
)J");
}

TEST(ChatRealTemplates, Gemma3MultimodalContent) {
  EXPECT_EQ(render(kGemma3, R"J({"bos_token": "<s>", "eos_token": "</s>", "add_generation_prompt": true, "messages": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": " What is this? "}]}]})J"),
            R"J(<s><start_of_turn>user
<start_of_image>What is this?<end_of_turn>
<start_of_turn>model
)J");
}

TEST(ChatRealTemplates, Gemma3BadContent) {
  expect_error(kGemma3, R"J({"bos_token": "<s>", "eos_token": "</s>", "add_generation_prompt": true, "messages": [{"role": "user", "content": 5}]})J",
               "Invalid content type");
}

TEST(ChatRealTemplates, DeepSeekR1ThinkingStripped) {
  EXPECT_EQ(render(kDeepSeekR1, R"J({"bos_token": "<s>", "eos_token": "</s>", "add_generation_prompt": true, "messages": [{"role": "system", "content": "S."}, {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "<think>add</think>4"}, {"role": "user", "content": "3+3?"}]})J"),
            R"J(<s>S.<｜User｜>2+2?<｜Assistant｜>4<｜end▁of▁sentence｜><｜User｜>3+3?<｜Assistant｜><think>
)J");
}

TEST(ChatRealTemplates, DeepSeekR1ToolCall) {
  EXPECT_EQ(render(kDeepSeekR1, R"J({"bos_token": "<s>", "eos_token": "</s>", "add_generation_prompt": true, "messages": [{"role": "user", "content": "Weather?"}, {"role": "assistant", "content": null, "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]}, {"role": "tool", "content": "22C"}]})J"),
            R"J(<s><｜User｜>Weather?<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather
```json
{"city": "Paris"}
```<｜tool▁call▁end｜><｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>22C<｜tool▁output▁end｜><｜tool▁outputs▁end｜>)J");
}

TEST(ChatRealTemplates, MistralV3ToolsToolsAndCalls) {
  EXPECT_EQ(render(kMistralV3Tools, R"J({"bos_token": "<s>", "eos_token": "</s>", "add_generation_prompt": true, "messages": [{"role": "user", "content": "Weather in Paris?"}, {"role": "assistant", "tool_calls": [{"id": "abcDEF123", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}}]}, {"role": "tool", "tool_call_id": "abcDEF123", "content": "22"}, {"role": "assistant", "content": "It is 22 degrees."}, {"role": "user", "content": "Thanks"}], "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Get the weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}}}]})J"),
            R"J(<s>[INST] Weather in Paris?[/INST][TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}, "id": "abcDEF123"}]</s>[TOOL_RESULTS] {"content": 22, "call_id": "abcDEF123"}[/TOOL_RESULTS] It is 22 degrees.</s>[AVAILABLE_TOOLS] [{"type": "function", "function": {"name": "get_weather", "description": "Get the weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}}}][/AVAILABLE_TOOLS][INST] Thanks[/INST])J");
}

TEST(ChatRealTemplates, MistralV3ToolsBadCallId) {
  expect_error(kMistralV3Tools, R"J({"bos_token": "<s>", "eos_token": "</s>", "add_generation_prompt": true, "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [{"id": "short", "type": "function", "function": {"name": "f", "arguments": {}}}]}]})J",
               "Tool call IDs should be alphanumeric strings with length 9!");
}

}  // namespace
}  // namespace sieve::chat
