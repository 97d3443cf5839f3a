#pragma once
// Moving slots between an attention policy's own buffers: single-layer
// KvCaches of one shape (layer 0 only), e.g. `infllm`'s near buffer, block
// store and frames.
#include <cstdint>

#include "cache/kv_cache.h"

namespace sieve {

// Keys and values of one slot for every KV head (n_kv_heads x head_dim each).
void read_slot(const KvCache& c, int64_t layer, int64_t slot, float* k, float* v);

// Bytes of one page of a single-layer buffer: every head's key block, then
// every head's value block (the KvCache page layout), so a page moves as one
// block of bytes.
size_t page_bytes(const KvCache& c);
const uint8_t* page_data(const KvCache& c, int64_t page);
uint8_t* page_data(KvCache& c, int64_t page);

// Copies slots [from, from + n) of one buffer to slots [to, to + n) of
// another of the same shape (or the same one, moving slots down): whole
// pages as bytes where both sides start on a page, the rest slot by slot.
// k and v hold one slot of keys and values.
void copy_slots(const KvCache& src, int64_t from, KvCache& dst, int64_t to, int64_t n, float* k, float* v);

}  // namespace sieve
