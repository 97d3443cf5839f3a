#pragma once
// Fixed-size KV pages from one memory budget, shared by every sequence of an
// engine. A page holds page_size token slots of every layer (layout in
// kv_cache.h). Pages are reference counted: a prompt's full pages may be
// shared by several sequences through the prefix index, where each page is
// named by a hash chained over the tokens of the prefix it ends. A page no
// sequence holds any more, but that is in the index, stays cached until an
// allocation needs its memory (least recently used first). Large pages are
// carved from slabs the OS may back with 2 MiB pages (util/huge_alloc.h).
//
// Not thread-safe: one engine thread owns the pool and its caches.
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <unordered_map>
#include <vector>

namespace sieve {

struct KvPage {
  uint8_t* data = nullptr;
  bool in_slab = false;  // data lies in one of the pool's slabs (not freed by itself)
  int32_t refs = 0;
  bool indexed = false;  // in the prefix index under `hash`
  uint64_t hash = 0;
  uint64_t parent = 0;           // hash of the prefix before this page
  std::vector<int32_t> tokens;   // the page's tokens, checked on lookup
  std::list<KvPage*>::iterator lru;  // valid while indexed and refs == 0
};

class PagePool {
 public:
  // capacity_pages < 0: unbounded (a sequence's private pool).
  PagePool(size_t page_bytes, int64_t capacity_pages);
  ~PagePool();
  PagePool(const PagePool&) = delete;
  PagePool& operator=(const PagePool&) = delete;

  size_t page_bytes() const { return page_bytes_; }
  bool bounded() const { return capacity_ >= 0; }
  int64_t capacity() const { return capacity_; }
  // Pages held by at least one sequence.
  int64_t used() const { return used_; }
  // Unreferenced pages kept for prefix reuse (reclaimable).
  int64_t cached() const { return static_cast<int64_t>(lru_.size()); }
  // Pages an allocation can still get (free + reclaimable); large when unbounded.
  int64_t available() const;

  // A zeroed page with one reference, or nullptr when the budget is spent.
  KvPage* allocate();
  void retain(KvPage* page);
  void release(KvPage* page);

  // Prefix index. lookup() returns the page holding `tokens` after the
  // prefix hashed `parent` (taking a reference), or nullptr; insert() names
  // a full page that will never be written again. The hash only finds a
  // candidate: its parent and tokens are compared, so a collision is a miss.
  KvPage* lookup(uint64_t parent, const int32_t* tokens, int64_t n);
  void insert(KvPage* page, uint64_t parent, const int32_t* tokens, int64_t n);

 private:
  void drop_from_index(KvPage* page);

  uint8_t* page_memory(bool& in_slab);

  size_t page_bytes_;
  int64_t capacity_;
  std::vector<void*> slabs_;  // huge-page slabs holding large pages
  uint8_t* slab_next_ = nullptr;
  int64_t slab_left_ = 0;     // pages still free in the newest slab
  int64_t used_ = 0;
  std::vector<std::unique_ptr<KvPage>> all_;  // every page ever made
  std::vector<KvPage*> free_;
  std::list<KvPage*> lru_;  // indexed pages without references, oldest first
  std::unordered_map<uint64_t, KvPage*> index_;
};

// The chained hash of a full page of tokens following the prefix whose hash
// is `parent` (0 for the first page).
uint64_t prefix_page_hash(uint64_t parent, const int32_t* tokens, int64_t n);

}  // namespace sieve
