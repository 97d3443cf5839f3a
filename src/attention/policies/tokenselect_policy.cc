// The vector helpers (16-bit to float conversion, exponentials) are compiled
// once per instruction set by Highway (foreach_target) and chosen at run time;
// the policy itself is compiled once (HWY_ONCE).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "attention/policies/tokenselect_policy.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"

#include "attention/policies/tokenselect_policy.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>

#include "attention/attention_kernel.h"
#include "attention/exp_row.h"
#include "attention/selection/top_k.h"
#include "kernels/prefetch.h"
#include "util/spec.h"
#include "kernels/ops.h"
#include "util/error.h"
#include "util/half.h"

HWY_BEFORE_NAMESPACE();
namespace sieve {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// dst[i] = src[i] as float for n contiguous elements of a KV cache type (not q8_0).
void ToFloat(KvType type, const uint8_t* src, int64_t n, float* dst) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  if (type == KvType::F32) {
    std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
  } else if (type == KvType::F16) {
    const hn::Rebind<hwy::float16_t, decltype(df)> dh;
    const auto* p = reinterpret_cast<const hwy::float16_t*>(src);
    for (; i + N <= n; i += N) hn::StoreU(hn::PromoteTo(df, hn::LoadU(dh, p + i)), df, dst + i);
    for (; i < n; ++i) dst[i] = f16_to_f32(reinterpret_cast<const uint16_t*>(src)[i]);
  } else {
    const hn::Rebind<hwy::bfloat16_t, decltype(df)> db;
    const auto* p = reinterpret_cast<const hwy::bfloat16_t*>(src);
    for (; i + N <= n; i += N) hn::StoreU(hn::PromoteTo(df, hn::LoadU(db, p + i)), df, dst + i);
    for (; i < n; ++i) dst[i] = bf16_to_f32(reinterpret_cast<const uint16_t*>(src)[i]);
  }
}

// Rotates one head vector by a position given as expanded tables: x' = x * c
// + partner(x) * s, partner swapping the two halves (pairs (i, i + hd/2)) or
// adjacent lanes (interleaved pairs), s carrying the signs.
void RotateExpanded(float* x, const float* c, const float* s, int64_t hd, bool interleaved) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df)), half = hd / 2;
  if (interleaved && hd % N == 0 && N % 2 == 0) {
    for (int64_t d = 0; d < hd; d += N) {
      const auto v = hn::LoadU(df, x + d);
      const auto r = hn::MulAdd(v, hn::LoadU(df, c + d), hn::Mul(hn::Reverse2(df, v), hn::LoadU(df, s + d)));
      hn::StoreU(r, df, x + d);
    }
    return;
  }
  if (!interleaved && half % N == 0) {
    for (int64_t d = 0; d < half; d += N) {
      const auto a = hn::LoadU(df, x + d), b = hn::LoadU(df, x + half + d);
      hn::StoreU(hn::MulAdd(a, hn::LoadU(df, c + d), hn::Mul(b, hn::LoadU(df, s + d))), df, x + d);
      hn::StoreU(hn::MulAdd(b, hn::LoadU(df, c + half + d), hn::Mul(a, hn::LoadU(df, s + half + d))), df, x + half + d);
    }
    return;
  }
  for (int64_t i = 0; i < half; ++i) {
    const int64_t a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + half;
    const float xa = x[a], xb = x[b];
    x[a] = xa * c[a] + xb * s[a];
    x[b] = xb * c[b] + xa * s[b];
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace sieve
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace sieve {

HWY_EXPORT(ToFloat);
HWY_EXPORT(RotateExpanded);

namespace {

void to_float(KvType type, const uint8_t* src, int64_t n, float* dst) {
  HWY_DYNAMIC_DISPATCH(ToFloat)(type, src, n, dst);
}

void rotate_expanded(float* x, const float* c, const float* s, int64_t hd, bool interleaved) {
  HWY_DYNAMIC_DISPATCH(RotateExpanded)(x, c, s, hd, interleaved);
}

constexpr int64_t kQueryBlock = 16;          // query tokens per work item
constexpr int64_t kParallelVotes = 1 << 20;  // score entries from which the votes are summed in parallel
constexpr int64_t kScorePiece = 2048;         // fewest candidates per scoring work item

struct Scratch {
  std::vector<float> q, m, l, acc, kernel, cos, sin, key, value, scores, row;
  std::vector<int64_t> begin, limit, no_positions;
};

Scratch& thread_scratch() {
  thread_local Scratch s;
  return s;
}

// Keys (or values) of some slots (ascending columns) of one page of a KV head
// as floats, count x head_dim: what KvCache::read_key/read_value give, but
// with vector conversions. Keys are stored dimension-major, so one key alone
// touches every row of the block: the rows' span of columns is converted once
// for all the slots. Value rows are contiguous: only the slots' own.
void read_page_rows(const KvCache& cache, int64_t layer, int64_t kv_head, int64_t page, const int64_t* cols,
                    int64_t count, bool key, float* out, std::vector<float>& buffer) {
  const KvCacheShape& s = cache.shape();
  const int64_t hd = s.head_dim, ps = s.page_size;
  if (s.type == KvType::Q8_0) {
    for (int64_t i = 0; i < count; ++i) {
      if (key)
        cache.read_key(layer, kv_head, page * ps + cols[i], out + i * hd);
      else
        cache.read_value(layer, kv_head, page * ps + cols[i], out + i * hd);
    }
    return;
  }
  const size_t es = s.type == KvType::F32 ? 4 : 2;
  const int64_t lo = cols[0], hi = cols[count - 1] + 1;  // cols ascend
  if (key) {
    // Columns [lo, hi) of the block's hd rows (the whole block in one go when full).
    const uint8_t* base = cache.key_block(layer, kv_head, page);
    buffer.resize(hd * ps);
    if (lo == 0 && hi == ps) {
      to_float(s.type, base, hd * ps, buffer.data());
    } else {
      for (int64_t d = 0; d < hd; ++d)
        to_float(s.type, base + static_cast<size_t>(d * ps + lo) * es, hi - lo, buffer.data() + d * ps + lo);
    }
    for (int64_t i = 0; i < count; ++i)
      for (int64_t d = 0; d < hd; ++d) out[i * hd + d] = buffer[d * ps + cols[i]];
  } else {
    // Value rows are contiguous: convert just the ones asked for.
    const uint8_t* base = cache.value_block(layer, kv_head, page);
    for (int64_t i = 0; i < count; ++i) to_float(s.type, base + static_cast<size_t>(cols[i] * hd) * es, hd, out + i * hd);
  }
}

// kernels::rope_apply with the two pair layouts in separate loops (no
// per-element layout branch).
void rotate(float* x, const float* cos, const float* sin, int64_t hd, bool interleaved) {
  const int64_t half = hd / 2;
  if (interleaved) {
    for (int64_t i = 0; i < half; ++i) {
      const float x0 = x[2 * i], x1 = x[2 * i + 1];
      x[2 * i] = x0 * cos[i] - x1 * sin[i];
      x[2 * i + 1] = x0 * sin[i] + x1 * cos[i];
    }
  } else {
    float* a = x;
    float* b = x + half;
    for (int64_t i = 0; i < half; ++i) {
      const float x0 = a[i], x1 = b[i];
      a[i] = x0 * cos[i] - x1 * sin[i];
      b[i] = x0 * sin[i] + x1 * cos[i];
    }
  }
}

std::string format_number(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", x);
  return buf;
}

// Query rows of one KV head for tokens [t0, t1) of the input, head-major (row
// g * nt + i is query head g of the group for token t0 + i), each rotated to
// position(t) and scaled by 1/sqrt(head_dim), with the slot window [begin, limit).
template <typename Position, typename Window>
void load_rows(const AttentionInput& in, int64_t kv_head, int64_t t0, int64_t t1, Scratch& sc, Position position,
               Window window) {
  const int64_t hd = in.cache.shape().head_dim, group = in.n_heads / in.cache.shape().n_kv_heads, nt = t1 - t0;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  for (int64_t i = 0; i < nt; ++i) {
    in.rope.angles(position(t0 + i), sc.cos.data(), sc.sin.data());
    int64_t begin = 0, limit = 0;
    window(t0 + i, begin, limit);
    for (int64_t g = 0; g < group; ++g) {
      const int64_t r = g * nt + i;
      float* qr = sc.q.data() + r * hd;
      const float* src = in.q + ((t0 + i) * in.n_heads + kv_head * group + g) * hd;
      std::copy(src, src + hd, qr);
      kernels::rope_apply(qr, sc.cos.data(), sc.sin.data(), hd, in.rope.interleaved());
      for (int64_t d = 0; d < hd; ++d) qr[d] *= scale;
      sc.begin[r] = begin;
      sc.limit[r] = limit;
    }
  }
}

void reset_rows(const AttentionInput& in, int64_t n_rows, int64_t kernel_floats, Scratch& sc) {
  const int64_t hd = in.cache.shape().head_dim;
  sc.q.resize(n_rows * hd);
  sc.begin.resize(n_rows);
  sc.limit.resize(n_rows);
  sc.m.assign(n_rows, -std::numeric_limits<float>::infinity());
  sc.l.assign(n_rows, 0.0f);
  sc.acc.assign(n_rows * hd, 0.0f);
  sc.kernel.resize(kernel_floats);
  sc.cos.resize(hd / 2);
  sc.sin.resize(hd / 2);
}

AttentionRows rows_of(Scratch& sc, int64_t n_rows) {
  return AttentionRows{sc.q.data(), n_rows, sc.limit.data(), sc.begin.data(), sc.m.data(), sc.l.data(), sc.acc.data()};
}

void finish_rows(const AttentionInput& in, int64_t kv_head, int64_t t0, int64_t t1, const Scratch& sc, float* out) {
  const int64_t hd = in.cache.shape().head_dim, group = in.n_heads / in.cache.shape().n_kv_heads, nt = t1 - t0;
  for (int64_t g = 0; g < group; ++g)
    for (int64_t i = 0; i < nt; ++i) {
      const int64_t r = g * nt + i;
      finish_softmax_row(sc.l[r], sc.acc.data() + r * hd, hd, out + ((t0 + i) * in.n_heads + kv_head * group + g) * hd);
    }
}

}  // namespace

TokenSelectPolicy::TokenSelectPolicy(const Options& o) : o_(o) {
  if (o.k < 1 || o.n_init < 0 || o.n_local < 1 || o.chunk < 1) throw Error("internal: bad tokenselect options");
  // A prefill chunk longer than the local window would let its first queries
  // see selected tokens from later in the same chunk.
  if (o.chunk > o.n_local) throw Error("attention policy 'tokenselect': chunk must be <= n_local");
}

std::unique_ptr<AttentionPolicy> TokenSelectPolicy::from_spec(Spec& spec) {
  Options o;
  o.k = spec.take_int("k", kDefaultK, 1);
  o.n_init = spec.take_int("n_init", kDefaultInit, 0);
  o.n_local = spec.take_int("n_local", kDefaultLocal, 1);
  o.chunk = spec.take_int("chunk", kDefaultChunk, 1);
  o.threshold = spec.take_double("threshold", kDefaultThreshold, -1.0, 1.0);
  o.reuse = spec.take_bool("reuse", kDefaultReuse);
  const std::string scores = spec.take_string("score", "int8");
  if (scores == "int8")
    o.scores = Scores::Int8;
  else if (scores == "int4")
    o.scores = Scores::Int4;
  else if (scores == "exact")
    o.scores = Scores::Exact;
  else
    throw Error("attention policy 'tokenselect': score must be int8, int4 or exact (got '" + scores + "')");
  const std::string keys = spec.take_string("keys", "exact");
  if (keys == "exact")
    o.keys = Keys::Exact;
  else if (keys == "int8")
    o.keys = Keys::Int8;
  else
    throw Error("attention policy 'tokenselect': keys must be exact or int8 (got '" + keys + "')");
  if (o.keys == Keys::Int8 && o.scores != Scores::Int8)
    throw Error("attention policy 'tokenselect': keys=int8 reads the int8 copy, which only score=int8 keeps");
  spec.finish({"k", "n_init", "n_local", "chunk", "threshold", "reuse", "score", "keys"});
  return std::make_unique<TokenSelectPolicy>(o);
}

std::string TokenSelectPolicy::spec() const {
  return "tokenselect:k=" + std::to_string(o_.k) + ",n_init=" + std::to_string(o_.n_init) +
         ",n_local=" + std::to_string(o_.n_local) + ",chunk=" + std::to_string(o_.chunk) +
         ",threshold=" + format_number(o_.threshold) + ",reuse=" + (o_.reuse ? "1" : "0") +
         ",score=" + (o_.scores == Scores::Int8 ? "int8" : o_.scores == Scores::Int4 ? "int4" : "exact") +
         ",keys=" + (o_.keys == Keys::Int8 ? "int8" : "exact");
}

const std::vector<int64_t>& TokenSelectPolicy::selected(int64_t layer) const {
  static const std::vector<int64_t> none;
  return layer < static_cast<int64_t>(layers_.size()) ? layers_[layer].selected : none;
}

void TokenSelectPolicy::attend(const AttentionInput& in, float* out) {
  prepare(in);
  unrotate_new_keys(in);
  for (int64_t c0 = 0; c0 < in.n_q; c0 += o_.chunk) {
    const int64_t c1 = std::min(in.n_q, c0 + o_.chunk);
    const int64_t num_tokens = in.first_slot + c1;  // the sequence, this chunk's keys included
    if (o_.n_init + o_.k + o_.n_local >= num_tokens) {
      attend_all(in, c0, c1, out);
      continue;
    }
    select(in, c0, c1, num_tokens);
    if (!layers_[in.layer].gathered_valid) gather(in);
    attend_selected(in, c0, c1, num_tokens, out);
  }
}

void TokenSelectPolicy::observe_prefill(const AttentionInput& in) {
  prepare(in);
  unrotate_new_keys(in);
  LayerState& L = layers_[in.layer];
  L.has_selection = false;
  L.gathered_valid = false;
}

// Per-sequence state follows the cache: slots from first_slot on were just
// (re)written, so anything kept about them is stale (a truncated cache).
void TokenSelectPolicy::prepare(const AttentionInput& in) {
  const KvCacheShape& s = in.cache.shape();
  if (static_cast<int64_t>(layers_.size()) != s.n_layers) {
    layers_.assign(s.n_layers, LayerState{});
    compact_.reset();
    unrotated_.reset();
  }
  if (o_.scores != Scores::Exact) {
    if (!compact_ || compact_->n_kv_heads() != s.n_kv_heads || compact_->head_dim() != s.head_dim) {
      compact_.emplace(s.n_layers, s.n_kv_heads, s.head_dim,
                       o_.scores == Scores::Int8 ? CompactKeys::Form::Int8 : CompactKeys::Form::Int4);
      for (LayerState& L : layers_) L.unrotated = 0;
    }
  } else {
    const KvCacheShape u{s.n_layers, s.n_kv_heads, s.head_dim, s.page_size, s.type};
    if (!unrotated_ || unrotated_->shape().n_kv_heads != u.n_kv_heads || unrotated_->shape().head_dim != u.head_dim ||
        unrotated_->shape().type != u.type || unrotated_->shape().page_size != u.page_size) {
      unrotated_.emplace(u);
      for (LayerState& L : layers_) L.unrotated = 0;
    }
    const int64_t end = in.cache.size();
    if (unrotated_->size() > end) unrotated_->truncate(end);
    if (unrotated_->size() < end)
      unrotated_->append_slots(in.cache.positions().data() + unrotated_->size(), end - unrotated_->size());
  }
  extend_unrotations(in);
  LayerState& L = layers_[in.layer];
  L.unrotated = std::min(L.unrotated, in.first_slot);
  if (compact_) compact_->truncate(in.layer, L.unrotated);
  if (L.has_selection && L.selected_at > in.first_slot) {
    L.has_selection = false;
    L.gathered_valid = false;
    L.selected.clear();
  }
  if (!table_) {
    // Per position p < n_init + k: c[hd] then s[hd], for RotateExpanded.
    const int64_t hd = s.head_dim, half = hd / 2, n = o_.n_init + o_.k;
    const bool interleaved = in.rope.interleaved();
    auto table = std::make_shared<std::vector<float>>(n * 2 * hd);
    std::vector<float> cos(half), sin(half);
    for (int64_t p = 0; p < n; ++p) {
      in.rope.angles(static_cast<double>(p), cos.data(), sin.data());
      float* c = table->data() + p * 2 * hd;
      float* sn = c + hd;
      for (int64_t i = 0; i < half; ++i) {
        const int64_t a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + half;
        c[a] = c[b] = cos[i];
        sn[a] = -sin[i];
        sn[b] = sin[i];
      }
    }
    table_ = std::move(table);
  }
}

// The rotations back from each slot's position, for the slots the cache
// gained (or rewrote: a truncated cache) since the last call.
void TokenSelectPolicy::extend_unrotations(const AttentionInput& in) {
  const int64_t hd = in.cache.shape().head_dim, half = hd / 2, end = in.cache.size();
  unrotations_valid_ = std::min(unrotations_valid_, in.first_slot);
  if (o_.keys != Keys::Exact || unrotations_valid_ >= end) return;  // only the exact gather keeps them
  unrotations_.resize(end * hd);
  const auto& positions = in.cache.positions();
  for (int64_t j = unrotations_valid_; j < end; ++j) {
    float* r = unrotations_.data() + j * hd;
    in.rope.angles(-static_cast<double>(positions[j]), r, r + half);
  }
  unrotations_valid_ = end;
}

// The scoring copy of the keys: each new key rotated back by its position.
void TokenSelectPolicy::unrotate_new_keys(const AttentionInput& in) {
  LayerState& L = layers_[in.layer];
  const int64_t end = in.cache.size(), begin = L.unrotated;
  if (begin >= end) return;
  const KvCacheShape& s = in.cache.shape();
  const int64_t hd = s.head_dim, ps = s.page_size, n_kv = s.n_kv_heads;
  const int64_t first_page = begin / ps, n_pages = (end - 1) / ps + 1 - first_page;
  if (compact_) compact_->reserve(in.layer, end);
  auto unrotate_pages = [&](int, int64_t pb, int64_t pe) {
    Scratch& sc = thread_scratch();
    sc.key.resize(n_kv * ps * hd);
    sc.value.resize(n_kv * hd);
    sc.begin.resize(ps);
    for (int64_t page = first_page + pb; page < first_page + pe; ++page) {
      const int64_t s0 = std::max(begin, page * ps), s1 = std::min(end, (page + 1) * ps), count = s1 - s0;
      for (int64_t i = 0; i < count; ++i) sc.begin[i] = s0 + i - page * ps;
      for (int64_t h = 0; h < n_kv; ++h)
        read_page_rows(in.cache, in.layer, h, page, sc.begin.data(), count, true, sc.key.data() + h * ps * hd, sc.row);
      for (int64_t i = 0; i < count; ++i) {
        const float* r;
        if (o_.keys == Keys::Exact) {
          r = unrotations_.data() + (s0 + i) * hd;
        } else {  // no table kept: the angles of this slot here
          sc.cos.resize(hd);
          in.rope.angles(-static_cast<double>(in.cache.positions()[s0 + i]), sc.cos.data(), sc.cos.data() + hd / 2);
          r = sc.cos.data();
        }
        for (int64_t h = 0; h < n_kv; ++h) {
          float* k = sc.value.data() + h * hd;
          std::copy(sc.key.data() + (h * ps + i) * hd, sc.key.data() + (h * ps + i + 1) * hd, k);
          rotate(k, r, r + hd / 2, hd, in.rope.interleaved());
          if (compact_) compact_->write(in.layer, h, s0 + i, k);
        }
        if (unrotated_) unrotated_->write(in.layer, s0 + i, sc.value.data(), sc.value.data());
      }
    }
  };
  if (n_pages > 1)
    in.pool.parallel_for(n_pages, 1, unrotate_pages);
  else
    unrotate_pages(0, 0, 1);  // a decoded token: not worth waking the pool
  if (compact_) compact_->set_size(in.layer, end);
  L.unrotated = end;
}

void TokenSelectPolicy::score(const AttentionInput& in, int64_t kv_head, int64_t lo, int64_t hi, float* scores,
                              int64_t stride) {
  const int64_t hd = in.cache.shape().head_dim, group = in.n_heads / in.cache.shape().n_kv_heads;
  const float* q = fingerprint_.data() + kv_head * group * hd;
  if (compact_) {
    compact_->score(in.layer, kv_head, lo, hi, q, group, scores, stride);
    return;
  }
  Scratch& sc = thread_scratch();
  sc.kernel.resize(attention_scratch_floats(unrotated_->shape(), group));
  sc.scores.resize(group * (hi - lo));
  const SlotSpan span{lo, hi};
  score_spans(*unrotated_, in.layer, kv_head, &span, 1, q, group, sc.scores.data(), sc.kernel.data());
  for (int64_t g = 0; g < group; ++g)
    std::copy(sc.scores.data() + g * (hi - lo), sc.scores.data() + (g + 1) * (hi - lo), scores + g * stride);
}

void TokenSelectPolicy::select(const AttentionInput& in, int64_t c0, int64_t c1, int64_t num_tokens) {
  LayerState& L = layers_[in.layer];
  const KvCacheShape& s = in.cache.shape();
  const int64_t hd = s.head_dim, n_kv = s.n_kv_heads, nh = in.n_heads, group = nh / n_kv;

  // The fingerprint: the chunk's queries rotated to n_local, n_local + 1, ..., averaged.
  fingerprint_.assign(nh * hd, 0.0f);
  {
    Scratch& sc = thread_scratch();
    sc.cos.resize(hd / 2);
    sc.sin.resize(hd / 2);
    sc.key.resize(hd);
    for (int64_t t = c0; t < c1; ++t) {
      in.rope.angles(static_cast<double>(o_.n_local + (t - c0)), sc.cos.data(), sc.sin.data());
      for (int64_t h = 0; h < nh; ++h) {
        const float* q = in.q + (t * nh + h) * hd;
        std::copy(q, q + hd, sc.key.data());
        kernels::rope_apply(sc.key.data(), sc.cos.data(), sc.sin.data(), hd, in.rope.interleaved());
        for (int64_t d = 0; d < hd; ++d) fingerprint_[h * hd + d] += sc.key[d];
      }
    }
    const float inv = 1.0f / static_cast<float>(c1 - c0);
    for (float& x : fingerprint_) x *= inv;
  }

  ++reuse_.selections;
  if (o_.reuse && L.has_selection && kernels::cosine_similarity(fingerprint_.data(), L.fingerprint.data(),
                                                                    static_cast<int64_t>(fingerprint_.size())) >=
                                             o_.threshold) {
    ++reuse_.reused;
    return;
  }
  L.fingerprint = fingerprint_;

  // Raw scores of every candidate for every query head, against the keys at
  // position 0, then a softmax within each head (exponentials in place, the
  // inverse sums kept). Work items are pieces of the candidates of one KV
  // head, so that every thread has work whatever the number of KV heads.
  const int64_t lo = o_.n_init, hi = num_tokens - o_.n_local, n_cand = hi - lo;
  const int64_t piece = std::max<int64_t>(kScorePiece, (n_cand + 4 * in.pool.size() - 1) / (4 * in.pool.size()));
  const int64_t n_pieces = (n_cand + piece - 1) / piece;
  scores_.resize(nh * n_cand);
  head_sum_.resize(nh);
  piece_max_.assign(nh * n_pieces, -std::numeric_limits<float>::infinity());
  piece_sum_.resize(nh * n_pieces);
  in.pool.parallel_for(n_kv * n_pieces, 1, [&](int, int64_t ib, int64_t ie) {
    for (int64_t item = ib; item < ie; ++item) {
      const int64_t kvh = item / n_pieces, p = item % n_pieces;
      const int64_t j0 = p * piece, j1 = std::min(n_cand, j0 + piece);
      float* rows = scores_.data() + kvh * group * n_cand + j0;  // the group's heads' rows, this piece
      score(in, kvh, lo + j0, lo + j1, rows, n_cand);
      for (int64_t g = 0; g < group; ++g)
        piece_max_[(kvh * group + g) * n_pieces + p] = row_max(rows + g * n_cand, j1 - j0);
    }
  });
  in.pool.parallel_for(nh * n_pieces, 1, [&](int, int64_t ib, int64_t ie) {
    for (int64_t item = ib; item < ie; ++item) {
      const int64_t h = item / n_pieces, p = item % n_pieces;
      const int64_t j0 = p * piece, j1 = std::min(n_cand, j0 + piece);
      const float* maxima = piece_max_.data() + h * n_pieces;
      const float m = *std::max_element(maxima, maxima + n_pieces);
      piece_sum_[item] = exp_shifted(scores_.data() + h * n_cand + j0, j1 - j0, m);
    }
  });
  for (int64_t h = 0; h < nh; ++h) {
    double z = 0;
    for (int64_t p = 0; p < n_pieces; ++p) z += piece_sum_[h * n_pieces + p];
    head_sum_[h] = static_cast<float>(1.0 / z);
  }
  // Summed over every head of the layer: the votes.
  votes_.resize(n_cand);
  auto vote = [&](int, int64_t jb, int64_t je) {
    for (int64_t j = jb; j < je; ++j) votes_[j] = 0.0f;
    for (int64_t h = 0; h < nh; ++h) {
      const float* row = scores_.data() + h * n_cand;
      const float inv = head_sum_[h];
      for (int64_t j = jb; j < je; ++j) votes_[j] += row[j] * inv;
    }
  };
  if (n_cand * nh >= kParallelVotes)
    in.pool.parallel_for(n_cand, 4096, vote);
  else
    vote(0, 0, n_cand);
  // The k most voted (ties to the earlier slot), in slot order: the k-th
  // largest vote (a radix pass, attention/selection/top_k.h: far cheaper than
  // ordering slot indices by their votes), then one pass in slot order taking
  // every vote above it and the earliest of those equal to it.
  const float kth = kth_largest(votes_.data(), n_cand, o_.k, kth_);
  int64_t ties = o_.k;
  for (float v : votes_) ties -= v > kth;
  L.selected.clear();
  for (int64_t j = 0; j < n_cand; ++j)
    if (votes_[j] > kth || (votes_[j] == kth && ties-- > 0)) L.selected.push_back(lo + j);
  L.selected_at = num_tokens;
  L.has_selection = true;
  L.gathered_valid = false;
  // The scoring pass read every candidate's key.
  const double key_bytes = compact_ ? static_cast<double>(compact_->bytes_per_slot())
                                    : static_cast<double>(unrotated_->row_bytes());
  count_extra_bytes(in, static_cast<double>(n_cand * n_kv) * key_bytes);
}

// Copies the initial and selected tokens of each KV head into a float32
// scratch cache, keys rotated to their places 0..n_init+k-1 in the list.
void TokenSelectPolicy::gather(const AttentionInput& in) {
  LayerState& L = layers_[in.layer];
  const KvCacheShape& s = in.cache.shape();
  const int64_t hd = s.head_dim, ps = s.page_size, n_kv = s.n_kv_heads, n = o_.n_init + o_.k;
  if (static_cast<int64_t>(L.gathered.size()) != n_kv)
    L.gathered.assign(n_kv, KvCache(KvCacheShape{1, 1, hd, ps, KvType::F32}));
  const float* table = table_->data();
  auto slot_of = [&](int64_t i) { return i < o_.n_init ? i : L.selected[i - o_.n_init]; };
  const bool int8_keys = o_.keys == Keys::Int8;
  std::vector<int64_t> over_read(in.pool.size(), 0);  // key slots read beyond the selected, per KV head
  in.pool.parallel_for(n_kv, 1, [&](int thread, int64_t hb, int64_t he) {
    int64_t& span_slots = over_read[thread];
    Scratch& sc = thread_scratch();
    sc.key.resize(ps * hd);
    sc.value.resize(ps * hd);
    sc.begin.resize(ps);
    sc.no_positions.assign(n, 0);
    for (int64_t kvh = hb; kvh < he; ++kvh) {
      KvCache& g = L.gathered[kvh];
      if (g.size() != n) {
        g.clear();
        g.append_slots(sc.no_positions.data(), n);
      }
      if (int8_keys) {
        gather_int8(in, kvh, g, &sc);
        continue;
      }
      // The list is in slot order: take it one source page at a time.
      for (int64_t a = 0; a < n;) {
        const int64_t page = slot_of(a) / ps;
        int64_t b = a;
        for (; b < n && slot_of(b) / ps == page; ++b) sc.begin[b - a] = slot_of(b) % ps;
        read_page_rows(in.cache, in.layer, kvh, page, sc.begin.data(), b - a, false, sc.value.data(), sc.row);
        read_page_rows(in.cache, in.layer, kvh, page, sc.begin.data(), b - a, true, sc.key.data(), sc.row);
        // Keys are stored dimension-major: the columns from the first slot
        // read to the last were read, not just the slots'.
        if (kvh == 0) span_slots += (sc.begin[b - a - 1] - sc.begin[0] + 1) - (b - a);
        for (int64_t i = a; i < b; ++i) {
          float* key = sc.key.data() + (i - a) * hd;
          const float* back = unrotations_.data() + slot_of(i) * hd;  // from its true position back to 0
          rotate(key, back, back + hd / 2, hd, in.rope.interleaved());
          rotate_expanded(key, table + i * 2 * hd, table + i * 2 * hd + hd, hd, in.rope.interleaved());
          // The scratch cache is this policy's own float32 cache: its pages
          // are written in place (keys dimension-major, values by row).
          const int64_t dst_page = i / ps, col = i % ps;
          float* kt = const_cast<float*>(reinterpret_cast<const float*>(g.key_block(0, 0, dst_page)));
          float* v = const_cast<float*>(reinterpret_cast<const float*>(g.value_block(0, 0, dst_page)));
          for (int64_t d = 0; d < hd; ++d) kt[d * ps + col] = key[d];
          std::copy(sc.value.data() + (i - a) * hd, sc.value.data() + (i - a + 1) * hd, v + col * hd);
        }
        a = b;
      }
    }
  });
  L.gathered_valid = true;
  // A decoded token's gather: the key columns read past the selected slots
  // (the same span for every KV head).
  int64_t over = 0;
  for (int64_t x : over_read) over += x;
  count_extra_bytes(in, static_cast<double>(over * n_kv) * static_cast<double>(in.cache.row_bytes()));
}

// gather() for one KV head with keys=int8: each key from its row of the int8
// copy (at position 0), its value from the cache's value row; the rows are
// scattered, so they are prefetched a few entries ahead.
void TokenSelectPolicy::gather_int8(const AttentionInput& in, int64_t kv_head, KvCache& gathered, void* scratch) {
  const LayerState& L = layers_[in.layer];
  Scratch& sc = *static_cast<Scratch*>(scratch);
  const KvCacheShape& s = in.cache.shape();
  const int64_t hd = s.head_dim, ps = s.page_size, n = o_.n_init + o_.k;
  const size_t es = s.type == KvType::F32 ? 4 : 2;
  const float* table = table_->data();
  auto slot_of = [&](int64_t i) { return i < o_.n_init ? i : L.selected[i - o_.n_init]; };
  constexpr int64_t kAhead = 16;
  for (int64_t i = 0; i < n; ++i) {
    if (i + kAhead < n) {
      const int64_t ahead = slot_of(i + kAhead);
      const int8_t* tile = compact_->tile_address(in.layer, kv_head, ahead);
      for (int64_t b = 0; b < compact_->tile_bytes(); b += 64) kernels::prefetch_l2(tile + b);
      kernels::prefetch_l2(compact_->scale_address(in.layer, kv_head, ahead));
      const uint8_t* value = in.cache.value_block(in.layer, kv_head, ahead / ps) + (ahead % ps) * in.cache.row_bytes();
      for (size_t b = 0; b < in.cache.row_bytes(); b += 64) kernels::prefetch_l2(value + b);
    }
    const int64_t slot = slot_of(i), dst_page = i / ps, col = i % ps;
    float* key = sc.key.data();
    compact_->dequantize(in.layer, kv_head, slot, key);
    rotate_expanded(key, table + i * 2 * hd, table + i * 2 * hd + hd, hd, in.rope.interleaved());
    // The scratch cache is this policy's own float32 cache: its pages are
    // written in place (keys dimension-major, values by row).
    float* kt = const_cast<float*>(reinterpret_cast<const float*>(gathered.key_block(0, 0, dst_page)));
    float* v = const_cast<float*>(reinterpret_cast<const float*>(gathered.value_block(0, 0, dst_page))) + col * hd;
    for (int64_t d = 0; d < hd; ++d) kt[d * ps + col] = key[d];
    if (s.type == KvType::Q8_0)
      in.cache.read_value(in.layer, kv_head, slot, v);
    else
      to_float(s.type, in.cache.value_block(in.layer, kv_head, slot / ps) + static_cast<size_t>((slot % ps) * hd) * es,
               hd, v);
  }
}

// Query tokens [c0, c1) read the gathered list at positions 0..G-1 and the
// local window right after it; a token sits at its own key's place in the list.
void TokenSelectPolicy::attend_selected(const AttentionInput& in, int64_t c0, int64_t c1, int64_t num_tokens,
                                        float* out) {
  LayerState& L = layers_[in.layer];
  const KvCacheShape& s = in.cache.shape();
  const int64_t n_kv = s.n_kv_heads, group = in.n_heads / n_kv, n = o_.n_init + o_.k;
  const int64_t local_begin = num_tokens - o_.n_local;
  const double local_position = static_cast<double>(in.cache.positions()[local_begin]);
  const int64_t n_blocks = (c1 - c0 + kQueryBlock - 1) / kQueryBlock;
  in.pool.parallel_for(n_kv * n_blocks, 1, [&](int, int64_t ib, int64_t ie) {
    Scratch& sc = thread_scratch();
    for (int64_t item = ib; item < ie; ++item) {
      const int64_t kvh = item / n_blocks, t0 = c0 + (item % n_blocks) * kQueryBlock;
      const int64_t t1 = std::min(c1, t0 + kQueryBlock), n_rows = group * (t1 - t0);
      reset_rows(in, n_rows, attention_scratch_floats(s, n_rows), sc);
      auto list_index = [&](int64_t t) { return n + (in.first_slot + t - local_begin); };
      load_rows(
          in, kvh, t0, t1, sc, [&](int64_t t) { return static_cast<double>(list_index(t)); },
          [&](int64_t, int64_t& b, int64_t& l) {
            b = 0;
            l = n;
          });
      AttentionRows rows = rows_of(sc, n_rows);
      const SlotSpan all{0, n};
      attend_spans(L.gathered[kvh], 0, 0, &all, 1, rows, sc.kernel.data());
      // The local window keeps its distances to the query: rotate the query
      // so that the window's first key sits right after the gathered list.
      load_rows(
          in, kvh, t0, t1, sc,
          [&](int64_t t) { return local_position + static_cast<double>(in.first_slot + t - local_begin); },
          [&](int64_t t, int64_t& b, int64_t& l) {
            b = local_begin;
            l = in.first_slot + t + 1;
          });
      const SlotSpan local{local_begin, num_tokens};
      attend_spans(in.cache, in.layer, kvh, &local, 1, rows, sc.kernel.data());
      finish_rows(in, kvh, t0, t1, sc, out);
    }
  });
  if (in.n_q == 1) count_read(in, static_cast<double>(n_kv * (n + o_.n_local)));
}

// While the budget covers the sequence: every slot up to the query, at true positions.
void TokenSelectPolicy::attend_all(const AttentionInput& in, int64_t c0, int64_t c1, float* out) {
  const KvCacheShape& s = in.cache.shape();
  const int64_t n_kv = s.n_kv_heads, group = in.n_heads / n_kv;
  const auto& positions = in.cache.positions();
  const int64_t n_blocks = (c1 - c0 + kQueryBlock - 1) / kQueryBlock;
  in.pool.parallel_for(n_kv * n_blocks, 1, [&](int, int64_t ib, int64_t ie) {
    Scratch& sc = thread_scratch();
    for (int64_t item = ib; item < ie; ++item) {
      const int64_t kvh = item / n_blocks, t0 = c0 + (item % n_blocks) * kQueryBlock;
      const int64_t t1 = std::min(c1, t0 + kQueryBlock), n_rows = group * (t1 - t0);
      reset_rows(in, n_rows, attention_scratch_floats(s, n_rows), sc);
      load_rows(
          in, kvh, t0, t1, sc, [&](int64_t t) { return static_cast<double>(positions[in.first_slot + t]); },
          [&](int64_t t, int64_t& b, int64_t& l) {
            b = 0;
            l = in.first_slot + t + 1;
          });
      AttentionRows rows = rows_of(sc, n_rows);
      const SlotSpan all{0, in.first_slot + t1};
      attend_spans(in.cache, in.layer, kvh, &all, 1, rows, sc.kernel.data());
      finish_rows(in, kvh, t0, t1, sc, out);
    }
  });
  if (in.n_q == 1) count_read(in, static_cast<double>(n_kv * (in.first_slot + 1)));
}

}  // namespace sieve
#endif  // HWY_ONCE
