// JSON nesting read before parsing: brackets inside strings do not count.
#include <gtest/gtest.h>

#include <string>

#include "util/json_depth.h"

namespace sieve {
namespace {

TEST(JsonDepth, CountsBracketsOutsideStrings) {
  EXPECT_EQ(json_nesting("3"), 0);
  EXPECT_EQ(json_nesting("{}"), 1);
  EXPECT_EQ(json_nesting(R"({"a": [1, {"b": [[]]}], "c": {}})"), 5);
  EXPECT_EQ(json_nesting(R"({"text": "[[[[{{{{"})"), 1);
  EXPECT_EQ(json_nesting(R"({"text": "a \"[[[ quoted\" b", "x": [[1]]})"), 3);
  EXPECT_EQ(json_nesting(std::string(100000, '[')), 100000);  // unbalanced: the deepest point still counts
}

}  // namespace
}  // namespace sieve
