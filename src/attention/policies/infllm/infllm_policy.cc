#include "attention/policies/infllm/infllm_policy.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "attention/attention_kernel.h"
#include "attention/policies/infllm/infllm_kernels.h"
#include "util/spec.h"
#include "attention/policies/infllm/slot_copy.h"
#include "kernels/ops.h"
#include "model/config.h"
#include "util/error.h"

namespace sieve {
namespace {

constexpr int64_t kQueryBlock = 16;  // query tokens per attention work item
constexpr int64_t kKeyTile = 64;     // key tokens per scoring work item
constexpr int64_t kNoPosition = 0;   // the policy's own buffers do not use positions

// Per-thread buffers reused across calls (decoding runs attend per layer per token).
struct Scratch {
  std::vector<float> q_memory, q_local, m, l, acc, kernel, scores;
  std::vector<int64_t> begin, limit, near_limit;
  std::vector<float> io;  // one slot's keys and values, rotation angles (single-threaded steps)
};
Scratch& thread_scratch() {
  thread_local Scratch s;
  return s;
}

void append_unpositioned(KvCache& c, int64_t n) {
  for (int64_t i = 0; i < n; ++i) c.append_slots(&kNoPosition, 1);
}

const char* store_name(BlockStore::Kind k) { return k == BlockStore::Kind::File ? "file" : "memory"; }

bool higher_first(const std::vector<float>& score, int64_t a, int64_t b) {
  return score[a] != score[b] ? score[a] > score[b] : a < b;
}

}  // namespace

InfLLMPolicy::InfLLMPolicy(const Options& options) : opt_(options) { validate(opt_); }

void InfLLMPolicy::validate(const Options& o) {
  auto fail = [](const std::string& what) { throw Error("attention policy 'infllm': " + what); };
  if (o.init < 0) fail("init must be >= 0");
  if (o.local < 1) fail("local must be >= 1");
  if (o.block < 1) fail("block must be >= 1");
  if (o.repr < 1 || o.repr > o.block) fail("repr must be between 1 and block (" + std::to_string(o.block) + ")");
  if (o.topk < 1) fail("topk must be >= 1");
  if (o.chunk < 1 || o.chunk > o.local) fail("chunk must be between 1 and local (" + std::to_string(o.local) + ")");
  if (o.cache_blocks < o.topk) fail("cache_blocks must be >= topk (" + std::to_string(o.topk) + ")");
}

std::unique_ptr<AttentionPolicy> InfLLMPolicy::from_spec(Spec& spec, const ModelConfig& config) {
  Options o;
  o.init = spec.take_int("init", o.init, 0);
  o.local = spec.take_int("local", o.local, 1);
  o.block = spec.take_int("block", o.block, 1);
  o.repr = spec.take_int("repr", o.repr, 1);
  o.topk = spec.take_int("topk", o.topk, 1);
  o.chunk = spec.take_int("chunk", o.chunk, 1);
  o.cache_blocks = spec.take_int("cache_blocks", o.cache_blocks, 1);
  o.store = spec.take_choice("store", store_name(o.store), {"memory", "file"}) == "file" ? BlockStore::Kind::File
                                                                                          : BlockStore::Kind::Memory;
  spec.finish({"init", "local", "block", "repr", "topk", "chunk", "cache_blocks", "store"});
  // Memory sits `local` positions from the query: within what the model was trained on.
  if (config.max_context > 0 && o.local >= config.max_context)
    throw Error("attention policy 'infllm': local must be below the model's trained context (" +
                std::to_string(config.max_context) + ")");
  return std::make_unique<InfLLMPolicy>(o);
}

std::string InfLLMPolicy::spec() const {
  return "infllm:init=" + std::to_string(opt_.init) + ",local=" + std::to_string(opt_.local) +
         ",block=" + std::to_string(opt_.block) + ",repr=" + std::to_string(opt_.repr) +
         ",topk=" + std::to_string(opt_.topk) + ",chunk=" + std::to_string(opt_.chunk) +
         ",cache_blocks=" + std::to_string(opt_.cache_blocks) + ",store=" + store_name(opt_.store);
}

void InfLLMPolicy::setup(Layer& L, const KvCache& cache, int64_t n_heads) const {
  const KvCacheShape& s = cache.shape();
  const KvCacheShape own{1, s.n_kv_heads, s.head_dim, 64, s.type};
  L = Layer();
  L.near = KvCache(own);
  L.store = BlockStore(opt_.store, own, opt_.block);
  L.frames = KvCache(own);
  L.n_heads = n_heads;
  L.ready = true;
}

// Attention-received entries for every token up to `upto` not yet in a block.
void InfLLMPolicy::grow_scores(Layer& L, int64_t upto) const {
  L.score.resize(L.n_heads);
  const size_t n = static_cast<size_t>(std::max<int64_t>(0, upto - rest(L)));
  for (std::vector<float>& sh : L.score)
    if (sh.size() < n) sh.resize(n, 0.0f);
}

// Brings the layer's state in line with the cache before the batch's queries:
// a cache rolled back (or cleared) resets it, and tokens the policy never saw
// as queries (a cache filled without it) are taken in with no attention
// received, so their blocks are represented by their first tokens.
void InfLLMPolicy::sync(Layer& L, const AttentionInput& in, int64_t base) {
  const int64_t t_first = base + in.first_slot;
  if (!L.ready) setup(L, in.cache, in.n_heads);
  if (t_first < L.seen) {
    if (base != 0) throw Error("infllm: the KV cache was rolled back past tokens the policy has evicted");
    setup(L, in.cache, in.n_heads);
  }
  if (base > L.copied) throw Error("infllm: the KV cache lacks tokens the policy has not stored");
  if (t_first > L.seen) {
    grow_scores(L, t_first);
    L.seen = t_first;
    copy_out(L, in, base, t_first - opt_.local);
    form_blocks(L, in);
  }
}

// Moves tokens [copied, upto) (they have left the local window) into the
// near buffer, their keys rotated back to position 0.
void InfLLMPolicy::copy_out(Layer& L, const AttentionInput& in, int64_t base, int64_t upto) {
  if (upto <= L.copied) return;
  const KvCacheShape& s = in.cache.shape();
  const int64_t hd = s.head_dim, n_kv = s.n_kv_heads;
  Scratch& sc = thread_scratch();
  sc.io.resize(2 * n_kv * hd + hd);
  float* k = sc.io.data();
  float* v = k + n_kv * hd;
  float* cs = v + n_kv * hd;  // cos, then sin
  const auto& positions = in.cache.positions();
  for (int64_t p = L.copied; p < upto; ++p) {
    const int64_t slot = p - base;
    read_slot(in.cache, in.layer, slot, k, v);
    in.rope.angles(-static_cast<double>(positions[slot]), cs, cs + hd / 2);
    for (int64_t h = 0; h < n_kv; ++h) kernels::rope_apply(k + h * hd, cs, cs + hd / 2, hd, in.rope.interleaved());
    append_unpositioned(L.near, 1);
    L.near.write(0, L.near.size() - 1, k, v);
  }
  // Reading the tokens' keys and values out of the cache.
  count_extra_bytes(in, static_cast<double>(upto - L.copied) * 2.0 * static_cast<double>(n_kv) *
                            static_cast<double>(in.cache.row_bytes()));
  L.copied = upto;
}

// Turns every full block of tokens that have left the local window into a
// memory block: representative keys per query head from the attention the
// tokens received, keys and values to the store, out of the near buffer.
void InfLLMPolicy::form_blocks(Layer& L, const AttentionInput& in) {
  const int64_t n_new = (L.copied - rest(L)) / opt_.block;
  if (n_new <= 0) return;
  const KvCacheShape& s = in.cache.shape();
  const int64_t hd = s.head_dim, n_kv = s.n_kv_heads, H = L.n_heads, group = H / n_kv, B = opt_.block;
  const int64_t first = opt_.init;  // near slot of the first token after the initial ones
  Scratch& sc = thread_scratch();
  sc.io.resize(2 * n_kv * hd);
  float* k = sc.io.data();
  float* v = k + n_kv * hd;
  order_.resize(B);
  for (int64_t nb = 0; nb < n_new; ++nb) {
    const int64_t b = L.n_blocks + nb, near0 = first + nb * B, score0 = nb * B;
    L.repr.resize((b + 1) * H * hd, 0.0f);
    L.repr_tokens.resize((b + 1) * H * opt_.repr);
    for (int64_t h = 0; h < H; ++h) {
      std::iota(order_.begin(), order_.end(), 0);
      std::partial_sort(order_.begin(), order_.begin() + opt_.repr, order_.end(), [&](int64_t a, int64_t c) {
        return higher_first(L.score[h], score0 + a, score0 + c);
      });
      std::sort(order_.begin(), order_.begin() + opt_.repr);
      float* r = L.repr.data() + (b * H + h) * hd;
      std::fill(r, r + hd, 0.0f);
      for (int64_t i = 0; i < opt_.repr; ++i) {
        L.near.read_key(0, h / group, near0 + order_[i], k);
        for (int64_t d = 0; d < hd; ++d) r[d] += k[d];
        L.repr_tokens[(b * H + h) * opt_.repr + i] = rest(L) + nb * B + order_[i];
      }
      for (int64_t d = 0; d < hd; ++d) r[d] /= static_cast<float>(opt_.repr);
    }
    L.store.append(L.near, near0);
    L.block_frame.push_back(-1);
  }
  // The near buffer keeps the initial tokens and what is left after the new blocks.
  const int64_t moved = n_new * B;
  copy_slots(L.near, first + moved, L.near, first, L.near.size() - first - moved, k, v);
  L.near.truncate(L.near.size() - moved);
  for (std::vector<float>& sh : L.score) sh.erase(sh.begin(), sh.begin() + moved);
  L.n_blocks += n_new;
  offload_.blocks_formed += n_new;
  // Reading the tokens out of the near buffer (into the store).
  count_extra_bytes(in, static_cast<double>(moved) * 2.0 * static_cast<double>(n_kv) *
                            static_cast<double>(in.cache.row_bytes()));
}

// Chooses the blocks chunk [c0, c1) reads and makes them resident in frames.
void InfLLMPolicy::select(Layer& L, const AttentionInput& in, int64_t c0, int64_t c1) {
  const KvCacheShape& s = in.cache.shape();
  const int64_t hd = s.head_dim, H = L.n_heads, n_kv = s.n_kv_heads;
  L.selected.clear();
  frame_spans_.clear();
  if (L.n_blocks == 0) return;
  if (L.n_blocks <= opt_.topk) {
    for (int64_t b = 0; b < L.n_blocks; ++b) L.selected.push_back(b);
  } else {
    // The chunk's mean query per head, at the memory's distance.
    mean_q_.assign(H * hd + hd, 0.0f);
    for (int64_t t = c0; t < c1; ++t)
      for (int64_t i = 0; i < H * hd; ++i) mean_q_[i] += in.q[t * H * hd + i];
    float* cs = mean_q_.data() + H * hd;
    in.rope.angles(static_cast<double>(opt_.local), cs, cs + hd / 2);
    for (int64_t h = 0; h < H; ++h) {
      float* qh = mean_q_.data() + h * hd;
      for (int64_t d = 0; d < hd; ++d) qh[d] /= static_cast<float>(c1 - c0);
      kernels::rope_apply(qh, cs, cs + hd / 2, hd, in.rope.interleaved());
    }
    block_score_.resize(L.n_blocks);
    for (int64_t b = 0; b < L.n_blocks; ++b) {
      const float* r = L.repr.data() + b * H * hd;
      float acc = 0.0f;
      for (int64_t i = 0; i < H * hd; ++i) acc += mean_q_[i] * r[i];
      block_score_[b] = acc;
    }
    order_.resize(L.n_blocks);
    std::iota(order_.begin(), order_.end(), 0);
    std::partial_sort(order_.begin(), order_.begin() + opt_.topk, order_.end(),
                      [&](int64_t a, int64_t b) { return higher_first(block_score_, a, b); });
    L.selected.assign(order_.begin(), order_.begin() + opt_.topk);
    std::sort(L.selected.begin(), L.selected.end());
    count_extra_bytes(in, static_cast<double>(L.n_blocks * H * hd) * sizeof(float));
  }

  // The fast tier: hits refresh a frame's use; misses load the block from the
  // store into a free frame or the least recently used one not needed now.
  const bool decode = in.n_q == 1;
  const int64_t B = opt_.block;
  ++L.clock;
  for (int64_t b : L.selected)
    if (L.block_frame[b] >= 0) {
      L.frame_used[L.block_frame[b]] = L.clock;
      ++offload_.hits;
      if (decode) ++offload_.decode_hits;
    }
  for (int64_t b : L.selected) {
    ++offload_.lookups;
    if (decode) ++offload_.decode_lookups;
    if (L.block_frame[b] >= 0) continue;
    int64_t f = static_cast<int64_t>(L.frame_block.size());
    if (f < opt_.cache_blocks) {
      append_unpositioned(L.frames, B);
      L.frame_block.push_back(-1);
      L.frame_used.push_back(0);
    } else {
      f = -1;
      for (int64_t g = 0; g < static_cast<int64_t>(L.frame_block.size()); ++g) {
        if (L.frame_used[g] == L.clock) continue;  // read by this chunk
        if (f < 0 || L.frame_used[g] < L.frame_used[f] ||
            (L.frame_used[g] == L.frame_used[f] && L.frame_block[g] < L.frame_block[f]))
          f = g;
      }
      L.block_frame[L.frame_block[f]] = -1;
    }
    L.store.load(b, L.frames, f * B);
    L.frame_block[f] = b;
    L.block_frame[b] = f;
    L.frame_used[f] = L.clock;
    ++offload_.loads;
    if (decode) ++offload_.decode_loads;
    count_extra_bytes(in, static_cast<double>(B) * 2.0 * static_cast<double>(n_kv) *
                              static_cast<double>(in.cache.row_bytes()));
  }
  for (int64_t b : L.selected) frame_spans_.push_back({L.block_frame[b] * B, (L.block_frame[b] + 1) * B});
}

void InfLLMPolicy::process_chunk(Layer& L, const AttentionInput& in, int64_t base, int64_t c0, int64_t c1,
                                 float* out) {
  const KvCacheShape& s = in.cache.shape();
  const int64_t hd = s.head_dim, n_kv = s.n_kv_heads, H = in.n_heads, group = H / n_kv;
  const int64_t T0 = base + in.first_slot + c0, T1 = base + in.first_slot + c1;
  const int64_t W = opt_.local;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));

  grow_scores(L, T1);
  copy_out(L, in, base, T1 - W);  // the tokens that leave the window during the chunk
  select(L, in, c0, c1);

  // The chunk's queries, scaled: at their true positions for the local
  // window, at position `local` for everything outside it (keys at 0).
  {
    std::vector<float>& cs = thread_scratch().io;
    cs.resize(2 * hd);
    const auto& positions = in.cache.positions();
    for (int64_t t = c0; t < c1; ++t) {
      in.rope.angles(static_cast<double>(positions[in.first_slot + t]), cs.data(), cs.data() + hd / 2);
      for (int64_t h = 0; h < H; ++h) {
        const float* src = in.q + (t * H + h) * hd;
        float* dst = q_local_.data() + (t * H + h) * hd;
        std::copy(src, src + hd, dst);
        kernels::rope_apply(dst, cs.data(), cs.data() + hd / 2, hd, in.rope.interleaved());
        for (int64_t d = 0; d < hd; ++d) dst[d] *= scale;
      }
    }
    in.rope.angles(static_cast<double>(W), cs.data(), cs.data() + hd / 2);
    for (int64_t t = c0; t < c1; ++t)
      for (int64_t h = 0; h < H; ++h) {
        const float* src = in.q + (t * H + h) * hd;
        float* dst = q_memory_.data() + (t * H + h) * hd;
        std::copy(src, src + hd, dst);
        kernels::rope_apply(dst, cs.data(), cs.data() + hd / 2, hd, in.rope.interleaved());
        for (int64_t d = 0; d < hd; ++d) dst[d] *= scale;
      }
  }

  const int64_t held = init_held(L), first_rest = rest(L), copied = L.copied;
  // Tokens outside the window of token T held in the near buffer: initial
  // tokens and tokens of the unfilled block up to T - local.
  auto near_count = [&](int64_t T) {
    const int64_t F = T - W + 1;
    return std::min(std::max<int64_t>(F, 0), held) + std::max<int64_t>(0, std::min(F, copied) - first_rest);
  };

  // Pass 1: attention, one work item per KV head and block of query tokens.
  const int64_t n_qb = (c1 - c0 + kQueryBlock - 1) / kQueryBlock;
  const KvCache& near = L.near;
  const KvCache& frames = L.frames;
  in.pool.parallel_for(n_kv * n_qb, 1, [&](int, int64_t item_begin, int64_t item_end) {
    Scratch& sc = thread_scratch();
    for (int64_t item = item_begin; item < item_end; ++item) {
      const int64_t kvh = item / n_qb, t0 = c0 + (item % n_qb) * kQueryBlock;
      const int64_t t1 = std::min(c1, t0 + kQueryBlock), n_rows = (t1 - t0) * group;
      // Rows are token-major: row (t - t0) * group + g is query head kvh * group + g.
      sc.q_memory.resize(n_rows * hd);
      sc.q_local.resize(n_rows * hd);
      for (int64_t t = t0; t < t1; ++t) {
        const size_t src = static_cast<size_t>((t * H + kvh * group) * hd);
        const size_t dst = static_cast<size_t>((t - t0) * group * hd);
        std::copy(q_memory_.begin() + src, q_memory_.begin() + src + group * hd, sc.q_memory.begin() + dst);
        std::copy(q_local_.begin() + src, q_local_.begin() + src + group * hd, sc.q_local.begin() + dst);
      }
      sc.m.assign(n_rows, -std::numeric_limits<float>::infinity());
      sc.l.assign(n_rows, 0.0f);
      sc.acc.assign(n_rows * hd, 0.0f);
      sc.kernel.resize(std::max(attention_scratch_floats(s, n_rows), attention_scratch_floats(near.shape(), n_rows)));
      sc.begin.resize(n_rows);
      sc.limit.resize(n_rows);
      sc.near_limit.resize(n_rows);
      int64_t near_max = 0, lo = INT64_MAX, hi = 0;
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t T = T0 + (t - c0);
        const int64_t n_near = near_count(T);
        const int64_t b = std::max<int64_t>(T - W + 1, 0) - base, e = T + 1 - base;
        near_max = std::max(near_max, n_near);
        lo = std::min(lo, b);
        hi = std::max(hi, e);
        for (int64_t g = 0; g < group; ++g) {
          const int64_t r = (t - t0) * group + g;
          sc.near_limit[r] = n_near;
          sc.begin[r] = b;
          sc.limit[r] = e;
        }
      }
      if (near_max > 0) {
        AttentionRows rows{sc.q_memory.data(), n_rows, sc.near_limit.data(), nullptr, sc.m.data(), sc.l.data(),
                           sc.acc.data()};
        const SlotSpan span{0, near_max};
        attend_spans(near, 0, kvh, &span, 1, rows, sc.kernel.data());
      }
      if (!frame_spans_.empty()) {
        std::fill(sc.near_limit.begin(), sc.near_limit.end(), frames.size());
        AttentionRows rows{sc.q_memory.data(), n_rows, sc.near_limit.data(), nullptr, sc.m.data(), sc.l.data(),
                           sc.acc.data()};
        attend_spans(frames, 0, kvh, frame_spans_.data(), static_cast<int64_t>(frame_spans_.size()), rows,
                     sc.kernel.data());
      }
      {
        AttentionRows rows{sc.q_local.data(), n_rows, sc.limit.data(), sc.begin.data(), sc.m.data(), sc.l.data(),
                           sc.acc.data()};
        const SlotSpan span{lo, hi};
        attend_spans(in.cache, in.layer, kvh, &span, 1, rows, sc.kernel.data());
      }
      for (int64_t t = t0; t < t1; ++t)
        for (int64_t g = 0; g < group; ++g) {
          const int64_t r = (t - t0) * group + g, h = kvh * group + g;
          finish_softmax_row(sc.l[r], sc.acc.data() + r * hd, hd, out + (t * H + h) * hd);
          row_m_[t * H + h] = sc.m[r];
          row_l_[t * H + h] = sc.l[r];
        }
    }
  });

  if (in.n_q == 1) {
    const double slots = static_cast<double>(near_count(T0) + static_cast<int64_t>(L.selected.size()) * opt_.block +
                                             std::min(W, T0 + 1));
    count_read(in, slots * static_cast<double>(n_kv));
  }

  // Pass 2: the attention each local-window key received from the chunk's
  // queries (probabilities of the whole softmax), for the representative
  // keys of the blocks the tokens will form. One item per KV head and tile.
  const int64_t klo = std::max(first_rest, T0 - W + 1), khi = T1;
  if (klo < khi) {
    const int64_t n_tiles = (khi - klo + kKeyTile - 1) / kKeyTile;
    in.pool.parallel_for(n_kv * n_tiles, 1, [&](int, int64_t item_begin, int64_t item_end) {
      Scratch& sc = thread_scratch();
      for (int64_t item = item_begin; item < item_end; ++item) {
        const int64_t kvh = item / n_tiles, j0 = klo + (item % n_tiles) * kKeyTile;
        const int64_t j1 = std::min(khi, j0 + kKeyTile), n_cols = j1 - j0;
        const SlotSpan span{j0 - base, j1 - base};
        // Queries whose window [T - local + 1, T] meets the tile.
        const int64_t tq0 = std::max(T0, j0), tq1 = std::min(T1, j1 + W - 1);
        for (int64_t a = tq0; a < tq1; a += kQueryBlock) {
          const int64_t b = std::min(tq1, a + kQueryBlock), n_rows = (b - a) * group;
          sc.q_local.resize(n_rows * hd);
          for (int64_t T = a; T < b; ++T) {
            const size_t src = static_cast<size_t>(((c0 + T - T0) * H + kvh * group) * hd);
            std::copy(q_local_.begin() + src, q_local_.begin() + src + group * hd,
                      sc.q_local.begin() + (T - a) * group * hd);
          }
          sc.scores.resize(n_rows * n_cols);
          sc.kernel.resize(attention_scratch_floats(s, n_rows));
          score_spans(in.cache, in.layer, kvh, &span, 1, sc.q_local.data(), n_rows, sc.scores.data(),
                      sc.kernel.data());
          for (int64_t T = a; T < b; ++T) {
            const int64_t jl = std::max(j0, T - W + 1), jh = std::min(j1, T + 1);
            for (int64_t g = 0; g < group; ++g) {
              const int64_t r = (T - a) * group + g, h = kvh * group + g, t = c0 + T - T0;
              const float m = row_m_[t * H + h], inv_l = 1.0f / row_l_[t * H + h];
              if (jh > jl)
                add_probabilities(sc.scores.data() + r * n_cols + (jl - j0), jh - jl, m, inv_l,
                                  L.score[h].data() + (jl - first_rest));
            }
          }
        }
      }
    });
    count_extra_bytes(in, static_cast<double>((khi - klo) * n_kv) * static_cast<double>(in.cache.row_bytes()));
  }

  form_blocks(L, in);
  L.seen = T1;
}

void InfLLMPolicy::attend(const AttentionInput& in, float* out) {
  const KvCache& cache = in.cache;
  const auto& positions = cache.positions();
  const int64_t base = positions.front();
  if (positions.back() - base != cache.size() - 1)
    throw Error("infllm: the KV cache's positions must be consecutive");
  if (layers_.size() != static_cast<size_t>(cache.shape().n_layers)) layers_.resize(cache.shape().n_layers);
  Layer& L = layers_[in.layer];
  sync(L, in, base);
  const size_t rows = static_cast<size_t>(in.n_q * in.n_heads);
  row_m_.resize(rows);
  row_l_.resize(rows);
  q_local_.resize(rows * cache.shape().head_dim);
  q_memory_.resize(rows * cache.shape().head_dim);
  for (int64_t c0 = 0; c0 < in.n_q; c0 += opt_.chunk)
    process_chunk(L, in, base, c0, std::min(in.n_q, c0 + opt_.chunk), out);
}

// Pages wholly older than every layer's copied tokens are no longer read
// from the cache: those tokens live in the near buffer or in blocks.
void InfLLMPolicy::end_batch(KvCache& cache) {
  if (layers_.empty() || cache.size() == 0) return;
  int64_t upto = INT64_MAX;
  for (const Layer& L : layers_) {
    if (!L.ready) return;
    upto = std::min(upto, L.copied);
  }
  const int64_t pages = (upto - cache.positions().front()) / cache.shape().page_size;
  if (pages > 0) cache.evict_pages(0, pages);
}

int64_t InfLLMPolicy::n_blocks(int64_t layer) const {
  return layer < static_cast<int64_t>(layers_.size()) ? layers_[layer].n_blocks : 0;
}

std::vector<int64_t> InfLLMPolicy::selected_blocks(int64_t layer) const {
  return layer < static_cast<int64_t>(layers_.size()) ? layers_[layer].selected : std::vector<int64_t>{};
}

std::vector<int64_t> InfLLMPolicy::resident_blocks(int64_t layer) const {
  if (layer >= static_cast<int64_t>(layers_.size())) return {};
  std::vector<int64_t> r = layers_[layer].frame_block;
  std::sort(r.begin(), r.end());
  return r;
}

std::vector<int64_t> InfLLMPolicy::representative_tokens(int64_t layer, int64_t block, int64_t head) const {
  if (layer >= static_cast<int64_t>(layers_.size()) || block >= layers_[layer].n_blocks) return {};
  const Layer& L = layers_[layer];
  const auto first = L.repr_tokens.begin() + (block * L.n_heads + head) * opt_.repr;
  return {first, first + opt_.repr};
}

size_t InfLLMPolicy::fast_tier_bytes() const {
  size_t n = 0;
  for (const Layer& L : layers_)
    n += L.near.bytes_allocated() + L.frames.bytes_allocated() + L.repr.size() * sizeof(float) +
         L.repr_tokens.size() * sizeof(int64_t) +
         L.score.size() * (L.score.empty() ? 0 : L.score[0].size()) * sizeof(float);
  return n;
}

size_t InfLLMPolicy::store_bytes() const {
  size_t n = 0;
  for (const Layer& L : layers_) n += L.store.bytes();
  return n;
}

size_t InfLLMPolicy::store_resident_bytes() const {
  size_t n = 0;
  for (const Layer& L : layers_) n += L.store.resident_bytes();
  return n;
}

std::vector<std::pair<std::string, double>> InfLLMPolicy::counters() const {
  const double decoded = static_cast<double>(std::max<int64_t>(1, stats().decoded_tokens));
  const OffloadStats& o = offload_;
  return {{"blocks_loaded_per_decoded_token", static_cast<double>(o.decode_loads) / decoded},
          {"decode_lru_hit_rate", o.decode_lookups ? static_cast<double>(o.decode_hits) / static_cast<double>(o.decode_lookups) : 0.0},
          {"fast_tier_bytes", static_cast<double>(fast_tier_bytes())},
          {"store_bytes", static_cast<double>(store_bytes())},
          {"store_resident_bytes", static_cast<double>(store_resident_bytes())}};
}

}  // namespace sieve
