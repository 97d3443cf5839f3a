#pragma once
// Hand-written SVG pictures of evaluation results, so reports need no
// plotting library: an accuracy heatmap (context length x needle depth) and
// line charts (perplexity or KV cache bytes against position). Every picture
// has a title, labelled axes, and a colour scale or legend.
#include <cstdint>
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
  std::vector<std::vector<std::string>> labels;  // [row][column] text in the cell; empty: the value
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

// Parts for other pictures (inspect's):
std::string svg_num(double v);  // a coordinate: short, locale-free
std::string svg_text(double x, double y, std::string_view s, const char* extra = "");
// The document's opening: size, white background, title and subtitle centred on top.
std::string svg_header(double w, double h, const std::string& title, const std::string& subtitle);
// Room for a 16px bold title (about 10px a character) with margins.
double svg_title_width(const std::string& title);
// Tick values over [lo, hi]: 1-2-5 steps, or powers of ten on a log axis.
std::vector<double> axis_ticks(double lo, double hi, bool log);
// The k-th series' colour, "#rrggbb".
const char* series_colour(int64_t k);

// Red (0) through yellow (0.5) to green (1), as "#rrggbb".
std::string scale_colour(double v);
std::string xml_escape(std::string_view s);
// Short tick label: 1024 -> "1024", 1500 -> "1.5k", 16000 -> "16k", 2500000 -> "2.5M".
std::string tick_label(double v);

}  // namespace sieve::eval
