#pragma once
// `infllm`'s slow tier for one layer: every memory block ever formed, each
// `block` slots of the policy's single-layer buffers, immutable once appended
// and read back by index into a frame.
//
//   memory: a KvCache in process memory, block b at slots [b * block, ...)
//     (the reference's CPU memory);
//   file: an anonymous temporary file (util/temp_file.h), so the blocks sit
//     in the page cache and resident memory does not grow with the sequence.
//     A block is stored as the pages of a `block`-slot buffer; blocks on page
//     boundaries (block a multiple of the page size) move as those pages
//     directly, others through a one-block staging buffer.
//
// Copies (a cloned policy) share the file. It is append-only and each copy
// keeps its own list of where its blocks are, so copies that go on appending
// never overwrite each other's blocks; the file goes with the last copy.
#include <cstdint>
#include <memory>
#include <vector>

#include "cache/kv_cache.h"
#include "util/temp_file.h"

namespace sieve {

class BlockStore {
 public:
  enum class Kind { Memory, File };

  // `shape`: the single-layer buffers the blocks come from and go to.
  BlockStore(Kind kind, const KvCacheShape& shape, int64_t block);

  int64_t size() const { return n_blocks_; }
  // Appends slots [from, from + block) of `src` as block size().
  void append(const KvCache& src, int64_t from);
  // Copies block b into slots [to, to + block) of `dst` (slots already there).
  void load(int64_t b, KvCache& dst, int64_t to);

  // Bytes of the blocks (for a file, written for this store's blocks), and
  // how many of the store's bytes are in process memory.
  size_t bytes() const;
  size_t resident_bytes() const;

 private:
  int64_t page_size() const { return shape_.page_size; }
  int64_t pages_per_block() const { return (block_ + page_size() - 1) / page_size(); }
  // Whether a block at `slot` of a buffer is made of whole pages of it.
  bool on_pages(int64_t slot) const { return slot % page_size() == 0 && block_ % page_size() == 0; }
  KvCache& stage();
  void append_to_file(const KvCache& src, int64_t from);
  void load_from_file(int64_t b, KvCache& dst, int64_t to);

  Kind kind_;
  KvCacheShape shape_;
  int64_t block_;
  int64_t n_blocks_ = 0;
  KvCache memory_;                    // memory: the blocks
  std::shared_ptr<TempFile> file_;    // file: created by the first append
  std::vector<int64_t> offsets_;      // file: where each block starts
  KvCache stage_;                     // file: one block for blocks off page boundaries (once needed)
  std::vector<float> slot_;           // one slot's keys and values (copy_slots)
};

}  // namespace sieve
