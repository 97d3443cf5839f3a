// The template lexer: whitespace control and trim_blocks/lstrip_blocks as
// jinja2 applies them, raw blocks, comments, literals. Expectations are
// jinja2 3.1's output with transformers' settings.
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

TEST(JinjaLexer, TrimBlocksEatsOneNewlineAfterABlockTag) {
  check({
      {R"J({% if true %}
yes
{% endif %}
after)J",
       R"J(yes
after)J"},
      {R"J({% if true %}

yes{% endif %})J",
       R"J(
yes)J"},
      {R"J({{ 'x' }}
{{ 'y' }}
)J",
       R"J(x
y)J"},
      {R"J({% set x = 1 %}
{{ x }}
end

)J",
       R"J(1
end
)J"},
      {R"J(a{# comment #}
b)J",
       R"J(ab)J"},
      {R"J(<{% if true %}
{% endif %}>)J",
       R"J(<>)J"},
  });
}

TEST(JinjaLexer, LstripBlocksRemovesIndentBeforeBlockTagsOnly) {
  check({
      {R"J(line1
    {% if true %}
    yes
    {% endif %}
line2)J",
       R"J(line1
    yes
line2)J"},
      {R"J(  {{ 'var keeps its indent' }})J",
       R"J(  var keeps its indent)J"},
      {R"J(a
  {# c #}
b)J",
       R"J(a
b)J"},
      {R"J(	 {% set x = 1 %}	
c)J",
       R"J(	
c)J"},
      {R"J(text {% if true %}kept{% endif %})J",
       R"J(text kept)J"},
      {R"J({% for x in xs %}
  {{ x }}
{% endfor %})J",
       R"J(  1
  2
  3
)J"},
  });
}

TEST(JinjaLexer, PlusDisablesTrimming) {
  check({
      {R"J(  {%+ if true %}
x
  {% endif +%}
y)J",
       R"J(  x

y)J"},
  });
}

TEST(JinjaLexer, MinusStripsAllWhitespace) {
  check({
      {R"J(a  {%- if true -%}  b  {%- endif -%}  c)J",
       R"J(abc)J"},
      {R"J(x {{- ' d ' -}} y)J",
       R"J(x d y)J"},
      {R"J(pre   {#- multi
line -#}   post)J",
       R"J(prepost)J"},
      {R"J({% for x in xs -%}
  {{ x }}
{%- endfor %})J",
       R"J(123)J"},
      {R"J({{- 'x' -}}   
   {{ 'y' }})J",
       R"J(xy)J"},
      {R"J(a {{- 'unicode space stripped' }})J",
       R"J(aunicode space stripped)J"},
  });
}

TEST(JinjaLexer, RawAndComments) {
  check({
      {R"J({% raw %}{{ not rendered }}{% if %}{% endraw %})J",
       R"J({{ not rendered }}{% if %})J"},
      {R"J({%- raw -%}
  {{ x }}
{%- endraw %}
after)J",
       R"J({{ x }}after)J"},
      {R"J({% raw %}
  {{ x }}
  {% endraw %}
after)J",
       R"J(
  {{ x }}
after)J"},
      {R"J(x {%- raw %} y {% endraw -%} z)J",
       R"J(x y z)J"},
      {R"J(a {# x #} b {#- y -#} c
{#+ z +#}
d)J",
       R"J(a  bc

d)J"},
      {R"J({# {{ not rendered }} {% if %} #}ok)J",
       R"J(ok)J"},
  });
}

TEST(JinjaLexer, Literals) {
  check({
      {R"J({{ 'a' 'b' }} {{ "\x41\u00e9\t|" }} {{ '\'' }} {{ "\"" }} {{ 'a\\b' }} {{ 'a\qb' }} {{ '\101' }})J",
       R"J(ab Aé	| ' " a\b a\qb A)J"},
      {R"J({{ 1_000 }} {{ 0x1F }} {{ 0o17 }} {{ 0b101 }} {{ 1.5e3 }} {{ 2E-2 }} {{ 1_0.5 }})J",
       R"J(1000 31 15 5 1500.0 0.02 10.5)J"},
      {R"J({{ none }} {{ None }} {{ true }} {{ True }} {{ false }} {{ False }})J",
       R"J(None None True True False False)J"},
      {R"J({{ [1, 'a', none,] }} {{ {'k': 1, 'j': [2],} }} {{ (1,) }} {{ () }})J",
       R"J([1, 'a', None] {'k': 1, 'j': [2]} (1,) ())J"},
      {R"J({{ {'a': {'b': 1}}}})J",
       R"J({'a': {'b': 1}})J"},
      {R"J({% set s = "line\
continued" %}{{ s }})J",
       R"J(linecontinued)J"},
  });
}

TEST(JinjaLexer, RefusesMalformedInput) {
  check({
      {R"J({{ 'unterminated }})J", nullptr, "unterminated string"},
      {R"J({# unterminated)J", nullptr, "comment"},
      {R"J({{ 1 )J", nullptr, "expected"},
      {R"J({% if true %)J", nullptr, "expected"},
      {R"J({{ 'a' })J", nullptr, "unexpected"},
      {R"J({{ a ) }})J", nullptr, "unexpected"},
      {R"J({{ $ }})J", nullptr, "unexpected character"},
      {R"J({% raw %}never closed)J", nullptr, "endraw"},
      {R"J({{ '\x4' }})J", nullptr, "escape"},
  });
}

}  // namespace
}  // namespace sieve::chat
