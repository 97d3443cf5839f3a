// The residual probe's cosines: per token, block by block, averaged over
// every token it sees; norms after each layer.
#include <gtest/gtest.h>

#include "inspect/residual_probe.h"

namespace sieve::inspect {
namespace {

TEST(ResidualProbe, AveragesOverEveryTokenOfEveryStep) {
  ResidualProbe p(1, 2, true);
  // Step 1, two tokens: attention turns token 0 by 90 degrees and leaves token 1; the MLP leaves both.
  const float in1[4] = {1, 0, 0, 1}, attn1[4] = {0, 1, 0, 1};
  p.block_input(0, Block::Attention, in1, 2);
  p.block_output(0, Block::Attention, attn1, 2);
  p.block_input(0, Block::Mlp, attn1, 2);
  p.block_output(0, Block::Mlp, attn1, 2);
  // Step 2, one token: nothing changes in attention, the MLP doubles and flips it.
  const float in2[2] = {3, 4}, out2[2] = {-6, -8};
  p.block_input(0, Block::Attention, in2, 1);
  p.block_output(0, Block::Attention, in2, 1);
  p.block_input(0, Block::Mlp, in2, 1);
  p.block_output(0, Block::Mlp, out2, 1);
  EXPECT_EQ(p.tokens(), 3);
  const BlockSimilarity s = p.similarity(0);
  EXPECT_NEAR(s.attention, (0 + 1 + 1) / 3.0, 1e-12);
  EXPECT_NEAR(s.mlp, (1 + 1 - 1) / 3.0, 1e-12);
  EXPECT_NEAR(s.layer, (0 + 1 - 1) / 3.0, 1e-12);  // the whole layer: its input against the MLP's output
  EXPECT_EQ(p.residual_norms(0), (std::vector<double>{1, 1, 10}));
}

}  // namespace
}  // namespace sieve::inspect
