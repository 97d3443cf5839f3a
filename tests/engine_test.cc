// The continuous-batching engine: many sequences per step with their own
// policies, the page pool's budget and preemption, the prefix cache,
// cancellation, and batch invariance of greedy results.
#include "runtime/engine.h"

#include <gtest/gtest.h>

#include <map>

#include "runtime/generator.h"
#include "support/engine_fixture.h"
#include "test_paths.h"

namespace sieve {
namespace {

// The model, pool and greedy options of the shared fixture; prompts of its
// own (seeded streams), as these tests have always used.
class EngineTest : public testing_support::TestModelEngine {
 protected:
  // Prompts of distinct text from a fixed token stream.
  static std::vector<int32_t> prompt(int64_t n, int seed) {
    std::vector<int32_t> p = {model_->tokenizer().bos_id()};
    for (int64_t i = 1; i < n; ++i) p.push_back(static_cast<int32_t>(300 + (i * 37 + seed * 101) % 5000));
    return p;
  }
  static RequestOptions greedy(int64_t max_tokens, const std::string& attn = "full") {
    return TestModelEngine::greedy(attn, max_tokens);
  }

  struct Submitted {
    std::vector<RequestResult> results;
    std::vector<uint64_t> ids;
  };
  // Submits every request, then steps the engine until all have finished.
  static Submitted run_together(Engine& engine, const std::vector<std::vector<int32_t>>& prompts,
                                const std::vector<RequestOptions>& options) {
    Submitted s;
    s.results.resize(prompts.size());
    for (size_t i = 0; i < prompts.size(); ++i) {
      RequestCallbacks cb;
      cb.on_finish = [&s, i](const RequestResult& r) { s.results[i] = r; };
      s.ids.push_back(engine.submit(prompts[i], options[i], cb));
    }
    engine.run_until_idle();
    return s;
  }
};

const std::vector<std::string> kPolicies = {"full", "streaming:sink=4,window=64", "quest:page=16,budget=64",
                                            "recycled:budget=64,stride=8"};

TEST_F(EngineTest, GreedyResultsInABatchEqualThoseRunAlone) {
  std::vector<std::vector<int32_t>> prompts;
  std::vector<RequestOptions> options;
  for (int i = 0; i < 8; ++i) {
    prompts.push_back(prompt(40 + 29 * i, i));
    options.push_back(greedy(24, kPolicies[i % kPolicies.size()]));
  }
  std::vector<RequestResult> alone;
  EngineOptions eo;
  eo.batch_invariant = true;
  eo.batch_tokens = 64;  // prompts arrive in chunks that share steps with decodes
  for (size_t i = 0; i < prompts.size(); ++i) {
    Engine engine(*model_, *pool_, eo);
    alone.push_back(generate(engine, prompts[i], options[i]));
  }
  Engine engine(*model_, *pool_, eo);
  const Submitted together = run_together(engine, prompts, options);
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(together.results[i].stop_reason, "length");
    EXPECT_EQ(together.results[i].tokens, alone[i].tokens) << "request " << i << " (" << options[i].attn << ")";
  }
}

TEST_F(EngineTest, PreemptsWhenThePoolRunsOutAndStillFinishesEveryRequest) {
  std::vector<std::vector<int32_t>> prompts;
  std::vector<RequestOptions> options;
  for (int i = 0; i < 4; ++i) {
    prompts.push_back(prompt(150, i));
    options.push_back(greedy(40));
  }
  EngineOptions eo;
  eo.batch_invariant = true;
  eo.batch_tokens = 64;
  std::vector<RequestResult> alone;
  for (size_t i = 0; i < prompts.size(); ++i) {
    Engine engine(*model_, *pool_, eo);
    alone.push_back(generate(engine, prompts[i], options[i]));
  }
  eo.prefix_cache = false;
  // 7 pages of 64 slots: two sequences of 190 tokens (3 pages each) fit, three do not.
  eo.kv_memory_bytes = kv_page_bytes(*model_, eo) * 7;
  Engine engine(*model_, *pool_, eo);
  const Submitted together = run_together(engine, prompts, options);
  int64_t preemptions = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(together.results[i].stop_reason, "length") << together.results[i].error;
    EXPECT_EQ(together.results[i].tokens, alone[i].tokens) << "request " << i;
    preemptions += together.results[i].preemptions;
  }
  EXPECT_GT(preemptions, 0);
  const EngineMetrics m = engine.metrics();
  EXPECT_EQ(m.preemptions, static_cast<uint64_t>(preemptions));
  EXPECT_EQ(m.kv_pages_used, 0);
}

TEST_F(EngineTest, ASharedPrefixReusesPagesAndGivesTheSameTokens) {
  std::vector<int32_t> a = prompt(300, 1), b = a;
  b.resize(270);
  for (int i = 0; i < 20; ++i) b.push_back(900 + i);  // same first 270 tokens, then different
  Engine engine(*model_, *pool_, EngineOptions{});
  const RequestResult first = generate(engine, a, greedy(8));
  EXPECT_EQ(first.cached_prompt_tokens, 0);
  const RequestResult second = generate(engine, b, greedy(8));
  EXPECT_EQ(second.cached_prompt_tokens, 256);  // 4 full pages of 64
  EngineOptions no_prefix;
  no_prefix.prefix_cache = false;
  Engine plain(*model_, *pool_, no_prefix);
  EXPECT_EQ(second.tokens, generate(plain, b, greedy(8)).tokens);
  EXPECT_EQ(engine.metrics().prefix_cached_tokens, 256u);
  // Quest summarises pages lazily from the cache, so it may start from
  // shared pages; batch-invariant engines cut prompts where the prefix
  // ends, so the results are exactly those computed without the cache.
  EngineOptions invariant;
  invariant.batch_invariant = true;
  invariant.batch_tokens = 64;
  Engine cached(*model_, *pool_, invariant);
  generate(cached, a, greedy(1, "quest:page=16,budget=64"));
  const RequestResult quest = generate(cached, b, greedy(8, "quest:page=16,budget=64"));
  EXPECT_EQ(quest.cached_prompt_tokens, 256);
  invariant.prefix_cache = false;
  Engine uncached(*model_, *pool_, invariant);
  EXPECT_EQ(quest.tokens, generate(uncached, b, greedy(8, "quest:page=16,budget=64")).tokens);
  // A policy that builds its own state as tokens arrive does not take shared pages.
  EXPECT_EQ(generate(engine, b, greedy(8, "tokenselect:k=64,n_init=4,n_local=32,chunk=32")).cached_prompt_tokens, 0);
}

TEST_F(EngineTest, CancellingEndsTheSequenceAndReturnsItsPages) {
  Engine engine(*model_, *pool_, EngineOptions{});
  std::map<uint64_t, RequestResult> done;
  int tokens_of_first = 0;
  uint64_t first = 0;
  RequestCallbacks cb1;
  cb1.on_token = [&](const TokenEvent&) {
    if (++tokens_of_first == 5) engine.cancel(first);
  };
  cb1.on_finish = [&](const RequestResult& r) { done[first] = r; };
  first = engine.submit(prompt(100, 1), greedy(200), cb1);
  RequestCallbacks cb2;
  uint64_t second = 0;
  cb2.on_finish = [&](const RequestResult& r) { done[second] = r; };
  second = engine.submit(prompt(100, 2), greedy(30), cb2);
  engine.run_until_idle();
  EXPECT_EQ(done[first].stop_reason, "cancelled");
  EXPECT_LE(done[first].tokens.size(), 6u);
  EXPECT_EQ(done[second].stop_reason, "length");
  EXPECT_EQ(done[second].tokens.size(), 30u);
  EXPECT_EQ(engine.metrics().kv_pages_used, 0);
  EXPECT_EQ(engine.metrics().finished_by_reason.at("cancelled"), 1u);
}

TEST_F(EngineTest, AParkedConversationPrefillsOnlyItsNewTokens) {
  // One-token steps compute every row alike, so continuing is exact.
  EngineOptions eo;
  eo.batch_invariant = true;
  eo.batch_tokens = 1;
  eo.prefix_cache = false;
  Engine engine(*model_, *pool_, eo);
  for (const std::string attn : {"full", "streaming:sink=4,window=28"}) {
    SCOPED_TRACE(attn);
    RequestOptions first = greedy(10, attn);
    first.keep = true;
    uint64_t id = 0;
    RequestResult r1;
    RequestCallbacks cb;
    cb.on_finish = [&](const RequestResult& r) { r1 = r; };
    id = engine.submit(prompt(50, 4), first, cb);
    engine.run_until_idle();
    ASSERT_EQ(r1.tokens.size(), 10u);
    EXPECT_GT(engine.metrics().kv_pages_used, 0);  // parked, pages held
    std::vector<int32_t> turn2 = r1.prompt_tokens;
    turn2.insert(turn2.end(), r1.tokens.begin(), r1.tokens.end());
    for (int i = 0; i < 12; ++i) turn2.push_back(500 + i);
    RequestOptions second = greedy(8, attn);
    second.continue_from = id;
    const RequestResult r2 = generate(engine, turn2, second);
    EXPECT_EQ(r2.cached_prompt_tokens, 59);  // 50 + 10 generated, the last of which was never computed
    Engine fresh(*model_, *pool_, eo);
    EXPECT_EQ(r2.tokens, generate(fresh, turn2, greedy(8, attn)).tokens);
    EXPECT_EQ(engine.metrics().kv_pages_used, 0);  // the second request did not keep
  }
  // A parked sequence is released on request.
  RequestOptions keep = greedy(2);
  keep.keep = true;
  const uint64_t id = engine.submit(prompt(40, 5), keep, {});
  engine.run_until_idle();
  EXPECT_GT(engine.metrics().kv_pages_used, 0);
  engine.release(id);
  engine.step();
  EXPECT_EQ(engine.metrics().kv_pages_used, 0);
}

TEST_F(EngineTest, EvictingPoliciesHoldABoundedNumberOfPages) {
  EngineOptions eo;
  eo.batch_tokens = 64;
  eo.context = 256;
  eo.kv_memory_bytes = kv_page_bytes(*model_, eo) * 8;  // 8 pages: 512 slots
  Engine engine(*model_, *pool_, eo);
  // 1500 prompt tokens through a 128-token window: never more than a few pages at once.
  const RequestResult r = generate(engine, prompt(1500, 3), greedy(16, "streaming:sink=4,window=124"));
  EXPECT_EQ(r.stop_reason, "length");
  EXPECT_EQ(r.tokens.size(), 16u);
  EXPECT_EQ(engine.metrics().kv_pages_used, 0);
}

TEST_F(EngineTest, RefusesBadRequestsWithTheFieldNamed) {
  EngineOptions eo;
  eo.max_waiting = 1;
  eo.max_running = 1;
  eo.context = 128;
  Engine engine(*model_, *pool_, eo);
  auto refused = [&](std::vector<int32_t> p, RequestOptions o) -> std::string {
    try {
      engine.submit(std::move(p), std::move(o), {});
    } catch (const RequestError& e) {
      return e.param() + ":" + e.code();
    }
    return "accepted";
  };
  EXPECT_EQ(refused(prompt(10, 0), greedy(4, "nonsense")), "attn:invalid_value");
  RequestOptions bad_rope = greedy(4);
  bad_rope.rope = "yarn:factor=0";
  EXPECT_EQ(refused(prompt(10, 0), bad_rope), "rope:invalid_value");
  EXPECT_EQ(refused(prompt(10, 0), greedy(-1)), "max_tokens:invalid_value");
  EXPECT_EQ(refused(prompt(200, 0), greedy(4)), "prompt:context_length_exceeded");
  EXPECT_EQ(refused({}, greedy(4)), "prompt:invalid_value");
  EXPECT_EQ(refused({1, 999999}, greedy(4)), "prompt:invalid_value");
  RequestOptions bad_temp = greedy(4);
  bad_temp.sampling.temperature = -1;
  EXPECT_EQ(refused(prompt(10, 0), bad_temp), "temperature:invalid_value");
  // One may run and one wait; the third is refused until the queue drains.
  EXPECT_EQ(refused(prompt(10, 0), greedy(4)), "accepted");
  EXPECT_EQ(refused(prompt(10, 0), greedy(4)), "accepted");
  EXPECT_THROW(engine.submit(prompt(10, 0), greedy(4), {}), QueueFull);
  engine.run_until_idle();
  EXPECT_EQ(refused(prompt(10, 0), greedy(4)), "accepted");
  engine.run_until_idle();
}

// A RoPE extension per request: keys are cached rotated, so only requests
// under the same RoPE share prefix pages; factor=1 is the model's own RoPE.
TEST_F(EngineTest, RopeExtensionsArePerRequestAndKeepTheirOwnPrefixes) {
  const std::vector<int32_t> a = prompt(300, 3);
  Engine engine(*model_, *pool_, EngineOptions{});
  const RequestResult plain = generate(engine, a, greedy(8));
  RequestOptions yarn = greedy(8);
  yarn.rope = "yarn:factor=4";
  const RequestResult first = generate(engine, a, yarn);
  EXPECT_EQ(first.rope, "yarn:factor=4,original=8192,beta_fast=32,beta_slow=1");
  EXPECT_EQ(plain.rope, "none");
  EXPECT_EQ(first.cached_prompt_tokens, 0);  // the plain request's pages hold other keys
  EXPECT_NE(first.last_prompt_logits, plain.last_prompt_logits);
  const RequestResult second = generate(engine, a, yarn);
  EXPECT_EQ(second.cached_prompt_tokens, 256);
  EXPECT_EQ(second.tokens, first.tokens);
  RequestOptions one = greedy(8);
  one.rope = "yarn:factor=1";
  EngineOptions no_prefix;
  no_prefix.prefix_cache = false;
  Engine fresh(*model_, *pool_, no_prefix);
  const RequestResult same = generate(fresh, a, one);
  EXPECT_EQ(same.tokens, plain.tokens);
  ASSERT_EQ(same.last_prompt_logits.size(), plain.last_prompt_logits.size());
  for (size_t i = 0; i < same.last_prompt_logits.size(); ++i)
    ASSERT_NEAR(same.last_prompt_logits[i], plain.last_prompt_logits[i], 1e-4) << "logit " << i;
}

}  // namespace
}  // namespace sieve
