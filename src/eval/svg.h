#pragma once
// Hand-written SVG pictures of evaluation results, so reports need no
// plotting library: an accuracy heatmap (context length x needle depth) and
// line charts (perplexity or KV cache bytes against position). Every picture
// has a title, labelled axes, and a colour scale or legend.
#include <string>
#include <string_view>
#include <vector>

namespace sieve::eval {

struct Heatmap {
  std::string title, subtitle;
  std::string x_title, y_title;
  std::vector<std::string> x_labels;        // columns, left to right
  std::vector<std::string> y_labels;        // rows, top to bottom
  std::vector<std::vector<double>> values;  // [row][column] in [0, 1]; NaN: no data
  std::string scale_title = "accuracy";
};

struct Series {
  std::string name;
  std::vector<double> x, y;  // NaN or non-positive values on a log axis are skipped
};

struct LineChart {
  std::string title, subtitle;
  std::string x_title, y_title;
  bool log_x = false, log_y = false;
  bool y_from_zero = true;  // linear y axis starts at 0
  std::vector<double> x_ticks;  // where to put x ticks; empty: chosen from the range
  std::vector<Series> series;
};

std::string heatmap_svg(const Heatmap& h);
std::string line_chart_svg(const LineChart& c);

// Red (0) through yellow (0.5) to green (1), as "#rrggbb".
std::string scale_colour(double v);
std::string xml_escape(std::string_view s);
// Short tick label: 1024 -> "1024", 1500 -> "1.5k", 16000 -> "16k", 2500000 -> "2.5M".
std::string tick_label(double v);

}  // namespace sieve::eval
