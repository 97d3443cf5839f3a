// Builtin filters, tests, str/dict/list methods and globals. Expectations
// are jinja2 3.1's output with transformers' tojson (json.dumps with
// ensure_ascii=False).
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

TEST(JinjaFilters, Strings) {
  check({
      {R"J({{ s|upper }} {{ s|title }} {{ s|capitalize }} {{ s|length }} {{ s|wordcount }} {{ s|reverse }})J",
       R"J(HÉLLO WÖRLD Héllo Wörld Héllo wörld 11 2 dlröw olléh)J"},
      {R"J([{{ '  x  '|trim }}] [{{ 'xxaxx'|trim('x') }}] {{ 'hello'|replace('l', 'L') }} {{ 'hello'|replace('l', 'L', 1) }} {{ "it's a-b (c)"|title }})J",
       R"J([x] [a] heLLo heLlo It's A-B (C))J"},
      {R"J({{ 'abc'|center(9) }}|{{ 'ab'|center(7) }}|{{ 'abc'|center(2) }}|)J",
       R"J(   abc   |   ab  |abc|)J"},
      {R"J({{ "text\nline2"|indent(2) }}|{{ "text\nline2\n\nl4"|indent(2, true) }}|{{ "a\n\nb"|indent(2, blank=true) }}|{{ 'x'|indent('> ', first=true) }})J",
       R"J(text
  line2|  text
  line2

  l4|a
  
  b|> x)J"},
      {R"J({{ 'hello world foo'|truncate(9) }} {{ 'hello world foo'|truncate(9, true) }} {{ 'hi'|truncate(5) }})J",
       R"J(hello... hello ... hi)J"},
      {R"J({{ '<a href="x">&'|e }} {{ 'x'|safe }} {{ 5|string }} {{ xs|string }} {{ '%s-%s'|format('a', 1) }})J",
       R"J(&lt;a href=&#34;x&#34;&gt;&amp; x 5 [1, 2, 3] a-1)J"},
  });
}

TEST(JinjaFilters, Numbers) {
  check({
      {R"J({{ 3.7|int }} {{ '42'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ '3.5'|float }} {{ 'x'|float }} {{ '0x1A'|int(0, 16) }} {{ 'ff'|int(base=16) }} {{ true|int }})J",
       R"J(3 42 0 7 3.5 0.0 26 255 1)J"},
      {R"J({{ 2.5|round }} {{ 3.5|round }} {{ 2.675|round(2) }} {{ 1.23456|round(2, 'floor') }} {{ 1.21|round(1, 'ceil') }} {{ 5|round }} {{ -3|abs }} {{ -2.5|abs }})J",
       R"J(2.0 4.0 2.67 1.23 1.3 5 3 2.5)J"},
      {R"J({{ xs|sum }} {{ [1.5, 2]|sum }} {{ [{'a': 1}, {'a': 2}]|sum(attribute='a') }} {{ xs|max }} {{ xs|min }} {{ ['b', 'A']|max }})J",
       R"J(6 3.5 3 3 1 b)J"},
  });
}

TEST(JinjaFilters, Sequences) {
  check({
      {R"J({{ xs|join(', ') }} {{ xs|join }} {{ msgs|join('/', attribute='role') }} {{ xs|first }} {{ xs|last }} {{ 'abc'|first }} {{ d|first }} [{{ []|first }}])J",
       R"J(1, 2, 3 123 system/user/assistant 1 3 a a [])J"},
      {R"J({{ xs|reverse|list }} {{ [3, 1, 2]|sort }} {{ [3, 1, 2]|sort(reverse=true) }} {{ ['b', 'A', 'c']|sort }} {{ ['b', 'A', 'c']|sort(case_sensitive=true) }} {{ msgs|sort(attribute='role')|map(attribute='role')|list }})J",
       R"J([3, 2, 1] [1, 2, 3] [3, 2, 1] ['A', 'b', 'c'] ['A', 'b', 'c'] ['assistant', 'system', 'user'])J"},
      {R"J({{ [1, 1, 2]|unique|list }} {{ ['a', 'A', 'b']|unique|list }} {{ 'abc'|list }} {{ d|list }} {{ xs|length }} {{ d|count }})J",
       R"J([1, 2] ['a', 'b'] ['a', 'b', 'c'] ['a', 'b'] 3 2)J"},
      {R"J({{ [1, 2, 3, 4, 5]|batch(2)|list }} {{ [1, 2, 3]|batch(2, 'x')|list }})J",
       R"J([[1, 2], [3, 4], [5]] [[1, 2], [3, 'x']])J"},
      {R"J({{ d|items|list }} {{ d|dictsort }} {{ {'B': 1, 'a': 2}|dictsort }} {{ {'B': 1, 'a': 2}|dictsort(true) }} {{ {'x': 2, 'y': 1}|dictsort(by='value') }} {{ d|dictsort(reverse=true) }})J",
       R"J([('a', 1), ('b', [1, 'x'])] [('a', 1), ('b', [1, 'x'])] [('a', 2), ('B', 1)] [('B', 1), ('a', 2)] [('y', 1), ('x', 2)] [('b', [1, 'x']), ('a', 1)])J"},
  });
}

TEST(JinjaFilters, MapSelectReject) {
  check({
      {R"J({{ xs|map('string')|list }} {{ msgs|map(attribute='role')|join(',') }} {{ msgs|map(attribute='missing', default='D')|list }} {{ xs|map('tojson')|join(',') }})J",
       R"J(['1', '2', '3'] system,user,assistant ['D', 'D', 'D'] 1,2,3)J"},
      {R"J({{ xs|select('odd')|list }} {{ xs|reject('even')|list }} {{ [0, 1, '', 'a']|select|list }} {{ xs|select('gt', 1)|list }} {{ xs|select('in', [1, 3])|list }})J",
       R"J([1, 3] [1, 3] [1, 'a'] [2, 3] [1, 3])J"},
      {R"J({{ msgs|selectattr('role', 'equalto', 'user')|list|length }} {{ msgs|rejectattr('role', 'eq', 'user')|map(attribute='content')|list }} {{ msgs|selectattr('tool_calls', 'defined')|list|length }} {{ msgs|selectattr('tool_calls')|list|length }})J",
       R"J(1 ['S', 'Yo'] 1 1)J"},
      {R"J({{ msgs[2].tool_calls|map(attribute='function.name')|list }} {{ msgs|selectattr('tool_calls', 'defined')|map(attribute='tool_calls.0.function.name')|first }})J",
       R"J(['f'] f)J"},
      {R"J([{{ msgs|last|attr('role') }}] {{ d|attr('keys') is defined }} {{ 'x'|attr('upper') is defined }})J",
       R"J([] True True)J"},
      {R"J({{ u|default('d') }} {{ n|default('d') }} {{ n|default('d', true) }} {{ false|d(3, true) }} {{ 1|default(2) }})J",
       R"J(d None d 3 1)J"},
  });
}

TEST(JinjaFilters, ToJsonAsTransformers) {
  check({
      {R"J({{ d|tojson }} {{ s|tojson }} {{ s|tojson(ensure_ascii=true) }} {{ d|tojson(separators=(',', ':')) }} {{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }})J",
       R"J({"a": 1, "b": [1, "x"]} "héllo wörld" "h\u00e9llo w\u00f6rld" {"a":1,"b":[1,"x"]} {"a": 2, "b": 1})J"},
      {R"J({{ d|tojson(indent=2) }}
{{ [1, [2, {}], []]|tojson(indent=4) }}
{{ {'a': [1, {'b': 2}]}|tojson(indent='\t') }}
{{ {'a': 1}|tojson(indent=0) }})J",
       R"J({
  "a": 1,
  "b": [
    1,
    "x"
  ]
}
[
    1,
    [
        2,
        {}
    ],
    []
]
{
	"a": [
		1,
		{
			"b": 2
		}
	]
}
{
"a": 1
})J"},
      {R"J({{ [1.5, 1e20, 0.1, 1.0, none, true, "\n\t\u0001\"\\/"]|tojson }} {{ (1, 'a')|tojson }} {{ {1: 'x', none: 2}|tojson }})J",
       R"J([1.5, 1e+20, 0.1, 1.0, null, true, "\n\t\u0001\"\\/"] [1, "a"] {"1": "x", "null": 2})J"},
      {R"J({{ 'é😀'|tojson(ensure_ascii=true) }} {{ 'é😀'|tojson }})J",
       R"J("\u00e9\ud83d\ude00\u007f" "é😀")J"},
      {R"J({{ msgs[2].tool_calls[0].function.arguments|tojson }})J",
       R"J({"x": 1})J"},
      {R"J({{ u|tojson }})J", nullptr, "not JSON serializable"},
  });
}

TEST(JinjaTests, Builtins) {
  check({
      {R"J({{ 1 is number }} {{ 1.0 is integer }} {{ 1 is integer }} {{ 1.0 is float }} {{ true is boolean }} {{ true is number }} {{ 'x' is string }} {{ d is mapping }} {{ xs is mapping }})J",
       R"J(True False True True True True True True False)J"},
      {R"J({{ xs is iterable }} {{ xs is sequence }} {{ 'x' is iterable }} {{ 1 is iterable }} {{ n is none }} {{ u is none }} {{ none is sameas none }} {{ true is true }} {{ 1 is true }} {{ false is false }})J",
       R"J(True True True False True False True True False True)J"},
      {R"J({{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }} {{ 2 is gt 1 }} {{ 2 is lt 1 }} {{ 3 is le 3 }} {{ 3 is ge 4 }} {{ 1 is in xs }} {{ 'x' is in 'xyz' }})J",
       R"J(True True True False True False True False True True)J"},
      {R"J({{ 1 is eq 1 }} {{ 1 is equalto 2 }} {{ 1 is ne 2 }} {{ 'abc' is lower }} {{ 'ABC' is upper }} {{ 'upper' is filter }} {{ 'odd' is test }} {{ range is callable }} {{ 'x' is callable }})J",
       R"J(True False True True True True True True False)J"},
      {R"J({{ 1 is nosuchtest }})J", nullptr, "no test named"},
      {R"J({{ 1|nosuchfilter }})J", nullptr, "no filter named"},
  });
}

TEST(JinjaMethods, StrMethods) {
  check({
      {R"J({{ 'a,b,,c'.split(',') }} {{ 'a b  c'.split() }} {{ 'a b c'.rsplit(' ', 1) }} {{ '  a  b  '.split(None, 1) }} {{ '  a  b  '.rsplit(None, 1) }} {{ ''.split() }} {{ ''.split(',') }})J",
       R"J(['a', 'b', '', 'c'] ['a', 'b', 'c'] ['a b', 'c'] ['a', 'b  '] ['  a', 'b'] [] [''])J"},
      {R"J([{{ ' x '.strip() }}] [{{ 'xxaxx'.strip('x') }}] [{{ ' x '.lstrip() }}] [{{ ' x '.rstrip() }}] {{ 'abc'.startswith('a') }} {{ 'abc'.endswith(('x', 'c')) }} {{ 'abc'.startswith('abcd') }})J",
       R"J([x] [a] [x ] [ x] True True False)J"},
      {R"J({{ 'hello'.replace('l', 'L') }} {{ 'aaa'.replace('a', 'b', 2) }} {{ 'ab'.replace('', '-') }} {{ 'hello world'.title() }} {{ "it's".title() }} {{ 'hELLO'.capitalize() }} {{ 'AbC'.swapcase() }} {{ s.upper() }} {{ 'ÉA'.lower() }})J",
       R"J(heLLo bba -a-b- Hello World It'S Hello aBc HÉLLO WÖRLD éa)J"},
      {R"J({{ '{} and {}'.format(1, 'two') }} {{ '{0}{1}{0}'.format('a', 'b') }} {{ '{x}!'.format(x=3) }} {{ '{{literal}} {}'.format(1) }} {{ '{:>4}|{:<4}|{:^5}|{:*>3}'.format(1, 'a', 'b', 'c') }})J",
       R"J(1 and two aba 3! {literal} 1    1|a   |  b  |**c)J"},
      {R"J({{ 'abcabc'.find('c') }} {{ 'abc'.find('z') }} {{ 'abcabc'.rfind('b') }} {{ 'abcabc'.count('b') }} {{ 'héllo'.find('l') }} {{ '-'.join(['a', 'b']) }} {{ 'abc'.index('c') }})J",
       R"J(2 -1 4 2 2 a-b 2)J"},
      {R"J({{ 'x'.ljust(3) }}| {{ 'x'.rjust(3, '-') }}| {{ '5'.zfill(3) }} {{ '-5'.zfill(3) }} {{ 'a:b:c'.partition(':') }} {{ 'a:b:c'.rpartition(':') }} {{ 'abc'.isalpha() }} {{ '123'.isdigit() }} {{ 'Hi'.islower() }} {{ '  '.isspace() }})J",
       R"J(x  | --x| 005 -05 ('a', ':', 'b:c') ('a:b', ':', 'c') True True False True)J"},
      {R"J({{ 'pre_x'.removeprefix('pre_') }} {{ 'x.txt'.removesuffix('.txt') }} {{ 'a\nb\r\nc'.splitlines() }} {{ 'x'.foo is defined }})J",
       R"J(x x ['a', 'b', 'c'] False)J"},
      {R"J({{ 'x'.split('') }})J", nullptr, "empty separator"},
      {R"J({{ 'abc'.index('z') }})J", nullptr, "substring not found"},
  });
}

TEST(JinjaMethods, DictAndListMethods) {
  check({
      {R"J({{ d.get('a') }} {{ d.get('zz', 'def') }} {{ d.get('zz') }} {{ d.keys()|list }} {{ d.values()|list }} {{ d.items()|list }} {{ d.copy() }})J",
       R"J(1 def None ['a', 'b'] [1, [1, 'x']] [('a', 1), ('b', [1, 'x'])] {'a': 1, 'b': [1, 'x']})J"},
      {R"J({{ xs.index(2) }} {{ xs.count(1) }} {{ (1, 1).count(1) }} {{ d['get'] is defined }} {{ d.a }})J",
       R"J(1 1 2 True 1)J"},
  });
}

TEST(JinjaGlobals, RangeDictNamespaceJoiner) {
  check({
      {R"J({{ range(3)|list }} {{ range(1, 10, 3)|list }} {{ range(5, 0, -2)|list }} {{ range(0)|list }} {{ range(-3)|list }})J",
       R"J([0, 1, 2] [1, 4, 7] [5, 3, 1] [] [])J"},
      {R"J({{ dict(a=1, b=2) }} {{ dict([('a', 1)], b=2) }} {{ dict(d, z=0) }} {{ namespace(x=1).x }})J",
       R"J({'a': 1, 'b': 2} {'a': 1, 'b': 2} {'a': 1, 'b': [1, 'x'], 'z': 0} 1)J"},
      {R"J({% set j = joiner(', ') %}{% for x in xs %}{{ j() }}{{ x }}{% endfor %} {% set c = cycler('a', 'b') %}{{ c.next() }}{{ c.next() }}{{ c.next() }})J",
       R"J(1, 2, 3 aba)J"},
      {R"J({{ range(1, 2, 0) }})J", nullptr, "must not be zero"},
  });
}

}  // namespace
}  // namespace sieve::chat
