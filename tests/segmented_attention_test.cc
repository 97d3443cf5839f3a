// attend_segments, the runner every selecting policy uses, against a float64
// softmax computed from the un-rotated keys: segments read by all heads of a
// group, by one head or by a set of them, at shifted query positions, and gathered segments
// whose keys are re-rotated to new positions one by one.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "attention/segmented_attention.h"
#include "model/config.h"

namespace sieve {
namespace {

constexpr int64_t kHd = 64, kKv = 2, kHeads = 6, kGroup = kHeads / kKv, kTokens = 200;

struct Fixture {
  ModelConfig config;
  Rope rope;
  KvCache cache;
  std::vector<std::vector<float>> raw_k, raw_v;  // [slot] n_kv x hd, before RoPE
  std::vector<float> q;                          // n_q x n_heads x hd, before RoPE

  static ModelConfig make_config() {
    ModelConfig c;
    c.head_dim = c.rope_dim = kHd;
    c.rope_theta = 10000.0;
    c.n_heads = kHeads;
    c.n_kv_heads = kKv;
    return c;
  }
  Fixture(KvType type, int64_t n_q) : config(make_config()), rope(config, {}), cache({1, kKv, kHd, 64, type}) {
    std::mt19937 rng(11);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (int64_t s = 0; s < kTokens; ++s) {
      const int64_t pos = 3 * s + 5;  // positions need not equal slots
      raw_k.emplace_back(kKv * kHd);
      raw_v.emplace_back(kKv * kHd);
      for (float& x : raw_k.back()) x = nd(rng);
      for (float& x : raw_v.back()) x = nd(rng);
      std::vector<float> k = raw_k.back();
      rope.rotate(k.data(), kKv, static_cast<double>(pos));
      cache.append_slots(&pos, 1);
      cache.write(0, s, k.data(), raw_v.back().data());
    }
    q.resize(n_q * kHeads * kHd);
    for (float& x : q) x = nd(rng);
  }
};

// What one query row reads: (slot, position its key sits at) pairs, and the
// position the query sits at (the same for all, as a test simplification).
struct RowRead {
  std::vector<std::pair<int64_t, double>> keys;
  double q_position = 0;
};

std::vector<double> rotated(const std::vector<float>& x, int64_t offset, const Rope& rope, double pos) {
  std::vector<float> v(x.begin() + offset, x.begin() + offset + kHd);
  rope.rotate(v.data(), 1, pos);
  return {v.begin(), v.end()};
}

std::vector<double> reference_row(const Fixture& f, int64_t t, int64_t h, const RowRead& read) {
  const std::vector<double> qr = rotated(f.q, (t * kHeads + h) * kHd, f.rope, read.q_position);
  const int64_t kvh = h / kGroup;
  std::vector<double> sc;
  double m = -1e300;
  for (const auto& [slot, pos] : read.keys) {
    const std::vector<double> k = rotated(f.raw_k[slot], kvh * kHd, f.rope, pos);
    double d = 0;
    for (int64_t i = 0; i < kHd; ++i) d += qr[i] * k[i];
    sc.push_back(d / std::sqrt(static_cast<double>(kHd)));
    m = std::max(m, sc.back());
  }
  double z = 0;
  for (double& x : sc) z += (x = std::exp(x - m));
  std::vector<double> out(kHd, 0.0);
  for (size_t j = 0; j < sc.size(); ++j)
    for (int64_t i = 0; i < kHd; ++i) out[i] += sc[j] / z * f.raw_v[read.keys[j].first][kvh * kHd + i];
  return out;
}

double run_and_compare(const Fixture& f, int64_t n_q, const SegmentPlanner& plan,
                       const std::function<RowRead(int64_t t, int64_t h)>& expected) {
  ThreadPool pool(2);
  std::vector<float> out(n_q * kHeads * kHd);
  attend_segments({f.cache, 0, f.q.data(), n_q, kTokens - n_q, kHeads, f.rope, pool}, plan, out.data());
  double err = 0;
  for (int64_t t = 0; t < n_q; ++t)
    for (int64_t h = 0; h < kHeads; ++h) {
      const std::vector<double> want = reference_row(f, t, h, expected(t, h));
      for (int64_t i = 0; i < kHd; ++i) err = std::max(err, std::fabs(out[(t * kHeads + h) * kHd + i] - want[i]));
    }
  return err;
}

double true_position(int64_t slot) { return static_cast<double>(3 * slot + 5); }

// A segment's rows for query tokens [t0, t1) of the last n_q slots: each
// reads up to its own slot, its query rotated at its true position - shift.
void decode_rows(Segment& s, int64_t t0, int64_t t1, int64_t n_q, double shift) {
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t slot = kTokens - n_q + t;
    s.q_position.push_back(true_position(slot) - shift);
    s.begin.push_back(0);
    s.limit.push_back(slot + 1);
  }
}

// Each query head reads its own spans; the query is rotated at its true
// position minus a per-head shift, so the keys read sit `shift` later.
TEST(SegmentedAttention, PerHeadSegmentsWithShiftedQueries) {
  for (KvType type : {KvType::F32, KvType::F16}) {
    const int64_t n_q = 20;
    Fixture f(type, n_q);
    auto spans_of = [](int64_t h) {
      return std::vector<SlotSpan>{{0, 3}, {17 + 11 * h, 70 + 9 * h}, {150, kTokens}};
    };
    auto plan = [&](int64_t kvh, int64_t t0, int64_t t1, std::vector<Segment>& out) {
      for (int64_t g = 0; g < kGroup; ++g) {
        const int64_t h = kvh * kGroup + g;
        Segment s;
        s.heads = Segment::only(g);
        s.spans = spans_of(h);
        decode_rows(s, t0, t1, n_q, static_cast<double>(h));
        out.push_back(std::move(s));
      }
    };
    auto expected = [&](int64_t t, int64_t h) {
      RowRead r;
      const int64_t slot = kTokens - n_q + t;
      r.q_position = true_position(slot);
      for (const SlotSpan& sp : spans_of(h))
        for (int64_t j = sp.begin; j < std::min(sp.end, slot + 1); ++j) r.keys.push_back({j, true_position(j) + h});
      return r;
    };
    const double tol = type == KvType::F32 ? 2e-5 : 5e-3;
    EXPECT_LT(run_and_compare(f, n_q, plan, expected), tol) << kv_type_name(type);
  }
}

// Segments read by a set of heads that is not contiguous within the group
// (heads 0 and 2 of 3), by one head, and by all: each head's softmax covers
// exactly the segments that name it.
TEST(SegmentedAttention, SegmentsReadBySetsOfHeads) {
  const int64_t n_q = 5;
  Fixture f(KvType::F32, n_q);
  const std::vector<SlotSpan> outer = {{10, 40}}, middle = {{60, 90}}, shared = {{120, kTokens}};
  auto plan = [&](int64_t, int64_t t0, int64_t t1, std::vector<Segment>& out) {
    const std::vector<std::pair<uint64_t, std::vector<SlotSpan>>> parts = {
        {Segment::only(0) | Segment::only(2), outer}, {Segment::only(1), middle}, {Segment::kAllHeads, shared}};
    for (const auto& [heads, spans] : parts) {
      Segment s;
      s.heads = heads;
      s.spans = spans;
      decode_rows(s, t0, t1, n_q, 0.0);
      out.push_back(std::move(s));
    }
  };
  auto expected = [&](int64_t t, int64_t h) {
    RowRead r;
    const int64_t slot = kTokens - n_q + t;
    r.q_position = true_position(slot);
    std::vector<SlotSpan> spans = shared;
    spans.push_back(h % kGroup == 1 ? middle[0] : outer[0]);
    for (const SlotSpan& sp : spans)
      for (int64_t j = sp.begin; j < std::min(sp.end, slot + 1); ++j) r.keys.push_back({j, true_position(j)});
    return r;
  };
  EXPECT_LT(run_and_compare(f, n_q, plan, expected), 2e-5);
}

// A gathered segment puts each selected key at its own new position (here
// InfLLM-style: all memory keys at one position, plus a contiguous run), read
// by all heads, merged with a plain segment on one softmax; decode and a
// causal prefill block (begin/limit index the gathered slots).
TEST(SegmentedAttention, GatheredSegmentsReRotateEachKey) {
  for (int64_t n_q : {1, 20}) {
    Fixture f(KvType::F16, n_q);
    const std::vector<SlotSpan> memory = {{10, 30}, {64, 65}, {100, 140}};
    auto new_position = [](int64_t j) { return j < 21 ? 50.0 : 60.0 + static_cast<double>(j); };
    auto plan = [&](int64_t, int64_t t0, int64_t t1, std::vector<Segment>& out) {
      Segment gathered, local;
      gathered.spans = memory;
      for (int64_t j = 0; j < 61; ++j) gathered.key_positions.push_back(new_position(j));
      local.spans = {{160, kTokens}};
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t slot = kTokens - n_q + t;
        gathered.q_position.push_back(1000.0);
        gathered.begin.push_back(0);
        gathered.limit.push_back(40 + t);  // a causal-looking mask over the gathered order
        local.q_position.push_back(true_position(slot));
        local.begin.push_back(160);
        local.limit.push_back(slot + 1);
      }
      out.push_back(std::move(gathered));
      out.push_back(std::move(local));
    };
    auto expected = [&](int64_t t, int64_t) {
      RowRead r;
      const int64_t slot = kTokens - n_q + t;
      // The gathered keys sit at new positions relative to a query at 1000;
      // the local keys at true positions relative to the true query position:
      // shift the local ones so that one query position serves both.
      r.q_position = 1000.0;
      int64_t j = 0;
      for (const SlotSpan& sp : memory)
        for (int64_t s = sp.begin; s < sp.end; ++s, ++j)
          if (j < std::min<int64_t>(40 + t, 61)) r.keys.push_back({s, new_position(j)});
      for (int64_t s = 160; s <= slot; ++s) r.keys.push_back({s, true_position(s) + 1000.0 - true_position(slot)});
      return r;
    };
    EXPECT_LT(run_and_compare(f, n_q, plan, expected), 5e-3) << "n_q " << n_q;
  }
}

}  // namespace
}  // namespace sieve
