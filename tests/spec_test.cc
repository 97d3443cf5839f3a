// Spec strings ("name:key=value,..."), shared by attention policies and RoPE
// extensions: values read by type and range, errors that name the spec's
// kind, the spec and the problem.
#include "util/spec.h"

#include <gtest/gtest.h>

#include <string>

#include "util/error.h"

namespace sieve {
namespace {

std::string error_of(const std::string& text, const std::string& kind, void (*use)(Spec&)) {
  try {
    Spec s(text, kind);
    use(s);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(Spec, ReadsValuesByTypeWithDefaults) {
  Spec s("yarn:factor=8,original=4096,on=true");
  EXPECT_EQ(s.name(), "yarn");
  EXPECT_DOUBLE_EQ(s.take_double("factor", 4, 1, 100), 8.0);
  EXPECT_EQ(s.take_int("original", 8192, 1), 4096);
  EXPECT_TRUE(s.take_bool("on", false));
  EXPECT_EQ(s.take_int("absent", 7, 0), 7);
  EXPECT_EQ(s.take_choice("mode", "a", {"a", "b"}), "a");
  s.finish({"factor", "original", "on", "absent", "mode"});
  Spec bare("none");
  EXPECT_EQ(bare.name(), "none");
  bare.finish({});
}

TEST(Spec, ErrorsNameTheKindTheSpecAndTheProblem) {
  EXPECT_EQ(error_of("yarn:factor=x", "rope", [](Spec& s) { s.take_double("factor", 4, 1, 100); }),
            "rope 'yarn:factor=x': factor must be a number in [1.000000, 100.000000]");
  EXPECT_EQ(error_of("quest:budget=-1", "attention policy", [](Spec& s) { s.take_int("budget", 1, 1); }),
            "attention policy 'quest:budget=-1': budget must be >= 1");
  EXPECT_EQ(error_of("ntk:factor=2,extra=1", "rope", [](Spec& s) {
              s.take_double("factor", 4, 1, 100);
              s.finish({"factor"});
            }),
            "rope 'ntk' has no parameter 'extra' (valid: factor)");
  EXPECT_EQ(error_of("ntk:factor", "rope", [](Spec&) {}), "rope 'ntk:factor': expected key=value, got 'factor'");
  EXPECT_EQ(error_of("ntk:factor=1,factor=2", "rope", [](Spec&) {}), "rope 'ntk:factor=1,factor=2': 'factor' given twice");
  EXPECT_EQ(error_of(":factor=1", "rope", [](Spec&) {}), "empty rope spec");
  EXPECT_EQ(error_of("s:on=maybe", "attention policy", [](Spec& s) { s.take_bool("on", false); }),
            "attention policy 's:on=maybe': on must be on or off");
}

}  // namespace
}  // namespace sieve
