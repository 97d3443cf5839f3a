#include "attention/prefill/minference/minference_method.h"

#include <algorithm>
#include <cmath>

#include "attention/prefill/minference/vertical_slash.h"
#include "model/config.h"
#include "util/error.h"
#include "util/spec.h"

namespace sieve {
namespace {

// The reference's defaults: A-shape n_init 128, n_local 3968
// (models_patch.py); Block-Sparse top 100 blocks (block_sparse_kernel).
constexpr int64_t kDefaultInit = 128, kDefaultLocal = 3968, kDefaultTopK = 100;

// Un-rotated query of token t, head h, rotated at its true position and scaled as the kernel takes it.
void rotated_query(const AttentionInput& in, int64_t t, int64_t h, float* q) {
  const int64_t hd = in.cache.shape().head_dim;
  const float* src = in.q + (t * in.n_heads + h) * hd;
  std::copy(src, src + hd, q);
  in.rope.rotate(q, 1, static_cast<double>(in.cache.positions()[in.first_slot + t]));
}

}  // namespace

MInferenceMethod::MInferenceMethod(HeadPatternChoice uniform, std::shared_ptr<const PatternConfig> config,
                                   std::string config_path)
    : uniform_(uniform), config_(std::move(config)), config_path_(std::move(config_path)) {}

std::unique_ptr<PrefillMethod> MInferenceMethod::from_spec(Spec& spec, const ModelConfig& model) {
  if (spec.has("config")) {
    const std::string path = spec.take_string("config", "");
    spec.finish({"config"});
    return std::make_unique<MInferenceMethod>(HeadPatternChoice{},
                                              std::make_shared<const PatternConfig>(PatternConfig::load(path, model)),
                                              path);
  }
  HeadPatternChoice c;
  const std::string pattern =
      spec.take_choice("pattern", "vertical_slash", {"vertical_slash", "a_shape", "block_sparse", "dense"});
  if (pattern == "vertical_slash") {
    const HeadPatternChoice d = default_vertical_slash();
    c.pattern = HeadPattern::kVerticalSlash;
    c.vertical = spec.take_int("vertical", d.vertical, 0);
    c.slash = spec.take_int("slash", d.slash, 1);
    spec.finish({"config", "pattern", "vertical", "slash"});
  } else if (pattern == "a_shape") {
    c.pattern = HeadPattern::kAShape;
    c.vertical = spec.take_int("init", kDefaultInit, 0);
    c.slash = spec.take_int("local", kDefaultLocal, 1);
    spec.finish({"config", "pattern", "init", "local"});
  } else if (pattern == "block_sparse") {
    c.pattern = HeadPattern::kBlockSparse;
    c.topk = spec.take_int("topk", kDefaultTopK, 1);
    spec.finish({"config", "pattern", "topk"});
  } else {
    c.pattern = HeadPattern::kDense;
    spec.finish({"config", "pattern"});
  }
  return std::make_unique<MInferenceMethod>(c, nullptr, "");
}

std::string MInferenceMethod::spec() const {
  if (config_) return "minference:config=" + config_path_;
  const HeadPatternChoice& c = uniform_;
  std::string s = "minference:pattern=" + std::string(head_pattern_name(c.pattern));
  if (c.pattern == HeadPattern::kAShape) s += ",init=" + std::to_string(c.vertical) + ",local=" + std::to_string(c.slash);
  if (c.pattern == HeadPattern::kVerticalSlash)
    s += ",vertical=" + std::to_string(c.vertical) + ",slash=" + std::to_string(c.slash);
  if (c.pattern == HeadPattern::kBlockSparse) s += ",topk=" + std::to_string(c.topk);
  return s;
}

HeadPatternChoice MInferenceMethod::choice(int64_t layer, int64_t head) const {
  if (!config_) return uniform_;
  return config_->layers.at(static_cast<size_t>(layer)).at(static_cast<size_t>(head));
}

void MInferenceMethod::plan(const AttentionInput& in, PrefillPlan& plan) {
  plan.reset(in.n_heads, prefill_blocks(in.n_q));
  if (config_ && (config_->n_layers != in.cache.shape().n_layers || config_->n_heads != in.n_heads))
    throw Error("minference: the pattern file '" + config_path_ + "' is for another model shape");
  const int64_t n_kv = in.cache.shape().n_kv_heads, group = in.n_heads / n_kv;
  pool_keys(in);
  // Vertical-Slash's votes, a KV head's heads at once: its keys are scored
  // once for all of them.
  std::vector<VerticalSlashVotes> head_votes(static_cast<size_t>(in.n_heads));
  in.pool.parallel_for(n_kv, 1, [&](int, int64_t k0, int64_t k1) {
    for (int64_t kvh = k0; kvh < k1; ++kvh) {
      std::vector<int64_t> heads;
      for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h)
        if (choice(in.layer, h).pattern == HeadPattern::kVerticalSlash) heads.push_back(h);
      if (heads.empty()) continue;
      std::vector<VerticalSlashVotes> v = votes(in, heads);
      for (size_t i = 0; i < heads.size(); ++i) head_votes[heads[i]] = std::move(v[i]);
    }
  });
  in.pool.parallel_for(in.n_heads, 1, [&](int, int64_t h0, int64_t h1) {
    for (int64_t h = h0; h < h1; ++h) plan_head(in, h, choice(in.layer, h), &head_votes[h], plan.heads[h]);
  });
}

std::vector<VerticalSlashVotes> MInferenceMethod::votes(const AttentionInput& in, const std::vector<int64_t>& heads) {
  const KvCacheShape& s = in.cache.shape();
  const int64_t hd = s.head_dim, n_last = std::min(kLastQueries, in.n_q), n_heads = static_cast<int64_t>(heads.size());
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  std::vector<float> q(static_cast<size_t>(n_heads * n_last * hd));
  for (int64_t i = 0; i < n_heads; ++i)
    for (int64_t r = 0; r < n_last; ++r) {
      float* row = q.data() + (i * n_last + r) * hd;
      rotated_query(in, in.n_q - n_last + r, heads[i], row);
      for (int64_t d = 0; d < hd; ++d) row[d] *= scale;
    }
  const int64_t kvh = heads.front() / (in.n_heads / s.n_kv_heads);
  return vertical_slash_votes(in.cache, in.layer, kvh, q.data(), n_heads, n_last, in.first_slot + in.n_q);
}

void MInferenceMethod::plan_head(const AttentionInput& in, int64_t head, const HeadPatternChoice& c,
                                 const VerticalSlashVotes* votes, HeadReads& reads) const {
  const int64_t n_keys = in.first_slot + in.n_q;
  reads.dense = false;
  reads.columns.clear();
  reads.blocks.assign(static_cast<size_t>(prefill_blocks(in.n_q)), BlockReads{});
  switch (c.pattern) {
    case HeadPattern::kDense:
      reads.dense = true;
      return;
    case HeadPattern::kAShape: {
      if (n_keys <= c.slash) {
        reads.dense = true;
        return;
      }
      for (int64_t b = 0; b < static_cast<int64_t>(reads.blocks.size()); ++b) {
        const int64_t row_begin = in.first_slot + b * kPrefillBlock;
        const int64_t row_end = std::min(n_keys, row_begin + kPrefillBlock);
        BlockReads& block = reads.blocks[b];
        // The sinks each row's window does not hold, then the window.
        const int64_t sink_end = std::min(c.vertical, std::max<int64_t>(0, row_end - c.slash));
        if (sink_end > 0) block.parts.push_back({{{0, sink_end}}, ReadMask::kBeforeWindow, c.slash});
        block.parts.push_back({{{std::max<int64_t>(0, row_begin - c.slash + 1), row_end}}, ReadMask::kWindow, c.slash});
      }
      return;
    }
    case HeadPattern::kVerticalSlash:
      if (c.slash >= n_keys || c.vertical >= n_keys) {
        reads.dense = true;
        return;
      }
      if (!votes || static_cast<int64_t>(votes->column.size()) != n_keys)
        throw Error("internal: a Vertical-Slash head planned without its votes");
      plan_vertical_slash(in, c, *votes, reads);
      return;
    case HeadPattern::kBlockSparse:
      if (c.topk * kPrefillBlock >= n_keys) {
        reads.dense = true;
        return;
      }
      plan_block_sparse(in, head, c, reads);
      return;
  }
}

void MInferenceMethod::plan_vertical_slash(const AttentionInput& in, const HeadPatternChoice& c,
                                           const VerticalSlashVotes& votes, HeadReads& reads) const {
  const int64_t n_keys = in.first_slot + in.n_q;
  const VerticalSlashIndex idx = select_vertical_slash(votes, c.vertical, c.slash);
  reads.columns = idx.verticals;
  for (int64_t b = 0; b < static_cast<int64_t>(reads.blocks.size()); ++b) {
    const int64_t row_begin = in.first_slot + b * kPrefillBlock;
    const int64_t row_end = std::min(n_keys, row_begin + kPrefillBlock);
    BlockReads& block = reads.blocks[b];
    block.parts.resize(1);
    vertical_slash_block(idx, row_begin, row_end, block.parts[0].spans, block.column_runs);
  }
}

void MInferenceMethod::pool_keys(const AttentionInput& in) {
  const KvCacheShape& s = in.cache.shape();
  const int64_t hd = s.head_dim;
  if (static_cast<int64_t>(pooled_.size()) < s.n_layers) pooled_.resize(s.n_layers);
  auto& per_head = pooled_[in.layer];
  if (static_cast<int64_t>(per_head.size()) < s.n_kv_heads) per_head.resize(s.n_kv_heads);
  bool any = false;
  for (int64_t h = 0; h < in.n_heads; ++h) any |= choice(in.layer, h).pattern == HeadPattern::kBlockSparse;
  if (!any) return;
  const int64_t complete = (in.first_slot + in.n_q) / kPrefillBlock;
  std::vector<float> key(hd);
  for (int64_t kvh = 0; kvh < s.n_kv_heads; ++kvh) {
    std::vector<float>& sums = per_head[kvh];
    // Blocks from the first rewritten slot on are stale (a truncated cache).
    const int64_t valid = std::min<int64_t>(static_cast<int64_t>(sums.size()) / hd, in.first_slot / kPrefillBlock);
    sums.resize(static_cast<size_t>(complete * hd), 0.0f);
    std::fill(sums.begin() + valid * hd, sums.end(), 0.0f);
    for (int64_t j = valid; j < complete; ++j) {
      float* sum = sums.data() + j * hd;
      for (int64_t slot = j * kPrefillBlock; slot < (j + 1) * kPrefillBlock; ++slot) {
        in.cache.read_key(in.layer, kvh, slot, key.data());
        for (int64_t d = 0; d < hd; ++d) sum[d] += key[d];
      }
    }
  }
}

void MInferenceMethod::plan_block_sparse(const AttentionInput& in, int64_t head, const HeadPatternChoice& c,
                                         HeadReads& reads) const {
  const KvCacheShape& s = in.cache.shape();
  const int64_t hd = s.head_dim, n_keys = in.first_slot + in.n_q;
  const int64_t kvh = head / (in.n_heads / s.n_kv_heads);
  const int64_t n_blocks = (n_keys + kPrefillBlock - 1) / kPrefillBlock;
  // Block sums: the kept complete ones, then the partial last block. The
  // reference pads with zeros and means over 64: sums rank the same.
  std::vector<float> keys(pooled_.at(in.layer).at(kvh));
  keys.resize(static_cast<size_t>(n_blocks * hd), 0.0f);
  std::vector<float> key(hd);
  for (int64_t slot = (n_keys / kPrefillBlock) * kPrefillBlock; slot < n_keys; ++slot) {
    in.cache.read_key(in.layer, kvh, slot, key.data());
    float* sum = keys.data() + (slot / kPrefillBlock) * hd;
    for (int64_t d = 0; d < hd; ++d) sum[d] += key[d];
  }
  std::vector<float> q(hd), pooled_q(hd), scores(static_cast<size_t>(n_blocks));
  for (int64_t b = 0; b < static_cast<int64_t>(reads.blocks.size()); ++b) {
    const int64_t t0 = b * kPrefillBlock, t1 = std::min(in.n_q, t0 + kPrefillBlock);
    std::fill(pooled_q.begin(), pooled_q.end(), 0.0f);
    for (int64_t t = t0; t < t1; ++t) {
      rotated_query(in, t, head, q.data());
      for (int64_t d = 0; d < hd; ++d) pooled_q[d] += q[d];
    }
    for (int64_t j = 0; j < n_blocks; ++j) {
      double dot = 0;
      for (int64_t d = 0; d < hd; ++d) dot += static_cast<double>(pooled_q[d]) * keys[j * hd + d];
      scores[j] = static_cast<float>(dot);
    }
    BlockReads& block = reads.blocks[b];
    block.parts.resize(1);
    top_key_blocks(scores.data(), n_blocks, in.first_slot + t1, n_keys, c.topk, block.parts[0].spans);
  }
}

}  // namespace sieve
