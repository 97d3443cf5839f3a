#pragma once
// The key/value cache of one sequence. Paged: a list of fixed-size pages of
// page_size token slots, so attention policies can select, summarise and
// evict whole pages, and sequences can share the pages of a common prefix.
// Pages come from a PagePool: the engine's, with its memory budget, or a
// private unbounded one (policies' own buffers, tests). Element types f32,
// f16, bf16 and q8_0.
//
// Page layout: layer after layer; within a layer, for each KV head a key
// block, then for each KV head a value block. Key blocks are stored transposed (dimension-major:
// page_size values of dimension 0, then of dimension 1, ...) so that the
// attention kernel scores a whole page against a query with vector FMAs and
// no horizontal sums. q8_0 keys keep llama.cpp's blocks of 32 dimensions
// with one f16 scale per slot, transposed the same way: for each block b,
// page_size scales (f16), then 32 x page_size int8 (dimension 32b's column
// of slots, then 32b+1's, ...). Values are stored row by row (q8_0: each row
// head_dim / 32 blocks of {f16 scale, 32 x int8}).
//
// Keys are stored after RoPE, rotated to the position they were computed at
// (docs/attention.md says why). Slot i holds the token at positions()[i].
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cache/page_pool.h"

namespace sieve {

enum class KvType { F32, F16, BF16, Q8_0 };

KvType kv_type_from_name(const std::string& name);  // throws sieve::Error listing the valid names
const char* kv_type_name(KvType t);

// q8_0 pieces of the layout above: a block of 32 dimensions takes an f16
// scale and 32 int8. In a key block (page_size slots), block b's slot scales
// start at q8_key_scales(b, page_size) and dimension 32b+i's int8 column of
// slots at q8_key_column(b, i, page_size).
constexpr int64_t kQ8BlockBytes = 34;
inline int64_t q8_key_scales(int64_t b, int64_t page_size) { return b * kQ8BlockBytes * page_size; }
inline int64_t q8_key_column(int64_t b, int64_t i, int64_t page_size) {
  return q8_key_scales(b, page_size) + (2 + i) * page_size;
}

struct KvCacheShape {
  int64_t n_layers = 0;
  int64_t n_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t page_size = 64;
  KvType type = KvType::F32;
};

class KvCache {
 public:
  // A cache with its own unbounded pool.
  explicit KvCache(const KvCacheShape& shape);
  // A cache drawing pages from `pool` (whose page_bytes must be page_bytes(shape)).
  KvCache(const KvCacheShape& shape, PagePool& pool);
  ~KvCache();
  // Deep copies (a snapshot of a sequence), from the same pool when it is
  // shared, else from a new private one.
  KvCache(const KvCache& other);
  KvCache& operator=(const KvCache& other);
  KvCache(KvCache&& other) noexcept;
  KvCache& operator=(KvCache&& other) noexcept;

  // Bytes of one page (every layer) of a cache of this shape.
  static size_t page_bytes(const KvCacheShape& shape);

  const KvCacheShape& shape() const { return shape_; }
  int64_t size() const { return static_cast<int64_t>(positions_.size()); }
  const std::vector<int64_t>& positions() const { return positions_; }
  // One past the newest position appended (0 when empty): where the next
  // token goes. After drop_compacted it is no longer positions().back() + 1.
  int64_t next_position() const { return next_position_; }
  int64_t n_pages() const { return static_cast<int64_t>(pages_.size()); }
  PagePool& pool() const { return *pool_; }

  // Pages needed to append n more slots.
  int64_t pages_needed(int64_t n) const;
  // Takes the pages for n more slots from the pool now, or none and returns
  // false when the pool cannot give them all.
  bool reserve(int64_t n);
  // Reserves slots for n new tokens at the given positions (from the
  // reservation, else from the pool: throws when the budget is spent); the
  // layers then fill them with write().
  void append_slots(const int64_t* positions, int64_t n);
  // Writes the keys and values (n_kv_heads x head_dim floats each) of a slot.
  void write(int64_t layer, int64_t slot, const float* k, const float* v);
  // Copies one head's key and value of slot `from` over slot `to`, bytes
  // as stored (no rounding): policies that keep a different set of slots per
  // head compact each head's slots with it.
  void copy_head_slot(int64_t layer, int64_t kv_head, int64_t from, int64_t to);
  // The same for n consecutive slots from another cache of the same type,
  // head_dim and page size (its layer src_layer, head src_head): gathering
  // runs of slots into a small cache of their own, bytes as stored.
  void copy_head_slots_from(const KvCache& src, int64_t src_layer, int64_t src_head, int64_t from, int64_t layer,
                            int64_t kv_head, int64_t to, int64_t n);
  // Reads one key or value back as floats (slow path: tests and policies).
  void read_key(int64_t layer, int64_t kv_head, int64_t slot, float* out) const;
  void read_value(int64_t layer, int64_t kv_head, int64_t slot, float* out) const;

  // Raw blocks of one page for one head (layout above).
  const uint8_t* key_block(int64_t layer, int64_t kv_head, int64_t page) const {
    return pages_[page]->data + layer * layer_bytes_ + kv_head * key_block_bytes_;
  }
  const uint8_t* value_block(int64_t layer, int64_t kv_head, int64_t page) const {
    return pages_[page]->data + layer * layer_bytes_ + shape_.n_kv_heads * key_block_bytes_ +
           kv_head * value_block_bytes_;
  }
  size_t row_bytes() const { return row_bytes_; }  // one head's key or value of one slot

  // Page sharing (the prefix cache). page(i) is the i-th page; adopt_prefix
  // makes an empty cache hold `pages` (references already taken), full, at
  // positions 0 .. pages.size() * page_size - 1.
  KvPage* page(int64_t i) const { return pages_[i]; }
  void adopt_prefix(const std::vector<KvPage*>& pages);

  // Drops every slot and gives the pages back to the pool.
  void clear() { truncate(0); }
  // Drops the slots from `keep` on (rolls a sequence back: the next token
  // goes right after slot keep - 1's position).
  void truncate(int64_t keep);
  // Drops the slots from `keep` on after a policy moved the ones it keeps
  // below `keep` (copy_head_slot, per head): the sequence goes on at
  // next_position(). positions() of the moved slots then name what slot j
  // held before, not what each head holds there.
  void drop_compacted(int64_t keep);
  // Removes whole pages [first, last); later slots move down by
  // (last - first) * page_size. Policies evict with this; the pages go back
  // to the pool.
  void evict_pages(int64_t first, int64_t last);
  size_t bytes_allocated() const;
  // Bytes of K and V of one token over every layer and head.
  size_t bytes_per_token() const { return static_cast<size_t>(2 * shape_.n_layers * shape_.n_kv_heads) * row_bytes_; }

 private:
  uint8_t* key_block_mut(int64_t layer, int64_t kv_head, int64_t page) {
    return const_cast<uint8_t*>(key_block(layer, kv_head, page));
  }
  uint8_t* value_block_mut(int64_t layer, int64_t kv_head, int64_t page) {
    return const_cast<uint8_t*>(value_block(layer, kv_head, page));
  }
  void release_all();
  void drop_slots_from(int64_t keep);

  KvCacheShape shape_;
  size_t row_bytes_, key_block_bytes_, value_block_bytes_, layer_bytes_;
  std::unique_ptr<PagePool> own_pool_;  // set when the pool is private
  PagePool* pool_;
  std::vector<int64_t> positions_;
  int64_t next_position_ = 0;
  std::vector<KvPage*> pages_;     // holding positions_
  std::vector<KvPage*> reserved_;  // taken for the next append_slots
};

}  // namespace sieve
