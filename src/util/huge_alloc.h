#pragma once
// Allocations that the kernel may back with 2 MiB pages (Linux transparent
// huge pages in their default "madvise" mode): the KV cache's pages and
// other large buffers that the attention reads at scattered places. With
// 4 KiB pages every scattered read of a large cache is also a TLB miss (a
// page walk); 2 MiB pages cover a 128 MiB cache with 64 TLB entries.
#include <cstddef>

namespace sieve {

constexpr size_t kHugePage = size_t{2} << 20;

// `bytes` (> 0) aligned to kHugePage, advised for huge pages where the OS has
// them; free with std::free. Throws std::bad_alloc.
void* huge_alloc(size_t bytes);

}  // namespace sieve
