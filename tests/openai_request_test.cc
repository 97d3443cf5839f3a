// Parsing and validating OpenAI request bodies: every refusal is a
// RequestError naming the field, never another exception.
#include <gtest/gtest.h>

#include <string>

#include "server/openai_request.h"

namespace sieve::server {
namespace {

CompletionRequest parse(const std::string& body, bool chat = false) {
  RequestLimits limits;
  limits.vocab_size = 100;
  return parse_completion_request(body, chat, limits);
}

// The param a body is refused for ("" for the body as a whole).
std::string refused(const std::string& body, bool chat = false) {
  try {
    parse(body, chat);
  } catch (const RequestError& e) {
    EXPECT_FALSE(std::string(e.what()).empty());
    return e.param().empty() ? "<body>" : e.param();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a RequestError: " << e.what() << " for " << body;
    return "<other>";
  }
  ADD_FAILURE() << "accepted: " << body;
  return "<accepted>";
}

TEST(OpenAIRequest, CompletionWithEveryParameter) {
  const CompletionRequest r = parse(R"({"model": "m", "prompt": "Hello", "max_tokens": 7, "temperature": 0.5,
      "top_p": 0.9, "top_k": 5, "min_p": 0.1, "seed": 42, "stop": ["a", "bc"], "presence_penalty": 0.5,
      "frequency_penalty": -1, "n": 1, "user": "u", "attn": "streaming:sink=4,window=64", "rope": "yarn:factor=4", "stream": true,
      "stream_options": {"include_usage": true}, "logprobs": 3, "echo": false, "best_of": 1, "ignore_eos": true,
      "logit_bias": {}})");
  EXPECT_FALSE(r.chat);
  EXPECT_EQ(r.model, "m");
  EXPECT_EQ(r.prompt, "Hello");
  EXPECT_FALSE(r.prompt_is_tokens);
  EXPECT_EQ(r.options.max_tokens, 7);
  EXPECT_TRUE(r.max_tokens_given);
  EXPECT_FLOAT_EQ(r.options.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(r.options.sampling.top_p, 0.9f);
  EXPECT_EQ(r.options.sampling.top_k, 5);
  EXPECT_FLOAT_EQ(r.options.sampling.min_p, 0.1f);
  EXPECT_EQ(r.options.sampling.seed, 42u);
  EXPECT_TRUE(r.seed_given);
  EXPECT_EQ(r.options.stop, (std::vector<std::string>{"a", "bc"}));
  EXPECT_FLOAT_EQ(r.options.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(r.options.frequency_penalty, -1.0f);
  EXPECT_EQ(r.options.attn, "streaming:sink=4,window=64");
  EXPECT_EQ(r.options.rope, "yarn:factor=4");
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.options.top_logprobs, 3);
  EXPECT_TRUE(r.options.ignore_eos);
}

TEST(OpenAIRequest, DefaultsAreOpenAIs) {
  const CompletionRequest r = parse(R"({"prompt": "x"})");
  EXPECT_EQ(r.options.max_tokens, 16);
  EXPECT_FALSE(r.max_tokens_given);
  EXPECT_FLOAT_EQ(r.options.sampling.temperature, 1.0f);
  EXPECT_FLOAT_EQ(r.options.sampling.top_p, 1.0f);
  EXPECT_EQ(r.options.sampling.top_k, 0);
  EXPECT_FLOAT_EQ(r.options.sampling.min_p, 0.0f);
  EXPECT_EQ(r.options.top_logprobs, -1);
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.seed_given);
  EXPECT_TRUE(r.options.attn.empty());
}

TEST(OpenAIRequest, NullMeansNotGiven) {
  const CompletionRequest r = parse(R"({"prompt": "x", "max_tokens": null, "stop": null, "logprobs": null, "seed": null})");
  EXPECT_FALSE(r.max_tokens_given);
  EXPECT_TRUE(r.options.stop.empty());
  EXPECT_FALSE(r.logprobs);
}

TEST(OpenAIRequest, PromptForms) {
  EXPECT_EQ(parse(R"({"prompt": [1, 2, 3]})").prompt_tokens, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_TRUE(parse(R"({"prompt": [1, 2, 3]})").prompt_is_tokens);
  EXPECT_EQ(parse(R"({"prompt": [[4, 5]]})").prompt_tokens, (std::vector<int32_t>{4, 5}));
  EXPECT_EQ(parse(R"({"prompt": ["one"]})").prompt, "one");
  EXPECT_EQ(refused(R"({"prompt": ["one", "two"]})"), "prompt");
  EXPECT_EQ(refused(R"({"prompt": [[1], [2]]})"), "prompt");
  EXPECT_EQ(refused(R"({"prompt": []})"), "prompt");
  EXPECT_EQ(refused(R"({"prompt": [1, 100]})"), "prompt");  // past the vocabulary
  EXPECT_EQ(refused(R"({"prompt": [-1]})"), "prompt");
  EXPECT_EQ(refused(R"({"prompt": [1.5]})"), "prompt");
  EXPECT_EQ(refused(R"({"prompt": 5})"), "prompt");
  EXPECT_EQ(refused(R"({"prompt": {"a": 1}})"), "prompt");
  EXPECT_EQ(refused(R"({"max_tokens": 5})"), "prompt");
}

TEST(OpenAIRequest, MalformedBodies) {
  EXPECT_EQ(refused(""), "<body>");
  EXPECT_EQ(refused("{"), "<body>");
  EXPECT_EQ(refused(R"({"prompt": "x",})"), "<body>");
  EXPECT_EQ(refused("[1, 2]"), "<body>");
  EXPECT_EQ(refused("\"text\""), "<body>");
  EXPECT_EQ(refused("{\"prompt\": \"\xff\xfe\"}"), "<body>");   // invalid UTF-8
  EXPECT_EQ(refused("{\"prompt\": \"\xc3\"}"), "<body>");       // truncated UTF-8
  EXPECT_EQ(refused(R"({"prompt": "\ud800"})"), "<body>");      // lone surrogate escape
  EXPECT_EQ(refused(R"({"prompt": "x", "temperature": NaN})"), "<body>");
  EXPECT_EQ(refused(std::string(100, '[') + std::string(100, ']')), "<body>");  // too deep
  EXPECT_EQ(refused(std::string("{\"prompt\": \"a\0b\"}", 17)), "<body>");      // raw control character
}

TEST(OpenAIRequest, BadValuesNameTheirField) {
  EXPECT_EQ(refused(R"({"prompt": "x", "max_tokens": -1})"), "max_tokens");
  EXPECT_EQ(refused(R"({"prompt": "x", "max_tokens": 0})"), "max_tokens");
  EXPECT_EQ(refused(R"({"prompt": "x", "max_tokens": 1e30})"), "max_tokens");
  EXPECT_EQ(refused(R"({"prompt": "x", "max_tokens": 99999999999999999999})"), "max_tokens");
  EXPECT_EQ(refused(R"({"prompt": "x", "max_tokens": 18446744073709551615})"), "max_tokens");
  EXPECT_EQ(refused(R"({"prompt": "x", "max_tokens": "5"})"), "max_tokens");
  EXPECT_EQ(refused(R"({"prompt": "x", "max_tokens": 5.5})"), "max_tokens");
  EXPECT_EQ(refused(R"({"prompt": "x", "temperature": -0.1})"), "temperature");
  EXPECT_EQ(refused(R"({"prompt": "x", "temperature": 1e400})"), "<body>");  // past double's range
  EXPECT_EQ(refused(R"({"prompt": "x", "temperature": "hot"})"), "temperature");
  EXPECT_EQ(refused(R"({"prompt": "x", "top_p": 0})"), "top_p");
  EXPECT_EQ(refused(R"({"prompt": "x", "top_p": 1.5})"), "top_p");
  EXPECT_EQ(refused(R"({"prompt": "x", "top_k": -1})"), "top_k");
  EXPECT_EQ(refused(R"({"prompt": "x", "min_p": 1})"), "min_p");
  EXPECT_EQ(refused(R"({"prompt": "x", "presence_penalty": 3})"), "presence_penalty");
  EXPECT_EQ(refused(R"({"prompt": "x", "frequency_penalty": -2.5})"), "frequency_penalty");
  EXPECT_EQ(refused(R"({"prompt": "x", "seed": 1.5})"), "seed");
  EXPECT_EQ(refused(R"({"prompt": "x", "stream": "yes"})"), "stream");
  EXPECT_EQ(refused(R"({"prompt": "x", "stream_options": {"include_usage": 1}})"), "stream_options.include_usage");
  EXPECT_EQ(refused(R"({"prompt": "x", "stream_options": {"other": true}})"), "stream_options.other");
  EXPECT_EQ(refused(R"({"prompt": "x", "attn": 5})"), "attn");
  // A request may not make the server read a file it was not started with.
  EXPECT_EQ(refused(R"({"prompt": "x", "attn": "minference:config=/etc/passwd"})"), "attn");
  EXPECT_EQ(refused(R"({"prompt": "x", "attn": "minference:pattern=dense,config=/etc/passwd+full"})"), "attn");
  RequestLimits with_file;
  with_file.pattern_files = {"/srv/patterns.json"};
  EXPECT_EQ(parse_completion_request(R"({"prompt": "x", "attn": "minference:config=/srv/patterns.json+quest"})", false,
                                     with_file)
                .options.attn,
            "minference:config=/srv/patterns.json+quest");
  EXPECT_EQ(refused(R"({"prompt": "x", "attn": ")" + std::string(2000, 'a') + "\"}"), "attn");
  EXPECT_EQ(refused(R"({"prompt": "x", "rope": ["yarn"]})"), "rope");
  EXPECT_EQ(refused(R"({"prompt": "x", "rope": ")" + std::string(2000, 'a') + "\"}"), "rope");
  EXPECT_EQ(refused(R"({"prompt": "x", "model": 5})"), "model");
  EXPECT_EQ(refused(R"({"prompt": "x", "logprobs": 21})"), "logprobs");
  EXPECT_EQ(refused(R"({"prompt": "x", "logprobs": true})"), "logprobs");
}

TEST(OpenAIRequest, UnsupportedParametersAreRefusedByName) {
  EXPECT_EQ(refused(R"({"prompt": "x", "n": 2})"), "n");
  EXPECT_EQ(refused(R"({"prompt": "x", "best_of": 3})"), "best_of");
  EXPECT_EQ(refused(R"({"prompt": "x", "echo": true})"), "echo");
  EXPECT_EQ(refused(R"({"prompt": "x", "suffix": "end"})"), "suffix");
  EXPECT_EQ(refused(R"({"prompt": "x", "logit_bias": {"5": 100}})"), "logit_bias");
  EXPECT_EQ(refused(R"({"prompt": "x", "frobnicate": 1})"), "frobnicate");
  EXPECT_EQ(refused(R"({"prompt": "x", "messages": []})"), "messages");  // a chat field on completions
  EXPECT_EQ(refused(R"({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]})", true), "tools");
  EXPECT_EQ(refused(R"({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}})", true),
            "response_format");
  EXPECT_EQ(refused(R"({"messages": [{"role": "user", "content": "x"}], "prompt": "x"})", true), "prompt");
  EXPECT_EQ(refused(R"({"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "high"})", true), "reasoning_effort");
}

TEST(OpenAIRequest, StopStringsAreBounded) {
  EXPECT_EQ(parse(R"({"prompt": "x", "stop": "\n"})").options.stop, (std::vector<std::string>{"\n"}));
  std::string many = R"({"prompt": "x", "stop": [)";
  for (int i = 0; i < 5000; ++i) many += (i ? ",\"s" : "\"s") + std::to_string(i) + "\"";
  many += "]}";
  EXPECT_EQ(refused(many), "stop");
  EXPECT_EQ(refused(R"({"prompt": "x", "stop": [""]})"), "stop");
  EXPECT_EQ(refused(R"({"prompt": "x", "stop": [1]})"), "stop");
  EXPECT_EQ(refused(R"({"prompt": "x", "stop": ")" + std::string(300, 'a') + "\"}"), "stop");
}

TEST(OpenAIRequest, ChatMessages) {
  const CompletionRequest r = parse(R"({"messages": [{"role": "system", "content": "Be brief."},
      {"role": "user", "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}]}],
      "max_completion_tokens": 9, "logprobs": true, "top_logprobs": 2, "metadata": {"a": "b"}, "store": false})", true);
  EXPECT_TRUE(r.chat);
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[0].role, "system");
  EXPECT_EQ(r.messages[1].content, "Hi there");
  EXPECT_EQ(r.options.max_tokens, 9);
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.options.top_logprobs, 2);
  EXPECT_EQ(parse(R"({"messages": [{"role": "user", "content": "x"}], "logprobs": true})", true).options.top_logprobs, 0);
  const CompletionRequest k = parse(R"({"messages": [{"role": "user", "content": "x", "name": "ann"}],
      "chat_template_kwargs": {"enable_thinking": false}})", true);
  EXPECT_EQ(k.messages[0].name, "ann");
  EXPECT_EQ(k.template_kwargs, R"({"enable_thinking":false})");
  EXPECT_EQ(refused(R"({"messages": [{"role": "user", "content": "x"}], "chat_template_kwargs": 1})", true), "chat_template_kwargs");
}

TEST(OpenAIRequest, BadChatMessages) {
  EXPECT_EQ(refused(R"({"messages": "hello"})", true), "messages");
  EXPECT_EQ(refused(R"({"messages": {"role": "user"}})", true), "messages");
  EXPECT_EQ(refused(R"({"messages": []})", true), "messages");
  EXPECT_EQ(refused(R"({"messages": [5]})", true), "messages[0]");
  EXPECT_EQ(refused(R"({"messages": [{"content": "x"}]})", true), "messages[0].role");
  EXPECT_EQ(refused(R"({"messages": [{"role": "king", "content": "x"}]})", true), "messages[0].role");
  EXPECT_EQ(refused(R"({"messages": [{"role": "user", "content": 5}]})", true), "messages[0].content");
  EXPECT_EQ(refused(R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})", true), "messages[0].content");
  EXPECT_EQ(refused(R"({"messages": [{"role": "user", "content": "x", "tool_calls": []}]})", true), "messages[0].tool_calls");
  EXPECT_EQ(refused(R"({"messages": [{"role": "user", "content": "x"}], "top_logprobs": 2})", true), "top_logprobs");
  EXPECT_EQ(refused(R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 2, "max_completion_tokens": 3})", true),
            "max_tokens");
  EXPECT_EQ(refused(R"({"prompt": "x"})", true), "prompt");  // a completions field on chat
  EXPECT_EQ(refused(R"({"model": "x"})", true), "messages");
}

TEST(OpenAIRequest, TokenizeBodies) {
  EXPECT_EQ(parse_tokenize_request(R"({"content": "hi"})").content, "hi");
  EXPECT_TRUE(parse_tokenize_request(R"({"content": "hi"})").add_special);
  EXPECT_FALSE(parse_tokenize_request(R"({"prompt": "hi", "add_special": false})").add_special);
  EXPECT_THROW(parse_tokenize_request(R"({})"), RequestError);
  EXPECT_THROW(parse_tokenize_request(R"({"content": 5})"), RequestError);
  EXPECT_THROW(parse_tokenize_request(R"({"content": "a", "x": 1})"), RequestError);
  EXPECT_EQ(parse_detokenize_request(R"({"tokens": [1, 2]})", 10), (std::vector<int32_t>{1, 2}));
  EXPECT_THROW(parse_detokenize_request(R"({"tokens": [10]})", 10), RequestError);
  EXPECT_THROW(parse_detokenize_request(R"({"tokens": "1"})", 10), RequestError);
  EXPECT_THROW(parse_detokenize_request("{", 10), RequestError);
}

}  // namespace
}  // namespace sieve::server
