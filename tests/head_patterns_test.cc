// MInference pattern files: what the search writes loads back the same, the
// reference's own files load as the reference reads them, and bad files
// say which layer and head is wrong and how.
#include <gtest/gtest.h>

#include "attention/prefill/minference/head_patterns.h"
#include "model/config.h"
#include "util/error.h"

namespace sieve {
namespace {

ModelConfig shape(int64_t layers, int64_t heads) {
  ModelConfig c;
  c.n_layers = layers;
  c.n_heads = heads;
  return c;
}

std::string parse_error(const std::string& text, const ModelConfig& model) {
  try {
    PatternConfig::parse(text, "p.json", model);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(HeadPatterns, WhatIsWrittenLoadsBackTheSame) {
  PatternConfig cfg;
  cfg.n_layers = 2;
  cfg.n_heads = 3;
  HeadPatternChoice dense, a, vs, bs;
  dense.pattern = HeadPattern::kDense;
  a.pattern = HeadPattern::kAShape, a.vertical = 64, a.slash = 960, a.recall = 0.91234567;
  vs.pattern = HeadPattern::kVerticalSlash, vs.vertical = 100, vs.slash = 800, vs.error = 0.02;
  bs.pattern = HeadPattern::kBlockSparse, bs.topk = 16;
  cfg.layers = {{dense, a, vs}, {bs, vs, a}};
  cfg.search_json = R"({"length":8192})";
  const PatternConfig back = PatternConfig::parse(cfg.to_json(), "x", shape(2, 3));
  ASSERT_EQ(back.layers.size(), 2u);
  for (size_t l = 0; l < 2; ++l)
    for (size_t h = 0; h < 3; ++h) EXPECT_TRUE(back.layers[l][h] == cfg.layers[l][h]) << l << " " << h;
  EXPECT_NEAR(back.layers[0][1].recall, 0.9123, 1e-9);
  EXPECT_EQ(back.search_json, cfg.search_json);
  EXPECT_EQ(back.to_json(), cfg.to_json());
}

TEST(HeadPatterns, LoadsTheReferenceFormatAsTheReferenceReadsIt) {
  const std::string text =
      R"([{"0": ["vertical_and_slash", 1000, 6096, 336], "1": ["stream_llm", 100, 800, 1]},
          {"0": ["block_sparse", 10, 1, 5], "1": ["vertical_and_slash", 30, 800, 27256]}])";
  const PatternConfig cfg = PatternConfig::parse(text, "ref.json", shape(2, 3));
  EXPECT_EQ(cfg.layers[0][0].pattern, HeadPattern::kVerticalSlash);
  EXPECT_EQ(cfg.layers[0][0].slash, 6096);
  EXPECT_EQ(cfg.layers[0][1].pattern, HeadPattern::kAShape);
  EXPECT_EQ(cfg.layers[0][1].vertical, 100);
  EXPECT_EQ(cfg.layers[0][1].slash, 800);
  EXPECT_TRUE(cfg.layers[0][2] == default_vertical_slash()) << "a head the file leaves out";
  EXPECT_EQ(cfg.layers[1][0].pattern, HeadPattern::kBlockSparse);
  EXPECT_EQ(cfg.layers[1][0].topk, 100) << "the reference kernel's top-k, whatever the sizes say";
}

TEST(HeadPatterns, BadFilesNameTheLayerHeadAndProblem) {
  const ModelConfig m = shape(1, 2);
  auto file = [](const std::string& heads) {
    return R"({"format": "sieve-minference-patterns", "version": 1, "layers": [)" + heads + "]}";
  };
  const std::string ok = R"({"pattern": "dense"})";
  EXPECT_NE(parse_error("{", m).find("not JSON"), std::string::npos);
  EXPECT_NE(parse_error("{}", m).find("sieve-minference-patterns"), std::string::npos);
  EXPECT_NE(parse_error(R"({"format": "sieve-minference-patterns", "version": 2, "layers": []})", m).find("version"),
            std::string::npos);
  EXPECT_NE(parse_error(file("[" + ok + "," + ok + "],[" + ok + "," + ok + "]"), m).find("has 2 layers; the model has 1"),
            std::string::npos);
  EXPECT_NE(parse_error(file("[" + ok + "]"), m).find("layer 0 head 0: expected a list of 2 heads"), std::string::npos);
  EXPECT_NE(parse_error(file("[" + ok + R"(, {"pattern": "diagonal"}])"), m).find("layer 0 head 1: unknown pattern 'diagonal'"),
            std::string::npos);
  EXPECT_NE(parse_error(file("[" + ok + R"(, {"pattern": "a_shape", "init": 4}])"), m).find("missing \"local\""),
            std::string::npos);
  EXPECT_NE(parse_error(file("[" + ok + R"(, {"pattern": "vertical_slash", "vertical": -1, "slash": 5}])"), m)
                .find("\"vertical\" must be >= 0"),
            std::string::npos);
  EXPECT_NE(parse_error(file("[" + ok + R"(, {"pattern": "block_sparse", "topk": "many"}])"), m)
                .find("\"topk\" must be an integer"),
            std::string::npos);
  EXPECT_NE(parse_error(R"([{"0": ["diagonal", 1, 2, 3]}])", m).find("unknown type 'diagonal'"), std::string::npos);
  EXPECT_NE(parse_error(R"([{"0": ["stream_llm", 1]}])", m).find("[type, vertical_size, slash_size, score]"),
            std::string::npos);
  EXPECT_EQ(parse_error(file("[" + ok + "," + ok + "]"), m), "no error");
}

TEST(HeadPatterns, FieldsOfTheWrongTypeAreErrorsNamingTheFile) {
  // Found by minference_patterns_fuzz: both escaped as nlohmann exceptions.
  EXPECT_NE(parse_error(R"([0, 1e800])", shape(2, 1)).find("p.json': not JSON"), std::string::npos);
  EXPECT_NE(parse_error(R"({"format": ["x"], "version": 1, "layers": []})", shape(0, 1)).find("p.json': "),
            std::string::npos);
}

TEST(HeadPatterns, DeepNestingIsRefusedBeforeParsing) {
  // The "search" object is kept as text by dump(), which recurses once per level.
  const std::string deep = R"({"format": "sieve-minference-patterns", "version": 1, "layers": [], "search": )" +
                           std::string(100000, '[') + std::string(100000, ']') + "}";
  EXPECT_NE(parse_error(deep, shape(0, 1)).find("p.json': nests deeper than 64 levels"), std::string::npos)
      << parse_error(deep, shape(0, 1));
}

}  // namespace
}  // namespace sieve
