// What Matters in Transformers' redundancy and the drops it chooses, on the
// hand-built model (support/hand_built_model.h) whose layer 1 is an identity:
// it ranks first, and dropping it changes no logit and frees its cache.
#include <gtest/gtest.h>

#include "inspect/layer_redundancy.h"
#include "support/hand_built_model.h"
#include "util/error.h"

namespace sieve::inspect {
namespace {

using testing_support::hand_built_model_dir;
using testing_support::kIdentityLayer;

std::vector<int32_t> tokens(const Model& m, int32_t n, int32_t stride) {
  std::vector<int32_t> t = {m.tokenizer().bos_id()};
  for (int32_t i = 1; i < n; ++i) t.push_back(300 + (stride * i) % 5000);
  return t;
}

TEST(LayerRedundancy, TheIdentityLayerIsTheMostRedundant) {
  auto model = Model::load(hand_built_model_dir());
  ThreadPool pool(2);
  Transformer tf(*model, pool);
  const Redundancy r = measure_redundancy(tf, {tokens(*model, 100, 7), tokens(*model, 60, 13)});
  EXPECT_EQ(r.samples, 2);
  EXPECT_EQ(r.tokens, 160);
  EXPECT_DOUBLE_EQ(r.layers[kIdentityLayer].attention, 1.0);
  EXPECT_DOUBLE_EQ(r.layers[kIdentityLayer].mlp, 1.0);
  EXPECT_LT(r.layers[0].attention, 1.0);
  EXPECT_LT(r.layers[0].mlp, 1.0);
  EXPECT_EQ(choose_drop(r, 1, false).attention, std::vector<int64_t>{kIdentityLayer});
  const DropChoice joint = choose_drop(r, 2, true);
  EXPECT_EQ(joint.attention, std::vector<int64_t>{kIdentityLayer});
  EXPECT_EQ(joint.mlp, std::vector<int64_t>{kIdentityLayer});
  EXPECT_THROW(choose_drop(r, 3, false), Error);
}

TEST(LayerRedundancy, RanksByOneOrderingOfBothBlocks) {
  Redundancy r;
  r.layers = {{0.90, 0.95, 0.8}, {0.99, 0.50, 0.5}, {0.97, 0.98, 0.9}};
  const std::vector<RankedBlock> order = drop_order(r, true);
  ASSERT_EQ(order.size(), 6u);
  EXPECT_EQ(order[0].layer, 1);  // attention 0.99
  EXPECT_FALSE(order[0].mlp);
  EXPECT_EQ(order[1].layer, 2);  // MLP 0.98
  EXPECT_TRUE(order[1].mlp);
  EXPECT_EQ(order[2].layer, 2);  // attention 0.97
  EXPECT_FALSE(order[2].mlp);
  const DropChoice d = choose_drop(r, 3, true);
  EXPECT_EQ(d.attention, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(d.mlp, std::vector<int64_t>{2});
  EXPECT_EQ(choose_drop(r, 2, false).attention, (std::vector<int64_t>{1, 2}));
}

TEST(LayerRedundancy, DroppingAnIdentityLayerChangesNoLogit) {
  auto whole = Model::load(hand_built_model_dir());
  auto dropped = Model::load(hand_built_model_dir());
  dropped->drop_blocks({kIdentityLayer}, {kIdentityLayer});
  ThreadPool pool(2);
  Transformer a(*whole, pool), b(*dropped, pool);
  EXPECT_EQ(b.cache_shape().n_layers, 1);  // the dropped attention block has no cache
  const std::vector<int32_t> t = tokens(*whole, 40, 11);
  const int64_t vocab = whole->config().vocab_size;
  std::vector<float> la(40 * vocab), lb(40 * vocab);
  KvCache ca(a.cache_shape(KvType::F32)), cb(b.cache_shape(KvType::F32));
  a.forward(t.data(), 40, ca, la.data(), true);
  b.forward(t.data(), 40, cb, lb.data(), true);
  EXPECT_EQ(la, lb);
  EXPECT_EQ(cb.bytes_per_token() * 2, ca.bytes_per_token());
  EXPECT_LT(dropped->weight_bytes_per_token(), whole->weight_bytes_per_token());

  // Dropping a layer that does something changes the logits.
  auto other = Model::load(hand_built_model_dir());
  other->drop_blocks({0}, {});
  Transformer c(*other, pool);
  KvCache cc(c.cache_shape(KvType::F32));
  std::vector<float> lc(40 * vocab);
  c.forward(t.data(), 40, cc, lc.data(), true);
  EXPECT_NE(la, lc);
}

TEST(LayerRedundancy, BadDropsSayWhatIsWrong) {
  auto model = Model::load(hand_built_model_dir());
  try {
    model->drop_blocks({2}, {});
    FAIL() << "layer 2 of 2 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("the model has 2 layers"), std::string::npos) << e.what();
  }
  EXPECT_THROW(model->drop_blocks({0, 1}, {}), Error);  // no attention would remain
  EXPECT_EQ(model->config().attention_layers(), 2);     // and nothing was dropped
}

}  // namespace
}  // namespace sieve::inspect
