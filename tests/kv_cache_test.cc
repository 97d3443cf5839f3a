// The KV cache's storage: every element type written and read back, each
// slot of a page its own, and one head's slot copied exactly.
#include "cache/kv_cache.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "util/error.h"

namespace sieve {
namespace {

TEST(KvCache, StoresAndReadsBackEachType) {
  for (KvType type : {KvType::F32, KvType::F16, KvType::BF16, KvType::Q8_0}) {
    KvCache cache({2, 2, 64, 64, type});
    std::vector<int64_t> pos = {0, 1, 2};
    cache.append_slots(pos.data(), 3);
    std::vector<float> k(128), v(128), back(64);
    for (int i = 0; i < 128; ++i) k[i] = 0.01f * i - 0.5f, v[i] = 1.0f - 0.02f * i;
    cache.write(1, 2, k.data(), v.data());
    const float tol = type == KvType::F32 ? 0 : type == KvType::F16 ? 1e-3f : type == KvType::BF16 ? 8e-3f : 2e-2f;
    cache.read_key(1, 1, 2, back.data());
    for (int i = 0; i < 64; ++i) EXPECT_NEAR(back[i], k[64 + i], tol) << kv_type_name(type);
    cache.read_value(1, 0, 2, back.data());
    for (int i = 0; i < 64; ++i) EXPECT_NEAR(back[i], v[i], tol) << kv_type_name(type);
  }
}

// Every slot of full and partial pages reads back its own key and value:
// q8_0 keys are stored by dimension across the page's slots, so a write must
// touch only its own column of each row.
TEST(KvCache, EverySlotOfAPageReadsBackItsOwnRow) {
  for (KvType type : {KvType::F32, KvType::F16, KvType::BF16, KvType::Q8_0}) {
    const int64_t hd = 64, n = 64 + 17;
    KvCache cache({1, 2, hd, 64, type});
    std::vector<int64_t> pos(n);
    for (int64_t i = 0; i < n; ++i) pos[i] = i;
    cache.append_slots(pos.data(), n);
    auto key_of = [&](int64_t slot, int64_t i) { return std::sin(0.37f * static_cast<float>(slot * 131 + i)); };
    auto value_of = [&](int64_t slot, int64_t i) { return std::cos(0.23f * static_cast<float>(slot * 97 + i)); };
    std::vector<float> k(2 * hd), v(2 * hd), back(hd);
    for (int64_t slot = n - 1; slot >= 0; --slot) {  // backwards: later slots written first
      for (int64_t i = 0; i < 2 * hd; ++i) k[i] = key_of(slot, i), v[i] = value_of(slot, i);
      cache.write(0, slot, k.data(), v.data());
    }
    const float tol = type == KvType::F32 ? 0 : type == KvType::F16 ? 1e-3f : 8e-3f;
    for (int64_t slot = 0; slot < n; ++slot)
      for (int64_t h = 0; h < 2; ++h) {
        cache.read_key(0, h, slot, back.data());
        for (int64_t i = 0; i < hd; ++i)
          ASSERT_NEAR(back[i], key_of(slot, h * hd + i), tol) << kv_type_name(type) << " slot " << slot;
        cache.read_value(0, h, slot, back.data());
        for (int64_t i = 0; i < hd; ++i)
          ASSERT_NEAR(back[i], value_of(slot, h * hd + i), tol) << kv_type_name(type) << " slot " << slot;
      }
  }
}

// copy_head_slot moves one head's key and value bytes and nothing else.
TEST(KvCache, NextPositionFollowsRollbackAndCompaction) {
  KvCache cache({1, 1, 64, 16, KvType::F16});
  EXPECT_EQ(cache.next_position(), 0);
  std::vector<int64_t> pos(40);
  for (int64_t i = 0; i < 40; ++i) pos[i] = 100 + i;
  cache.append_slots(pos.data(), 40);
  EXPECT_EQ(cache.next_position(), 140);
  cache.truncate(30);  // a rollback: the next token follows slot 29
  EXPECT_EQ(cache.next_position(), 130);
  cache.drop_compacted(10);  // a policy kept 10 slots of 30: the sequence goes on where it was
  EXPECT_EQ(cache.size(), 10);
  EXPECT_EQ(cache.next_position(), 130);
  cache.clear();
  EXPECT_EQ(cache.next_position(), 0);
}

TEST(KvCache, CopyHeadSlotMovesOneHeadExactly) {
  for (KvType type : {KvType::F32, KvType::F16, KvType::BF16, KvType::Q8_0}) {
    const int64_t hd = 64, n = 64 + 30;
    KvCache cache({2, 2, hd, 64, type});
    std::vector<int64_t> pos(n);
    for (int64_t i = 0; i < n; ++i) pos[i] = i;
    cache.append_slots(pos.data(), n);
    std::vector<float> k(2 * hd), v(2 * hd);
    for (int64_t layer = 0; layer < 2; ++layer)
      for (int64_t slot = 0; slot < n; ++slot) {
        for (int64_t i = 0; i < 2 * hd; ++i)
          k[i] = std::sin(0.1f * static_cast<float>(slot * 7 + i + layer)), v[i] = std::cos(0.2f * static_cast<float>(slot + i * 3 + layer));
        cache.write(layer, slot, k.data(), v.data());
      }
    auto key = [&](int64_t layer, int64_t h, int64_t slot) {
      std::vector<float> out(hd);
      cache.read_key(layer, h, slot, out.data());
      return out;
    };
    auto value = [&](int64_t layer, int64_t h, int64_t slot) {
      std::vector<float> out(hd);
      cache.read_value(layer, h, slot, out.data());
      return out;
    };
    const auto k_from = key(1, 1, 80), v_from = value(1, 1, 80);  // page 1 to page 0
    const auto k_other = key(1, 0, 5), v_other = value(1, 0, 5), k_layer = key(0, 1, 5);
    cache.copy_head_slot(1, 1, 80, 5);
    EXPECT_EQ(key(1, 1, 5), k_from) << kv_type_name(type);
    EXPECT_EQ(value(1, 1, 5), v_from) << kv_type_name(type);
    EXPECT_EQ(key(1, 0, 5), k_other) << kv_type_name(type);  // the other head, the other layer: untouched
    EXPECT_EQ(value(1, 0, 5), v_other) << kv_type_name(type);
    EXPECT_EQ(key(0, 1, 5), k_layer) << kv_type_name(type);
    EXPECT_EQ(key(1, 1, 80), k_from) << kv_type_name(type);  // a copy: the source stays
  }
}

// Gathering into a small cache of its own (HiP's selected pairs): bytes as
// stored, from any layer and head of a cache of the same format.
TEST(KvCache, CopyHeadSlotsFromAnotherCache) {
  for (KvType type : {KvType::F32, KvType::F16, KvType::BF16, KvType::Q8_0}) {
    const int64_t hd = 64, n = 130;
    KvCache cache({2, 2, hd, 64, type}), gathered({1, 1, hd, 64, type});
    std::vector<int64_t> pos(n);
    for (int64_t i = 0; i < n; ++i) pos[i] = i;
    cache.append_slots(pos.data(), n);
    gathered.append_slots(pos.data(), 3);
    std::vector<float> k(2 * hd), v(2 * hd);
    for (int64_t layer = 0; layer < 2; ++layer)
      for (int64_t slot = 0; slot < n; ++slot) {
        for (int64_t i = 0; i < 2 * hd; ++i)
          k[i] = std::sin(0.3f * static_cast<float>(slot + i * 5 + layer)), v[i] = std::cos(0.7f * static_cast<float>(slot * 3 + i));
        cache.write(layer, slot, k.data(), v.data());
      }
    const int64_t from[3] = {129, 0, 70};
    gathered.copy_head_slots_from(cache, 1, 1, 129, 0, 0, 0, 1);
    gathered.copy_head_slots_from(cache, 1, 1, 0, 0, 0, 1, 1);
    gathered.copy_head_slots_from(cache, 1, 1, 70, 0, 0, 2, 1);
    std::vector<float> a(hd), b(hd);
    for (int64_t j = 0; j < 3; ++j) {
      cache.read_key(1, 1, from[j], a.data());
      gathered.read_key(0, 0, j, b.data());
      EXPECT_EQ(a, b) << kv_type_name(type) << " slot " << from[j];
      cache.read_value(1, 1, from[j], a.data());
      gathered.read_value(0, 0, j, b.data());
      EXPECT_EQ(a, b) << kv_type_name(type) << " slot " << from[j];
    }
    EXPECT_THROW(gathered.copy_head_slots_from(cache, 1, 1, n - 1, 0, 0, 0, 2), Error);  // past the source
    EXPECT_THROW(gathered.copy_head_slots_from(cache, 1, 1, 0, 0, 0, 2, 2), Error);      // past the destination
    // A run that crosses page edges on both sides: 100 slots from 10 into 50.
    KvCache runs({1, 1, hd, 64, type});
    std::vector<int64_t> p150(150);
    for (int64_t i = 0; i < 150; ++i) p150[i] = i;
    runs.append_slots(p150.data(), 150);
    runs.copy_head_slots_from(cache, 0, 1, 10, 0, 0, 50, 100);
    for (int64_t j = 0; j < 100; ++j) {
      cache.read_key(0, 1, 10 + j, a.data());
      runs.read_key(0, 0, 50 + j, b.data());
      ASSERT_EQ(a, b) << kv_type_name(type) << " slot " << j;
      cache.read_value(0, 1, 10 + j, a.data());
      runs.read_value(0, 0, 50 + j, b.data());
      ASSERT_EQ(a, b) << kv_type_name(type) << " slot " << j;
    }
  }
  KvCache f16({1, 1, 64, 64, KvType::F16}), f32({1, 1, 64, 64, KvType::F32});
  const int64_t p0 = 0;
  f16.append_slots(&p0, 1);
  f32.append_slots(&p0, 1);
  EXPECT_THROW(f16.copy_head_slots_from(f32, 0, 0, 0, 0, 0, 0, 1), Error);
}

}  // namespace
}  // namespace sieve
