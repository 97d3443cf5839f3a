// Retrieval prompts: deterministic per seed, exactly `length` tokens, needles
// where the depth says, answers nowhere but in their needle; and the scoring
// rule. Uses the test model's tokenizer and the shipped haystack.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "eval/prompts.h"
#include "eval/rng.h"
#include "format/gguf.h"
#include "test_paths.h"
#include "util/error.h"

namespace sieve::eval {
namespace {

struct Fixture {
  std::unique_ptr<GgufFile> gguf;
  std::unique_ptr<Tokenizer> tok;
  std::string haystack;
};

const Fixture& fixture() {
  static const Fixture f = [] {
    Fixture f;
    f.gguf = std::make_unique<GgufFile>(test_model_dir() + "/model-bf16.gguf");
    f.tok = Tokenizer::from_gguf(*f.gguf);
    std::ifstream in(source_dir() + "/data/haystack.txt", std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    f.haystack = ss.str();
    return f;
  }();
  return f;
}

const PromptBuilder& builder(PieceMode mode = PieceMode::Separate) {
  static const PromptBuilder separate(*fixture().tok, fixture().haystack, PieceMode::Separate);
  static const PromptBuilder joined(*fixture().tok, fixture().haystack, PieceMode::Joined);
  return mode == PieceMode::Separate ? separate : joined;
}

TEST(EvalRng, MatchesSplitMix64Reference) {
  Rng rng(0);  // SplitMix64's published first output for seed 0
  EXPECT_EQ(rng.next(), 0xE220A8397B1DCDAFull);
  Rng r(42);
  for (int i = 0; i < 10000; ++i) {
    const int64_t v = r.uniform(10, 13);
    ASSERT_GE(v, 10);
    ASSERT_LE(v, 13);
  }
  EXPECT_NE(stream_seed("passkey", 0, 1024, 50, 0), stream_seed("passkey", 0, 1024, 50, 1));
  EXPECT_NE(stream_seed("passkey", 0, 1024, 50, 0), stream_seed("niah", 0, 1024, 50, 0));
}

TEST(EvalPrompts, DeterministicPerSeedAndDifferentAcrossSeeds) {
  for (Task t : {Task::Passkey, Task::Niah, Task::NiahMultikey}) {
    const Prompt a = builder().build(t, 7, 1024, 30, 3);
    const Prompt b = builder().build(t, 7, 1024, 30, 3);
    EXPECT_EQ(a.tokens, b.tokens);
    EXPECT_EQ(a.expected, b.expected);
    EXPECT_NE(a.tokens, builder().build(t, 8, 1024, 30, 3).tokens);
    EXPECT_NE(a.tokens, builder().build(t, 7, 1024, 30, 4).tokens);
    // A second builder (a second run, another policy) gives the same prompt.
    PromptBuilder other(*fixture().tok, fixture().haystack);
    EXPECT_EQ(other.build(t, 7, 1024, 30, 3).tokens, a.tokens);
  }
}

TEST(EvalPrompts, ExactLengthAndNeedleAtDepth) {
  for (PieceMode mode : {PieceMode::Separate, PieceMode::Joined})
    for (Task t : {Task::Passkey, Task::Niah, Task::NiahMultikey})
      for (int64_t length : {200, 1000, 4096})
        for (int64_t depth : {int64_t{0}, int64_t{10}, int64_t{33}, int64_t{50}, int64_t{90}, int64_t{100}, kRandomDepth})
          for (int64_t s = 0; s < 2; ++s) {
            const Prompt p = builder(mode).build(t, 1, length, depth, s);
            ASSERT_EQ(static_cast<int64_t>(p.tokens.size()), length);
            EXPECT_EQ(p.tokens[0], fixture().tok->bos_id());
            int64_t needle_tokens = 0;
            for (const Needle& n : p.needles) needle_tokens += n.size;
            // What follows the header is hay + needles + question.
            EXPECT_GT(length - p.header_size - p.n_hay - needle_tokens, 0);
            const Needle& asked = p.needles[p.asked];
            int64_t before = 0;  // needle tokens in front of the asked one
            for (int i = 0; i < p.asked; ++i) before += p.needles[i].size;
            const int64_t hay_before = asked.start - p.header_size - before;
            if (depth != kRandomDepth) {
              EXPECT_EQ(hay_before, p.n_hay * depth / 100) << length << " " << depth;
            }
            EXPECT_GE(hay_before, 0);
            EXPECT_LE(hay_before, p.n_hay);
            EXPECT_EQ(asked.value, p.expected);
            const std::vector<int32_t> needle(p.tokens.begin() + asked.start, p.tokens.begin() + asked.start + asked.size);
            const std::string text = fixture().tok->decode(needle);
            EXPECT_NE(text.find(p.expected), std::string::npos) << text;
            const std::string says = t == Task::Passkey ? "The pass key is " + p.expected
                                                        : "magic numbers for " + asked.word + " is: " + p.expected;
            EXPECT_NE(text.find(says), std::string::npos) << text;
          }
}

TEST(EvalPrompts, AnswerDigitsOnlyInTheirNeedle) {
  for (Task t : {Task::Passkey, Task::Niah, Task::NiahMultikey})
    for (int64_t s = 0; s < 20; ++s) {
      const Prompt p = builder().build(t, 3, 2048, kRandomDepth, s);
      std::vector<int32_t> rest;
      int64_t i = 0;
      for (const Needle& n : p.needles) {
        rest.insert(rest.end(), p.tokens.begin() + i, p.tokens.begin() + n.start);
        i = n.start + n.size;
      }
      rest.insert(rest.end(), p.tokens.begin() + i, p.tokens.end());
      const std::string text = fixture().tok->decode(rest);
      for (const Needle& n : p.needles) EXPECT_EQ(text.find(n.value), std::string::npos) << n.value;
      const std::string full = fixture().tok->decode(p.tokens);
      EXPECT_TRUE(full.ends_with(" is"));
      if (t != Task::Passkey) {
        EXPECT_NE(full.rfind("number for " + p.needles[p.asked].word + " mentioned"), std::string::npos);
      }
    }
}

TEST(EvalPrompts, MultikeyNeedlesAreDistinct) {
  std::set<size_t> counts;
  for (int64_t s = 0; s < 30; ++s) {
    const Prompt p = builder().build(Task::NiahMultikey, 0, 1024, 50, s);
    counts.insert(p.needles.size());
    std::set<std::string> words, values;
    for (const Needle& n : p.needles) {
      words.insert(n.word);
      values.insert(n.value);
      EXPECT_EQ(n.value.size(), 7u);
    }
    EXPECT_EQ(words.size(), p.needles.size());
    EXPECT_EQ(values.size(), p.needles.size());
  }
  EXPECT_EQ(counts, (std::set<size_t>{2, 3, 4}));
}

TEST(EvalPrompts, PieceTokenization) {
  const Tokenizer& tok = *fixture().tok;
  const std::string needle = " The pass key is 71432. Remember it. 71432 is the pass key. ";
  // Separate: encode() as it comes, the dummy-prefix space doubling the leading one.
  EXPECT_EQ(builder(PieceMode::Separate).piece(needle), tok.encode(needle, false));
  EXPECT_EQ(tok.piece(builder(PieceMode::Separate).piece(needle).back()), " ");
  // Joined: the tokens the needle has inside "text<needle>text".
  const std::vector<int32_t> joined = builder(PieceMode::Joined).piece(needle);
  const std::vector<int32_t> in_text = tok.encode("there" + needle + "text", false);
  const std::vector<int32_t> expect(in_text.begin() + 1, in_text.end() - 1);
  EXPECT_EQ(joined, expect);
  const std::string question = "\nWhat is the pass key? The pass key is";
  const std::vector<int32_t> q = tok.encode("there." + question, false);
  EXPECT_EQ(builder(PieceMode::Joined).piece(question), std::vector<int32_t>(q.begin() + 2, q.end()));
}

TEST(EvalScoring, LeadingSpacesThenExpectedDigits) {
  EXPECT_TRUE(answer_correct(" 71432.", "71432"));
  EXPECT_TRUE(answer_correct("71432", "71432"));
  EXPECT_TRUE(answer_correct("   71432 is the pass key.", "71432"));
  EXPECT_FALSE(answer_correct("7143", "71432"));
  EXPECT_FALSE(answer_correct(" 7143.", "71432"));
  EXPECT_FALSE(answer_correct("x71432", "71432"));
  EXPECT_FALSE(answer_correct("", "71432"));
  EXPECT_FALSE(answer_correct("71432", ""));
}

TEST(EvalPrompts, RejectsLengthsTooShortForTheTemplate) {
  EXPECT_THROW(builder().build(Task::Passkey, 0, 50, 50, 0), Error);
  EXPECT_THROW(builder().build(Task::Passkey, 0, 1024, 101, 0), Error);
}

}  // namespace
}  // namespace sieve::eval
