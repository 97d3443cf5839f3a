// The SVG pictures are well-formed XML (balanced tags, quoted attributes,
// escaped text) and carry their title, axis labels, legend and colour scale.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "eval/svg.h"

namespace sieve::eval {
namespace {

// A small XML well-formedness check: every element closed in order, attribute
// values quoted, no stray '<' or '&' in text. Returns "" or what is wrong.
std::string xml_problem(const std::string& s) {
  std::vector<std::string> stack;
  size_t i = 0;
  int roots = 0;
  while (i < s.size()) {
    if (s[i] == '&') {
      const size_t semi = s.find(';', i);
      if (semi == std::string::npos || semi - i > 6) return "bare & at " + std::to_string(i);
      i = semi + 1;
      continue;
    }
    if (s[i] != '<') {
      ++i;
      continue;
    }
    const size_t end = s.find('>', i);
    if (end == std::string::npos) return "unterminated tag";
    std::string tag = s.substr(i + 1, end - i - 1);
    i = end + 1;
    if (tag.starts_with('?')) continue;  // XML declaration
    if (tag.starts_with('/')) {
      if (stack.empty() || stack.back() != tag.substr(1)) return "unbalanced </" + tag.substr(1) + ">";
      stack.pop_back();
      continue;
    }
    const bool self = tag.ends_with('/');
    if (self) tag.pop_back();
    const std::string name = tag.substr(0, tag.find(' '));
    if (name.empty() || tag.find('<') != std::string::npos) return "bad tag <" + tag + ">";
    size_t quotes = 0;
    for (char c : tag) quotes += c == '"';
    if (quotes % 2) return "unquoted attribute in <" + name + ">";
    if (stack.empty()) ++roots;
    if (!self) stack.push_back(name);
  }
  if (!stack.empty()) return "unclosed <" + stack.back() + ">";
  return roots == 1 ? "" : "not exactly one root element";
}

TEST(EvalSvg, CheckerCatchesBrokenXml) {
  EXPECT_EQ(xml_problem("<svg><g></g></svg>"), "");
  EXPECT_NE(xml_problem("<svg><g></svg>"), "");
  EXPECT_NE(xml_problem("<svg>a & b</svg>"), "");
  EXPECT_NE(xml_problem("<svg x=\"1></svg>"), "");
}

TEST(EvalSvg, HeatmapIsWellFormedAndLabelled) {
  Heatmap h;
  h.title = "passkey accuracy: model-bf16.gguf, streaming:sink=4,window=256";
  h.subtitle = "10 samples <per> cell & more";
  h.x_title = "context length (tokens)";
  h.y_title = "needle depth (% of the haystack)";
  h.x_labels = {"1024", "2048"};
  h.y_labels = {"0%", "50%", "100%"};
  h.values = {{1.0, 0.5}, {0.0, NAN}, {0.9, 0.1}};
  const std::string svg = heatmap_svg(h);
  EXPECT_EQ(xml_problem(svg), "");
  for (const char* s : {"passkey accuracy: model-bf16.gguf, streaming:sink=4,window=256", "context length (tokens)",
                        "needle depth (% of the haystack)", "2048", "100%", "accuracy", "linearGradient", "1.00", "0.50",
                        "&lt;per&gt; cell &amp; more"})
    EXPECT_NE(svg.find(s), std::string::npos) << s;
  EXPECT_NE(svg.find(scale_colour(1.0)), std::string::npos);
  EXPECT_NE(svg.find(scale_colour(0.0)), std::string::npos);
}

TEST(EvalSvg, LineChartIsWellFormedWithLegend) {
  LineChart c;
  c.title = "ppl-stream: model-bf16.gguf";
  c.x_title = "position (tokens)";
  c.y_title = "perplexity";
  c.log_x = true;
  c.log_y = true;
  c.series = {{"full", {1024, 2048, 4096, 8192, 16384}, {12, 10, 11, 15, 900}},
              {"streaming:sink=4,window=2000", {1024, 2048, 4096, 8192, 16384}, {12, 10, 11, 12, NAN}}};
  const std::string svg = line_chart_svg(c);
  EXPECT_EQ(xml_problem(svg), "");
  for (const char* s : {"ppl-stream: model-bf16.gguf", "position (tokens) (log scale)", "perplexity (log scale)", "full",
                        "streaming:sink=4,window=2000", "<polyline", "10k"})
    EXPECT_NE(svg.find(s), std::string::npos) << s;
  c.log_x = c.log_y = false;
  c.series = {{"only", {5}, {3}}};  // a single point still draws (as a marker)
  const std::string one = line_chart_svg(c);
  EXPECT_EQ(xml_problem(one), "");
  EXPECT_NE(one.find("<circle"), std::string::npos);
}

TEST(EvalSvg, ScaleAndTicks) {
  EXPECT_EQ(scale_colour(0.0), "#d73027");
  EXPECT_EQ(scale_colour(1.0), "#1a9850");
  EXPECT_EQ(scale_colour(0.5), "#fee08b");
  EXPECT_EQ(tick_label(1024), "1024");
  EXPECT_EQ(tick_label(1500), "1.5k");
  EXPECT_EQ(tick_label(16000), "16k");
  EXPECT_EQ(tick_label(2500000), "2.5M");
  EXPECT_EQ(xml_escape("a<b&\"c\""), "a&lt;b&amp;&quot;c&quot;");
}

}  // namespace
}  // namespace sieve::eval
