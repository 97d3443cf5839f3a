// The `hip` decode policy: its spec and how it composes, what a decoded
// token reads (sinks, window, k selected keys, a planted needle among them),
// the selection kept for `refresh` tokens, outputs against float64 over
// exactly those slots, and, on the test model, `hip` = `hip+hip`.
#include "attention/policies/hip_policy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "runtime/generator.h"
#include "support/engine_fixture.h"
#include "support/prefill_fixture.h"
#include "util/error.h"
#include "util/spec.h"

namespace sieve {
namespace {

using Fixture = testing_support::PrefillFixture;
constexpr int64_t kHd = Fixture::kHd, kHeads = Fixture::kHeads, kGroup = kHeads / Fixture::kKv;

TEST(HipPolicy, SpecAndComposition) {
  const Fixture f(64, 1);
  EXPECT_EQ(make_policy("hip", f.config)->spec(),
            "hip:k=512,block_k=2,sink=16,window=256,dense_layers=0,stride_q=2,refresh=8");
  // hip alone is HiP end to end; hip+full prefills with HiP and decodes exactly.
  EXPECT_EQ(make_policy("hip:k=256+full", f.config)->spec(),
            "hip:k=256,block_k=2,sink=16,window=256,dense_layers=0,stride_q=2+full");
  EXPECT_EQ(make_policy("hip+hip:refresh=4", f.config)->spec(),
            "hip:k=512,block_k=2,sink=16,window=256,dense_layers=0,stride_q=2+"
            "hip:k=512,block_k=2,sink=16,window=256,dense_layers=0,stride_q=2,refresh=4");
  EXPECT_THROW(make_policy("hip:refresh=0", f.config), Error);
  EXPECT_THROW(make_policy("hip:k=100,block_k=3", f.config), Error);
}

// float64 attention of head h's rotated query over a set of slots.
std::vector<double> reference(Fixture& f, int64_t t, int64_t h, const std::vector<SlotSpan>& spans) {
  std::vector<float> q(f.q.begin() + h * kHd, f.q.begin() + (h + 1) * kHd), k(kHd), v(kHd);
  f.rope.rotate(q.data(), 1, static_cast<double>(t));
  std::vector<double> score, out(kHd, 0.0);
  double m = -1e300, z = 0;
  for (const SlotSpan& s : spans)
    for (int64_t j = s.begin; j < s.end; ++j) {
      f.cache.read_key(0, h / kGroup, j, k.data());
      double d = 0;
      for (int64_t x = 0; x < kHd; ++x) d += static_cast<double>(q[x]) * k[x];
      score.push_back(d / std::sqrt(static_cast<double>(kHd)));
      m = std::max(m, score.back());
    }
  for (double& s : score) z += (s = std::exp(s - m));
  size_t n = 0;
  for (const SlotSpan& s : spans)
    for (int64_t j = s.begin; j < s.end; ++j, ++n) {
      f.cache.read_value(0, h / kGroup, j, v.data());
      for (int64_t x = 0; x < kHd; ++x) out[x] += score[n] / z * v[x];
    }
  return out;
}

int64_t slots_in(const std::vector<SlotSpan>& spans) {
  int64_t n = 0;
  for (const SlotSpan& s : spans) n += s.end - s.begin;
  return n;
}

bool reads(const std::vector<SlotSpan>& spans, int64_t slot) {
  return std::any_of(spans.begin(), spans.end(), [&](const SlotSpan& s) { return s.begin <= slot && slot < s.end; });
}

// Decoding tokens 6000.. of a cache with a needle at 2000 (fading over 128
// slots each side, as in hip_method_test): each head reads its 16 sinks,
// its 256-slot window and 512 selected keys, the needle's among them for
// the heads that share its KV head; the selection is made every 4 tokens.
TEST(HipPolicy, DecodedTokensReadSinksWindowAndSelectedKeys) {
  Fixture f(6012, 1);
  const std::vector<float> u = Fixture::direction(8.0f);
  for (int64_t j = 2000 - 128; j <= 2000 + 128; ++j) {
    std::vector<float> k(u);
    for (float& x : k) x *= 1.0f - static_cast<float>(std::abs(j - 2000)) / 129.0f;
    f.plant_key(j, k);
  }
  f.point_queries(u);
  const auto policy = make_policy("hip:refresh=4", f.config);
  const auto& hip = dynamic_cast<const HipPolicy&>(*policy);
  std::vector<float> out(kHeads * kHd);
  std::vector<SlotSpan> first_selection;
  for (int64_t t = 6000; t < 6010; ++t) {
    AttentionInput in{f.cache, 0, f.q.data(), 1, t, kHeads, f.rope, f.pool};
    policy->attend(in, out.data());
    for (int64_t h = 0; h < kHeads; ++h) {
      const std::vector<SlotSpan>& read = hip.last_read(0, h);
      EXPECT_EQ(slots_in(read), 16 + 512 + 256) << t;
      for (int64_t j : {int64_t{0}, int64_t{15}, t - 255, t}) EXPECT_TRUE(reads(read, j)) << j;
      EXPECT_FALSE(reads(read, t + 1));
      if (h < kGroup) {
        EXPECT_TRUE(reads(read, 2000)) << "head " << h << " token " << t;
      }
      const std::vector<double> want = reference(f, t, h, read);
      for (int64_t x = 0; x < kHd; ++x) ASSERT_NEAR(out[h * kHd + x], want[x], 1e-4) << h;
    }
    // The part before the window stays for 4 tokens, then is chosen anew.
    std::vector<SlotSpan> before;
    for (const SlotSpan& s : hip.last_read(0, 0))
      if (s.begin < t - 255) before.push_back({s.begin, std::min(s.end, t - 255)});
    if (t == 6000) first_selection = before;
    const double refreshes = policy->counters().at(0).second;
    EXPECT_EQ(refreshes, static_cast<double>(kHeads * ((t - 6000) / 4 + 1))) << t;
  }
  EXPECT_EQ(policy->stats().decoded_tokens, 10);
  EXPECT_FALSE(first_selection.empty());
}

// A context within sinks + window + k reads everything: full attention.
TEST(HipPolicy, ShortContextsAreFullAttention) {
  Fixture f(700, 1, KvType::F16, 10000.0);
  const auto policy = make_policy("hip", f.config);
  std::vector<float> out(kHeads * kHd);
  AttentionInput in{f.cache, 0, f.q.data(), 1, 699, kHeads, f.rope, f.pool};
  policy->attend(in, out.data());
  for (int64_t h = 0; h < kHeads; ++h) {
    EXPECT_EQ(slots_in(dynamic_cast<const HipPolicy&>(*policy).last_read(0, h)), 700);
    const std::vector<double> want = reference(f, 699, h, {{0, 700}});
    for (int64_t x = 0; x < kHd; ++x) EXPECT_NEAR(out[h * kHd + x], want[x], 2e-3);
  }
}

class HipEngine : public testing_support::TestModelEngine {};

// The policy alone prefills with the same method it composes with, and its
// decode builds its key copy from the cache the prefill method filled.
TEST_F(HipEngine, HipAloneEqualsHipComposedWithHip) {
  Engine engine(*model_, *pool_, no_prefix_cache());
  const auto p = prompt(1400, 43);
  const std::string spec = "hip:k=128,window=128,sink=16,refresh=4";
  const RequestResult alone = generate(engine, p, greedy(spec, 20));
  const RequestResult composed = generate(engine, p, greedy("hip:k=128,window=128,sink=16+" + spec, 20));
  EXPECT_EQ(composed.tokens, alone.tokens);
  const RequestResult full = generate(engine, p, greedy("full", 20));
  EXPECT_EQ(full.tokens.size(), alone.tokens.size());
}

}  // namespace
}  // namespace sieve
