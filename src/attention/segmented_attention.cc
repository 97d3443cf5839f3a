#include "attention/segmented_attention.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>

#include "kernels/ops.h"

namespace sieve {
namespace {

constexpr int64_t kQueryBlock = 16;

struct Scratch {
  std::vector<Segment> segments;
  std::vector<float> q, m, l, acc, kernel, cos, sin;
  std::vector<int64_t> begin, limit;
};

Scratch& thread_scratch() {
  thread_local Scratch s;
  return s;
}

// Slots of the spans inside [begin, limit).
int64_t visible_slots(const Segment& seg, int64_t begin, int64_t limit) {
  int64_t n = 0;
  for (const SlotSpan& s : seg.spans) n += std::max<int64_t>(0, std::min(s.end, limit) - std::max(s.begin, begin));
  return n;
}

}  // namespace

double attend_segments(const AttentionInput& in, const SegmentPlanner& plan, float* out) {
  const KvCacheShape& shape = in.cache.shape();
  const int64_t hd = shape.head_dim, n_kv = shape.n_kv_heads, group = in.n_heads / n_kv;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const int64_t n_blocks = (in.n_q + kQueryBlock - 1) / kQueryBlock;
  std::atomic<int64_t> slots_read{0};

  in.pool.parallel_for(n_kv * n_blocks, 1, [&](int, int64_t item_begin, int64_t item_end) {
    Scratch& sc = thread_scratch();
    for (int64_t item = item_begin; item < item_end; ++item) {
      const int64_t kvh = item / n_blocks, t0 = (item % n_blocks) * kQueryBlock;
      const int64_t t1 = std::min(in.n_q, t0 + kQueryBlock), n_rows = (t1 - t0) * group;
      sc.segments.clear();
      plan(kvh, t0, t1, sc.segments);
      sc.q.resize(n_rows * hd);
      sc.begin.resize(n_rows);
      sc.limit.resize(n_rows);
      sc.m.assign(n_rows, -std::numeric_limits<float>::infinity());
      sc.l.assign(n_rows, 0.0f);
      sc.acc.assign(n_rows * hd, 0.0f);
      sc.kernel.resize(attention_scratch_floats(shape, n_rows));
      sc.cos.resize(hd / 2);
      sc.sin.resize(hd / 2);
      int64_t read = 0;
      for (const Segment& seg : sc.segments) {
        for (int64_t t = t0; t < t1; ++t) {
          const int64_t i = t - t0;
          in.rope.angles(seg.q_position[i], sc.cos.data(), sc.sin.data());
          for (int64_t g = 0; g < group; ++g) {
            const int64_t r = i * group + g;
            float* qr = sc.q.data() + r * hd;
            const float* src = in.q + (t * in.n_heads + kvh * group + g) * hd;
            std::copy(src, src + hd, qr);
            kernels::rope_apply(qr, sc.cos.data(), sc.sin.data(), hd, in.rope.interleaved());
            for (int64_t d = 0; d < hd; ++d) qr[d] *= scale;
            sc.begin[r] = seg.begin[i];
            sc.limit[r] = seg.limit[i];
          }
          if (in.n_q == 1) read += visible_slots(seg, seg.begin[i], seg.limit[i]);
        }
        AttentionRows rows{sc.q.data(), n_rows, sc.limit.data(), sc.begin.data(),
                           sc.m.data(), sc.l.data(), sc.acc.data()};
        attend_spans(in.cache, in.layer, kvh, seg.spans.data(), static_cast<int64_t>(seg.spans.size()), rows,
                     sc.kernel.data());
      }
      for (int64_t r = 0; r < n_rows; ++r) {
        const int64_t t = t0 + r / group, h = kvh * group + r % group;
        finish_softmax_row(sc.l[r], sc.acc.data() + r * hd, hd, out + (t * in.n_heads + h) * hd);
      }
      slots_read += read;
    }
  });
  return static_cast<double>(slots_read.load());
}

}  // namespace sieve
