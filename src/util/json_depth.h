#pragma once
// How deep a JSON text nests, read before parsing: nlohmann's parser takes
// memory per level and its dump() recurses, so files and bodies that nest
// deeper than anything sieve reads are refused up front.
#include <string_view>

namespace sieve {

// The deepest nesting of [ and { outside strings (0 for a scalar).
int json_nesting(std::string_view text);

// What sieve's own JSON files (pattern files, head files) nest within.
constexpr int kMaxFileJsonDepth = 64;

}  // namespace sieve
