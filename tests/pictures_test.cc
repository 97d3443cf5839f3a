// sieve inspect's pictures: the PNG inside a map decodes to the colours of
// the map, base64 is standard, and every picture of a report is written as
// an SVG with its title, labels and scale.
#include <gtest/gtest.h>
#include <png.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "inspect/pictures.h"
#include "inspect/png.h"

namespace sieve::inspect {
namespace {

TEST(Pictures, Base64IsStandard) {
  auto b = [](const std::string& s) { return base64(std::vector<uint8_t>(s.begin(), s.end())); };
  EXPECT_EQ(b(""), "");
  EXPECT_EQ(b("f"), "Zg==");
  EXPECT_EQ(b("fo"), "Zm8=");
  EXPECT_EQ(b("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64({0xfb, 0xff}), "+/8=");
}

std::vector<uint8_t> decode_png(const std::vector<uint8_t>& file, png_uint_32& w, png_uint_32& h) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  EXPECT_TRUE(png_image_begin_read_from_memory(&image, file.data(), file.size()));
  image.format = PNG_FORMAT_RGB;
  std::vector<uint8_t> rgb(PNG_IMAGE_SIZE(image));
  EXPECT_TRUE(png_image_finish_read(&image, nullptr, rgb.data(), 0, nullptr));
  w = image.width, h = image.height;
  return rgb;
}

TEST(Pictures, PngHoldsThePixels) {
  std::vector<uint8_t> rgb(5 * 3 * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(i * 7);
  png_uint_32 w = 0, h = 0;
  EXPECT_EQ(decode_png(encode_png(rgb, 5, 3), w, h), rgb);
  EXPECT_EQ(w, 5u);
  EXPECT_EQ(h, 3u);
}

TEST(Pictures, MapColoursRunOnALogScale) {
  uint8_t none[3], floor[3], low[3], top[3], mid[3];
  map_colour(0.0, none);
  map_colour(1e-6, floor);
  map_colour(1e-4, low);
  map_colour(1.0, top);
  map_colour(1e-2, mid);
  EXPECT_EQ(none[0] + none[1] + none[2], 3 * 255);  // no attention: white
  EXPECT_TRUE(std::equal(floor, floor + 3, low));    // below the scale: its darkest colour
  EXPECT_EQ(top[0], 253);
  EXPECT_EQ(top[2], 37);
  EXPECT_EQ(mid[0], 33);  // halfway up the log scale: the middle stop
}

InspectReport small_report() {
  InspectReport r;
  r.tokens = {1, 2, 3, 4, 5, 6, 7, 8};
  r.options.block = 2;
  r.blocks = 4;
  r.n_heads = 2;
  for (int64_t l = 0; l < 2; ++l) {
    for (int64_t h = 0; h < 2; ++h) {
      HeadReport hr;
      hr.layer = l, hr.head = h, hr.first_token = 0.5, hr.first_tokens = 0.95, hr.output_ratio = 0.1;
      hr.dormant = l == 0 && h == 1;
      hr.sinks = {{0, 1, "<s>", 0.5}, {5, 6, "\n", 0.2}};
      hr.patterns = {{"a_shape", 0.9, "A(8,56)"}, {"vertical_slash", 0.95, "VS(3,61)"}};
      r.heads.push_back(hr);
      std::vector<double> map(16, 0.0);
      for (int64_t q = 0; q < 4; ++q) map[q * 4 + q] = 1.0;  // the diagonal
      r.maps.push_back(map);
    }
    LayerReport lr;
    lr.residual_first = 10, lr.residual_max_other = 2, lr.residual_median_other = 1;
    r.layers.push_back(lr);
  }
  r.layer_similarity = {{1.0, 0.5}, {0.5, 1.0}};
  return r;
}

TEST(Pictures, TheMapGridEmbedsEachMapAsPixels) {
  const InspectReport r = small_report();
  const std::string svg = attention_maps_svg(r, {1}, {0, 1}, "maps");
  EXPECT_NE(svg.find("head 1"), std::string::npos);
  EXPECT_NE(svg.find("layer 1"), std::string::npos);
  EXPECT_EQ(svg.find("layer 0"), std::string::npos);
  const size_t at = svg.find("base64,") + 7;
  ASSERT_GT(at, 7u);
  const std::string b64 = svg.substr(at, svg.find('"', at) - at);
  // Decode base64 back (the standard alphabet) and read the PNG.
  std::vector<uint8_t> bytes;
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : b64) {
    if (ch == '=') break;
    const char* digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    acc = acc << 6 | static_cast<uint32_t>(std::strchr(digits, ch) - digits);
    if ((bits += 6) >= 8) bytes.push_back(static_cast<uint8_t>(acc >> (bits -= 8)));
  }
  png_uint_32 w = 0, h = 0;
  const std::vector<uint8_t> rgb = decode_png(bytes, w, h);
  const int64_t tile = 128;  // 4 blocks, scaled 32x
  EXPECT_EQ(w, 2 * tile + 6);
  EXPECT_EQ(h, tile);
  uint8_t one[3], none[3];
  map_colour(1.0, one);
  map_colour(0.0, none);
  auto pixel = [&](int64_t x, int64_t y) { return std::vector<uint8_t>(&rgb[(y * w + x) * 3], &rgb[(y * w + x) * 3 + 3]); };
  EXPECT_EQ(pixel(40, 40), std::vector<uint8_t>(one, one + 3));    // block (1, 1): the diagonal
  EXPECT_EQ(pixel(100, 10), std::vector<uint8_t>(none, none + 3));  // block (0, 3): nothing
}

TEST(Pictures, EveryPictureIsWritten) {
  const InspectReport r = small_report();
  Redundancy red;
  red.layers = {{0.9, 0.8, 0.7}, {0.99, 0.95, 0.94}};
  red.samples = 2, red.tokens = 100;
  const auto dir = std::filesystem::temp_directory_path() / ("sieve-pictures-" + std::to_string(::getpid()));
  const std::vector<std::string> files = write_pictures(r, &red, dir.string());
  std::vector<std::string> names;
  for (const std::string& f : files) {
    names.push_back(std::filesystem::path(f).filename().string());
    std::ifstream in(f);
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_EQ(text.str().rfind("<?xml", 0), 0u) << f;
    EXPECT_NE(text.str().find("</svg>"), std::string::npos) << f;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"maps.svg", "sinks.svg", "dormant.svg", "head-patterns.svg", "redundancy.svg",
                                             "layer-similarity.svg", "extreme-tokens.svg"}));
  std::ifstream dormant(dir / "dormant.svg");
  std::stringstream text;
  text << dormant.rdbuf();
  EXPECT_NE(text.str().find("D 0.10"), std::string::npos);  // head 1 of layer 0, marked
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace sieve::inspect
