#pragma once
// A compact copy of the keys, for scoring only: policies that rank cached
// tokens by q.k (TokenSelect's votes, and any other that scores every key
// each step) read this instead of the full-precision keys, and then read the
// exact keys and values of what they chose from the KV cache.
//
// Forms: int8 (default) or int4, one float scale per key (symmetric absmax,
// as llama.cpp's q8_0/q4_0 quantise a row, levels -127..127 or -7..7): a key
// of 64 dimensions costs 68 or 36 bytes against 128 in an f16 cache. Queries
// are quantised to int8 when they score, so a score is an exact integer dot
// product times two scales (the same on every instruction set: VNNI, AVX2 or
// plain C++).
//
// Layout, per layer and KV head: tiles of 4 slots; a tile holds, for each
// group of 4 dimensions, the 4 slots' 4 levels in a row (16 bytes; int4: two
// groups per 16 bytes, the even group in the low nibbles, levels + 8),
// head_dim rounded up to 16 with zeros. The scoring kernel reads 64 bytes (4 groups of
// 4 slots) per vpdpbusd and needs no horizontal sums; one key lies within its
// tile's 4 cache lines, so a policy can also read the selected keys back from
// here (dequantised) at 4 lines per key, where the KV cache's
// dimension-major key blocks cost a line per dimension. Scales (a float per
// slot) follow the tiles of each chunk of slots; chunks keep growing the
// copy from moving what is already there.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sieve {

class CompactKeys {
 public:
  static constexpr int64_t kTileSlots = 4;
  static constexpr int64_t kChunkSlots = 1024;  // slots per allocation (a multiple of 16)
  static constexpr int64_t kMaxHeadDim = 1024;

  enum class Form { Int8, Int4 };
  static Form form_from_name(const std::string& name);  // "int8", "int4"; throws sieve::Error
  static const char* form_name(Form form);

  CompactKeys(int64_t n_layers, int64_t n_kv_heads, int64_t head_dim, Form form = Form::Int8);
  CompactKeys(const CompactKeys& other);
  CompactKeys& operator=(const CompactKeys& other);
  CompactKeys(CompactKeys&&) noexcept = default;
  CompactKeys& operator=(CompactKeys&&) noexcept = default;

  Form form() const { return form_; }
  int64_t n_layers() const { return n_layers_; }
  int64_t n_kv_heads() const { return n_kv_heads_; }
  int64_t head_dim() const { return head_dim_; }
  // Slots [0, size(layer)) of a layer hold keys.
  int64_t size(int64_t layer) const { return size_[layer]; }
  // Drops a layer's slots from n on.
  void truncate(int64_t layer, int64_t n);
  // Makes room for slots [0, n) of a layer (not thread-safe; write() is,
  // for different slots, within the room).
  void reserve(int64_t layer, int64_t n);
  // Writes the key of one slot of one KV head (head_dim floats).
  void write(int64_t layer, int64_t kv_head, int64_t slot, const float* key);
  // Marks slots [0, n) of a layer written (after write() for every KV head).
  void set_size(int64_t layer, int64_t n);

  // scores[g * stride + (j - begin)] = q_g . k_j for n_q queries (head_dim
  // floats each, consecutive) against slots [begin, end) of one layer and KV
  // head, through the compact forms of both (stride 0: end - begin).
  void score(int64_t layer, int64_t kv_head, int64_t begin, int64_t end, const float* q, int64_t n_q, float* scores,
             int64_t stride = 0) const;

  // Bytes read to score one slot of one KV head (its key and scale).
  int64_t bytes_per_slot() const { return key_bytes_ + static_cast<int64_t>(sizeof(float)); }
  // Bytes held.
  size_t bytes_allocated() const;

  // The levels of one slot's key (head_dim, -127..127 or -7..7) and its scale.
  void read_levels(int64_t layer, int64_t kv_head, int64_t slot, int8_t* levels) const;
  // The first byte of a slot's tile (for prefetching its tile_bytes()).
  int64_t tile_bytes() const { return kTileSlots * key_bytes_; }
  const int8_t* tile_address(int64_t layer, int64_t kv_head, int64_t slot) const {
    return chunk(layer, kv_head, slot) + (slot % kChunkSlots) / kTileSlots * tile_bytes();
  }
  float scale(int64_t layer, int64_t kv_head, int64_t slot) const { return *scale_address(layer, kv_head, slot); }
  const float* scale_address(int64_t layer, int64_t kv_head, int64_t slot) const {
    return reinterpret_cast<const float*>(chunk(layer, kv_head, slot) + kChunkSlots * key_bytes_) + slot % kChunkSlots;
  }
  // The key as floats (levels times scale).
  void dequantize(int64_t layer, int64_t kv_head, int64_t slot, float* key) const;

 private:
  // A chunk: kChunkSlots / 4 tiles, then kChunkSlots float scales.
  int64_t chunk_bytes() const { return kChunkSlots * bytes_per_slot(); }
  const int8_t* chunk(int64_t layer, int64_t kv_head, int64_t slot) const {
    return chunks_[layer * n_kv_heads_ + kv_head][slot / kChunkSlots].get();
  }

  Form form_;
  int64_t n_layers_, n_kv_heads_, head_dim_;
  int64_t row_;                // levels per key: head_dim rounded up to 16
  int64_t key_bytes_;          // bytes of one key's levels (row_ or row_ / 2)
  std::vector<int64_t> size_;  // per layer
  // Per layer and KV head: chunks of kChunkSlots slots.
  std::vector<std::vector<std::unique_ptr<int8_t[]>>> chunks_;
};

// Quantises n floats to int8 with one scale (absmax / 127); returns the scale
// (0 for an all-zero vector, whose levels are then 0).
float quantize_int8(const float* x, int64_t n, int8_t* levels);

}  // namespace sieve
