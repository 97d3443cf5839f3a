#pragma once
// PNG encoding in memory (libpng), and base64 to embed a picture in SVG:
// attention maps are rasters, too many cells for SVG shapes.
#include <cstdint>
#include <string>
#include <vector>

namespace sieve::inspect {

// rgb: height rows of width pixels, 3 bytes each.
std::vector<uint8_t> encode_png(const std::vector<uint8_t>& rgb, int64_t width, int64_t height);
std::string base64(const std::vector<uint8_t>& bytes);

}  // namespace sieve::inspect
