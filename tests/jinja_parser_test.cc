// The template parser: jinja2's grammar and operator precedence, statements
// and their errors. Expectations are jinja2 3.1's output.
#include <gtest/gtest.h>

#include <string>

#include "chat/template.h"
#include "support/jinja_cases.h"
#include "util/error.h"

namespace sieve::chat {
namespace {

using jinja_testing::Case;
using jinja_testing::check;
using jinja_testing::context;
using ojson = nlohmann::ordered_json;

TEST(JinjaParser, OperatorPrecedence) {
  check({
      {R"J({{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ (-2) ** 2 }} {{ 2 * 3 + 4 % 3 }} {{ 10 - 2 - 3 }} {{ (1 + 2) ~ 3 }} {{ 1 ~ (2 + 3) }})J",
       R"J(64 4 4 7 5 33 15)J"},
      {R"J({{ 'a' ~ 1 + 2 }})J", nullptr, "can only concatenate"},
      {R"J({{ 1 + 2 ~ 3 }})J", nullptr, "unsupported operand"},
      {R"J({{ not 1 == 2 }} {{ not 'a' in 'abc' }} {{ 'a' not in 'abc' }} {{ true or u.x }} {{ false and u.x }} {{ 1 or 0 and 0 }})J",
       R"J(True False False True False 1)J"},
      {R"J({{ xs | length + 1 }} {{ xs|length > 2 and true }} {{ -3|abs }} {{ -(xs|length) }})J",
       R"J(4 True 3 -3)J"},
      {R"J({{ -xs|length }})J", nullptr, "bad operand type"},
      {R"J({{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 != 2 }})J",
       R"J(True False True)J"},
      {R"J({{ 'yes' if xs else 'no' }} {{ 'a' if false else 'b' if true else 'c' }} {{ ('x' if false) is defined }})J",
       R"J(yes b False)J"},
      {R"J({{ xs[0] is number and xs|length is divisibleby 3 }} {{ 3 is not odd }} {{ n is none or n is sameas false }})J",
       R"J(True False True)J"},
      {R"J({{ 7 // 2 * 2 }} {{ 7 / 2 / 2 }} {{ 2 * -1 }} {{ --1 }} {{ not not 1 }})J",
       R"J(6 1.75 -2 1 True)J"},
  });
}

TEST(JinjaParser, PostfixAndCalls) {
  check({
      {R"J({{ d.b.1 }} {{ d['b'][0] }} {{ xs.0 }} {{ msgs[2].tool_calls[0].function.name }} {{ msgs[-1]['role'] }})J",
       R"J(x 1 1 f assistant)J"},
      {R"J({{ xs[1:] }} {{ xs[:-1] }} {{ xs[::2] }} {{ xs[::-1] }} {{ 'abcdef'[1:5:2] }} {{ 'abcdef'[-2::-2] }})J",
       R"J([2, 3] [1, 2] [1, 3] [3, 2, 1] bd eca)J"},
      {R"J({{ 'a,b'.split(',')[1].upper() }} {{ d.get('a', 0) + 1 }} {{ dict(x=1, **{'y': 2}) }} {{ range(*[1, 3])|list }})J",
       R"J(B 2 {'x': 1, 'y': 2} [1, 2])J"},
      {R"J({{ '%s|%s'|format(*xs[:2]) }} {{ [1, 2]|join('-')|length }})J",
       R"J(1|2 3)J"},
  });
}

TEST(JinjaParser, Statements) {
  check({
      {R"J({% if false %}a{% elif 0 %}b{% elif 'x' %}c{% else %}d{% endif %})J",
       R"J(c)J"},
      {R"J({% for a, b in [(1, 2), (3, 4)] %}{{ a + b }}{% endfor %}{% for (k, v) in d.items() %}{{ k }}{% endfor %})J",
       R"J(37ab)J"},
      {R"J({% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c = 1, 2 %}{{ c }})J",
       R"J(12(1, 2))J"},
      {R"J({% macro m(a, b=2, c='z') %}{{ a }}-{{ b }}-{{ c }}{% endmacro %}{{ m(1) }} {{ m(1, 3) }} {{ m(1, c=5) }} {{ m(a=9) }})J",
       R"J(1-2-z 1-3-z 1-2-5 9-2-z)J"},
      {R"J({% macro w(x) %}<{{ caller(x) }}>{% endmacro %}{% call(y) w(5) %}in{{ y }}{% endcall %})J",
       R"J(<in5>)J"},
      {R"J({% filter upper %}hello {{ 'x' }}{% endfilter %}{% filter trim|upper %}  y  {% endfilter %})J",
       R"J(HELLO XY)J"},
      {R"J({% set x %}block {{ 1 + 1 }}{% endset %}[{{ x }}]{% set y | upper %}up{% endset %}{{ y }})J",
       R"J([block 2]UP)J"},
      {R"J({% with x = 5, y = 6 %}{{ x + y }}{% endwith %}{{ x }})J",
       R"J(11)J"},
      {R"J({% for x in xs %}{% if x == 2 %}{% continue %}{% endif %}{{ x }}{% if x == 3 %}{% break %}{% endif %}{% endfor %})J",
       R"J(13)J"},
      {R"J({% for x in xs if x is odd %}{{ x }}{% endfor %})J",
       R"J(13)J"},
  });
}

TEST(JinjaParser, SyntaxErrors) {
  check({
      {R"J({% endif %})J", nullptr, "endif"},
      {R"J({% if true %}never closed)J", nullptr, "endif"},
      {R"J({{ 1 + }})J", nullptr, "unexpected"},
      {R"J({{ foo( }})J", nullptr, "unexpected"},
      {R"J({% unknown %})J", nullptr, "unknown tag"},
      {R"J({% include 'x.jinja' %})J", nullptr, "include"},
      {R"J({% if true %}{% break %}{% endif %})J", nullptr, "outside loop"},
      {R"J({% for x in xs %}{% else %}{% continue %}{% endfor %})J", nullptr, "outside loop"},
      {R"J({% macro m(a=1, b) %}{% endmacro %})J", nullptr, "non-default argument"},
      {R"J({{ x is is y }})J", nullptr, "no test named"},
      {R"J({% for in xs %}{% endfor %})J", nullptr, "expected"},
      {R"J({% set %})J", nullptr, "expected"},
      {R"J({{ }})J", nullptr, "expected an expression"},
      {R"J({% call m %}{% endcall %})J", nullptr, "call"},
  });
}

}  // namespace
}  // namespace sieve::chat
