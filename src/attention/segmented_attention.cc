#include "attention/segmented_attention.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <limits>

#include "kernels/ops.h"
#include "util/error.h"

namespace sieve {
namespace {

struct Scratch {
  std::vector<Segment> segments;
  // Query rows are head-major within a block: row g * n_tokens + i is query
  // head g of the group for token t0 + i, so one head's rows are contiguous.
  std::vector<float> q, m, l, acc, kernel, cos, sin, key, value;
  std::vector<int64_t> begin, limit, no_positions;
  // The rows of a segment whose heads are not contiguous, copied together.
  std::vector<float> sub_q, sub_m, sub_l, sub_acc;
  std::vector<int64_t> sub_begin, sub_limit, sub_rows;
  // Rotation angles of each query row's last position (q_cos/q_sin, hd/2 per
  // token of the block) and of the last key delta: segments usually repeat a
  // query's position and a span shares one delta, and the sin/cos behind the
  // angles dominated gathered attention before they were reused.
  std::vector<float> q_cos, q_sin;
  std::vector<double> q_angle_position;
  double key_angle_delta = 0;
  bool key_angles_valid = false;
  KvCache gathered{KvCacheShape{1, 1, 1, 64, KvType::F32}};
};

Scratch& thread_scratch() {
  thread_local Scratch s;
  return s;
}

int64_t span_slots(const Segment& seg) {
  int64_t n = 0;
  for (const SlotSpan& s : seg.spans) n += s.end - s.begin;
  return n;
}

// Slots of the spans inside [begin, limit).
int64_t visible_slots(const Segment& seg, int64_t begin, int64_t limit) {
  int64_t n = 0;
  for (const SlotSpan& s : seg.spans) n += std::max<int64_t>(0, std::min(s.end, limit) - std::max(s.begin, begin));
  return n;
}

// Copies a segment's slots (span order) into sc.gathered, each key re-rotated
// from its cached position to seg.key_positions.
void gather(const AttentionInput& in, int64_t kv_head, const Segment& seg, Scratch& sc) {
  const KvCacheShape& shape = in.cache.shape();
  const int64_t hd = shape.head_dim, n = span_slots(seg);
  if (static_cast<int64_t>(seg.key_positions.size()) != n)
    throw Error("internal: a gathered attention segment needs one key position per slot");
  if (sc.gathered.shape().head_dim != hd || sc.gathered.shape().page_size != shape.page_size)
    sc.gathered = KvCache(KvCacheShape{1, 1, hd, shape.page_size, KvType::F32});
  sc.gathered.clear();
  sc.no_positions.assign(static_cast<size_t>(n), 0);  // the scratch's own positions are not used
  sc.gathered.append_slots(sc.no_positions.data(), n);
  sc.key.resize(hd);
  sc.value.resize(hd);
  const auto& positions = in.cache.positions();
  int64_t j = 0;
  for (const SlotSpan& span : seg.spans)
    for (int64_t slot = span.begin; slot < span.end; ++slot, ++j) {
      in.cache.read_key(in.layer, kv_head, slot, sc.key.data());
      in.cache.read_value(in.layer, kv_head, slot, sc.value.data());
      const double delta = seg.key_positions[j] - static_cast<double>(positions[slot]);
      if (delta != 0) {
        if (!sc.key_angles_valid || delta != sc.key_angle_delta) {
          in.rope.angles(delta, sc.cos.data(), sc.sin.data());
          sc.key_angle_delta = delta;
          sc.key_angles_valid = true;
        }
        kernels::rope_apply(sc.key.data(), sc.cos.data(), sc.sin.data(), hd, in.rope.interleaved());
      }
      sc.gathered.write(0, j, sc.key.data(), sc.value.data());
    }
}

// The rows of the heads in `mask` (each head's nt rows), copied together so
// that the kernel reads the segment's slots once for all of them.
AttentionRows copy_rows(Scratch& sc, uint64_t mask, int64_t nt, int64_t hd) {
  sc.sub_rows.clear();
  for (int64_t g = 0; g < 64; ++g)
    if (mask >> g & 1)
      for (int64_t i = 0; i < nt; ++i) sc.sub_rows.push_back(g * nt + i);
  const int64_t n = static_cast<int64_t>(sc.sub_rows.size());
  sc.sub_q.resize(n * hd);
  sc.sub_acc.resize(n * hd);
  sc.sub_m.resize(n);
  sc.sub_l.resize(n);
  sc.sub_begin.resize(n);
  sc.sub_limit.resize(n);
  for (int64_t k = 0; k < n; ++k) {
    const int64_t r = sc.sub_rows[k];
    std::copy(sc.q.data() + r * hd, sc.q.data() + (r + 1) * hd, sc.sub_q.data() + k * hd);
    std::copy(sc.acc.data() + r * hd, sc.acc.data() + (r + 1) * hd, sc.sub_acc.data() + k * hd);
    sc.sub_m[k] = sc.m[r];
    sc.sub_l[k] = sc.l[r];
    sc.sub_begin[k] = sc.begin[r];
    sc.sub_limit[k] = sc.limit[r];
  }
  return AttentionRows{sc.sub_q.data(), n, sc.sub_limit.data(), sc.sub_begin.data(),
                       sc.sub_m.data(), sc.sub_l.data(), sc.sub_acc.data()};
}

// The softmax state of copy_rows' rows back in place.
void copy_rows_back(Scratch& sc, int64_t hd) {
  for (size_t k = 0; k < sc.sub_rows.size(); ++k) {
    const int64_t r = sc.sub_rows[k];
    std::copy(sc.sub_acc.data() + k * hd, sc.sub_acc.data() + (k + 1) * hd, sc.acc.data() + r * hd);
    sc.m[r] = sc.sub_m[k];
    sc.l[r] = sc.sub_l[k];
  }
}

}  // namespace

double attend_segments(const AttentionInput& in, const SegmentPlanner& plan, float* out) {
  const KvCacheShape& shape = in.cache.shape();
  const int64_t hd = shape.head_dim, n_kv = shape.n_kv_heads, group = in.n_heads / n_kv;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const int64_t n_blocks = (in.n_q + kSegmentQueryBlock - 1) / kSegmentQueryBlock;
  if (group > 64) throw Error("segmented attention reads groups of up to 64 query heads per KV head");
  const uint64_t group_mask = Segment::all(group);
  std::atomic<int64_t> slots_read{0};

  in.pool.parallel_for(n_kv * n_blocks, 1, [&](int, int64_t item_begin, int64_t item_end) {
    Scratch& sc = thread_scratch();
    for (int64_t item = item_begin; item < item_end; ++item) {
      const int64_t kvh = item / n_blocks, t0 = (item % n_blocks) * kSegmentQueryBlock;
      const int64_t t1 = std::min(in.n_q, t0 + kSegmentQueryBlock), nt = t1 - t0, n_rows = nt * group;
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
      sc.key_angles_valid = false;
      sc.q_cos.resize(nt * hd / 2);
      sc.q_sin.resize(nt * hd / 2);
      sc.q_angle_position.assign(nt, std::numeric_limits<double>::quiet_NaN());
      int64_t read = 0;
      for (const Segment& seg : sc.segments) {
        const uint64_t mask = seg.heads & group_mask;
        if (mask == 0) continue;
        // Heads g0..g1-1 hold the mask's bits; contiguous when it has no gaps.
        const int64_t g0 = std::countr_zero(mask), g1 = std::bit_width(mask);
        const bool contiguous = std::popcount(mask) == g1 - g0;
        const bool gathered = !seg.key_positions.empty();
        for (int64_t i = 0; i < nt; ++i) {
          float* q_cos = sc.q_cos.data() + i * hd / 2;
          float* q_sin = sc.q_sin.data() + i * hd / 2;
          if (sc.q_angle_position[i] != seg.q_position[i]) {  // NaN: none yet
            in.rope.angles(seg.q_position[i], q_cos, q_sin);
            sc.q_angle_position[i] = seg.q_position[i];
          }
          for (int64_t g = g0; g < g1; ++g) {
            if (!(mask >> g & 1)) continue;
            const int64_t r = g * nt + i;
            float* qr = sc.q.data() + r * hd;
            const float* src = in.q + ((t0 + i) * in.n_heads + kvh * group + g) * hd;
            std::copy(src, src + hd, qr);
            kernels::rope_apply(qr, q_cos, q_sin, hd, in.rope.interleaved());
            for (int64_t d = 0; d < hd; ++d) qr[d] *= scale;
            sc.begin[r] = seg.begin[i];
            sc.limit[r] = seg.limit[i];
          }
          if (in.n_q == 1 && !gathered) read += visible_slots(seg, seg.begin[i], seg.limit[i]);
        }
        const int64_t r0 = g0 * nt, rows_here = (g1 - g0) * nt;
        AttentionRows rows{sc.q.data() + r0 * hd, rows_here, sc.limit.data() + r0, sc.begin.data() + r0,
                           sc.m.data() + r0, sc.l.data() + r0, sc.acc.data() + r0 * hd};
        if (!contiguous) rows = copy_rows(sc, mask, nt, hd);
        if (gathered) {
          gather(in, kvh, seg, sc);
          const int64_t n = sc.gathered.size();
          if (in.n_q == 1) read += n;
          const SlotSpan all{0, n};
          attend_spans(sc.gathered, 0, 0, &all, 1, rows, sc.kernel.data());
        } else {
          attend_spans(in.cache, in.layer, kvh, seg.spans.data(), static_cast<int64_t>(seg.spans.size()), rows,
                       sc.kernel.data());
        }
        if (!contiguous) copy_rows_back(sc, hd);
      }
      for (int64_t g = 0; g < group; ++g)
        for (int64_t i = 0; i < nt; ++i) {
          const int64_t r = g * nt + i, h = kvh * group + g;
          finish_softmax_row(sc.l[r], sc.acc.data() + r * hd, hd, out + ((t0 + i) * in.n_heads + h) * hd);
        }
      slots_read += read;
    }
  });
  return static_cast<double>(slots_read.load());
}

}  // namespace sieve
