// The page pool: large pages carved from huge-page slabs (distinct, aligned,
// zeroed, within the budget), small ones from the heap, reuse after release,
// and the prefix index's lookups.
#include "cache/page_pool.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <set>


namespace sieve {
namespace {

TEST(PagePool, LargePagesComeFromSlabsAndStayDistinct) {
  const size_t page = 300 << 10;  // 54 per 16 MiB slab: the 60 below take two
  PagePool pool(page, -1);
  std::set<uint8_t*> seen;
  std::vector<KvPage*> pages;
  for (int i = 0; i < 60; ++i) {
    KvPage* p = pool.allocate();
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(p->in_slab);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p->data) % 64, 0u);
    for (size_t b = 0; b < page; b += 4096) ASSERT_EQ(p->data[b], 0) << i;
    std::memset(p->data, 0xAB, page);  // the whole page is ours: no overlap with the next
    EXPECT_TRUE(seen.insert(p->data).second);
    pages.push_back(p);
  }
  for (KvPage* p : pages)
    for (size_t b = 0; b < page; b += 4096) ASSERT_EQ(p->data[b], 0xAB);
  // A released page comes back zeroed.
  pool.release(pages[3]);
  KvPage* again = pool.allocate();
  EXPECT_EQ(again->data, pages[3]->data);
  EXPECT_EQ(again->data[100], 0);
  EXPECT_EQ(pool.used(), 60);
}

TEST(PagePool, SmallPagesComeFromTheHeapAndBudgetsHold) {
  PagePool small(4096, -1);
  EXPECT_FALSE(small.allocate()->in_slab);
  PagePool bounded(1 << 20, 3);  // a slab would hold 16; the budget allows three
  KvPage* a = bounded.allocate();
  KvPage* b = bounded.allocate();
  KvPage* c = bounded.allocate();
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(bounded.allocate(), nullptr);
  EXPECT_EQ(bounded.available(), 0);
}

TEST(PagePool, PrefixIndexFindsOnlyTheSameTokens) {
  PagePool pool(1024, 4);
  KvPage* p = pool.allocate();
  const int32_t tokens[3] = {5, 6, 7}, other[3] = {5, 6, 8};
  pool.insert(p, 0, tokens, 3);
  EXPECT_EQ(pool.lookup(0, tokens, 3), p);
  EXPECT_EQ(pool.lookup(0, other, 3), nullptr);
  EXPECT_EQ(pool.lookup(1, tokens, 3), nullptr);
  pool.release(p);
  pool.release(p);  // both references: cached for reuse
  EXPECT_EQ(pool.cached(), 1);
  EXPECT_EQ(pool.lookup(0, tokens, 3), p);
}

}  // namespace
}  // namespace sieve
