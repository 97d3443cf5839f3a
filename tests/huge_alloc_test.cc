// huge_alloc: 2 MiB-aligned memory of any size, usable to its end.
#include "util/huge_alloc.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace sieve {
namespace {

TEST(HugeAlloc, AlignsToHugePages) {
  for (size_t bytes : {size_t{100}, kHugePage, kHugePage + 1, 3 * kHugePage}) {
    auto* p = static_cast<uint8_t*>(huge_alloc(bytes));
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % kHugePage, 0u);
    std::memset(p, 1, bytes);
    EXPECT_EQ(p[bytes - 1], 1);
    std::free(p);
  }
}

}  // namespace
}  // namespace sieve
