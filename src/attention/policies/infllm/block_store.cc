#include "attention/policies/infllm/block_store.h"

#include "attention/policies/infllm/slot_copy.h"

namespace sieve {
namespace {

constexpr int64_t kNoPosition = 0;  // the policy's own buffers do not use positions

}  // namespace

BlockStore::BlockStore(Kind kind, const KvCacheShape& shape, int64_t block)
    : kind_(kind), shape_(shape), block_(block), memory_(shape), stage_(shape),
      slot_(static_cast<size_t>(2 * shape.n_kv_heads * shape.head_dim)) {}

void BlockStore::append(const KvCache& src, int64_t from) {
  if (kind_ == Kind::File) {
    append_to_file(src, from);
  } else {
    for (int64_t i = 0; i < block_; ++i) memory_.append_slots(&kNoPosition, 1);
    copy_slots(src, from, memory_, n_blocks_ * block_, block_, slot_.data(), slot_.data() + slot_.size() / 2);
  }
  ++n_blocks_;
}

void BlockStore::load(int64_t b, KvCache& dst, int64_t to) {
  if (kind_ == Kind::File) load_from_file(b, dst, to);
  else copy_slots(memory_, b * block_, dst, to, block_, slot_.data(), slot_.data() + slot_.size() / 2);
}

size_t BlockStore::bytes() const {
  if (kind_ == Kind::Memory) return memory_.bytes_allocated();
  return offsets_.size() * static_cast<size_t>(pages_per_block()) * page_bytes(stage_);
}

size_t BlockStore::resident_bytes() const {
  return kind_ == Kind::Memory ? memory_.bytes_allocated() : stage_.bytes_allocated();
}

KvCache& BlockStore::stage() {
  for (int64_t i = stage_.size(); i < block_; ++i) stage_.append_slots(&kNoPosition, 1);
  return stage_;
}

// A block goes to the end of the file, so no copy of this store (which shares
// the file) has a block there.
void BlockStore::append_to_file(const KvCache& src, int64_t from) {
  if (!file_) file_ = std::make_shared<TempFile>("infllm block store");
  const KvCache* pages = &src;
  int64_t first = from / page_size();
  if (!on_pages(from)) {
    copy_slots(src, from, stage(), 0, block_, slot_.data(), slot_.data() + slot_.size() / 2);
    pages = &stage_;
    first = 0;
  }
  const size_t pb = page_bytes(src);
  const int64_t offset = file_->reserve(pages_per_block() * static_cast<int64_t>(pb));
  for (int64_t i = 0; i < pages_per_block(); ++i)
    file_->write(offset + i * static_cast<int64_t>(pb), page_data(*pages, first + i), pb);
  offsets_.push_back(offset);
}

void BlockStore::load_from_file(int64_t b, KvCache& dst, int64_t to) {
  const size_t pb = page_bytes(dst);
  const bool direct = on_pages(to);
  KvCache& pages = direct ? dst : stage();
  const int64_t first = direct ? to / page_size() : 0;
  for (int64_t i = 0; i < pages_per_block(); ++i)
    file_->read(offsets_[b] + i * static_cast<int64_t>(pb), page_data(pages, first + i), pb);
  if (!direct) copy_slots(stage_, 0, dst, to, block_, slot_.data(), slot_.data() + slot_.size() / 2);
}

}  // namespace sieve
