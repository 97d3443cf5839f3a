#include "format/gguf.h"

#include <gtest/gtest.h>

#include "test_paths.h"

namespace sieve {

TEST(Gguf, ReadsTestModelMetadataAndTensors) {
  GgufFile f(test_model_dir() + "/model-bf16.gguf");
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_int("llama.block_count"), 8);
  const Tensor* emb = f.find_tensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->shape, (std::vector<int64_t>{512, 8192}));
  EXPECT_EQ(emb->type, DType::BF16);
}

}  // namespace sieve
