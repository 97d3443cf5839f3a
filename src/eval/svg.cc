#include "eval/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace sieve::eval {

std::string svg_num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string svg_text(double x, double y, std::string_view s, const char* extra) {
  return "<text x=\"" + svg_num(x) + "\" y=\"" + svg_num(y) + "\" " + extra + ">" + xml_escape(s) + "</text>\n";
}

std::string svg_header(double w, double h, const std::string& title, const std::string& subtitle) {
  std::string s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
                  svg_num(w) + "\" height=\"" + svg_num(h) + "\" viewBox=\"0 0 " + svg_num(w) + " " + svg_num(h) +
                  "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  s += "<title>" + xml_escape(title) + "</title>\n";
  s += "<rect x=\"0\" y=\"0\" width=\"" + svg_num(w) + "\" height=\"" + svg_num(h) + "\" fill=\"white\"/>\n";
  s += svg_text(w / 2, 24, title, "text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\"");
  if (!subtitle.empty()) s += svg_text(w / 2, 42, subtitle, "text-anchor=\"middle\" fill=\"#555\"");
  return s;
}

double svg_title_width(const std::string& title) { return 10 * static_cast<double>(title.size()) + 40; }

std::vector<double> axis_ticks(double lo, double hi, bool log) {
  std::vector<double> t;
  if (log) {
    for (double e = std::floor(std::log10(lo)); e <= std::ceil(std::log10(hi)) + 1e-9; ++e) {
      for (double m : {1.0, 2.0, 5.0}) {
        const double v = m * std::pow(10.0, e);
        if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) t.push_back(v);
      }
    }
    if (t.size() > 8) std::erase_if(t, [](double v) { return std::fabs(std::log10(v) - std::round(std::log10(v))) > 1e-9; });
    return t;
  }
  const double raw = (hi - lo) / 5;
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  const double step = raw / p < 1.5 ? p : raw / p < 3.5 ? 2 * p : raw / p < 7.5 ? 5 * p : 10 * p;
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) t.push_back(std::fabs(v) < step * 1e-9 ? 0 : v);
  return t;
}

const char* series_colour(int64_t k) {
  static const char* const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                        "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  return palette[k % static_cast<int64_t>(std::size(palette))];
}

std::string xml_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string tick_label(double v) {
  char buf[32];
  const double a = std::fabs(v);
  if (a >= 1e6) std::snprintf(buf, sizeof buf, "%gM", v / 1e6);
  else if (a >= 1000 && std::fmod(a, 100) == 0) std::snprintf(buf, sizeof buf, "%gk", v / 1e3);
  else std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::string scale_colour(double v) {
  static const double stops[3][3] = {{215, 48, 39}, {254, 224, 139}, {26, 152, 80}};
  v = std::clamp(std::isfinite(v) ? v : 0.0, 0.0, 1.0);
  const int i = v < 0.5 ? 0 : 1;
  const double t = (v - 0.5 * i) * 2;
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", static_cast<int>(std::lround(stops[i][0] + t * (stops[i + 1][0] - stops[i][0]))),
                static_cast<int>(std::lround(stops[i][1] + t * (stops[i + 1][1] - stops[i][1]))),
                static_cast<int>(std::lround(stops[i][2] + t * (stops[i + 1][2] - stops[i][2]))));
  return buf;
}

std::string heatmap_svg(const Heatmap& h) {
  const double cw = 64, ch = 26, left = 120, top = 64, bar_gap = 30, bar_w = 18;
  const double nx = static_cast<double>(h.x_labels.size()), ny = static_cast<double>(h.y_labels.size());
  const double w = left + nx * cw + bar_gap + bar_w + 90, hh = top + ny * ch + 64;
  std::string s = svg_header(std::max({w, 480.0, svg_title_width(h.title)}), std::max(hh, 260.0), h.title, h.subtitle);
  for (size_t r = 0; r < h.y_labels.size(); ++r) {
    const double y = top + static_cast<double>(r) * ch;
    s += svg_text(left - 8, y + ch / 2 + 4, h.y_labels[r], "text-anchor=\"end\"");
    for (size_t c = 0; c < h.x_labels.size(); ++c) {
      const double x = left + static_cast<double>(c) * cw;
      const double v = r < h.values.size() && c < h.values[r].size() ? h.values[r][c] : NAN;
      const bool have = std::isfinite(v);
      s += "<rect x=\"" + svg_num(x) + "\" y=\"" + svg_num(y) + "\" width=\"" + svg_num(cw) + "\" height=\"" + svg_num(ch) +
           "\" fill=\"" + (have ? scale_colour(v) : std::string("#eeeeee")) + "\" stroke=\"white\"/>\n";
      char buf[16];
      std::snprintf(buf, sizeof buf, "%.2f", v);
      const bool labelled = r < h.labels.size() && c < h.labels[r].size();
      s += svg_text(x + cw / 2, y + ch / 2 + 4, labelled ? h.labels[r][c] : have ? buf : "-",
                    "text-anchor=\"middle\" font-size=\"11\"");
    }
  }
  for (size_t c = 0; c < h.x_labels.size(); ++c)
    s += svg_text(left + (static_cast<double>(c) + 0.5) * cw, top + ny * ch + 16, h.x_labels[c], "text-anchor=\"middle\"");
  s += svg_text(left + nx * cw / 2, top + ny * ch + 40, h.x_title, "text-anchor=\"middle\" font-weight=\"bold\"");
  const double ymid = top + ny * ch / 2;
  s += "<text x=\"" + svg_num(left - 70) + "\" y=\"" + svg_num(ymid) + "\" text-anchor=\"middle\" font-weight=\"bold\" transform=\"rotate(-90 " +
       svg_num(left - 70) + " " + svg_num(ymid) + ")\">" + xml_escape(h.y_title) + "</text>\n";
  // Colour scale: a vertical gradient, 1 at the top.
  const double bx = left + nx * cw + bar_gap, bh = std::max(ny * ch, 120.0);
  s += "<defs><linearGradient id=\"scale\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">";
  for (double v : {0.0, 0.25, 0.5, 0.75, 1.0})
    s += "<stop offset=\"" + svg_num(v * 100) + "%\" stop-color=\"" + scale_colour(v) + "\"/>";
  s += "</linearGradient></defs>\n";
  s += "<rect x=\"" + svg_num(bx) + "\" y=\"" + svg_num(top) + "\" width=\"" + svg_num(bar_w) + "\" height=\"" + svg_num(bh) +
       "\" fill=\"url(#scale)\" stroke=\"#333\"/>\n";
  for (double v : {0.0, 0.5, 1.0})
    s += svg_text(bx + bar_w + 5, top + (1 - v) * bh + 4, tick_label(v));
  s += svg_text(bx + bar_w / 2, top - 8, h.scale_title, "text-anchor=\"middle\"");
  s += "</svg>\n";
  return s;
}

std::string line_chart_svg(const LineChart& c) {
  const double left = 80, top = 60, pw = 640, ph = 360, legend_w = 260;
  const double w = std::max(left + pw + 30 + legend_w, svg_title_width(c.title)), h = top + ph + 60;
  std::string s = svg_header(w, h, c.title, c.subtitle);
  auto usable = [](double v, bool log) { return std::isfinite(v) && (!log || v > 0); };
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const Series& se : c.series)
    for (size_t i = 0; i < se.x.size() && i < se.y.size(); ++i) {
      if (!usable(se.x[i], c.log_x) || !usable(se.y[i], c.log_y)) continue;
      x0 = std::min(x0, se.x[i]), x1 = std::max(x1, se.x[i]);
      y0 = std::min(y0, se.y[i]), y1 = std::max(y1, se.y[i]);
    }
  if (!std::isfinite(x0)) x0 = c.log_x ? 1 : 0, x1 = c.log_x ? 10 : 1, y0 = c.log_y ? 1 : 0, y1 = c.log_y ? 10 : 1;
  if (!c.log_y && c.y_from_zero) y0 = std::min(y0, 0.0);
  if (c.log_y) y0 = std::pow(10.0, std::floor(std::log10(y0))), y1 = std::pow(10.0, std::ceil(std::log10(y1)));
  if (x1 <= x0) x1 = c.log_x ? x0 * 10 : x0 + 1;
  if (y1 <= y0) y1 = c.log_y ? y0 * 10 : y0 + 1;
  if (!c.log_y) y1 += (y1 - y0) * 0.05;
  auto fx = [&](double x) {
    return left + pw * (c.log_x ? std::log(x / x0) / std::log(x1 / x0) : (x - x0) / (x1 - x0));
  };
  auto fy = [&](double y) {
    return top + ph - ph * (c.log_y ? std::log(y / y0) / std::log(y1 / y0) : (y - y0) / (y1 - y0));
  };
  s += "<rect x=\"" + svg_num(left) + "\" y=\"" + svg_num(top) + "\" width=\"" + svg_num(pw) + "\" height=\"" + svg_num(ph) +
       "\" fill=\"none\" stroke=\"#333\"/>\n";
  for (double t : c.x_ticks.empty() ? axis_ticks(x0, x1, c.log_x) : c.x_ticks) {
    s += "<line x1=\"" + svg_num(fx(t)) + "\" y1=\"" + svg_num(top) + "\" x2=\"" + svg_num(fx(t)) + "\" y2=\"" + svg_num(top + ph) +
         "\" stroke=\"#ddd\"/>\n";
    s += svg_text(fx(t), top + ph + 16, tick_label(t), "text-anchor=\"middle\"");
  }
  for (double t : axis_ticks(y0, y1, c.log_y)) {
    s += "<line x1=\"" + svg_num(left) + "\" y1=\"" + svg_num(fy(t)) + "\" x2=\"" + svg_num(left + pw) + "\" y2=\"" + svg_num(fy(t)) +
         "\" stroke=\"#ddd\"/>\n";
    s += svg_text(left - 6, fy(t) + 4, tick_label(t), "text-anchor=\"end\"");
  }
  s += svg_text(left + pw / 2, top + ph + 40, c.x_title + (c.log_x ? " (log scale)" : ""),
            "text-anchor=\"middle\" font-weight=\"bold\"");
  const double ymid = top + ph / 2;
  s += "<text x=\"" + svg_num(22) + "\" y=\"" + svg_num(ymid) + "\" text-anchor=\"middle\" font-weight=\"bold\" transform=\"rotate(-90 22 " +
       svg_num(ymid) + ")\">" + xml_escape(c.y_title + (c.log_y ? " (log scale)" : "")) + "</text>\n";
  for (size_t k = 0; k < c.series.size(); ++k) {
    const Series& se = c.series[k];
    const char* colour = series_colour(static_cast<int64_t>(k));
    std::string pts;
    for (size_t i = 0; i < se.x.size() && i < se.y.size(); ++i)
      if (usable(se.x[i], c.log_x) && usable(se.y[i], c.log_y)) pts += svg_num(fx(se.x[i])) + "," + svg_num(fy(se.y[i])) + " ";
    if (!pts.empty()) pts.pop_back();
    s += "<polyline fill=\"none\" stroke=\"" + std::string(colour) + "\" stroke-width=\"1.8\" points=\"" + pts + "\"/>\n";
    // Markers when the points are few enough to see (a single point has no line).
    if (se.x.size() <= 40)
      for (size_t i = 0; i < se.x.size() && i < se.y.size(); ++i)
        if (usable(se.x[i], c.log_x) && usable(se.y[i], c.log_y))
          s += "<circle cx=\"" + svg_num(fx(se.x[i])) + "\" cy=\"" + svg_num(fy(se.y[i])) + "\" r=\"3\" fill=\"" + colour + "\"/>\n";
    const double ly = top + 10 + 20 * static_cast<double>(k);
    s += "<line x1=\"" + svg_num(left + pw + 30) + "\" y1=\"" + svg_num(ly) + "\" x2=\"" + svg_num(left + pw + 54) + "\" y2=\"" + svg_num(ly) +
         "\" stroke=\"" + colour + "\" stroke-width=\"3\"/>\n";
    s += svg_text(left + pw + 60, ly + 4, se.name);
  }
  s += "</svg>\n";
  return s;
}

}  // namespace sieve::eval
