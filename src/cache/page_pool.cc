#include "cache/page_pool.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#include "util/error.h"
#include "util/huge_alloc.h"

namespace sieve {
namespace {

constexpr size_t kAlign = 64;
// Pages of at least this size come from huge-page slabs (util/huge_alloc.h);
// smaller ones (policies' scratch caches, tests) each from the heap.
constexpr size_t kSlabPageBytes = 64 << 10;
// A slab holds as many pages as fit in this (at least one): rounding a slab
// up to whole huge pages then wastes under 1/8 of it, whatever the page size.
constexpr size_t kSlabBytes = 8 * kHugePage;

uint64_t mix(uint64_t h, uint64_t v) {
  // splitmix64 finaliser over the running value: cheap and well spread.
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

}  // namespace

PagePool::PagePool(size_t page_bytes, int64_t capacity_pages)
    : page_bytes_((page_bytes + kAlign - 1) / kAlign * kAlign), capacity_(capacity_pages) {
  if (page_bytes == 0) throw Error("internal: empty KV page");
}

PagePool::~PagePool() {
  for (auto& p : all_)
    if (!p->in_slab) std::free(p->data);
  for (void* slab : slabs_) std::free(slab);
}

// A page's memory: the next one of the current slab (a new slab of as many
// pages as fill whole huge pages when it is spent), or its own allocation.
uint8_t* PagePool::page_memory(bool& in_slab) {
  in_slab = page_bytes_ >= kSlabPageBytes;
  if (!in_slab) {
    auto* data = static_cast<uint8_t*>(std::aligned_alloc(kAlign, page_bytes_));
    if (!data) throw std::bad_alloc();
    return data;
  }
  if (slab_left_ == 0) {
    int64_t pages = static_cast<int64_t>(std::max<size_t>(1, kSlabBytes / page_bytes_));
    if (bounded())  // no slab beyond the budget
      pages = std::min<int64_t>(pages, std::max<int64_t>(1, capacity_ - static_cast<int64_t>(all_.size())));
    slab_next_ = static_cast<uint8_t*>(huge_alloc(static_cast<size_t>(pages) * page_bytes_));
    slabs_.push_back(slab_next_);
    slab_left_ = pages;
  }
  uint8_t* data = slab_next_;
  slab_next_ += page_bytes_;
  --slab_left_;
  return data;
}

int64_t PagePool::available() const {
  if (!bounded()) return std::numeric_limits<int64_t>::max() / 2;
  return capacity_ - used_;
}

KvPage* PagePool::allocate() {
  KvPage* page = nullptr;
  if (!free_.empty()) {
    page = free_.back();
    free_.pop_back();
  } else if (!bounded() || static_cast<int64_t>(all_.size()) < capacity_) {
    auto p = std::make_unique<KvPage>();
    p->data = page_memory(p->in_slab);
    page = p.get();
    all_.push_back(std::move(p));
  } else if (!lru_.empty()) {
    page = lru_.front();  // reclaim the least recently used cached prefix page
    lru_.pop_front();
    drop_from_index(page);
  } else {
    return nullptr;
  }
  // Unwritten slots of a page are read as zeros by the kernels' full-page loads.
  std::memset(page->data, 0, page_bytes_);
  page->refs = 1;
  ++used_;
  return page;
}

void PagePool::retain(KvPage* page) {
  if (page->refs == 0) {  // a cached prefix page comes back into use
    lru_.erase(page->lru);
    ++used_;
  }
  ++page->refs;
}

void PagePool::release(KvPage* page) {
  if (page->refs <= 0) throw Error("internal: KV page released twice");
  if (--page->refs > 0) return;
  --used_;
  if (page->indexed) {
    page->lru = lru_.insert(lru_.end(), page);
  } else {
    free_.push_back(page);
  }
}

KvPage* PagePool::lookup(uint64_t parent, const int32_t* tokens, int64_t n) {
  auto it = index_.find(prefix_page_hash(parent, tokens, n));
  if (it == index_.end()) return nullptr;
  KvPage* page = it->second;
  if (page->parent != parent || page->tokens.size() != static_cast<size_t>(n) ||
      !std::equal(page->tokens.begin(), page->tokens.end(), tokens))
    return nullptr;
  retain(page);
  return page;
}

void PagePool::insert(KvPage* page, uint64_t parent, const int32_t* tokens, int64_t n) {
  if (page->indexed) return;
  const uint64_t hash = prefix_page_hash(parent, tokens, n);
  auto [it, fresh] = index_.emplace(hash, page);
  if (!fresh) return;  // another sequence indexed the same prefix first
  page->indexed = true;
  page->hash = hash;
  page->parent = parent;
  page->tokens.assign(tokens, tokens + n);
}

void PagePool::drop_from_index(KvPage* page) {
  index_.erase(page->hash);
  page->indexed = false;
}

uint64_t prefix_page_hash(uint64_t parent, const int32_t* tokens, int64_t n) {
  uint64_t h = mix(parent, static_cast<uint64_t>(n));
  for (int64_t i = 0; i < n; ++i) h = mix(h, static_cast<uint32_t>(tokens[i]));
  return h;
}

}  // namespace sieve
