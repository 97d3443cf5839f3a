#include "cache/kv_cache.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/ops.h"
#include "util/error.h"
#include "util/half.h"

namespace sieve {
namespace {

constexpr int64_t kMaxHeadDim = 1024;

size_t element_bytes(KvType t) { return t == KvType::F32 ? 4 : 2; }

// q8_0 row: head_dim / 32 blocks of {f16 scale, 32 x int8}, as llama.cpp's q8_0.
void quantize_q8_0(const float* x, int64_t n, uint8_t* out) {
  for (int64_t b = 0; b < n / 32; ++b, x += 32, out += kQ8BlockBytes) {
    float amax = 0;
    for (int i = 0; i < 32; ++i) amax = std::fmax(amax, std::fabs(x[i]));
    const float d = amax / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    const uint16_t dh = f32_to_f16(d);
    std::memcpy(out, &dh, 2);
    for (int i = 0; i < 32; ++i) out[2 + i] = static_cast<uint8_t>(static_cast<int8_t>(std::lround(x[i] * id)));
  }
}

void dequantize_q8_0(const uint8_t* in, int64_t n, float* out) {
  for (int64_t b = 0; b < n / 32; ++b, in += kQ8BlockBytes, out += 32) {
    uint16_t dh;
    std::memcpy(&dh, in, 2);
    const float d = f16_to_f32(dh);
    for (int i = 0; i < 32; ++i) out[i] = d * static_cast<int8_t>(in[2 + i]);
  }
}

void store_element(KvType t, uint8_t* dst, float v) {
  if (t == KvType::F32) std::memcpy(dst, &v, 4);
  else {
    uint16_t h = t == KvType::F16 ? f32_to_f16(v) : f32_to_bf16(v);
    std::memcpy(dst, &h, 2);
  }
}

float load_element(KvType t, const uint8_t* src) {
  if (t == KvType::F32) {
    float v;
    std::memcpy(&v, src, 4);
    return v;
  }
  uint16_t h;
  std::memcpy(&h, src, 2);
  return t == KvType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
}

}  // namespace

KvType kv_type_from_name(const std::string& name) {
  if (name == "f32") return KvType::F32;
  if (name == "f16") return KvType::F16;
  if (name == "bf16") return KvType::BF16;
  if (name == "q8_0") return KvType::Q8_0;
  throw Error("unknown KV cache type '" + name + "' (valid: f32, f16, bf16, q8_0)");
}

const char* kv_type_name(KvType t) {
  switch (t) {
    case KvType::F32: return "f32";
    case KvType::F16: return "f16";
    case KvType::BF16: return "bf16";
    case KvType::Q8_0: return "q8_0";
  }
  return "?";
}

namespace {

void check_shape(const KvCacheShape& shape) {
  if (shape.page_size <= 0 || shape.head_dim <= 0 || shape.n_kv_heads <= 0 || shape.n_layers <= 0)
    throw Error("internal: bad KV cache shape");
  if (shape.head_dim > kMaxHeadDim)
    throw Error("KV cache: head dimension " + std::to_string(shape.head_dim) + " is above the supported " +
                std::to_string(kMaxHeadDim));
  if (shape.page_size % 16 != 0) throw Error("KV cache page size must be a multiple of 16");
  if (shape.type == KvType::Q8_0 && shape.head_dim % 32 != 0)
    throw Error("KV cache type q8_0 needs a head dimension divisible by 32 (the model's is " +
                std::to_string(shape.head_dim) + ")");
}

size_t row_bytes_of(const KvCacheShape& shape) {
  return shape.type == KvType::Q8_0 ? static_cast<size_t>(shape.head_dim / 32 * kQ8BlockBytes)
                                    : static_cast<size_t>(shape.head_dim) * element_bytes(shape.type);
}

}  // namespace

size_t KvCache::page_bytes(const KvCacheShape& shape) {
  return row_bytes_of(shape) * static_cast<size_t>(2 * shape.page_size * shape.n_kv_heads * shape.n_layers);
}

KvCache::KvCache(const KvCacheShape& shape) : shape_(shape) {
  check_shape(shape);
  own_pool_ = std::make_unique<PagePool>(page_bytes(shape), -1);
  pool_ = own_pool_.get();
  row_bytes_ = row_bytes_of(shape);
  key_block_bytes_ = value_block_bytes_ = row_bytes_ * static_cast<size_t>(shape.page_size);
  layer_bytes_ = static_cast<size_t>(shape.n_kv_heads) * (key_block_bytes_ + value_block_bytes_);
}

KvCache::KvCache(const KvCacheShape& shape, PagePool& pool) : KvCache(shape) {
  if (pool.page_bytes() < page_bytes(shape)) throw Error("internal: KV page pool pages are too small for the cache");
  own_pool_.reset();
  pool_ = &pool;
}

KvCache::~KvCache() { release_all(); }

void KvCache::release_all() {
  if (!pool_) return;
  for (KvPage* p : pages_) pool_->release(p);
  for (KvPage* p : reserved_) pool_->release(p);
  pages_.clear();
  reserved_.clear();
}

KvCache::KvCache(const KvCache& other) : KvCache(other.shape_) { *this = other; }

KvCache& KvCache::operator=(const KvCache& other) {
  if (this == &other) return *this;
  release_all();
  if (other.own_pool_) {
    own_pool_ = std::make_unique<PagePool>(page_bytes(other.shape_), -1);
    pool_ = own_pool_.get();
  } else {
    own_pool_.reset();
    pool_ = other.pool_;
  }
  shape_ = other.shape_;
  row_bytes_ = other.row_bytes_;
  key_block_bytes_ = other.key_block_bytes_;
  value_block_bytes_ = other.value_block_bytes_;
  layer_bytes_ = other.layer_bytes_;
  positions_ = other.positions_;
  next_position_ = other.next_position_;
  const size_t bytes = page_bytes(shape_);
  for (const KvPage* src : other.pages_) {
    KvPage* p = pool_->allocate();
    if (!p) throw Error("KV cache memory budget exhausted while copying a cache");
    std::memcpy(p->data, src->data, bytes);
    pages_.push_back(p);
  }
  return *this;
}

KvCache::KvCache(KvCache&& other) noexcept
    : shape_(other.shape_), row_bytes_(other.row_bytes_), key_block_bytes_(other.key_block_bytes_),
      value_block_bytes_(other.value_block_bytes_), layer_bytes_(other.layer_bytes_),
      own_pool_(std::move(other.own_pool_)), pool_(other.pool_), positions_(std::move(other.positions_)),
      next_position_(other.next_position_), pages_(std::move(other.pages_)), reserved_(std::move(other.reserved_)) {
  other.pool_ = nullptr;
  other.pages_.clear();
  other.reserved_.clear();
  other.positions_.clear();
}

KvCache& KvCache::operator=(KvCache&& other) noexcept {
  if (this == &other) return *this;
  release_all();
  shape_ = other.shape_;
  row_bytes_ = other.row_bytes_;
  key_block_bytes_ = other.key_block_bytes_;
  value_block_bytes_ = other.value_block_bytes_;
  layer_bytes_ = other.layer_bytes_;
  own_pool_ = std::move(other.own_pool_);
  pool_ = other.pool_;
  positions_ = std::move(other.positions_);
  next_position_ = other.next_position_;
  pages_ = std::move(other.pages_);
  reserved_ = std::move(other.reserved_);
  other.pool_ = nullptr;
  other.pages_.clear();
  other.reserved_.clear();
  other.positions_.clear();
  return *this;
}

int64_t KvCache::pages_needed(int64_t n) const {
  const int64_t ps = shape_.page_size;
  const int64_t want = (size() + n + ps - 1) / ps;
  return std::max<int64_t>(0, want - n_pages() - static_cast<int64_t>(reserved_.size()));
}

bool KvCache::reserve(int64_t n) {
  const int64_t need = pages_needed(n);
  if (need > pool_->available()) return false;
  for (int64_t i = 0; i < need; ++i) {
    KvPage* p = pool_->allocate();
    if (!p) return false;  // keeps what it got: the next reserve asks for less
    reserved_.push_back(p);
  }
  return true;
}

void KvCache::append_slots(const int64_t* positions, int64_t n) {
  const int64_t new_size = size() + n;
  const int64_t pages_wanted = (new_size + shape_.page_size - 1) / shape_.page_size;
  while (n_pages() < pages_wanted) {
    KvPage* p = nullptr;
    if (!reserved_.empty()) {
      p = reserved_.front();
      reserved_.erase(reserved_.begin());
    } else {
      p = pool_->allocate();
    }
    if (!p)
      throw Error("KV cache memory budget exhausted (" + std::to_string(pool_->capacity()) + " pages of " +
                  std::to_string(pool_->page_bytes()) + " bytes)");
    pages_.push_back(p);
  }
  positions_.insert(positions_.end(), positions, positions + n);
  for (int64_t i = 0; i < n; ++i) next_position_ = std::max(next_position_, positions[i] + 1);
}

void KvCache::adopt_prefix(const std::vector<KvPage*>& pages) {
  if (size() != 0 || !pages_.empty()) throw Error("internal: a prefix is adopted by an empty cache only");
  pages_ = pages;
  for (int64_t i = 0; i < static_cast<int64_t>(pages.size()) * shape_.page_size; ++i) positions_.push_back(i);
  next_position_ = size();
}

void KvCache::write(int64_t layer, int64_t slot, const float* k, const float* v) {
  const int64_t hd = shape_.head_dim, ps = shape_.page_size;
  const int64_t page = slot / ps, j = slot % ps;
  for (int64_t h = 0; h < shape_.n_kv_heads; ++h) {
    uint8_t* kb = key_block_mut(layer, h, page);
    uint8_t* vb = value_block_mut(layer, h, page) + j * row_bytes_;
    if (shape_.type == KvType::Q8_0) {
      uint8_t row[kMaxHeadDim / 32 * kQ8BlockBytes];
      quantize_q8_0(k + h * hd, hd, row);
      for (int64_t b = 0; b < hd / 32; ++b) {  // the key's blocks into the slot's column (layout in the header)
        const uint8_t* block = row + b * kQ8BlockBytes;
        std::memcpy(kb + q8_key_scales(b, ps) + 2 * j, block, 2);
        for (int64_t i = 0; i < 32; ++i) kb[q8_key_column(b, i, ps) + j] = block[2 + i];
      }
      quantize_q8_0(v + h * hd, hd, vb);
      continue;
    }
    if (shape_.type == KvType::F16) {
      uint16_t halves[kMaxHeadDim];
      kernels::f32_to_f16_row(k + h * hd, halves, hd);
      for (int64_t d = 0; d < hd; ++d) std::memcpy(kb + (d * ps + j) * 2, &halves[d], 2);
      kernels::f32_to_f16_row(v + h * hd, halves, hd);
      std::memcpy(vb, halves, hd * 2);
      continue;
    }
    const size_t es = element_bytes(shape_.type);
    for (int64_t d = 0; d < hd; ++d) {
      store_element(shape_.type, kb + (d * ps + j) * es, k[h * hd + d]);
      store_element(shape_.type, vb + d * es, v[h * hd + d]);
    }
  }
}

void KvCache::copy_head_slot(int64_t layer, int64_t kv_head, int64_t from, int64_t to) {
  if (from == to && from >= 0 && from < size()) return;
  copy_head_slots_from(*this, layer, kv_head, from, layer, kv_head, to, 1);
}

namespace {

// memcpy for the few bytes a run of one or two slots takes in a dimension row.
inline void copy_small(uint8_t* to, const uint8_t* from, size_t n) {
  switch (n) {
    case 1: *to = *from; break;
    case 2: std::memcpy(to, from, 2); break;
    case 4: std::memcpy(to, from, 4); break;
    case 8: std::memcpy(to, from, 8); break;
    default: std::memcpy(to, from, n);
  }
}

}  // namespace

void KvCache::copy_head_slots_from(const KvCache& src, int64_t src_layer, int64_t src_head, int64_t from,
                                   int64_t layer, int64_t kv_head, int64_t to, int64_t n) {
  if (from < 0 || to < 0 || n < 0 || from + n > src.size() || to + n > size())
    throw Error("internal: KV cache slot copy out of range");
  const KvCacheShape& o = src.shape();
  if (o.type != shape_.type || o.head_dim != shape_.head_dim || o.page_size != shape_.page_size)
    throw Error("internal: KV cache slot copy between caches of different shapes");
  const int64_t hd = shape_.head_dim, ps = shape_.page_size;
  while (n > 0) {
    // A run that stays within one page on both sides.
    const int64_t jf = from % ps, jt = to % ps, m = std::min({n, ps - jf, ps - jt});
    const uint8_t* kf = src.key_block(src_layer, src_head, from / ps);
    uint8_t* kt = key_block_mut(layer, kv_head, to / ps);
    if (shape_.type == KvType::Q8_0) {  // each block's scales, then its 32 int8 columns
      for (int64_t b = 0; b < hd / 32; ++b) {
        copy_small(kt + q8_key_scales(b, ps) + 2 * jt, kf + q8_key_scales(b, ps) + 2 * jf, 2 * m);
        for (int64_t i = 0; i < 32; ++i) copy_small(kt + q8_key_column(b, i, ps) + jt, kf + q8_key_column(b, i, ps) + jf, m);
      }
    } else {  // m elements of each dimension row of the transposed block
      const size_t es = element_bytes(shape_.type);
      for (int64_t d = 0; d < hd; ++d) copy_small(kt + (d * ps + jt) * es, kf + (d * ps + jf) * es, m * es);
    }
    std::memcpy(value_block_mut(layer, kv_head, to / ps) + jt * row_bytes_,
                src.value_block(src_layer, src_head, from / ps) + jf * row_bytes_, m * row_bytes_);
    from += m;
    to += m;
    n -= m;
  }
}

void KvCache::read_key(int64_t layer, int64_t kv_head, int64_t slot, float* out) const {
  const int64_t hd = shape_.head_dim, ps = shape_.page_size;
  const uint8_t* kb = key_block(layer, kv_head, slot / ps);
  const int64_t j = slot % ps;
  if (shape_.type == KvType::Q8_0) {
    uint8_t row[kMaxHeadDim / 32 * kQ8BlockBytes];
    for (int64_t b = 0; b < hd / 32; ++b) {
      uint8_t* block = row + b * kQ8BlockBytes;
      std::memcpy(block, kb + q8_key_scales(b, ps) + 2 * j, 2);
      for (int64_t i = 0; i < 32; ++i) block[2 + i] = kb[q8_key_column(b, i, ps) + j];
    }
    return dequantize_q8_0(row, hd, out);
  }
  if (shape_.type == KvType::F16) {
    uint16_t halves[kMaxHeadDim];
    for (int64_t d = 0; d < hd; ++d) std::memcpy(&halves[d], kb + (d * ps + j) * 2, 2);
    return kernels::f16_to_f32_row(halves, out, hd);
  }
  const size_t es = element_bytes(shape_.type);
  for (int64_t d = 0; d < hd; ++d) out[d] = load_element(shape_.type, kb + (d * ps + j) * es);
}

void KvCache::read_value(int64_t layer, int64_t kv_head, int64_t slot, float* out) const {
  const int64_t hd = shape_.head_dim;
  const uint8_t* vb = value_block(layer, kv_head, slot / shape_.page_size) + (slot % shape_.page_size) * row_bytes_;
  if (shape_.type == KvType::Q8_0) return dequantize_q8_0(vb, hd, out);
  if (shape_.type == KvType::F16) {
    uint16_t halves[kMaxHeadDim];
    std::memcpy(halves, vb, hd * 2);
    return kernels::f16_to_f32_row(halves, out, hd);
  }
  const size_t es = element_bytes(shape_.type);
  for (int64_t d = 0; d < hd; ++d) out[d] = load_element(shape_.type, vb + d * es);
}

void KvCache::truncate(int64_t keep) {
  if (keep < 0 || keep > size()) throw Error("internal: KV cache truncate out of range");
  next_position_ = keep ? positions_[keep - 1] + 1 : 0;
  drop_slots_from(keep);
}

void KvCache::drop_compacted(int64_t keep) {
  if (keep < 0 || keep > size()) throw Error("internal: KV cache compaction out of range");
  drop_slots_from(keep);
}

void KvCache::drop_slots_from(int64_t keep) {
  positions_.resize(keep);
  const size_t pages_kept = static_cast<size_t>((keep + shape_.page_size - 1) / shape_.page_size);
  for (size_t i = pages_kept; i < pages_.size(); ++i) pool_->release(pages_[i]);
  pages_.resize(pages_kept);
  if (keep == 0) {
    for (KvPage* p : reserved_) pool_->release(p);
    reserved_.clear();
  }
}

void KvCache::evict_pages(int64_t first, int64_t last) {
  const int64_t ps = shape_.page_size;
  if (first < 0 || last < first || last * ps > size()) throw Error("internal: KV cache eviction out of range");
  if (first == last) return;
  for (int64_t i = first; i < last; ++i) pool_->release(pages_[i]);
  pages_.erase(pages_.begin() + first, pages_.begin() + last);
  positions_.erase(positions_.begin() + first * ps, positions_.begin() + last * ps);
}

size_t KvCache::bytes_allocated() const {
  return (pages_.size() + reserved_.size()) * page_bytes(shape_);
}

}  // namespace sieve
