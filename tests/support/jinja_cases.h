#pragma once
// Table-driven Jinja cases shared by the jinja_*_test.cc suites: each source
// renders against one fixed context to its expected text (jinja2 3.1's
// output), or fails with a message containing `error`.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chat/template.h"
#include "util/error.h"

namespace sieve::chat::jinja_testing {

using ojson = nlohmann::ordered_json;

// The variables every case sees.
inline const ojson& context() {
  static const ojson c = ojson::parse(R"J({"xs": [1, 2, 3], "d": {"a": 1, "b": [1, "x"]}, "s": "héllo wörld", "n": null, "msgs": [{"role": "system", "content": "S"}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo", "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1}}}]}]})J");
  return c;
}

struct Case {
  const char* source;
  const char* expected;  // nullptr: rendering must fail
  const char* error = "";  // a part of the message when it fails
};

inline void check(const std::vector<Case>& cases) {
  RenderOptions options;
  options.now = "2026-01-15T12:00:00";
  for (const Case& c : cases) {
    if (c.expected) {
      try {
        EXPECT_EQ(Template(c.source).render(context(), options), c.expected) << c.source;
      } catch (const Error& e) {
        ADD_FAILURE() << c.source << ": " << e.what();
      }
      continue;
    }
    try {
      const std::string got = Template(c.source).render(context(), options);
      ADD_FAILURE() << c.source << ": rendered '" << got << "', expected an error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(c.error), std::string::npos) << c.source << ": " << e.what();
    }
  }
}

}  // namespace sieve::chat::jinja_testing
