// sieve inspect on a hand-built model whose attention is known in advance
// (support/hand_built_model.h): it must report the sink head, the dormant
// head, the local head and the identity layer, and nothing it was not given.
#include <gtest/gtest.h>

#include "inspect/inspect_prompt.h"
#include "inspect/report.h"
#include "support/hand_built_model.h"

namespace sieve::inspect {
namespace {

using testing_support::hand_built_model_dir;
using testing_support::kIdentityLayer;
using testing_support::kLocalHead;
using testing_support::kSinkHead;
using testing_support::kSinkLayer;

class InspectPromptTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = Model::load(hand_built_model_dir()).release();
    pool_ = new ThreadPool(2);
    tf_ = new Transformer(*model_, *pool_);
    std::vector<int32_t> tokens = {model_->tokenizer().bos_id()};
    for (int32_t i = 1; i < kTokens; ++i) tokens.push_back(400 + 7 * i);
    InspectOptions o;
    o.block = 1;  // exact maps
    o.pattern_budget = 64;
    report_ = new InspectReport(inspect_prompt(*tf_, tokens, o));
  }
  static void TearDownTestSuite() {
    delete report_;
    delete tf_;
    delete pool_;
    delete model_;
  }
  static const HeadReport& head(int64_t layer, int64_t h) { return report_->heads[layer * report_->n_heads + h]; }
  static const std::vector<double>& map(int64_t layer, int64_t h) { return report_->maps[layer * report_->n_heads + h]; }

  static constexpr int32_t kTokens = 300;
  inline static Model* model_ = nullptr;
  inline static ThreadPool* pool_ = nullptr;
  inline static Transformer* tf_ = nullptr;
  inline static InspectReport* report_ = nullptr;
};

TEST_F(InspectPromptTest, FindsTheSinkAtTokenZeroAndNoOther) {
  const HeadReport& sink = head(kSinkLayer, kSinkHead);
  EXPECT_GT(sink.first_token, 0.99);
  ASSERT_EQ(sink.sinks.size(), 1u);
  EXPECT_EQ(sink.sinks[0].position, 0);
  EXPECT_EQ(sink.sinks[0].token, model_->tokenizer().bos_id());
  EXPECT_GT(sink.sinks[0].mean_attention, 0.99);
  // The uniform heads spread 1/(i+1) over each row: no key above the threshold but token 0 in the first rows.
  for (int64_t h : {1, 3}) {
    EXPECT_NEAR(head(0, h).first_token, 0.021, 0.003) << "head " << h;  // H(300) / 300
    for (const SinkToken& t : head(0, h).sinks) EXPECT_EQ(t.position, 0) << "head " << h;
  }
  for (const SinkToken& t : head(kSinkLayer, kLocalHead).sinks) ADD_FAILURE() << "the local head has a sink at " << t.position;
}

TEST_F(InspectPromptTest, TheSinkHeadIsDormantAndTheOthersAreNot) {
  const HeadReport& sink = head(kSinkLayer, kSinkHead);
  EXPECT_TRUE(sink.dormant);
  EXPECT_LT(sink.output_ratio, 0.05);
  EXPECT_EQ(sink.value_norm_first, 0.0);  // a value-state drain: BOS's value is zero
  EXPECT_GT(sink.value_norm_median, 0.0);
  for (int64_t h = 0; h < report_->n_heads; ++h)
    if (h != kSinkHead) {
      EXPECT_FALSE(head(kSinkLayer, h).dormant) << "head " << h;
    }
}

TEST_F(InspectPromptTest, TheLocalHeadReadsOnlyItsNeighbourhood) {
  const std::vector<double>& m = map(kSinkLayer, kLocalHead);
  ASSERT_EQ(report_->blocks, kTokens);
  for (int64_t q = 1; q < kTokens; ++q) {
    double row = 0;
    for (int64_t k = 0; k <= q; ++k) row += m[q * kTokens + k];
    EXPECT_NEAR(row, 1.0, 1e-5) << "query " << q;  // pooling keeps each query's unit of attention
    EXPECT_GT(m[q * kTokens + q] + m[q * kTokens + q - 1], 0.99) << "query " << q;
  }
  // MInference's search agrees: its A-shape (sinks + local window) recovers all of it.
  bool found = false;
  for (const PatternRecall& p : head(kSinkLayer, kLocalHead).patterns)
    if (p.pattern == "a_shape") {
      found = true;
      EXPECT_GT(p.recall, 0.99);
    }
  EXPECT_TRUE(found);
}

TEST_F(InspectPromptTest, TheIdentityLayerChangesNothing) {
  const BlockSimilarity& s = report_->layers[kIdentityLayer].similarity;
  EXPECT_DOUBLE_EQ(s.attention, 1.0);
  EXPECT_DOUBLE_EQ(s.mlp, 1.0);
  EXPECT_DOUBLE_EQ(s.layer, 1.0);
  EXPECT_LT(report_->layers[0].similarity.layer, 0.999);
  // Residual norms after the identity layer are those after layer 0.
  EXPECT_DOUBLE_EQ(report_->layers[kIdentityLayer].residual_first, report_->layers[0].residual_first);
}

TEST_F(InspectPromptTest, ReportsSayItForMachinesAndPeople) {
  const nlohmann::json j = report_json(*report_, nullptr, false);
  EXPECT_EQ(j.at("tokens"), kTokens);
  EXPECT_EQ(j.at("heads").size(), 8u);
  EXPECT_TRUE(j.at("heads")[kSinkHead].at("dormant").get<bool>());
  EXPECT_EQ(j.at("heads")[kSinkHead].at("sinks")[0].at("position"), 0);
  EXPECT_FALSE(j.at("heads")[0].contains("map"));
  EXPECT_EQ(report_json(*report_, nullptr, true).at("heads")[0].at("map").size(), static_cast<size_t>(kTokens * kTokens));
  const std::string text = report_summary(*report_, nullptr);
  EXPECT_NE(text.find("dormant heads: 1 of 8: L0H0"), std::string::npos) << text;
  EXPECT_NE(text.find("no later token draws"), std::string::npos) << text;
}

}  // namespace
}  // namespace sieve::inspect
