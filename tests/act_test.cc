// ACT (attention/modifiers/act.h): sink detection and calibration as the
// reference computes them, the modifier on real attention against float64,
// and its spec, head files and refusals.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <unistd.h>

#include "attention/modifiers/act.h"
#include "attention/policies/full_policy.h"
#include "model/config.h"
#include "util/error.h"
#include "util/spec.h"

namespace sieve {
namespace {

TEST(Act, SinksAreKeysAboveTheThresholdButTheFirst) {
  // Means over the rows that see each key: 0.75, 0.067, 1.0, 0.1 (not above 0.1).
  const std::vector<double> mass = {3.0, 0.2, 2.0, 0.1};
  const std::vector<int64_t> seeing = {4, 3, 2, 1};
  EXPECT_EQ(act_sinks(mass, seeing, 4, 0.1), std::vector<int64_t>{2});
  EXPECT_EQ(act_sinks(mass, seeing, 4, 0.8), std::vector<int64_t>{});  // only key 2 passes, and it is the first
  EXPECT_EQ(act_sinks(mass, seeing, 4, 0.05), (std::vector<int64_t>{1, 2, 3}));
}

TEST(Act, CalibrationKeepsBetaOfTheSinksAndMovesTheRestProportionally) {
  std::vector<float> row = {0.5f, 0.1f, 0.3f, 0.1f};
  act_calibrate_row(row.data(), 4, {2}, 0.4);
  // The reference: A[s] *= beta; A[j] += removed * A[j] / sum of non-sinks.
  const double removed = 0.6 * 0.3, rest = 0.7;
  const double want[4] = {0.5 + removed * 0.5 / rest, 0.1 + removed * 0.1 / rest, 0.12, 0.1 + removed * 0.1 / rest};
  double sum = 0;
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(row[i], want[i], 1e-6) << i;
    sum += row[i];
  }
  EXPECT_NEAR(sum, 1.0, 1e-6);
  // A row whose only mass is on sinks has nowhere to move it: unchanged.
  std::vector<float> only = {0.0f, 1.0f};
  act_calibrate_row(only.data(), 2, {1}, 0.4);
  EXPECT_EQ(only[1], 1.0f);
  // Sinks past the row's end (a query before them) are not its keys.
  std::vector<float> early = {0.6f, 0.4f};
  act_calibrate_row(early.data(), 2, {5}, 0.4);
  EXPECT_EQ(early[0], 0.6f);
}

// A cache of 4 layers (ACT's layer 2 is eligible) with random keys, where
// slot 0 and slot `kSink` have keys along a direction every query shares.
struct ActCase {
  static constexpr int64_t kHd = 32, kHeads = 4, kKv = 2, kN = 96, kSink = 9;
  KvCache cache{KvCacheShape{4, kKv, kHd, 32, KvType::F32}};
  std::vector<float> q;
  ModelConfig config;
  Rope rope;
  ThreadPool pool{2};

  static ModelConfig make_config() {
    ModelConfig c;
    c.n_layers = 4, c.n_heads = kHeads, c.n_kv_heads = kKv, c.head_dim = kHd, c.rope_theta = 10000, c.rope_dim = kHd;
    return c;
  }
  ActCase() : config(make_config()), rope(config, {}) {
    std::mt19937 rng(3);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<int64_t> pos(kN);
    for (int64_t i = 0; i < kN; ++i) pos[i] = i;
    cache.append_slots(pos.data(), kN);
    std::vector<float> k(kKv * kHd), v(kKv * kHd);
    for (int64_t i = 0; i < kN; ++i) {
      for (float& x : k) x = 0.5f * nd(rng);
      for (float& x : v) x = nd(rng);
      if (i == 0 || i == kSink)  // along the slowest RoPE pair, which barely turns over 96 positions
        for (int64_t h = 0; h < kKv; ++h) k[h * kHd + kHd / 2 - 1] = 10.0f;
      cache.write(2, i, k.data(), v.data());
    }
    q.resize(kN * kHeads * kHd);
    for (float& x : q) x = 0.5f * nd(rng);
    for (int64_t r = 0; r < kN * kHeads; ++r) q[r * kHd + kHd / 2 - 1] = 2.0f;  // every query looks for the sinks
  }
  AttentionInput input(int64_t first, int64_t n) {
    return {cache, 2, q.data() + first * kHeads * kHd, n, first, kHeads, rope, pool};
  }
};

// Float64 ACT for one head over the whole prompt in one pass (the reference's shape).
std::vector<double> reference_act(ActCase& s, int64_t head, double beta, double threshold) {
  const int64_t hd = ActCase::kHd, n = ActCase::kN;
  std::vector<std::vector<double>> a(n, std::vector<double>(n, 0.0));
  std::vector<float> q(hd), k(hd), v(hd);
  for (int64_t i = 0; i < n; ++i) {
    std::copy_n(s.q.data() + (i * ActCase::kHeads + head) * hd, hd, q.data());
    s.rope.rotate(q.data(), 1, static_cast<double>(i));
    double top = -INFINITY;
    for (int64_t j = 0; j <= i; ++j) {
      s.cache.read_key(2, head / 2, j, k.data());
      double dot = 0;
      for (int64_t d = 0; d < hd; ++d) dot += static_cast<double>(q[d]) * k[d];
      a[i][j] = dot / std::sqrt(static_cast<double>(hd));
      top = std::max(top, a[i][j]);
    }
    double sum = 0;
    for (int64_t j = 0; j <= i; ++j) sum += a[i][j] = std::exp(a[i][j] - top);
    for (int64_t j = 0; j <= i; ++j) a[i][j] /= sum;
  }
  std::vector<int64_t> sinks;
  for (int64_t j = 0; j < n; ++j) {
    double col = 0;
    for (int64_t i = j; i < n; ++i) col += a[i][j];
    if (col / static_cast<double>(n - j) > threshold) sinks.push_back(j);
  }
  if (!sinks.empty()) sinks.erase(sinks.begin());
  std::vector<double> out(n * hd, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    double on = 0;
    for (int64_t s2 : sinks) on += s2 <= i ? a[i][s2] : 0;
    for (int64_t j = 0; j <= i; ++j) {
      const bool sink = std::find(sinks.begin(), sinks.end(), j) != sinks.end();
      const double p = on > 0 && on < 1 ? (sink ? beta * a[i][j] : a[i][j] * (1 + (1 - beta) * on / (1 - on))) : a[i][j];
      s.cache.read_value(2, head / 2, j, v.data());
      for (int64_t d = 0; d < hd; ++d) out[i * hd + d] += p * v[d];
    }
  }
  return out;
}

TEST(Act, CalibratedHeadsMatchFloat64AndTheOthersAreUntouched) {
  ActCase s;
  ActOptions o;
  o.heads = {{2, 1}};
  ActPolicy act(std::make_unique<FullPolicy>(), o);
  FullPolicy full;
  const int64_t row = ActCase::kHeads * ActCase::kHd;
  std::vector<float> got(ActCase::kN * row), want(ActCase::kN * row);
  act.attend(s.input(0, ActCase::kN), got.data());  // one pass, as the reference
  full.attend(s.input(0, ActCase::kN), want.data());
  EXPECT_EQ(act.sinks(2, 1), std::vector<int64_t>{ActCase::kSink});  // slot 0 is the first sink, left alone
  const std::vector<double> ref = reference_act(s, 1, 0.4, 0.1);
  double moved = 0;
  for (int64_t i = 0; i < ActCase::kN; ++i)
    for (int64_t h = 0; h < ActCase::kHeads; ++h)
      for (int64_t d = 0; d < ActCase::kHd; ++d) {
        const size_t at = static_cast<size_t>(i * row + h * ActCase::kHd + d);
        if (h == 1) {
          ASSERT_NEAR(got[at], ref[i * ActCase::kHd + d], 1e-4) << i << " " << d;
          moved = std::max(moved, static_cast<double>(std::fabs(got[at] - want[at])));
        } else {
          ASSERT_NEAR(got[at], want[at], 1e-4) << "uncalibrated head " << h;
        }
      }
  EXPECT_GT(moved, 0.05);  // the calibration did change the head
}

TEST(Act, BetaOneIsTheWrappedPolicy) {
  ActCase s;
  ActOptions o;
  o.beta = 1.0;
  o.heads = {{2, 0}, {2, 3}};
  ActPolicy act(std::make_unique<FullPolicy>(), o);
  FullPolicy full;
  std::vector<float> got(ActCase::kN * ActCase::kHeads * ActCase::kHd), want(got.size());
  // Batches, then decoded rows one by one, as a request runs.
  for (const auto& [first, n] : {std::pair<int64_t, int64_t>{0, 60}, {60, 30}, {90, 1}, {91, 1}}) {
    act.attend(s.input(first, n), got.data());
    full.attend(s.input(first, n), want.data());
    for (int64_t i = 0; i < n * ActCase::kHeads * ActCase::kHd; ++i) ASSERT_NEAR(got[i], want[i], 1e-4) << first << " " << i;
  }
  EXPECT_EQ(act.sinks(2, 0), std::vector<int64_t>{ActCase::kSink});
}

TEST(Act, SpecsHeadFilesAndRefusals) {
  ModelConfig c = ActCase::make_config();
  auto made = make_policy("full+act", c);
  EXPECT_EQ(made->spec(), "full+act:beta=0.4,threshold=0.1,heads=all");
  EXPECT_EQ(policy_parts(made->spec()).decode, "full");
  EXPECT_EQ(policy_parts(made->spec()).modifiers, "act:beta=0.4,threshold=0.1,heads=all");
  EXPECT_THROW(make_policy("act+full", c), Error);
  EXPECT_THROW(make_policy("snapkv+act", c), Error);  // it would scramble ACT's per-slot statistics
  EXPECT_THROW(make_policy("full+act:beta=2", c), Error);

  const auto dir = std::filesystem::temp_directory_path() / ("sieve-act-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string good = (dir / "heads.json").string(), bad = (dir / "bad.json").string();
  save_act_heads(good, {{2, 1}, {1, 3}}, R"({"task":"passkey"})");
  EXPECT_EQ(load_act_heads(good, c), (std::set<std::pair<int64_t, int64_t>>{{1, 3}, {2, 1}}));
  EXPECT_NE(make_policy("full+act:config=" + good, c)->spec().find("config=" + good), std::string::npos);
  std::ofstream(bad) << R"({"version": 1, "heads": [[2, 9]]})";
  try {
    load_act_heads(bad, c);
    FAIL() << "head 9 of 4 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[2,9] is outside the model"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_act_heads((dir / "missing.json").string(), c), Error);
  EXPECT_THROW(parse_act_heads(R"({"version": 1, "heads": [[2, 1], "x"]})", "h.json", c), Error);
  try {
    parse_act_heads(R"({"version": 1, "heads": [], "search": )" + std::string(1000, '[') + std::string(1000, ']') + "}",
                    "h.json", c);
    FAIL() << "a file nested 1000 deep accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nests deeper than 64"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace sieve
