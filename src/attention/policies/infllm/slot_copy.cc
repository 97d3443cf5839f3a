#include "attention/policies/infllm/slot_copy.h"

#include <cstring>

namespace sieve {

void read_slot(const KvCache& c, int64_t layer, int64_t slot, float* k, float* v) {
  const int64_t hd = c.shape().head_dim;
  for (int64_t h = 0; h < c.shape().n_kv_heads; ++h) {
    c.read_key(layer, h, slot, k + h * hd);
    c.read_value(layer, h, slot, v + h * hd);
  }
}

size_t page_bytes(const KvCache& c) {
  return 2 * static_cast<size_t>(c.shape().n_kv_heads * c.shape().page_size) * c.row_bytes();
}

const uint8_t* page_data(const KvCache& c, int64_t page) { return c.key_block(0, 0, page); }

// The page's bytes are the buffer's own: a non-const buffer may write them.
uint8_t* page_data(KvCache& c, int64_t page) { return const_cast<uint8_t*>(c.key_block(0, 0, page)); }

void copy_slots(const KvCache& src, int64_t from, KvCache& dst, int64_t to, int64_t n, float* k, float* v) {
  const int64_t ps = src.shape().page_size;
  int64_t done = 0;
  if (from % ps == 0 && to % ps == 0)
    for (; done + ps <= n; done += ps)
      std::memcpy(page_data(dst, (to + done) / ps), page_data(src, (from + done) / ps), page_bytes(src));
  for (; done < n; ++done) {
    read_slot(src, 0, from + done, k, v);
    dst.write(0, to + done, k, v);
  }
}

}  // namespace sieve
