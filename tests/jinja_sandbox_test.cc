// A hostile or broken template ends in a sieve::Error with a clear message:
// never a hang, a crash, a stack overflow or unbounded memory.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "chat/template.h"
#include "util/error.h"

namespace sieve::chat {
namespace {

using ojson = nlohmann::ordered_json;

std::string error_of(const std::string& source, const RenderOptions& options = {}) {
  try {
    Template(source).render(ojson::object(), options);
  } catch (const Error& e) {
    return e.what();
  }
  return "(rendered)";
}

void expect_error(const std::string& source, const std::string& part, const RenderOptions& options = {}) {
  const auto start = std::chrono::steady_clock::now();
  const std::string e = error_of(source, options);
  EXPECT_NE(e.find(part), std::string::npos) << source.substr(0, 80) << ": " << e;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10)) << source.substr(0, 80);
}

TEST(JinjaSandbox, LoopsAndRangesAreBounded) {
  expect_error("{% for i in range(1000000000) %}x{% endfor %}", "loop iterations");
  expect_error("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "loop iterations");
  expect_error("{{ [1] * 1000000000 }}", "loop iterations");
  RenderOptions small;
  small.limits.max_loop_iterations = 10;
  expect_error("{% for c in 'abcdefghijk' %}{% endfor %}", "more than 10 loop iterations", small);
  EXPECT_EQ(Template("{% for c in 'abcdefghij' %}{% endfor %}ok").render(ojson::object(), small), "ok");
  expect_error("{{ range(11)|length }}", "more than 10 loop iterations", small);  // range() counts its items
}

TEST(JinjaSandbox, OutputAndStringsAreBounded) {
  expect_error("{{ 'x' * 1000000000 }}", "bytes of text");
  expect_error("{% set ns = namespace(s='ab') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
               "bytes of text");
  expect_error("{{ '%999999999s' % 1 }}", "bytes of text");
  expect_error("{{ 'a'|center(999999999) }}", "bytes of text");
  RenderOptions small;
  small.limits.max_output_bytes = 100;
  expect_error("{% for i in range(200) %}x{% endfor %}", "more than 100 bytes", small);
}

TEST(JinjaSandbox, RecursionAndNestingAreBounded) {
  expect_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "macro calls nested");
  std::string chain = "{{ 1";
  for (int k = 0; k < 100000; ++k) chain += "+1";
  expect_error(chain + " }}", "nested too deeply");
  expect_error("{{ " + std::string(300, '(') + "1" + std::string(300, ')') + " }}", "nested too deeply");
  expect_error("{{ " + std::string(100, '(') + "1" + std::string(100, ')') + " }}", "nested too deeply");
  std::string blocks;
  for (int k = 0; k < 200; ++k) blocks += "{% if true %}";
  expect_error(blocks, "nested too deeply");
  expect_error("{% set ns = namespace(x=[]) %}{% for i in range(1000) %}{% set ns.x = [ns.x] %}{% endfor %}",
               "nested more than");
  expect_error("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}", "nested too deeply");
  // Deep but legitimate nesting still renders.
  EXPECT_EQ(Template("{{ " + std::string(20, '[') + "1" + std::string(20, ']') + "|length }}").render(ojson::object()),
            "1");
}

TEST(JinjaSandbox, NoFileOrSystemAccess) {
  expect_error("{% include '/etc/passwd' %}", "cannot load other templates");
  expect_error("{% import 'x' as y %}", "cannot load other templates");
  expect_error("{% extends 'base' %}", "cannot load other templates");
  expect_error("{{ ''.__class__ }}", "");  // no Python objects behind values: undefined, prints nothing
  EXPECT_EQ(Template("[{{ ''.__class__ }}{{ range.__globals__ }}]").render(ojson::object()), "[]");
}

TEST(JinjaSandbox, ErrorsNameTheLine) {
  EXPECT_NE(error_of("line 1\n{{ missing.attr }}").find("line 2"), std::string::npos);
  EXPECT_NE(error_of("\n\n{% if %}").find("line 3"), std::string::npos);
}

TEST(JinjaSandbox, GenerationBlockRendersItsBody) {
  EXPECT_EQ(Template("a{% generation %}b{{ 1 }}{% endgeneration %}c").render(ojson::object()), "ab1c");
}

TEST(JinjaSandbox, StrftimeNowUsesTheGivenInstant) {
  RenderOptions options;
  options.now = "2026-01-15T12:00:00";
  EXPECT_EQ(Template("{{ strftime_now('%A %d %B %Y %H:%M:%S') }}").render(ojson::object(), options),
            "Thursday 15 January 2026 12:00:00");
  options.now = "yesterday";
  EXPECT_THROW(Template("{{ strftime_now('%Y') }}").render(ojson::object(), options), Error);
  EXPECT_EQ(Template("{{ strftime_now('%Y')|length }}").render(ojson::object()), "4");  // now, when not given
}

}  // namespace
}  // namespace sieve::chat
