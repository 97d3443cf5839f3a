#pragma once
// sieve inspect's findings for machines (JSON) and for people (a short text).
#include <nlohmann/json.hpp>
#include <string>

#include "inspect/inspect_prompt.h"
#include "inspect/layer_redundancy.h"

namespace sieve::inspect {

// redundancy may be null (no calibration run). Maps are included when
// with_maps is set (blocks x blocks numbers per head).
nlohmann::json report_json(const InspectReport& r, const Redundancy* redundancy, bool with_maps);
std::string report_summary(const InspectReport& r, const Redundancy* redundancy);

}  // namespace sieve::inspect
