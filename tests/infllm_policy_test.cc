// `infllm`: InfLLM's read set and positions against a float64 softmax on
// hand-built caches, its representative keys and block selection on a cache
// built so that the answer is known, the LRU of resident blocks, spec
// parsing, clone(), rolled-back caches, the file-backed store, and runs on
// the test model.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "attention/policies/infllm/infllm_policy.h"
#include "runtime/transformer.h"
#include "support/policy_testing.h"
#include "test_paths.h"
#include "util/error.h"

namespace sieve {
namespace {

constexpr int64_t kHd = 64, kKv = 2, kHeads = 4, kGroup = kHeads / kKv;

ModelConfig small_config(double theta) { return testing::small_policy_config(kHd, kHeads, kKv, theta); }

InfLLMPolicy::Options small_options() {
  InfLLMPolicy::Options o;
  o.init = 4;
  o.local = 16;
  o.block = 8;
  o.repr = 2;
  o.topk = 2;
  o.chunk = 4;
  o.cache_blocks = 3;
  return o;
}

// A sequence of tokens with known un-rotated keys, values and queries, fed
// batch by batch through a policy the way the transformer does: keys cached
// rotated at their positions, attend, end_batch.
struct Sequence {
  ModelConfig config;
  Rope rope;
  KvCache cache;
  ThreadPool pool{2};
  std::vector<std::vector<float>> k, v, q;  // [token] kKv x kHd, kKv x kHd, kHeads x kHd
  std::vector<std::vector<float>> out;      // [token] kHeads x kHd: the policy's output

  explicit Sequence(double theta, KvType type = KvType::F32)
      : config(small_config(theta)), rope(config, {}), cache({1, kKv, kHd, 64, type}) {}

  void add_random(int64_t n, std::mt19937& rng) {
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (int64_t i = 0; i < n; ++i) {
      k.emplace_back(kKv * kHd);
      v.emplace_back(kKv * kHd);
      q.emplace_back(kHeads * kHd);
      for (float& x : k.back()) x = nd(rng);
      for (float& x : v.back()) x = nd(rng);
      for (float& x : q.back()) x = nd(rng);
    }
  }
  void feed(AttentionPolicy& policy, int64_t n) {
    const int64_t first_slot = cache.size(), first = cache.size() == 0 ? 0 : cache.positions().back() + 1;
    std::vector<float> qs;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t p = first + i;
      std::vector<float> kr = k[p];
      rope.rotate(kr.data(), kKv, static_cast<double>(p));
      cache.append_slots(&p, 1);
      cache.write(0, cache.size() - 1, kr.data(), v[p].data());
      qs.insert(qs.end(), q[p].begin(), q[p].end());
    }
    std::vector<float> o(n * kHeads * kHd);
    policy.attend({cache, 0, qs.data(), n, first_slot, kHeads, rope, pool}, o.data());
    policy.end_batch(cache);
    if (static_cast<int64_t>(out.size()) < first + n) out.resize(first + n);
    for (int64_t i = 0; i < n; ++i)
      out[first + i].assign(o.begin() + i * kHeads * kHd, o.begin() + (i + 1) * kHeads * kHd);
  }
};

// One key a query row reads: the token, and the positions its query and its
// key are rotated to.
struct Read {
  int64_t token;
  double q_position, k_position;
};

std::vector<double> rotated(const float* x, const Rope& rope, double pos) {
  std::vector<float> r(x, x + kHd);
  rope.rotate(r.data(), 1, pos);
  return {r.begin(), r.end()};
}

std::vector<double> reference_row(const Sequence& s, int64_t t, int64_t h, const std::vector<Read>& reads) {
  const int64_t kvh = h / kGroup;
  std::vector<double> sc;
  double m = -1e300;
  for (const Read& r : reads) {
    const std::vector<double> q = rotated(s.q[t].data() + h * kHd, s.rope, r.q_position);
    const std::vector<double> k = rotated(s.k[r.token].data() + kvh * kHd, s.rope, r.k_position);
    double d = 0;
    for (int64_t i = 0; i < kHd; ++i) d += q[i] * k[i];
    sc.push_back(d / std::sqrt(static_cast<double>(kHd)));
    m = std::max(m, sc.back());
  }
  double z = 0;
  for (double& x : sc) z += (x = std::exp(x - m));
  std::vector<double> out(kHd, 0.0);
  for (size_t j = 0; j < reads.size(); ++j)
    for (int64_t i = 0; i < kHd; ++i) out[i] += sc[j] / z * s.v[reads[j].token][kvh * kHd + i];
  return out;
}

// What InfLLM reads for the query at token t, given the memory tokens it
// retrieves: those at distance `local` (query at `local`, key at 0), the
// window at true positions.
std::vector<Read> infllm_reads(int64_t t, int64_t local, const std::vector<int64_t>& memory) {
  std::vector<Read> r;
  for (int64_t p : memory) r.push_back({p, static_cast<double>(local), 0.0});
  for (int64_t p = std::max<int64_t>(0, t - local + 1); p <= t; ++p)
    r.push_back({p, static_cast<double>(t), static_cast<double>(p)});
  return r;
}

void expect_row(const Sequence& s, int64_t t, const std::vector<Read>& reads, double tol) {
  for (int64_t h = 0; h < kHeads; ++h) {
    const std::vector<double> want = reference_row(s, t, h, reads);
    for (int64_t i = 0; i < kHd; ++i)
      ASSERT_NEAR(s.out[t][h * kHd + i], want[i], tol) << "token " << t << " head " << h << " dim " << i;
  }
}

// With top-k covering every block, each query reads every earlier token once:
// the window at true positions, everything older (initial tokens, blocks, the
// unfilled block) at distance `local`. Checked for every row of prefill
// batches split into chunks and of decoded tokens, while pages are evicted.
void check_every_row(const InfLLMPolicy::Options& options, const std::vector<int64_t>& batches) {
  int64_t n = 0;
  for (int64_t b : batches) n += b;
  Sequence s(10000.0);
  std::mt19937 rng(3);
  s.add_random(n, rng);
  InfLLMPolicy policy(options);
  int64_t decoded = 0;
  for (int64_t b : batches) {
    s.feed(policy, b);
    decoded += b == 1;
  }
  ASSERT_EQ(static_cast<int64_t>(s.out.size()), n);
  const int64_t local = options.local;
  for (int64_t t = 0; t < n; ++t) {
    std::vector<int64_t> memory;
    for (int64_t p = 0; p <= t - local; ++p) memory.push_back(p);
    expect_row(s, t, infllm_reads(t, local, memory), 2e-4);
    if (::testing::Test::HasFatalFailure()) return;
  }
  // Blocks from token `init` on, formed once wholly out of the window of the last query.
  EXPECT_EQ(policy.n_blocks(0), (n - local - options.init) / options.block);
  // The cache keeps only the window's pages (whole pages are evicted) and the last batch.
  EXPECT_EQ(s.cache.positions().back(), n - 1);
  EXPECT_LE(s.cache.size(), local + 63 + batches.back());
  EXPECT_EQ(policy.stats().decoded_tokens, decoded);
}

TEST(InfLLMPolicy, ReadsTheWindowAtTruePositionsAndTheRestAtDistanceLocal) {
  InfLLMPolicy::Options o = small_options();
  o.topk = o.cache_blocks = 100;
  check_every_row(o, {12, 12, 7, 1, 1, 12, 5, 1, 30, 1, 1, 20, 1, 12, 1, 1, 1, 21});
}

// The same with page-aligned initial tokens and blocks: the policy's buffers
// then move whole pages.
TEST(InfLLMPolicy, ReadsTheWindowAndTheRestWithPageAlignedBlocks) {
  InfLLMPolicy::Options o;
  o.init = 64;
  o.local = 128;
  o.block = 64;
  o.repr = 4;
  o.chunk = 32;
  o.topk = o.cache_blocks = 100;
  check_every_row(o, {100, 100, 1, 1, 100, 1, 64, 1, 1, 70, 1, 1, 1, 30, 1, 64, 1});
}

// A cache where each block's most attended tokens are known: in block b
// (tokens 4 + 8b ... 11 + 8b) the tokens at offsets 1 and 5 carry key 3 u_b
// and those at offsets 2 and 6 carry 3 w_b, where u_b, w_b are unit vectors
// in dimensions RoPE barely rotates (theta 1e8). Queries of the first query
// head of each group point at every u, of the second at every w. So the
// representatives of head g = 0 must be offsets {1, 5}, of g = 1 {2, 6}
// (per-head representatives), and a decoded query pointing at u_2 (g = 0)
// and w_5 (g = 1) must retrieve blocks 2 and 5 (scores summed over heads).
struct MarkedSequence : Sequence {
  static constexpr int64_t kBlocks = 8, kPrompt = 4 + 8 * kBlocks + 16;
  std::mt19937 rng{5};
  std::normal_distribution<float> noise{0.0f, 0.1f};

  static int64_t slow_dim(const Rope& rope, int64_t pair) { return rope.interleaved() ? 2 * pair : pair; }
  int64_t u(int64_t b) const { return slow_dim(rope, 16 + b); }
  int64_t w(int64_t b) const { return slow_dim(rope, 24 + b); }

  MarkedSequence() : Sequence(1e8) {
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (int64_t p = 0; p < kPrompt; ++p) {
      std::vector<float> key(kKv * kHd), val(kKv * kHd), qry(kHeads * kHd);
      for (float& x : key) x = noise(rng);
      for (float& x : val) x = nd(rng);
      for (float& x : qry) x = noise(rng);
      const int64_t b = (p - 4) / 8, off = (p - 4) % 8;
      if (p >= 4 && b < kBlocks)
        for (int64_t h = 0; h < kKv; ++h) {
          if (off == 1 || off == 5) key[h * kHd + u(b)] += 3.0f;
          if (off == 2 || off == 6) key[h * kHd + w(b)] += 3.0f;
        }
      for (int64_t h = 0; h < kHeads; ++h)
        for (int64_t c = 0; c < kBlocks; ++c) qry[h * kHd + (h % kGroup == 0 ? u(c) : w(c))] += 4.0f;
      k.push_back(key);
      v.push_back(val);
      q.push_back(qry);
    }
  }
  // Appends a decoded token whose first heads point at u_a and second heads at w_b.
  void add_probe(int64_t a, int64_t b) {
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> key(kKv * kHd), val(kKv * kHd), qry(kHeads * kHd, 0.0f);
    for (float& x : key) x = noise(rng);
    for (float& x : val) x = nd(rng);
    for (int64_t h = 0; h < kHeads; ++h) qry[h * kHd + (h % kGroup == 0 ? u(a) : w(b))] = 5.0f;
    k.push_back(key);
    v.push_back(val);
    q.push_back(qry);
  }
  void prefill(AttentionPolicy& policy) {
    for (int64_t done = 0; done < kPrompt; done += 12) feed(policy, 12);
  }
};

TEST(InfLLMPolicy, RepresentsBlocksByTheirMostAttendedTokensAndRetrievesTheTopBlocks) {
  MarkedSequence s;
  InfLLMPolicy policy(small_options());
  s.prefill(policy);
  // Token 83 was the last query: tokens up to 83 - 16 = 67 have left the window: blocks 0..7.
  ASSERT_EQ(policy.n_blocks(0), MarkedSequence::kBlocks);
  for (int64_t b = 0; b < MarkedSequence::kBlocks; ++b)
    for (int64_t h = 0; h < kHeads; ++h) {
      const int64_t first = 4 + 8 * b;
      const std::vector<int64_t> want =
          h % kGroup == 0 ? std::vector<int64_t>{first + 1, first + 5} : std::vector<int64_t>{first + 2, first + 6};
      EXPECT_EQ(policy.representative_tokens(0, b, h), want) << "block " << b << " head " << h;
    }

  s.add_probe(2, 5);
  s.feed(policy, 1);
  const int64_t t = MarkedSequence::kPrompt;  // 84
  EXPECT_EQ(policy.selected_blocks(0), (std::vector<int64_t>{2, 5}));
  // It read the initial tokens, blocks 2 and 5, token 68 (out of its window,
  // no block yet) at distance 16, and tokens 69..84 at their positions.
  std::vector<int64_t> memory = {0, 1, 2, 3};
  for (int64_t p = 4 + 8 * 2; p < 4 + 8 * 3; ++p) memory.push_back(p);
  for (int64_t p = 4 + 8 * 5; p < 4 + 8 * 6; ++p) memory.push_back(p);
  memory.push_back(68);
  expect_row(s, t, infllm_reads(t, 16, memory), 2e-4);
  EXPECT_NEAR(policy.stats().slots_per_token(1, kKv), 4 + 2 * 8 + 1 + 16, 1e-9);

  // Another probe retrieves other blocks.
  s.add_probe(7, 0);
  s.feed(policy, 1);
  EXPECT_EQ(policy.selected_blocks(0), (std::vector<int64_t>{0, 7}));
}

// The fast tier keeps cache_blocks blocks and replaces the least recently
// read one (a block read again is kept over one loaded later but not read).
TEST(InfLLMPolicy, KeepsRecentlyReadBlocksInFramesLeastRecentlyUsedOut) {
  MarkedSequence s;
  InfLLMPolicy::Options o = small_options();
  o.topk = 1;
  o.cache_blocks = 2;
  InfLLMPolicy policy(o);
  s.prefill(policy);
  struct Step {
    int64_t block;
    int64_t hits, loads;
    std::vector<int64_t> resident;
  };
  const std::vector<Step> steps = {{0, -1, -1, {}},      {1, -1, -1, {0, 1}}, {0, 1, 0, {0, 1}},
                                   {2, 0, 1, {0, 2}},    {0, 1, 0, {0, 2}},   {1, 0, 1, {0, 1}}};
  for (const Step& step : steps) {
    const InfLLMPolicy::OffloadStats before = policy.offload_stats();
    s.add_probe(step.block, step.block);
    s.feed(policy, 1);
    EXPECT_EQ(policy.selected_blocks(0), std::vector<int64_t>{step.block});
    const InfLLMPolicy::OffloadStats& after = policy.offload_stats();
    EXPECT_EQ(after.decode_lookups - before.decode_lookups, 1);
    if (step.hits >= 0) {
      EXPECT_EQ(after.decode_hits - before.decode_hits, step.hits) << "block " << step.block;
      EXPECT_EQ(after.decode_loads - before.decode_loads, step.loads) << "block " << step.block;
    }
    if (!step.resident.empty()) {
      EXPECT_EQ(policy.resident_blocks(0), step.resident) << "block " << step.block;
    }
  }
  EXPECT_EQ(policy.n_blocks(0), MarkedSequence::kBlocks);  // no block formed while probing
  const InfLLMPolicy::OffloadStats& st = policy.offload_stats();
  EXPECT_EQ(st.decode_hits + st.decode_loads, st.decode_lookups);
  EXPECT_EQ(st.blocks_formed, MarkedSequence::kBlocks);
  EXPECT_GT(policy.store_bytes(), 0u);
  EXPECT_GT(policy.fast_tier_bytes(), 0u);
}

// The file store (store=file) against the memory store: the same batches
// through both give bit-identical outputs, with blocks loaded and frames
// replaced (topk 2 of many blocks, 3 frames). Blocks of 8 slots move through
// the staging buffer; blocks of 64 slots on page boundaries move as pages.
void expect_file_store_equals_memory(InfLLMPolicy::Options o, KvType type, const std::vector<int64_t>& batches) {
  int64_t n = 0;
  for (int64_t b : batches) n += b;
  std::mt19937 rng(21);
  Sequence mem(10000.0, type), file(10000.0, type);
  mem.add_random(n, rng);
  file.k = mem.k, file.v = mem.v, file.q = mem.q;
  o.store = BlockStore::Kind::Memory;
  InfLLMPolicy in_memory(o);
  o.store = BlockStore::Kind::File;
  InfLLMPolicy in_file(o);
  for (int64_t b : batches) {
    mem.feed(in_memory, b);
    file.feed(in_file, b);
  }
  for (int64_t t = 0; t < n; ++t) ASSERT_EQ(mem.out[t], file.out[t]) << "token " << t;
  const InfLLMPolicy::OffloadStats& st = in_file.offload_stats();
  EXPECT_GT(st.loads, o.cache_blocks) << "frames must be replaced";
  EXPECT_EQ(st.loads, in_memory.offload_stats().loads);
  EXPECT_EQ(in_file.resident_blocks(0), in_memory.resident_blocks(0));
  EXPECT_EQ(in_file.fast_tier_bytes(), in_memory.fast_tier_bytes());
  // Both report the blocks' bytes; only the memory store holds them.
  EXPECT_GT(in_file.store_bytes(), 0u);
  EXPECT_EQ(in_memory.store_resident_bytes(), in_memory.store_bytes());
  const size_t page = static_cast<size_t>(2 * kKv * 64) * mem.cache.row_bytes();
  EXPECT_EQ(in_file.store_resident_bytes(), o.block % 64 == 0 ? 0 : page);  // the staging block
}

TEST(InfLLMPolicy, FileStoreEqualsMemoryStoreWithStagedBlocks) {
  expect_file_store_equals_memory(small_options(), KvType::F32, {12, 12, 12, 1, 1, 20, 1, 12, 1, 30, 1, 1, 12, 1, 1});
  expect_file_store_equals_memory(small_options(), KvType::Q8_0, {12, 12, 12, 1, 1, 20, 1, 12, 1, 30, 1, 1, 12, 1});
}

TEST(InfLLMPolicy, FileStoreEqualsMemoryStoreWithPageAlignedBlocks) {
  InfLLMPolicy::Options o;
  o.init = 64;
  o.local = 128;
  o.block = 64;
  o.repr = 4;
  o.chunk = 32;
  o.topk = 2;
  o.cache_blocks = 3;
  expect_file_store_equals_memory(o, KvType::F16, {100, 100, 100, 100, 100, 1, 1, 64, 1, 100, 1, 100, 1, 1});
}

// Clones of a file-store policy share its file: the original and a clone,
// continued with different tokens (their new blocks interleaved in the file),
// each equal a memory-store policy run on the same tokens; the clone goes on
// reading the file once the original is gone.
TEST(InfLLMPolicy, FileStoreClonesContinueIndependently) {
  constexpr int64_t kPrefix = 60, kMore = 70;
  std::mt19937 rng(17);
  Sequence a(10000.0), b(10000.0);
  a.add_random(kPrefix + kMore, rng);
  b.k = a.k, b.v = a.v, b.q = a.q;
  Sequence other(10000.0);
  other.add_random(kMore, rng);  // b's own continuation
  std::copy(other.k.begin(), other.k.end(), b.k.begin() + kPrefix);
  std::copy(other.v.begin(), other.v.end(), b.v.begin() + kPrefix);
  std::copy(other.q.begin(), other.q.end(), b.q.begin() + kPrefix);

  InfLLMPolicy::Options o = small_options();
  o.store = BlockStore::Kind::File;
  auto original = std::make_unique<InfLLMPolicy>(o);
  for (int64_t n : {12, 12, 12, 12, 12}) a.feed(*original, n);
  b.cache = a.cache, b.out = a.out;
  std::unique_ptr<AttentionPolicy> copy = original->clone();
  const std::vector<int64_t> steps = {12, 1, 1, 12, 1, 20, 1, 1, 12, 1, 1, 1, 1, 1, 1};
  for (size_t i = 0; i < steps.size(); ++i) {
    if (i == 8) original.reset();  // the clone keeps the file
    if (original) a.feed(*original, steps[i]);
    b.feed(*copy, steps[i]);
  }
  EXPECT_GT(static_cast<InfLLMPolicy&>(*copy).offload_stats().loads, o.cache_blocks);

  // References: memory stores fed the same batches, no clone.
  auto reference = [&](Sequence& s, size_t n_steps) {
    Sequence r(10000.0);
    r.k = s.k, r.v = s.v, r.q = s.q;
    o.store = BlockStore::Kind::Memory;
    InfLLMPolicy p(o);
    for (int64_t n : {12, 12, 12, 12, 12}) r.feed(p, n);
    for (size_t i = 0; i < n_steps; ++i) r.feed(p, steps[i]);
    return r.out;
  };
  const std::vector<std::vector<float>> want_a = reference(a, 8), want_b = reference(b, steps.size());
  ASSERT_EQ(a.out.size(), want_a.size());
  ASSERT_EQ(b.out.size(), want_b.size());
  for (size_t t = 0; t < want_a.size(); ++t) ASSERT_EQ(a.out[t], want_a[t]) << "original, token " << t;
  for (size_t t = 0; t < want_b.size(); ++t) ASSERT_EQ(b.out[t], want_b[t]) << "clone, token " << t;
}

// With store=file, what the policy holds in memory stays within the bound of
// docs/attention.md (per layer: the near buffer, frames, scores and the
// representative keys, which alone grow: one vector per block and query
// head) while the store grows with the sequence.
TEST(InfLLMPolicy, FileStoreKeepsResidentMemoryBounded) {
  InfLLMPolicy::Options o;
  o.init = 64;
  o.local = 256;
  o.block = 64;
  o.repr = 4;
  o.chunk = 64;
  o.topk = 2;
  o.cache_blocks = 4;
  o.store = BlockStore::Kind::File;
  InfLLMPolicy policy(o);
  Sequence s(10000.0, KvType::F16);
  std::mt19937 rng(29);
  s.add_random(4000, rng);
  auto pages = [](int64_t slots) { return (slots + 63) / 64; };
  const size_t page = static_cast<size_t>(2 * kKv * 64) * s.cache.row_bytes();
  size_t last_store = 0;
  for (int64_t fed = 0; fed < 4000;) {
    const int64_t n = fed % 1000 < 900 ? 100 : 1;
    s.feed(policy, n);
    fed += n;
    const size_t blocks = static_cast<size_t>(policy.n_blocks(0));
    const size_t bound =
        page * static_cast<size_t>(pages(o.init + o.block + o.chunk) + pages(o.cache_blocks * o.block)) +
        sizeof(float) * kHeads * static_cast<size_t>(o.local + o.block + o.chunk) +
        blocks * kHeads * (kHd * sizeof(float) + o.repr * sizeof(int64_t));
    ASSERT_LE(policy.fast_tier_bytes(), bound) << "after " << fed << " tokens";
    ASSERT_EQ(policy.store_resident_bytes(), 0u);
    ASSERT_LE(s.cache.size(), o.local + 63 + n);
    ASSERT_EQ(policy.store_bytes(), blocks * page);  // a block of 64 slots is one page
    last_store = policy.store_bytes();
  }
  EXPECT_GT(last_store, 50 * page);
}

ModelConfig spec_config() { return small_config(10000.0); }

TEST(InfLLMPolicy, ParsesSpecsWithDefaultsAndRejectsBadParameters) {
  const ModelConfig c = spec_config();
  EXPECT_EQ(make_policy("infllm", c)->spec(),
            "infllm:init=128,local=4096,block=128,repr=4,topk=16,chunk=512,cache_blocks=32,store=memory");
  EXPECT_EQ(make_policy("infllm:local=2048,topk=8,cache_blocks=8", c)->spec(),
            "infllm:init=128,local=2048,block=128,repr=4,topk=8,chunk=512,cache_blocks=8,store=memory");
  EXPECT_EQ(make_policy("infllm:store=file", c)->spec(),
            "infllm:init=128,local=4096,block=128,repr=4,topk=16,chunk=512,cache_blocks=32,store=file");
  EXPECT_EQ(static_cast<const InfLLMPolicy&>(*make_policy("infllm:store=file", c)).options().store,
            BlockStore::Kind::File);
  EXPECT_EQ(static_cast<const InfLLMPolicy&>(*make_policy("infllm:store=memory", c)).options().store,
            BlockStore::Kind::Memory);
  EXPECT_TRUE(make_policy("infllm", c)->evicts());
  auto message = [&](const std::string& spec) { return testing::policy_spec_error(spec, c); };
  EXPECT_NE(message("nope").find("infllm:init=128"), std::string::npos);
  EXPECT_NE(message("infllm:blocks=3")
                .find("no parameter 'blocks' (valid: init, local, block, repr, topk, chunk, cache_blocks, store)"),
            std::string::npos);
  EXPECT_NE(message("infllm:store=disk").find("store must be one of memory, file (got 'disk')"), std::string::npos);
  EXPECT_NE(message("infllm:repr=0").find("repr must be >= 1"), std::string::npos);
  EXPECT_NE(message("infllm:block=8,repr=9").find("repr must be between 1 and block (8)"), std::string::npos);
  EXPECT_NE(message("infllm:local=256").find("chunk must be between 1 and local (256)"), std::string::npos);
  EXPECT_NE(message("infllm:cache_blocks=8").find("cache_blocks must be >= topk (16)"), std::string::npos);
  EXPECT_NE(message("infllm:init=-1").find("init must be >= 0"), std::string::npos);
  EXPECT_NE(message("infllm:topk=x").find("integer"), std::string::npos);
  ModelConfig trained = c;
  trained.max_context = 8192;
  EXPECT_NO_THROW(make_policy("infllm", trained));
  EXPECT_THROW(make_policy("infllm:local=8192", trained), Error);
  try {
    make_policy("infllm:local=8192", trained);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("local must be below the model's trained context (8192)"), std::string::npos);
  }
}

// A clone, with a copy of the cache, continues exactly as the original.
TEST(InfLLMPolicy, CloneKeepsBlocksScoresAndFrames) {
  Sequence a(10000.0);
  std::mt19937 rng(9);
  a.add_random(120, rng);
  InfLLMPolicy policy(small_options());
  for (int64_t n : {12, 12, 12, 12, 1, 1, 20}) a.feed(policy, n);
  Sequence b(10000.0);
  b.k = a.k, b.v = a.v, b.q = a.q, b.out = a.out;
  b.cache = a.cache;
  std::unique_ptr<AttentionPolicy> copy = policy.clone();
  for (int64_t n : {1, 1, 12, 1, 30, 1}) {
    a.feed(policy, n);
    b.feed(*copy, n);
  }
  ASSERT_EQ(a.out.size(), b.out.size());
  for (size_t t = 0; t < a.out.size(); ++t) ASSERT_EQ(a.out[t], b.out[t]) << "token " << t;
  auto& c = static_cast<InfLLMPolicy&>(*copy);
  EXPECT_EQ(c.n_blocks(0), policy.n_blocks(0));
  EXPECT_EQ(c.resident_blocks(0), policy.resident_blocks(0));
  EXPECT_EQ(c.offload_stats().decode_loads, policy.offload_stats().decode_loads);
  EXPECT_EQ(c.stats().bytes_read, policy.stats().bytes_read);
}

// A cache rolled back (nothing evicted yet) or cleared: the policy drops what
// it held past the cache and continues as a fresh policy handed that cache.
TEST(InfLLMPolicy, RolledBackCacheEqualsAFreshPolicyOnThatCache) {
  std::mt19937 rng(13);
  Sequence a(10000.0);
  a.add_random(60, rng);
  InfLLMPolicy::Options o = small_options();
  o.local = 32;  // nothing is evicted within 60 tokens (pages of 64)
  InfLLMPolicy policy(o);
  a.feed(policy, 50);
  EXPECT_EQ(policy.n_blocks(0), 1);  // tokens 4..11 left the window by token 49
  a.cache.truncate(40);
  Sequence b(10000.0);
  b.k = a.k, b.v = a.v, b.q = a.q;
  b.cache = a.cache;
  InfLLMPolicy fresh(o);
  a.feed(policy, 20);
  b.feed(fresh, 20);
  for (int64_t t = 40; t < 60; ++t) ASSERT_EQ(a.out[t], b.out[t]) << "token " << t;

  a.cache.clear();
  a.out.clear();
  a.feed(policy, 30);
  Sequence c(10000.0);
  c.k = a.k, c.v = a.v, c.q = a.q;
  InfLLMPolicy fresh2(o);
  c.feed(fresh2, 30);
  for (int64_t t = 0; t < 30; ++t) ASSERT_EQ(a.out[t], c.out[t]) << "token " << t;
}

class InfLLMOnTestModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { model_ = Model::load(test_model_dir() + "/model-bf16.gguf").release(); }
  static void TearDownTestSuite() { delete model_; }
  struct Run {
    std::vector<std::vector<float>> logits;
    std::vector<int64_t> positions;
  };
  // Greedy continuation of a synthetic prompt; the logits of every step. With
  // `fork`, the policy is cloned and the cache copied after the prompt, and
  // the copy is what continues.
  Run run(AttentionPolicy* policy, int64_t prompt_len, int steps, bool fork = false) {
    ThreadPool pool(2);
    Transformer tf(*model_, pool);
    KvCache cache(tf.cache_shape(KvType::F32));
    std::vector<int32_t> prompt(prompt_len);
    for (int64_t i = 0; i < prompt_len; ++i) prompt[i] = i == 0 ? 1 : static_cast<int32_t>(100 + (i * 37) % 7000);
    std::vector<float> logits(model_->config().vocab_size);
    Run r;
    tf.forward(prompt.data(), prompt_len, cache, logits.data(), false, policy);
    r.logits.push_back(logits);
    std::unique_ptr<AttentionPolicy> copy;
    KvCache forked = cache;
    if (fork) {
      copy = policy->clone();
      policy = copy.get();
    }
    KvCache& c = fork ? forked : cache;
    for (int s = 0; s < steps; ++s) {
      int32_t next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      tf.forward(&next, 1, c, logits.data(), false, policy);
      r.logits.push_back(logits);
    }
    r.positions = c.positions();
    return r;
  }
  static Model* model_;
};
Model* InfLLMOnTestModel::model_ = nullptr;

TEST_F(InfLLMOnTestModel, WithTheWindowCoveringTheSequenceEqualsFull) {
  auto full = make_policy("full", model_->config());
  auto infllm = make_policy("infllm:local=1024", model_->config());
  const Run a = run(full.get(), 300, 20), b = run(infllm.get(), 300, 20);
  for (size_t s = 0; s < a.logits.size(); ++s)
    for (size_t i = 0; i < a.logits[s].size(); ++i) ASSERT_NEAR(a.logits[s][i], b.logits[s][i], 1e-4) << "step " << s;
}

TEST_F(InfLLMOnTestModel, BoundsTheCacheAndCountsWhatItReads) {
  const std::string spec = "infllm:init=4,local=128,block=32,repr=4,topk=2,chunk=64,cache_blocks=3";
  auto infllm = make_policy(spec, model_->config());
  auto full = make_policy("full", model_->config());
  const Run a = run(infllm.get(), 700, 60), f = run(full.get(), 700, 1);
  EXPECT_EQ(a.positions.back(), 759);
  EXPECT_LE(a.positions.size(), 128u + 64u);
  double diff = 0;
  for (size_t i = 0; i < f.logits[0].size(); ++i)
    diff = std::max(diff, static_cast<double>(std::fabs(f.logits[0][i] - a.logits[0][i])));
  EXPECT_GT(diff, 1e-2);
  const auto& p = static_cast<const InfLLMPolicy&>(*infllm);
  const int64_t layers = model_->config().n_layers;
  EXPECT_EQ(p.stats().decoded_tokens, 60);
  // Each decoded token: 4 initial tokens, 2 blocks of 32, under one block of
  // not-yet-formed tokens, and the 128-token window.
  const double slots = p.stats().slots_per_token(layers, model_->config().n_kv_heads);
  EXPECT_GE(slots, 4 + 64 + 128);
  EXPECT_LT(slots, 4 + 64 + 32 + 128);
  const InfLLMPolicy::OffloadStats& st = p.offload_stats();
  EXPECT_EQ(st.decode_lookups, 60 * layers * 2);
  EXPECT_EQ(st.decode_hits + st.decode_loads, st.decode_lookups);
  EXPECT_EQ(p.n_blocks(0), (759 - 128 + 1 - 4) / 32);
  // Fast tier per layer: 3 frames of 32 slots (pages of 64) plus the near buffer; the store holds every block.
  EXPECT_GE(p.store_bytes(), static_cast<size_t>(p.n_blocks(0) * 32 * layers) * 2 * 2 * 64 * 4);
}

// Greedy decoding on the test model with store=file equals store=memory:
// identical logits at every step (blocks of 32 slots, 3 frames, loads and
// replacements every token).
TEST_F(InfLLMOnTestModel, FileStoreGivesTheSameLogitsAsMemory) {
  const std::string spec = "infllm:init=4,local=128,block=32,repr=4,topk=2,chunk=64,cache_blocks=3";
  auto mem = make_policy(spec + ",store=memory", model_->config());
  auto file = make_policy(spec + ",store=file", model_->config());
  const Run x = run(mem.get(), 700, 40), y = run(file.get(), 700, 40);
  for (size_t s = 0; s < x.logits.size(); ++s) ASSERT_EQ(x.logits[s], y.logits[s]) << "step " << s;
  const auto& f = static_cast<const InfLLMPolicy&>(*file);
  EXPECT_GT(f.offload_stats().decode_loads, 0);
  EXPECT_EQ(f.offload_stats().decode_loads, static_cast<const InfLLMPolicy&>(*mem).offload_stats().decode_loads);
}

TEST_F(InfLLMOnTestModel, ACloneWithACopiedCacheContinuesIdentically) {
  const std::string spec = "infllm:init=4,local=128,block=32,repr=4,topk=2,chunk=64,cache_blocks=3";
  auto a = make_policy(spec, model_->config());
  auto b = make_policy(spec, model_->config());
  const Run x = run(a.get(), 500, 30), y = run(b.get(), 500, 30, true);
  for (size_t s = 0; s < x.logits.size(); ++s) ASSERT_EQ(x.logits[s], y.logits[s]) << "step " << s;
}

}  // namespace
}  // namespace sieve
