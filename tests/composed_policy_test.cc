// "PREFILL+DECODE" specs: parsing and its errors, and the decode policies'
// observe_prefill: a composed request whose prefill method reads everything
// (minference:pattern=dense) must give each decode policy the same state as
// its own prefill, so the same greedy tokens.
#include <gtest/gtest.h>

#include "attention/prefill/composed_policy.h"
#include "runtime/generator.h"
#include "support/engine_fixture.h"
#include "support/policy_testing.h"

namespace sieve {
namespace {

TEST(ComposedSpecs, PrefillMethodsComposeWithDecodePolicies) {
  const ModelConfig c = testing::small_policy_config(64, 4, 2);
  EXPECT_EQ(make_policy("minference", c)->spec(), "minference:pattern=vertical_slash,vertical=1000,slash=6096+full");
  EXPECT_EQ(make_policy("minference:pattern=a_shape+quest:budget=512", c)->spec(),
            "minference:pattern=a_shape,init=128,local=3968+quest:page=16,budget=512,dense_layers=2,select=head");
  EXPECT_EQ(make_policy("minference:pattern=block_sparse,topk=8+snapkv", c)->spec(),
            "minference:pattern=block_sparse,topk=8+snapkv:budget=2048,window=32,kernel=5,pool=avg");
  const auto composed = make_policy("minference+streaming", c);
  EXPECT_TRUE(composed->evicts());
  EXPECT_TRUE(make_policy("minference+full", c)->shares_prefix());
  EXPECT_FALSE(make_policy("minference+snapkv", c)->shares_prefix());
}

TEST(ComposedSpecs, RejectsBadCompositionsNamingTheProblem) {
  auto message = [](const std::string& spec) { return testing::policy_spec_error(spec); };
  EXPECT_NE(message("quest+full").find("'quest' is not a prefill method"), std::string::npos);
  EXPECT_NE(message("minference+minference").find("is a prefill method; after '+' comes the decode policy"),
            std::string::npos);
  EXPECT_NE(message("minference+full+full").find("PREFILL+DECODE"), std::string::npos);
  EXPECT_NE(message("minference+nope").find("unknown attention policy 'nope'"), std::string::npos);
  EXPECT_NE(message("minference:pattern=x").find("pattern must be one of"), std::string::npos);
  EXPECT_NE(message("minference:pattern=a_shape,slash=3").find("no parameter 'slash'"), std::string::npos);
  EXPECT_NE(message("minference:config=/nonexistent.json").find("/nonexistent.json"), std::string::npos);
  EXPECT_NE(message("nope").find("prefill methods: minference"), std::string::npos);
}

class ComposedEngine : public testing_support::TestModelEngine {};

// A prompt of 880 tokens: every listed policy prefills it densely itself
// (tokenselect, infllm and longheads read everything up to 896 tokens),
// then decodes past what it keeps, so its decoding rests on what it kept
// about the prompt. infllm and longheads keep the default observe_prefill
// (their own attend, output dropped).
TEST_F(ComposedEngine, ADensePrefillMethodLeavesEveryDecodePolicyAsItsOwnPrefill) {
  Engine engine(*model_, *pool_, no_prefix_cache());
  const auto p = prompt(880, 41);
  for (const char* decode :
       {"full", "quest:budget=256", "snapkv:budget=256", "pyramidkv:budget=256", "tova:budget=256",
        "h2o:budget=256", "recycled:budget=256,stride=4", "tokenselect:k=512,n_local=256,chunk=256",
        "infllm:local=896,init=64,block=16,topk=4,chunk=256", "longheads:chunk=224,chunks=4", "streaming:window=1000"}) {
    const RequestResult own = generate(engine, p, greedy(decode, 24));
    const RequestResult composed = generate(engine, p, greedy(std::string("minference:pattern=dense+") + decode, 24));
    EXPECT_EQ(composed.tokens, own.tokens) << decode;
  }
}

}  // namespace
}  // namespace sieve
