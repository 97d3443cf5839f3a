// The evaluation on the test model: perplexity against a hand computation
// from the logits, streaming perplexity against windowed, and retrieval runs
// that give every policy the same prompts.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "eval/perplexity.h"
#include "eval/retrieval.h"
#include "test_paths.h"

namespace sieve::eval {
namespace {

const Model& model() {
  static const auto m = Model::load(test_model_dir() + "/model-bf16.gguf");
  return *m;
}

std::string haystack() {
  std::ifstream in(source_dir() + "/data/haystack.txt", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(EvalPerplexity, TokenNllIsMinusLogSoftmax) {
  const float logits[3] = {1.0f, 2.0f, 3.0f};
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(token_nll(logits, 3, 2), -std::log(std::exp(3.0) / z), 1e-12);
  EXPECT_NEAR(token_nll(logits, 3, 0), -std::log(std::exp(1.0) / z), 1e-12);
  const float big[2] = {1000.0f, 1000.0f};  // no overflow
  EXPECT_NEAR(token_nll(big, 2, 1), std::log(2.0), 1e-12);
}

TEST(EvalPerplexity, TinyWindowMatchesHandComputation) {
  ThreadPool pool(1);  // one thread: a spinning pool on a busy test machine only slows down
  Transformer tf(model(), pool);
  const std::vector<int32_t> hay = model().tokenizer().encode("The quick brown fox jumps over the lazy dog.", false);
  ASSERT_GE(hay.size(), 7u);
  const std::vector<int32_t> first7(hay.begin(), hay.begin() + 7);
  std::vector<int32_t> window{model().tokenizer().bos_id()};
  window.insert(window.end(), first7.begin(), first7.end());
  // By hand: all logits of the window, log-sum-exp in long double.
  const int64_t V = model().config().vocab_size;
  std::vector<float> logits(window.size() * V);
  KvCache cache(tf.cache_shape(KvType::F32));
  tf.forward(window.data(), static_cast<int64_t>(window.size()), cache, logits.data(), true);
  long double nll = 0;
  for (size_t i = 0; i + 1 < window.size(); ++i) {
    long double sum = 0;
    for (int64_t v = 0; v < V; ++v) sum += std::exp(static_cast<long double>(logits[i * V + v]));
    nll += std::log(sum) - logits[i * V + window[i + 1]];
  }
  const double expect = std::exp(static_cast<double>(nll / 7));
  const auto segs = windowed_ppl(tf, KvType::F32, "full", first7, 8, 0, 0);
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].predicted, 7);
  EXPECT_EQ(segs[0].start, 0);
  EXPECT_EQ(segs[0].end, 7);
  EXPECT_NEAR(segs[0].ppl(), expect, expect * 1e-9);
  EXPECT_NEAR(overall_ppl(segs), expect, expect * 1e-9);
  EXPECT_GT(segs[0].kv_cache_bytes, 0u);
}

TEST(EvalPerplexity, StreamMatchesWindowAndStreamingCacheStaysFlat) {
  ThreadPool pool(1);  // one thread: a spinning pool on a busy test machine only slows down
  Transformer tf(model(), pool);
  const std::vector<int32_t> hay = model().tokenizer().encode(haystack().substr(0, 4000), false);
  // One token per call through a full cache sees what one window sees.
  auto full = make_policy("full", model().config());
  const auto stream = stream_ppl(tf, KvType::F32, *full, hay, 48, 16);
  ASSERT_EQ(stream.size(), 3u);
  EXPECT_EQ(stream[0].predicted, 15);  // position 0 (BOS) predicts nothing
  EXPECT_EQ(stream[2].end, 48);
  const auto window = windowed_ppl(tf, KvType::F32, "full", hay, 48, 47, 0);
  ASSERT_EQ(window.size(), 1u);
  EXPECT_NEAR(overall_ppl(stream), window[0].ppl(), window[0].ppl() * 1e-3);
  // StreamingLLM's cache stops growing once the window is full.
  auto streaming = make_policy("streaming:sink=4,window=16", model().config());
  const auto flat = stream_ppl(tf, KvType::F16, *streaming, hay, 260, 64);
  ASSERT_EQ(flat.size(), 5u);
  const size_t per_token = KvCache(tf.cache_shape(KvType::F16)).bytes_per_token();
  for (size_t k = 2; k < flat.size(); ++k)  // the sink page and at most two window pages of 64
    EXPECT_LE(flat[k].kv_cache_bytes, 3 * 64 * per_token) << k;
  for (const PplSegment& s : flat) EXPECT_TRUE(std::isfinite(s.ppl()) && s.ppl() > 1);
}

TEST(EvalPerplexity, ContinuationScoresTheTailAfterThePromptIsCompressed) {
  ThreadPool pool(1);
  Transformer tf(model(), pool);
  const std::vector<int32_t> hay = model().tokenizer().encode(haystack().substr(0, 4000), false);
  // The tail's NLL, one token per step after the prompt, equals the same
  // tokens' NLL inside one whole-window forward (full attention).
  const int64_t length = 200, tail = 24;
  std::vector<int32_t> window{model().tokenizer().bos_id()};
  window.insert(window.end(), hay.begin(), hay.begin() + length - 1);
  const int64_t V = model().config().vocab_size;
  std::vector<float> logits(window.size() * V);
  KvCache cache(tf.cache_shape(KvType::F32));
  tf.forward(window.data(), length, cache, logits.data(), true);
  double nll = 0;
  for (int64_t i = length - tail - 1; i + 1 < length; ++i) nll += token_nll(logits.data() + i * V, V, window[i + 1]);
  const auto full = windowed_ppl(tf, KvType::F32, "full", hay, length, 0, tail);
  ASSERT_FALSE(full.empty());
  EXPECT_EQ(full[0].predicted, tail);
  EXPECT_NEAR(full[0].nll_sum, nll, 1e-3 * nll);
  // SnapKV compresses the prompt before the tail is scored: a smaller cache,
  // a finite perplexity, and not full's (it sees less).
  const auto snap = windowed_ppl(tf, KvType::F32, "snapkv:budget=48,window=8", hay, length, 0, tail);
  ASSERT_EQ(snap.size(), full.size());
  EXPECT_EQ(snap[0].predicted, tail);
  EXPECT_LT(snap[0].kv_cache_bytes, full[0].kv_cache_bytes);
  EXPECT_TRUE(std::isfinite(snap[0].ppl()));
  EXPECT_NE(snap[0].nll_sum, full[0].nll_sum);
  // After the compaction the tail goes on at its true positions, not after the last kept slot.
  KvCache compressed(tf.cache_shape(KvType::F32));
  auto policy = make_policy("snapkv:budget=48,window=8", model().config());
  continuation_nll(tf, compressed, *policy, window, tail);
  EXPECT_LT(compressed.size(), length - 1);
  EXPECT_EQ(compressed.positions().back(), length - 2);  // the last token fed (the last one only is predicted)
  EXPECT_THROW(windowed_ppl(tf, KvType::F32, "full", hay, length, 0, length), Error);
}

TEST(EvalRetrieval, EveryPolicySeesTheSamePrompts) {
  ThreadPool pool(1);  // one thread: a spinning pool on a busy test machine only slows down
  Engine engine(model(), pool, EngineOptions{});
  PromptBuilder builder(model().tokenizer(), haystack());
  RetrievalOptions o;
  o.task = Task::Passkey;
  o.lengths = {160};
  o.depths = {20, 80};
  o.samples = {2};
  o.policies = {"full", "streaming:sink=4,window=32"};
  const auto cells = run_retrieval(engine, builder, o, nullptr);
  ASSERT_EQ(cells.size(), 4u);
  for (size_t d = 0; d < 2; ++d) {
    const RetrievalCell& a = cells[d];
    const RetrievalCell& b = cells[2 + d];
    EXPECT_EQ(a.attn, "full");
    EXPECT_EQ(b.attn, "streaming:sink=4,window=32");
    EXPECT_EQ(a.depth, o.depths[d]);
    EXPECT_EQ(a.samples, 2);
    EXPECT_EQ(a.expected, b.expected);
    EXPECT_EQ(a.expected[0], builder.build(Task::Passkey, 0, 160, o.depths[d], 0).expected);
    EXPECT_GT(a.decoded_tokens, 0);
    EXPECT_LT(b.kv_bytes_per_token(), a.kv_bytes_per_token());
  }
}

TEST(EvalCli, PasskeyJsonAndHeatmap) {
  const auto dir = std::filesystem::temp_directory_path() / ("sieve-eval-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  const std::string cmd = sieve_binary() + " eval -m " + test_model_dir() + "/model-bf16.gguf --task passkey --lengths 160,192" +
                          " --depths 0,100 --samples 1,2 --attn full --attn streaming:sink=4,window=32" +
                          " --attn recycled:budget=64,stride=4 -t 1 --json" +
                          " --haystack " + source_dir() + "/data/haystack.txt --out-dir " + dir.string() + " 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  ASSERT_EQ(::pclose(p), 0) << out;
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["task"], "passkey");
  EXPECT_EQ(j["seed"], 0);
  ASSERT_EQ(j["results"].size(), 12u);  // 3 policies x 2 lengths x 2 depths
  for (const auto& r : j["results"]) {
    for (const char* key : {"attn", "length", "depth", "samples", "correct", "accuracy", "kv_bytes_per_token"})
      EXPECT_TRUE(r.contains(key)) << key;
    EXPECT_EQ(r["samples"], r["length"] == 160 ? 1 : 2);  // --samples gives one count per length
    // A policy's own counters, per sample: recycled's steps are its decoded tokens.
    const bool recycled = r["attn"].get<std::string>().rfind("recycled", 0) == 0;
    ASSERT_EQ(r.contains("policy_counters"), recycled) << r["attn"];
    if (recycled) {
      const auto& c = r["policy_counters"];
      EXPECT_GT(c["full_steps"].get<double>(), 0);
      EXPECT_GT(c["recycled_steps"].get<double>(), 0);
    }
  }
  EXPECT_TRUE(std::filesystem::exists(dir / "eval-passkey-full.svg"));
  EXPECT_TRUE(std::filesystem::exists(dir / "eval-passkey-streaming_sink_4_window_32.svg"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace sieve::eval
