// The JSON shapes the server writes (OpenAI's) and the Prometheus text.
#include <gtest/gtest.h>

#include "runtime/metrics.h"
#include "server/openai_response.h"
#include "server/prometheus.h"
#include "tokenizer/tokenizer.h"

namespace sieve::server {
namespace {

// Token i is the letter 'a' + i; token 9 is half of a UTF-8 character.
class LetterTokenizer : public Tokenizer {
 public:
  std::vector<int32_t> encode(std::string_view, bool, bool) const override { return {}; }
  std::string piece(int32_t id) const override { return id == 9 ? std::string("\xc3") : std::string(1, static_cast<char>('a' + id)); }
  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string s;
    for (int32_t id : ids) s += piece(id);
    return s;
  }
  int32_t vocab_size() const override { return 10; }
  int32_t bos_id() const override { return -1; }
  int32_t eos_id() const override { return -1; }
  bool is_end_of_generation(int32_t) const override { return false; }
};

RequestResult result_of(const std::string& stop_reason) {
  RequestResult r;
  r.prompt_tokens = {1, 2, 3};
  r.tokens = {4, 5};
  r.text = "ef";
  r.stop_reason = stop_reason;
  r.cached_prompt_tokens = 2;
  return r;
}

TEST(OpenAIResponse, Completion) {
  const ResponseHeader h{"cmpl-1", 100, "m", false};
  const json j = completion_json(h, result_of("length"), nullptr);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["id"], "cmpl-1");
  EXPECT_EQ(j["model"], "m");
  EXPECT_EQ(j["choices"][0]["text"], "ef");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(j["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(j["usage"]["prompt_tokens"], 3);
  EXPECT_EQ(j["usage"]["completion_tokens"], 2);
  EXPECT_EQ(j["usage"]["total_tokens"], 5);
  EXPECT_EQ(j["usage"]["prompt_tokens_details"]["cached_tokens"], 2);
}

TEST(OpenAIResponse, ChatCompletion) {
  const ResponseHeader h{"chatcmpl-1", 100, "m", true};
  const json j = completion_json(h, result_of("eos"), nullptr);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "ef");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
}

TEST(OpenAIResponse, FinishReasons) {
  EXPECT_EQ(finish_reason("eos"), "stop");
  EXPECT_EQ(finish_reason("stop"), "stop");
  EXPECT_EQ(finish_reason("length"), "length");
  EXPECT_EQ(finish_reason("context"), "length");
  EXPECT_EQ(finish_reason("cancelled"), "");
  EXPECT_EQ(finish_reason("error"), "");
}

TEST(OpenAIResponse, Chunks) {
  const ResponseHeader c{"cmpl-1", 1, "m", false};
  json j = chunk_json(c, "x", nullptr, "", false, true);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["choices"][0]["text"], "x");
  EXPECT_TRUE(j["choices"][0]["finish_reason"].is_null());
  EXPECT_TRUE(j.contains("usage") && j["usage"].is_null());
  EXPECT_FALSE(chunk_json(c, "x", nullptr, "", false, false).contains("usage"));

  const ResponseHeader h{"chatcmpl-1", 1, "m", true};
  j = chunk_json(h, "", nullptr, "", true, false);
  EXPECT_EQ(j["object"], "chat.completion.chunk");
  EXPECT_EQ(j["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["delta"]["content"], "");
  j = chunk_json(h, "", nullptr, "length", false, false);
  EXPECT_TRUE(j["choices"][0]["delta"].empty());
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");

  j = usage_chunk_json(c, result_of("length"));
  EXPECT_TRUE(j["choices"].empty());
  EXPECT_EQ(j["usage"]["total_tokens"], 5);

  EXPECT_EQ(sse_event(json{{"a", 1}}), "data: {\"a\":1}\n\n");
}

TEST(OpenAIResponse, Logprobs) {
  LetterTokenizer tok;
  std::vector<TokenLogprob> lps(2);
  lps[0] = {1, -0.5f, {{1, -0.5f}, {2, -1.5f}}};
  lps[1] = {9, -0.25f, {}};
  json c = completion_logprobs(tok, lps, {10, 11});
  EXPECT_EQ(c["tokens"][0], "b");
  EXPECT_FLOAT_EQ(c["token_logprobs"][0].get<float>(), -0.5f);
  EXPECT_FLOAT_EQ(c["top_logprobs"][0]["c"].get<float>(), -1.5f);
  EXPECT_EQ(c["text_offset"], json::array({10, 11}));
  EXPECT_EQ(dump(c).find("\xc3\""), std::string::npos);  // half a character is replaced, not an exception

  json ch = chat_logprobs(tok, lps);
  EXPECT_EQ(ch["content"][0]["token"], "b");
  EXPECT_EQ(ch["content"][0]["bytes"], json::array({98}));
  EXPECT_EQ(ch["content"][0]["top_logprobs"][1]["token"], "c");
  EXPECT_EQ(ch["content"][1]["bytes"], json::array({0xc3}));
  EXPECT_TRUE(ch["content"][1]["top_logprobs"].empty());
}

TEST(OpenAIResponse, Errors) {
  const json e = error_json("bad", error_type(400), "max_tokens", "invalid_value");
  EXPECT_EQ(e["error"]["message"], "bad");
  EXPECT_EQ(e["error"]["type"], "invalid_request_error");
  EXPECT_EQ(e["error"]["param"], "max_tokens");
  EXPECT_EQ(e["error"]["code"], "invalid_value");
  const json n = error_json("x", error_type(401));
  EXPECT_TRUE(n["error"]["param"].is_null());
  EXPECT_TRUE(n["error"]["code"].is_null());
  EXPECT_EQ(error_type(401), "authentication_error");
  EXPECT_EQ(error_type(429), "rate_limit_error");
  EXPECT_EQ(error_type(413), "invalid_request_error");
}

TEST(Prometheus, NamesTypesAndPolicyLabels) {
  EngineMetrics m;
  m.requests_running = 2;
  m.requests_waiting = 1;
  m.kv_cache_usage = 0.25;
  m.prompt_tokens = 100;
  m.generation_tokens = 50;
  m.prefix_cached_tokens = 64;
  m.preemptions = 3;
  m.finished_by_reason["stop"] = 3;
  m.finished_by_reason["eos"] = 1;
  m.finished_by_reason["cancelled"] = 2;
  Histogram h({0.1, 1.0});
  h.observe(0.05);
  h.observe(0.5);
  h.observe(5);
  m.time_to_first_token.emplace("quest", h);
  const std::string t = prometheus_text(m);
  for (const char* line : {"# TYPE sieve:num_requests_running gauge", "sieve:num_requests_running 2",
                           "sieve:num_requests_waiting 1", "sieve:kv_cache_usage_perc 0.25",
                           "# TYPE sieve:prompt_tokens_total counter", "sieve:prompt_tokens_total 100",
                           "sieve:generation_tokens_total 50", "sieve:prefix_cache_hits_total 64",
                           "sieve:num_preemptions_total 3", "sieve:request_success_total{finished_reason=\"stop\"} 4",
                           "sieve:request_success_total{finished_reason=\"abort\"} 2",
                           "# TYPE sieve:time_to_first_token_seconds histogram",
                           "sieve:time_to_first_token_seconds_bucket{policy=\"quest\",le=\"0.1\"} 1",
                           "sieve:time_to_first_token_seconds_bucket{policy=\"quest\",le=\"1\"} 2",
                           "sieve:time_to_first_token_seconds_bucket{policy=\"quest\",le=\"+Inf\"} 3",
                           "sieve:time_to_first_token_seconds_count{policy=\"quest\"} 3",
                           "# HELP sieve:inter_token_latency_seconds", "# TYPE sieve:e2e_request_latency_seconds histogram",
                           "# TYPE sieve:request_queue_time_seconds histogram"}) {
    EXPECT_NE(t.find(std::string(line) + (line[0] == '#' ? "" : "\n")), std::string::npos) << line;
  }
}

}  // namespace
}  // namespace sieve::server
