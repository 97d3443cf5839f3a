// The interpreter: jinja2's semantics of values, undefined, scoping, loops,
// macros and errors. Expectations are jinja2 3.1's output (sandboxed,
// as transformers renders chat templates).
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

TEST(JinjaInterpreter, NumbersAsPython) {
  check({
      {R"J({{ 1/2 }} {{ 7//2 }} {{ -7//2 }} {{ 7%3 }} {{ -7%3 }} {{ 2**10 }} {{ 2**-1 }} {{ 7.5//2 }} {{ -7.5%2 }} {{ 4/2 }})J",
       R"J(0.5 3 -4 1 2 1024 0.5 3.0 0.5 2.0)J"},
      {R"J({{ 1.0 }} {{ 0.1 }} {{ 1e20 }} {{ 1e16 }} {{ 1e15 }} {{ 0.0001 }} {{ 0.00001 }} {{ 1.5e-10 }} {{ -0.0 }} {{ 100.0 }} {{ 2.5*2 }})J",
       R"J(1.0 0.1 1e+20 1e+16 1000000000000000.0 0.0001 1e-05 1.5e-10 -0.0 100.0 5.0)J"},
      {R"J({{ [0.1+0.2, 1/3, 2/3, 10/4, 1e-7, 123456789012345678.0, 5e-324, 1.7976931348623157e308] }})J",
       R"J([0.30000000000000004, 0.3333333333333333, 0.6666666666666666, 2.5, 1e-07, 1.2345678901234568e+17, 5e-324, 1.7976931348623157e+308])J"},
      {R"J({{ true + 1 }} {{ 1 == true }} {{ 1 == 1.0 }} {{ 3 * 1.5 }} {{ 10 - 0.5 }})J",
       R"J(2 True True 4.5 9.5)J"},
      {R"J({{ 10 / 0 }})J", nullptr, "division by zero"},
      {R"J({{ 5 // 0 }})J", nullptr, "division by zero"},
      {R"J({{ 5 % 0 }})J", nullptr, "modulo by zero"},
  });
}

TEST(JinjaInterpreter, PythonReprs) {
  check({
      {R"J({{ xs }} {{ d }} {{ (1,) }} {{ (1, 2) }} {{ () }} {{ n }} {{ true }} {{ [n, true, false] }})J",
       R"J([1, 2, 3] {'a': 1, 'b': [1, 'x']} (1,) (1, 2) () None True [None, True, False])J"},
      {R"J({{ ["it's", 'say "x"', "both ' \"", 'a\nb', '\\', 'é'] }})J",
       R"J(["it's", 'say "x"', 'both \' "', 'a\nb', '\\', 'é'])J"},
      {R"J({{ {1: 'x', 'y': 2.5, none: [()]} }} {{ {'a': 1, 'a': 2} }})J",
       R"J({1: 'x', 'y': 2.5, None: [()]} {'a': 2})J"},
  });
}

TEST(JinjaInterpreter, UndefinedAsJinja2) {
  check({
      {R"J([{{ u }}] {{ u is defined }} {{ u is undefined }} {{ u|default('dflt') }} {{ u|d('q') }} {{ u|length }} {{ u|list }} {{ 'a' in u }} {{ u ~ 'x' }} {{ u == u }})J",
       R"J([] False True dflt q 0 [] False x True)J"},
      {R"J({% for x in u %}x{% else %}none{% endfor %})J",
       R"J(none)J"},
      {R"J([{{ d.missing }}] {{ d.missing is defined }} [{{ d['missing'] }}] [{{ n.x }}] [{{ xs[10] }}] [{{ 'x'.foo }}])J",
       R"J([] False [] [] [] [])J"},
      {R"J({{ 'yes' if n }}|{{ u|upper }}|{{ u|trim }}|{{ u|join }}|{{ u|string }})J",
       R"J(||||)J"},
      {R"J({{ u.x }})J", nullptr, "'u' is undefined"},
      {R"J({{ u + 1 }})J", nullptr, "'u' is undefined"},
      {R"J({{ d.missing.x }})J", nullptr, "has no attribute 'missing'"},
      {R"J({{ u() }})J", nullptr, "is undefined"},
      {R"J({{ u|tojson }})J", nullptr, "not JSON serializable"},
      {R"J({{ u < 1 }})J", nullptr, "is undefined"},
      {R"J({{ -u }})J", nullptr, "is undefined"},
      {R"J({{ u[0] }})J", nullptr, "is undefined"},
  });
}

TEST(JinjaInterpreter, TruthinessAndComparisons) {
  check({
      {R"J({% for v in [0, 1, '', 'a', [], [0], {}, {'a': 1}, none, 0.0, false] %}{{ 'T' if v else 'F' }}{% endfor %})J",
       R"J(FTFTFTFTFFF)J"},
      {R"J({{ xs[1:2] == [2] }} {{ (1, 2) == [1, 2] }} {{ {'a': 1, 'b': 2} == {'b': 2, 'a': 1} }} {{ 'b' > 'a' }} {{ [1, 2] < [1, 3] }} {{ none == none }} {{ none != 0 }})J",
       R"J(True False True True True True True)J"},
      {R"J({{ 5 in xs }} {{ 'a' in d }} {{ 1 in d }} {{ 'ell' in 'hello' }} {{ 2 not in xs }} {{ true and 'x' }} {{ 0 or '' or 'z' }} {{ 0 and 1 }})J",
       R"J(False True False True False x z 0)J"},
      {R"J({{ 1 < 'a' }})J", nullptr, "not supported between"},
      {R"J({{ 5 in 5 }})J", nullptr, "not iterable"},
      {R"J({{ 1 in 'abc' }})J", nullptr, "requires string"},
  });
}

TEST(JinjaInterpreter, StringAndListOperators) {
  check({
      {R"J({{ 'ab' * 3 }} {{ [1] * 3 }} {{ xs + [4] }} {{ 2 * 'x' }} {{ (1, 2) + (3,) }} {{ 'a' ~ 1 ~ none ~ 2.0 }})J",
       R"J(ababab [1, 1, 1] [1, 2, 3, 4] xx (1, 2, 3) a1None2.0)J"},
      {R"J({{ '%s is %d' % ('a', 3) }} {{ '%.2f' % 3.14159 }} {{ '%05d|%-4s|%4s' % (42, 'ab', 'cd') }} {{ '%(a)s' % d }} {{ '100%%' % () }} {{ '%r' % 'x' }})J",
       R"J(a is 3 3.14 00042|ab  |  cd 1 100% 'x')J"},
      {R"J({{ 'a' + 1 }})J", nullptr, "can only concatenate str"},
      {R"J({{ [1] + (2,) }})J", nullptr, "can only concatenate list"},
      {R"J({{ 1 - 'a' }})J", nullptr, "unsupported operand"},
  });
}

TEST(JinjaInterpreter, LoopVariable) {
  check({
      {R"J({% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.previtem }}{{ loop.nextitem }}{{ loop.cycle('a', 'b') }}|{% endfor %})J",
       R"J(10TrueFalse3322a|21FalseFalse32113b|32FalseTrue3102a|)J"},
      {R"J({% for x in xs if x > 1 %}{{ loop.index }}/{{ loop.length }}:{{ x }} {% else %}none{% endfor %}{% for x in [] %}a{% else %}empty{% endfor %})J",
       R"J(1/2:2 2/2:3 empty)J"},
      {R"J({% for m in msgs %}{{ loop.previtem.role if loop.previtem is defined else 'none' }},{% endfor %})J",
       R"J(none,system,user,)J"},
      {R"J({% for i in range(3) %}{% for j in range(2) %}{{ loop.index }}{{ i }}{{ loop.depth }} {% endfor %}{% endfor %})J",
       R"J(101 201 111 211 121 221 )J"},
      {R"J({% for item in [{'n': 1, 'c': [{'n': 2, 'c': [{'n': 3, 'c': []}]}]}] recursive %}{{ item.n }}@{{ loop.depth }}({{ loop(item.c) }}){% endfor %})J",
       R"J(1@1(2@2(3@3())))J"},
      {R"J({% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k in d %}{{ k }}{% endfor %}{% for c in 'hé' %}[{{ c }}]{% endfor %})J",
       R"J(a=1;b=[1, 'x'];ab[h][é])J"},
      {R"J({% for x in xs %}{{ loop.changed(x > 1) }}{% endfor %})J",
       R"J(TrueTrueFalse)J"},
      {R"J({% for x in 5 %}{% endfor %})J", nullptr, "not iterable"},
  });
}

TEST(JinjaInterpreter, ScopingAsJinja2) {
  check({
      {R"J({% set x = 1 %}{% for i in range(3) %}{{ x }}{% set x = x + 1 %}{{ x }}{% endfor %}{{ x }})J",
       R"J(1212121)J"},
      {R"J({% set x = 1 %}{% if true %}{% set x = 2 %}{% endif %}{{ x }}{% for i in xs %}{% set x = i %}{% endfor %}{{ x }})J",
       R"J(22)J"},
      {R"J({% set ns = namespace(a=0, b='x') %}{% for x in xs %}{% set ns.a = ns.a + x %}{% endfor %}{{ ns.a }}{{ ns.b }})J",
       R"J(6x)J"},
      {R"J({% set ns = namespace(d) %}{{ ns.a }}{% set ns.items = [] %}{% set ns.items = ns.items + [1] %}{{ ns.items }})J",
       R"J(1[1])J"},
      {R"J({% set x = 'outer' %}{% macro m() %}{{ x }}{% endmacro %}{% set x = 'later' %}{{ m() }})J",
       R"J(later)J"},
      {R"J({% macro outer() %}{{ inner() }}{% endmacro %}{% macro inner() %}IN{% endmacro %}{{ outer() }})J",
       R"J(IN)J"},
      {R"J({% macro r(n) %}{% if n > 0 %}{{ n }}{{ r(n - 1) }}{% endif %}{% endmacro %}{{ r(5) }})J",
       R"J(54321)J"},
      {R"J({% macro m() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, k=3) }})J",
       R"J((1, 2){'k': 3})J"},
      {R"J({% macro m(a) %}[{{ a }}]{% endmacro %}{{ m() }})J",
       R"J([])J"},
      {R"J({% with x = 5 %}{{ x }}{% endwith %}[{{ x }}])J",
       R"J(5[])J"},
      {R"J({% set x.y = 1 %})J", nullptr, "non-namespace"},
  });
}

TEST(JinjaInterpreter, SandboxRefusesMutation) {
  check({
      {R"J({{ xs.append is defined }} {{ d.update is defined }})J",
       R"J(False False)J"},
      {R"J({{ xs.append(4) }})J", nullptr, "SecurityError"},
      {R"J({% set _ = d.update({'x': 1}) %})J", nullptr, "SecurityError"},
      {R"J({{ d.pop('a') }})J", nullptr, "SecurityError"},
  });
}

TEST(JinjaInterpreter, RaiseExceptionAndStrftimeNow) {
  check({
      {R"J({{ strftime_now('%Y-%m-%d %d %b %B %A %H:%M') }})J",
       R"J(2026-01-15 15 Jan January Thursday 12:00)J"},
      {R"J({{ raise_exception('Conversation roles must alternate') }})J", nullptr, "Conversation roles must alternate"},
  });
}

}  // namespace
}  // namespace sieve::chat
