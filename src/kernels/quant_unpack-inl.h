// Unpacking of one weight row from its llama.cpp block format into the
// UnpackedRow arrays (quant_layout.h) that the integer kernels read: plain
// bytes in element order, scales as floats / repeated int16. Done once per row
// tile, so the per-token inner loops see only loads and dot products.
// 16-byte vectors; on HWY_SCALAR the same code runs one lane at a time.

#if defined(SIEVE_KERNELS_QUANT_UNPACK_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SIEVE_KERNELS_QUANT_UNPACK_INL_H_
#undef SIEVE_KERNELS_QUANT_UNPACK_INL_H_
#else
#define SIEVE_KERNELS_QUANT_UNPACK_INL_H_
#endif

#include <cstdint>
#include <cstring>

#include "hwy/highway.h"
#include "kernels/quant.h"
#include "kernels/quant_dot-inl.h"
#include "kernels/quant_layout.h"

HWY_BEFORE_NAMESPACE();
namespace sieve::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using D8 = hn::CappedTag<uint8_t, 16>;
using DS8 = hn::RebindToSigned<D8>;
using V8 = hn::Vec<D8>;

// Stores signed levels q (Q8_0) as s and |q| as w.
HWY_INLINE void StoreSigned(hn::Vec<DS8> q, UnpackedRow& u, int64_t e) {
  const DS8 ds;
  hn::StoreU(q, ds, u.s + e);
  hn::StoreU(hn::BitCast(D8(), hn::Abs(q)), D8(), u.w + e);
}

// The fifth bits of a Q5 block: byte e (< 32) = 0x10 if bit e of qh is set.
HWY_INLINE void Q5HighBits(const uint8_t* qh4, uint8_t* out) {
  uint32_t qh;
  std::memcpy(&qh, qh4, 4);
#if HWY_TARGET == HWY_SCALAR
  for (int e = 0; e < 32; ++e) out[e] = static_cast<uint8_t>(((qh >> e) & 1u) << 4);
#else
  const D8 d8;
  alignas(16) static constexpr uint8_t kIdx[2][16] = {{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1},
                                                      {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3}};
  alignas(16) static constexpr uint8_t kBit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
  const V8 bytes = hn::BitCast(d8, hn::Set(hn::Repartition<uint32_t, D8>(), qh));
  for (int h = 0; h < 2; ++h) {
    const V8 sel = hn::TableLookupBytes(bytes, hn::Load(d8, kIdx[h]));
    const auto set = hn::TestBit(sel, hn::Load(d8, kBit));
    hn::StoreU(hn::IfThenElseZero(set, hn::Set(d8, 0x10)), d8, out + 16 * h);
  }
#endif
}

// 32-element formats. kBits: 4 or 5; kMin: Q4_1/Q5_1 (levels plus a min)
// rather than Q4_0/Q5_0 (levels minus a zero point of 8 or 16, which the
// kernels subtract through the activation block sums). Both store the level.
template <int kBits, bool kMin, class Block>
void Unpack32(const Block* blocks, int64_t nb, UnpackedRow& u) {
  const D8 d8;
  const size_t N = hn::Lanes(d8);
  HWY_ALIGN uint8_t high[32] = {0};
  for (int64_t b = 0; b < nb; ++b) {
    const Block& blk = blocks[b];
    if constexpr (kBits == 5) Q5HighBits(blk.qh, high);
    for (size_t i = 0; i < 16; i += N) {
      const V8 q = hn::LoadU(d8, blk.qs + i);
      const V8 lo = hn::Or(hn::And(q, hn::Set(d8, 0xF)), hn::LoadU(d8, high + i));
      const V8 hi = hn::Or(hn::ShiftRight<4>(q), hn::LoadU(d8, high + 16 + i));
      const int64_t e = b * kQK + static_cast<int64_t>(i);
      hn::StoreU(lo, d8, u.w + e);
      hn::StoreU(hi, d8, u.w + e + 16);
    }
    u.d[b] = fp16_to_f32(blk.d);
    if constexpr (kMin) u.m[b] = fp16_to_f32(blk.m);
  }
}

// Q8_0: with VNNI (no 16-bit saturation) the level q + 128 and a zero point
// of 128, like Q4_0; otherwise |q| and q for the sign trick.
inline void UnpackQ8_0(const BlockQ8_0* blocks, int64_t nb, UnpackedRow& u) {
  const DS8 ds;
  const size_t N = hn::Lanes(ds);
  for (int64_t b = 0; b < nb; ++b) {
    for (size_t i = 0; i < 32; i += N) {
      const auto q = hn::LoadU(ds, blocks[b].qs + i);
      const int64_t e = b * kQK + static_cast<int64_t>(i);
#if SIEVE_VNNI
      hn::StoreU(hn::Xor(hn::BitCast(D8(), q), hn::Set(D8(), 0x80)), D8(), u.w + e);
#else
      StoreSigned(q, u, e);
#endif
    }
    u.d[b] = fp16_to_f32(blocks[b].d);
  }
}

// Scales of one K super-block: sc[g] for the 16 groups of 16, min multiplier
// mn[g] (u.sc/u.mn already offset to this super-block).
HWY_INLINE void StoreKScales(const int16_t* sc, const int16_t* mn, int16_t* sc_out, int16_t* mn_out) {
  const hn::CappedTag<int16_t, 8> d16;
  const size_t N = hn::Lanes(d16);
  for (int g = 0; g < 16; ++g)
    for (size_t i = 0; i < 8; i += N) hn::StoreU(hn::Set(d16, sc[g]), d16, sc_out + 8 * g + i);
  std::memcpy(mn_out, mn, 32);
}

// Q4_K / Q5_K: per 64 elements, 32 bytes of qs hold sub-block 2p in the low
// nibbles and 2p+1 in the high ones; Q5_K's fifth bit of element l of
// sub-block j is bit j of qh[l].
template <bool kQ5, class Block>
void UnpackK45(const Block* blocks, int64_t nsb, UnpackedRow& u) {
  const D8 d8;
  const size_t N = hn::Lanes(d8);
  for (int64_t b = 0; b < nsb; ++b) {
    const Block& blk = blocks[b];
    uint8_t* w = u.w + b * kQKK;
    for (int p = 0; p < 4; ++p) {
      for (size_t i = 0; i < 32; i += N) {
        const V8 q = hn::LoadU(d8, blk.qs + 32 * p + i);
        V8 lo = hn::And(q, hn::Set(d8, 0xF)), hi = hn::ShiftRight<4>(q);
        if constexpr (kQ5) {
          const V8 qh = hn::LoadU(d8, blk.qh + i), one = hn::Set(d8, 1);
          lo = hn::Or(lo, hn::ShiftLeft<4>(hn::And(hn::ShiftRightSame(qh, 2 * p), one)));
          hi = hn::Or(hi, hn::ShiftLeft<4>(hn::And(hn::ShiftRightSame(qh, 2 * p + 1), one)));
        }
        hn::StoreU(lo, d8, w + 64 * p + i);
        hn::StoreU(hi, d8, w + 64 * p + 32 + i);
      }
    }
    int16_t sc[16], mn[16];
    for (int j = 0; j < 8; ++j) {
      uint8_t s, m;
      scale_min_k4(j, blk.scales, &s, &m);
      sc[2 * j] = sc[2 * j + 1] = s;
      mn[2 * j] = mn[2 * j + 1] = m;
    }
    StoreKScales(sc, mn, u.sc + b * kQKK / 2, u.mn + b * 16);
    u.d[b] = fp16_to_f32(blk.d);
    u.m[b] = fp16_to_f32(blk.dmin);
  }
}

// Q6_K: element 128h + 32k + l has its low 4 bits in ql[64h + l + 32(k&1)]
// (high nibble for k >= 2) and bits 2k..2k+1 of qh[32h + l] on top; stored
// unsigned (0..63), the -32 goes into mn = 32 * scale.
inline void UnpackQ6_K(const BlockQ6_K* blocks, int64_t nsb, UnpackedRow& u) {
  const D8 d8;
  const size_t N = hn::Lanes(d8);
  for (int64_t b = 0; b < nsb; ++b) {
    const BlockQ6_K& blk = blocks[b];
    for (int h = 0; h < 2; ++h) {
      for (int k = 0; k < 4; ++k) {
        for (size_t i = 0; i < 32; i += N) {
          const V8 lb = hn::LoadU(d8, blk.ql + 64 * h + 32 * (k & 1) + i);
          const V8 lo = k >= 2 ? hn::ShiftRight<4>(lb) : hn::And(lb, hn::Set(d8, 0xF));
          const V8 hi = hn::And(hn::ShiftRightSame(hn::LoadU(d8, blk.qh + 32 * h + i), 2 * k), hn::Set(d8, 3));
          hn::StoreU(hn::Or(lo, hn::ShiftLeft<4>(hi)), d8, u.w + b * kQKK + 128 * h + 32 * k + i);
        }
      }
    }
    int16_t sc[16], mn[16];
    for (int g = 0; g < 16; ++g) {
      sc[g] = blk.scales[g];
      mn[g] = static_cast<int16_t>(32 * blk.scales[g]);
    }
    StoreKScales(sc, mn, u.sc + b * kQKK / 2, u.mn + b * 16);
    u.d[b] = u.m[b] = fp16_to_f32(blk.d);
  }
}

inline void UnpackRow(DType t, const uint8_t* row, int64_t k, UnpackedRow& u) {
  const int64_t nb = k / kQK, nsb = k / kQKK;
  switch (t) {
    case DType::Q4_0: return Unpack32<4, false>(reinterpret_cast<const BlockQ4_0*>(row), nb, u);
    case DType::Q4_1: return Unpack32<4, true>(reinterpret_cast<const BlockQ4_1*>(row), nb, u);
    case DType::Q5_0: return Unpack32<5, false>(reinterpret_cast<const BlockQ5_0*>(row), nb, u);
    case DType::Q5_1: return Unpack32<5, true>(reinterpret_cast<const BlockQ5_1*>(row), nb, u);
    case DType::Q8_0: return UnpackQ8_0(reinterpret_cast<const BlockQ8_0*>(row), nb, u);
    case DType::Q4_K: return UnpackK45<false>(reinterpret_cast<const BlockQ4_K*>(row), nsb, u);
    case DType::Q5_K: return UnpackK45<true>(reinterpret_cast<const BlockQ5_K*>(row), nsb, u);
    case DType::Q6_K: return UnpackQ6_K(reinterpret_cast<const BlockQ6_K*>(row), nsb, u);
    default: return;
  }
}

}  // namespace sieve::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // include guard
