#pragma once
// sieve inspect's pictures, as SVG a browser shows as it is: attention maps
// (a raster per head, embedded as PNG, with axes and a log colour scale),
// per-layer and per-head tables as heatmaps, bar and line charts.
#include <cstdint>
#include <string>
#include <vector>

#include "inspect/inspect_prompt.h"
#include "inspect/layer_redundancy.h"

namespace sieve::inspect {

// The maps of the chosen layers (rows) and heads (columns), one tile each.
std::string attention_maps_svg(const InspectReport& r, const std::vector<int64_t>& layers,
                               const std::vector<int64_t>& heads, const std::string& title);

struct BarChart {
  std::string title, subtitle, x_title, y_title;
  std::vector<std::string> groups;  // along x
  struct Series {
    std::string name;
    std::vector<double> values;  // one per group
  };
  std::vector<Series> series;  // bars within a group, left to right
  double y_min = 0, y_max = 1;
};
std::string bar_chart_svg(const BarChart& c);

// SVG documents placed left to right in one.
std::string side_by_side_svg(const std::vector<std::string>& svgs);

// Every picture of a report, written into `dir` (created); returns the
// files written. redundancy may be null (no calibration run). The map grid
// shows map_layers x map_heads (empty: all).
std::vector<std::string> write_pictures(const InspectReport& r, const Redundancy* redundancy, const std::string& dir,
                                        std::vector<int64_t> map_layers = {}, std::vector<int64_t> map_heads = {});

// The colour of an attention weight on the maps' log scale, 1e-4 to 1.
void map_colour(double v, uint8_t* rgb);

}  // namespace sieve::inspect
