#include "inspect/pictures.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>

#include "eval/svg.h"
#include "inspect/png.h"
#include "util/error.h"

namespace sieve::inspect {

using eval::svg_num;
using eval::svg_text;

namespace {

constexpr double kMapFloor = 1e-4;  // the darkest colour: this weight or less

std::string fixed(double v, const char* format = "%.2f") {
  char buf[32];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string colour_hex(double v) {
  uint8_t c[3];
  map_colour(v, c);
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", c[0], c[1], c[2]);
  return buf;
}

// A layer x head table as a heatmap (colour: the value in [0, 1]).
eval::Heatmap layer_head_table(const InspectReport& r, const std::string& title, const std::string& subtitle,
                               const std::string& scale, const std::function<double(const HeadReport&)>& value) {
  eval::Heatmap h;
  h.title = title;
  h.subtitle = subtitle;
  h.x_title = "head";
  h.y_title = "layer";
  h.scale_title = scale;
  const int64_t n_layers = static_cast<int64_t>(r.layers.size());
  for (int64_t hd = 0; hd < r.n_heads; ++hd) h.x_labels.push_back(std::to_string(hd));
  for (int64_t l = 0; l < n_layers; ++l) {
    h.y_labels.push_back(std::to_string(l));
    h.values.emplace_back();
    for (int64_t hd = 0; hd < r.n_heads; ++hd) h.values.back().push_back(value(r.heads[l * r.n_heads + hd]));
  }
  return h;
}

std::string write_file(const std::string& dir, const std::string& name, const std::string& svg) {
  const std::string path = (std::filesystem::path(dir) / name).string();
  std::ofstream f(path);
  f << svg;
  if (!f) throw Error("cannot write '" + path + "'");
  return path;
}

}  // namespace

void map_colour(double v, uint8_t* rgb) {
  if (!(v > 0)) {  // no attention at all: above the causal diagonal
    rgb[0] = rgb[1] = rgb[2] = 255;
    return;
  }
  static const double stops[5][3] = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
  const double t = std::clamp((std::log10(v) - std::log10(kMapFloor)) / -std::log10(kMapFloor), 0.0, 1.0) * 4;
  const int i = std::min(3, static_cast<int>(t));
  const double f = t - i;
  for (int c = 0; c < 3; ++c) rgb[c] = static_cast<uint8_t>(std::lround(stops[i][c] + f * (stops[i + 1][c] - stops[i][c])));
}

std::string attention_maps_svg(const InspectReport& r, const std::vector<int64_t>& layers,
                               const std::vector<int64_t>& heads, const std::string& title) {
  const int64_t b = r.blocks, scale = std::max<int64_t>(1, 128 / b), tile = b * scale, gap = 6;
  const int64_t cols = static_cast<int64_t>(heads.size()), rows = static_cast<int64_t>(layers.size());
  const int64_t pw = cols * tile + (cols - 1) * gap, ph = rows * tile + (rows - 1) * gap;
  std::vector<uint8_t> rgb(static_cast<size_t>(pw * ph * 3), 255);
  for (int64_t ri = 0; ri < rows; ++ri)
    for (int64_t ci = 0; ci < cols; ++ci) {
      const std::vector<double>& map = r.maps[layers[ri] * r.n_heads + heads[ci]];
      for (int64_t y = 0; y < tile; ++y)
        for (int64_t x = 0; x < tile; ++x) {
          const int64_t px = ci * (tile + gap) + x, py = ri * (tile + gap) + y;
          map_colour(map[(y / scale) * b + x / scale], rgb.data() + (py * pw + px) * 3);
        }
    }
  const double left = 80, top = 84, legend = 120;
  const double w = std::max(left + static_cast<double>(pw) + legend, eval::svg_title_width(title));
  const double h = top + static_cast<double>(ph) + 40;
  const int64_t n = static_cast<int64_t>(r.tokens.size());
  std::string s = eval::svg_header(
      w, h, title,
      std::to_string(n) + " tokens; each tile: queries top to bottom, keys left to right; a pixel is " +
          std::to_string(r.options.block) + "x" + std::to_string(r.options.block) +
          " tokens (mean over its queries of the attention on its keys)");
  for (int64_t ci = 0; ci < cols; ++ci)
    s += svg_text(left + static_cast<double>(ci * (tile + gap) + tile / 2), top - 8, "head " + std::to_string(heads[ci]),
                  "text-anchor=\"middle\"");
  for (int64_t ri = 0; ri < rows; ++ri)
    s += svg_text(left - 8, top + static_cast<double>(ri * (tile + gap) + tile / 2) + 4, "layer " + std::to_string(layers[ri]),
                  "text-anchor=\"end\"");
  s += "<image x=\"" + svg_num(left) + "\" y=\"" + svg_num(top) + "\" width=\"" + std::to_string(pw) + "\" height=\"" +
       std::to_string(ph) + "\" style=\"image-rendering:pixelated\" href=\"data:image/png;base64," +
       base64(encode_png(rgb, pw, ph)) + "\"/>\n";
  // Log colour scale, 1 at the top.
  const double bx = left + static_cast<double>(pw) + 30, bh = std::min(240.0, std::max(120.0, static_cast<double>(ph)));
  s += "<defs><linearGradient id=\"mapscale\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">";
  for (int i = 0; i <= 8; ++i) {
    const double t = i / 8.0;
    s += "<stop offset=\"" + svg_num(t * 100) + "%\" stop-color=\"" + colour_hex(std::pow(10.0, std::log10(kMapFloor) * (1 - t))) + "\"/>";
  }
  s += "</linearGradient></defs>\n";
  s += "<rect x=\"" + svg_num(bx) + "\" y=\"" + svg_num(top) + "\" width=\"18\" height=\"" + svg_num(bh) +
       "\" fill=\"url(#mapscale)\" stroke=\"#333\"/>\n";
  for (int e = 0; e >= -4; --e)
    s += svg_text(bx + 24, top + bh * (-e / 4.0) + 4, e == 0 ? "1" : "1e" + std::to_string(e));
  s += svg_text(bx + 9, top - 8, "attention", "text-anchor=\"middle\"");
  s += svg_text(bx, top + bh + 18, "white: none", "");
  s += "</svg>\n";
  return s;
}

std::string bar_chart_svg(const BarChart& c) {
  const double left = 80, top = 60, ph = 300, legend_w = 200;
  const double group_w = std::max(40.0, 18.0 * static_cast<double>(c.series.size()) + 16);
  const double pw = group_w * static_cast<double>(c.groups.size());
  const double w = std::max(left + pw + 30 + legend_w, eval::svg_title_width(c.title)), h = top + ph + 60;
  std::string s = eval::svg_header(w, h, c.title, c.subtitle);
  auto fy = [&](double v) { return top + ph - ph * (std::clamp(v, c.y_min, c.y_max) - c.y_min) / (c.y_max - c.y_min); };
  for (double t : eval::axis_ticks(c.y_min, c.y_max, false)) {
    s += "<line x1=\"" + svg_num(left) + "\" y1=\"" + svg_num(fy(t)) + "\" x2=\"" + svg_num(left + pw) + "\" y2=\"" +
         svg_num(fy(t)) + "\" stroke=\"#ddd\"/>\n";
    s += svg_text(left - 6, fy(t) + 4, fixed(t, "%g"), "text-anchor=\"end\"");
  }
  const double bar_w = (group_w - 16) / static_cast<double>(std::max<size_t>(1, c.series.size()));
  for (size_t g = 0; g < c.groups.size(); ++g) {
    const double gx = left + group_w * static_cast<double>(g) + 8;
    for (size_t k = 0; k < c.series.size(); ++k) {
      const double v = g < c.series[k].values.size() ? c.series[k].values[g] : NAN;
      if (!std::isfinite(v)) continue;
      const double x = gx + bar_w * static_cast<double>(k), y = fy(v);
      s += "<rect x=\"" + svg_num(x) + "\" y=\"" + svg_num(y) + "\" width=\"" + svg_num(bar_w - 1) + "\" height=\"" +
           svg_num(top + ph - y) + "\" fill=\"" + eval::series_colour(static_cast<int64_t>(k)) + "\"><title>" +
           eval::xml_escape(c.series[k].name + ", " + c.groups[g] + ": " + fixed(v, "%.4f")) + "</title></rect>\n";
    }
    s += svg_text(gx + (group_w - 16) / 2, top + ph + 16, c.groups[g], "text-anchor=\"middle\"");
  }
  s += "<rect x=\"" + svg_num(left) + "\" y=\"" + svg_num(top) + "\" width=\"" + svg_num(pw) + "\" height=\"" + svg_num(ph) +
       "\" fill=\"none\" stroke=\"#333\"/>\n";
  s += svg_text(left + pw / 2, top + ph + 40, c.x_title, "text-anchor=\"middle\" font-weight=\"bold\"");
  const double ymid = top + ph / 2;
  s += "<text x=\"22\" y=\"" + svg_num(ymid) + "\" text-anchor=\"middle\" font-weight=\"bold\" transform=\"rotate(-90 22 " +
       svg_num(ymid) + ")\">" + eval::xml_escape(c.y_title) + "</text>\n";
  for (size_t k = 0; k < c.series.size(); ++k) {
    const double ly = top + 10 + 20 * static_cast<double>(k);
    s += "<rect x=\"" + svg_num(left + pw + 30) + "\" y=\"" + svg_num(ly - 6) + "\" width=\"14\" height=\"12\" fill=\"" +
         eval::series_colour(static_cast<int64_t>(k)) + "\"/>\n";
    s += svg_text(left + pw + 50, ly + 4, c.series[k].name);
  }
  s += "</svg>\n";
  return s;
}

std::string side_by_side_svg(const std::vector<std::string>& svgs) {
  auto attribute = [](const std::string& svg, const std::string& name) {
    const size_t open = svg.find("<svg ");
    const size_t at = svg.find(" " + name + "=\"", open);
    if (open == std::string::npos || at == std::string::npos) throw Error("internal: an SVG without " + name);
    return std::stod(svg.substr(at + name.size() + 3));
  };
  double x = 0, height = 0;
  std::string body;
  for (const std::string& svg : svgs) {
    const double w = attribute(svg, "width"), h = attribute(svg, "height");
    const size_t start = svg.find('>', svg.find("<svg ")) + 1, end = svg.rfind("</svg>");
    body += "<g transform=\"translate(" + svg_num(x) + ",0)\">" + svg.substr(start, end - start) + "</g>\n";
    x += w;
    height = std::max(height, h);
  }
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + svg_num(x) +
         "\" height=\"" + svg_num(height) + "\" viewBox=\"0 0 " + svg_num(x) + " " + svg_num(height) +
         "\" font-family=\"sans-serif\" font-size=\"12\">\n" + body + "</svg>\n";
}

std::vector<std::string> write_pictures(const InspectReport& r, const Redundancy* redundancy, const std::string& dir,
                                        std::vector<int64_t> map_layers, std::vector<int64_t> map_heads) {
  std::filesystem::create_directories(dir);
  std::vector<std::string> files;
  const int64_t n_layers = static_cast<int64_t>(r.layers.size());
  const std::string n_tokens = std::to_string(r.tokens.size()) + " tokens";
  const bool all_maps = map_layers.empty() && map_heads.empty();
  if (map_layers.empty())
    for (int64_t l = 0; l < n_layers; ++l) map_layers.push_back(l);
  if (map_heads.empty())
    for (int64_t h = 0; h < r.n_heads; ++h) map_heads.push_back(h);
  files.push_back(write_file(dir, "maps.svg",
                             attention_maps_svg(r, map_layers, map_heads,
                                                all_maps ? "Attention maps, every layer and head" : "Attention maps")));

  // Sinks: token 0, and later tokens that draw far more than their share.
  eval::Heatmap first = layer_head_table(r, "Attention on the first token", n_tokens + "; mean over queries",
                                         "attention", [](const HeadReport& h) { return h.first_token; });
  eval::Heatmap later = layer_head_table(
      r, "Later sink tokens",
      "tokens after the first with mean attention > " + fixed(r.options.sink_threshold, "%g") + "; colour: the largest",
      "attention", [](const HeadReport& h) {
        double most = 0;
        for (const SinkToken& s : h.sinks)
          if (s.position > 0) most = std::max(most, s.mean_attention);
        return most;
      });
  for (int64_t l = 0; l < n_layers; ++l) {
    later.labels.emplace_back();
    for (int64_t h = 0; h < r.n_heads; ++h) {
      int64_t count = 0;
      for (const SinkToken& s : r.heads[l * r.n_heads + h].sinks) count += s.position > 0;
      later.labels.back().push_back(count ? std::to_string(count) + " tok" : "-");
    }
  }
  files.push_back(write_file(dir, "sinks.svg", side_by_side_svg({eval::heatmap_svg(first), eval::heatmap_svg(later)})));

  eval::Heatmap dormant = layer_head_table(
      r, "Dormant heads (D)",
      "colour: attention on the first " + std::to_string(r.options.first_tokens) +
          " tokens; number: output norm / the layer's mean head; D: >= " + fixed(r.options.dormant_mass, "%g") +
          " and <= " + fixed(r.options.dormant_output, "%g"),
      "on first tokens", [](const HeadReport& h) { return h.first_tokens; });
  for (int64_t l = 0; l < n_layers; ++l) {
    dormant.labels.emplace_back();
    for (int64_t h = 0; h < r.n_heads; ++h) {
      const HeadReport& hr = r.heads[l * r.n_heads + h];
      dormant.labels.back().push_back((hr.dormant ? "D " : "") + fixed(hr.output_ratio));
    }
  }
  files.push_back(write_file(dir, "dormant.svg", eval::heatmap_svg(dormant)));

  if (!r.heads.empty() && !r.heads[0].patterns.empty()) {
    std::vector<std::string> panels;
    for (const PatternRecall& p : r.heads[0].patterns) {
      const std::string& name = p.pattern;
      panels.push_back(eval::heatmap_svg(layer_head_table(
          r, "Recall of " + name,
          "best candidate at " + std::to_string(r.options.pattern_budget) + " keys per query, last batch", "recall",
          [&](const HeadReport& h) -> double {
            for (const PatternRecall& q : h.patterns)
              if (q.pattern == name) return q.recall;
            return NAN;
          })));
    }
    files.push_back(write_file(dir, "head-patterns.svg", side_by_side_svg(panels)));
  }

  if (redundancy) {
    BarChart b;
    b.title = "Layer redundancy (What Matters in Transformers)";
    b.subtitle = "cosine similarity of each block's input and output, mean over " + std::to_string(redundancy->tokens) +
                 " tokens of " + std::to_string(redundancy->samples) + " samples; higher: more redundant";
    b.x_title = "layer";
    b.y_title = "cosine similarity";
    for (int64_t l = 0; l < n_layers; ++l) b.groups.push_back(std::to_string(l));
    b.series = {{"attention", {}}, {"MLP", {}}, {"whole layer", {}}};
    double lowest = 1;
    for (const BlockSimilarity& s : redundancy->layers) {
      b.series[0].values.push_back(s.attention);
      b.series[1].values.push_back(s.mlp);
      b.series[2].values.push_back(s.layer);
      lowest = std::min({lowest, s.attention, s.mlp, s.layer});
    }
    b.y_min = std::max(0.0, std::floor(lowest * 10 - 1e-9) / 10);
    files.push_back(write_file(dir, "redundancy.svg", bar_chart_svg(b)));
  }

  eval::Heatmap sim;
  sim.title = "Cross-layer similarity of attention maps";
  sim.subtitle = "cosine of the pooled maps, mean over heads (head h of one layer against head h of the other)";
  sim.x_title = "layer";
  sim.y_title = "layer";
  sim.scale_title = "cosine";
  for (int64_t l = 0; l < n_layers; ++l) {
    sim.x_labels.push_back(std::to_string(l));
    sim.y_labels.push_back(std::to_string(l));
  }
  sim.values = r.layer_similarity;
  files.push_back(write_file(dir, "layer-similarity.svg", eval::heatmap_svg(sim)));

  eval::LineChart res;
  res.title = "Residual-state peaks";
  res.subtitle = "norm of each token's residual state after each layer, " + n_tokens;
  res.x_title = "layer";
  res.y_title = "residual norm";
  res.log_y = true;
  eval::LineChart val;
  val.title = "Value-state drains";
  val.subtitle = "||W_O^h v||, mean over the layer's heads";
  val.x_title = "layer";
  val.y_title = "value norm";
  val.log_y = true;
  eval::Series res_first{"first token", {}, {}}, res_max{"largest other", {}, {}}, res_median{"median other", {}, {}};
  eval::Series val_first{"first token", {}, {}}, val_median{"median other", {}, {}};
  for (int64_t l = 0; l < n_layers; ++l) {
    const double x = static_cast<double>(l);
    res_first.x.push_back(x), res_first.y.push_back(r.layers[l].residual_first);
    res_max.x.push_back(x), res_max.y.push_back(r.layers[l].residual_max_other);
    res_median.x.push_back(x), res_median.y.push_back(r.layers[l].residual_median_other);
    double first_sum = 0, median_sum = 0;
    for (int64_t h = 0; h < r.n_heads; ++h) {
      first_sum += r.heads[l * r.n_heads + h].value_norm_first;
      median_sum += r.heads[l * r.n_heads + h].value_norm_median;
    }
    val_first.x.push_back(x), val_first.y.push_back(first_sum / static_cast<double>(r.n_heads));
    val_median.x.push_back(x), val_median.y.push_back(median_sum / static_cast<double>(r.n_heads));
  }
  res.series = {res_first, res_max, res_median};
  val.series = {val_first, val_median};
  files.push_back(write_file(dir, "extreme-tokens.svg",
                             side_by_side_svg({eval::line_chart_svg(res), eval::line_chart_svg(val)})));
  return files;
}

}  // namespace sieve::inspect
