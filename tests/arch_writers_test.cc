// The GGUF and safetensors writers the architecture fixtures are built with:
// what they write, sieve's readers read back unchanged (llama.cpp reading the
// fixture GGUFs is checked by the committed llamacpp-*.json numbers).
#include <gtest/gtest.h>

#include <climits>
#include <cstring>
#include <nlohmann/json.hpp>

#include "format/gguf_writer.h"
#include "format/safetensors.h"
#include "format/safetensors_writer.h"
#include "util/error.h"

namespace sieve {
namespace {
namespace gv = gguf_value;

uint16_t half_bits(const std::vector<uint8_t>& b, size_t i) {
  uint16_t h;
  std::memcpy(&h, b.data() + 2 * i, 2);
  return h;
}

TEST(GgufWriter, RoundTripsEveryValueType) {
  GgufWriter w;
  w.set("u8", gv::u8(255));
  w.set("i8", gv::i8(-128));
  w.set("u16", gv::u16(65535));
  w.set("i16", gv::i16(-32768));
  w.set("u32", gv::u32(4000000000u));
  w.set("i32", gv::i32(-2000000000));
  w.set("u64", gv::u64(~uint64_t{0}));
  w.set("i64", gv::i64(INT64_MIN));
  w.set("f32", gv::f32(0.1f));
  w.set("f64", gv::f64(0.1));
  w.set("bool", gv::boolean(true));
  w.set("string", gv::string(std::string("a\0b \xc3\xa9", 6)));
  w.set("strings", gv::string_array({"x", "", "yz"}));
  w.set("floats", gv::f32_array({1.5f, -2.0f}));
  w.set("ints", gv::i32_array({7, -7}));
  w.set("empty", gv::array(GgufType::U8, {}));
  w.set("nested", gv::array(GgufType::ARRAY, {gv::array(GgufType::I16, {gv::i16(-3)}), gv::string_array({"s"})}));
  w.set("u8", gv::u8(254));  // replaces, keeps its place
  const std::vector<uint8_t> bytes = w.bytes();
  GgufFile f(bytes.data(), bytes.size(), "written");

  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.metadata().size(), 17u);
  EXPECT_EQ(f.find("u8")->type, GgufType::U8);
  EXPECT_EQ(f.get_int("u8"), 254);
  EXPECT_EQ(f.get_int("i8"), -128);
  EXPECT_EQ(f.get_int("u16"), 65535);
  EXPECT_EQ(f.get_int("i16"), -32768);
  EXPECT_EQ(f.get_int("u32"), 4000000000ll);
  EXPECT_EQ(f.get_int("i32"), -2000000000);
  EXPECT_EQ(static_cast<uint64_t>(f.get_int("u64")), ~uint64_t{0});
  EXPECT_EQ(f.get_int("i64"), INT64_MIN);
  EXPECT_EQ(f.find("f32")->type, GgufType::F32);
  EXPECT_EQ(f.get_float("f32"), static_cast<double>(0.1f));
  EXPECT_EQ(f.get_float("f64"), 0.1);
  EXPECT_EQ(f.get_bool_opt("bool"), true);
  EXPECT_EQ(f.get_string("string"), std::string("a\0b \xc3\xa9", 6));
  EXPECT_EQ(f.get_string_array("strings"), (std::vector<std::string>{"x", "", "yz"}));
  EXPECT_EQ(f.get_float_array("floats"), (std::vector<float>{1.5f, -2.0f}));
  EXPECT_EQ(f.get_int_array("ints"), (std::vector<int32_t>{7, -7}));
  EXPECT_TRUE(f.find("empty")->as_array().items.empty());
  const GgufArray& nested = f.find("nested")->as_array();
  ASSERT_EQ(nested.items.size(), 2u);
  EXPECT_EQ(nested.items[0].as_array().elem_type, GgufType::I16);
  EXPECT_EQ(nested.items[0].as_array().items[0].as_int(), -3);
  EXPECT_EQ(nested.items[1].as_array().items[0].as_string(), "s");
}

TEST(GgufWriter, WritesAlignedTensorsOfEveryKind) {
  GgufWriter w(64);
  const float vals[6] = {1.0f, -2.5f, 0.375f, 3.0f, -0.0f, 1024.0f};  // exact in F16 and BF16
  w.add_tensor_f32("f32", {3, 2}, vals, DType::F32);
  w.add_tensor_f32("f16", {6}, vals, DType::F16);
  w.add_tensor_f32("bf16", {2, 3}, vals, DType::BF16);
  std::vector<uint8_t> q8(2 * 34);  // two Q8_0 blocks, written as given
  for (size_t i = 0; i < q8.size(); ++i) q8[i] = static_cast<uint8_t>(i * 7);
  w.add_tensor("q8_0", DType::Q8_0, {32, 2}, q8);
  w.add_tensor_view("view", DType::Q8_0, {64}, q8.data(), q8.size());
  const std::vector<uint8_t> bytes = w.bytes();
  GgufFile f(bytes.data(), bytes.size(), "written");

  EXPECT_EQ(f.get_int("general.alignment"), 64);
  ASSERT_EQ(f.tensors().size(), 5u);
  for (const Tensor& t : f.tensors()) EXPECT_EQ((t.data - bytes.data()) % 64, 0) << t.name;
  const Tensor* t = f.find_tensor("f32");
  EXPECT_EQ(t->shape, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(std::memcmp(t->data, vals, sizeof vals), 0);
  EXPECT_EQ(f.find_tensor("f16")->type, DType::F16);
  EXPECT_EQ(f.find_tensor("bf16")->type, DType::BF16);
  const std::vector<uint8_t> f16(f.find_tensor("f16")->data, f.find_tensor("f16")->data + 12);
  EXPECT_EQ(half_bits(f16, 0), 0x3c00);  // 1.0
  EXPECT_EQ(half_bits(f16, 1), 0xc100);  // -2.5
  const std::vector<uint8_t> bf16(f.find_tensor("bf16")->data, f.find_tensor("bf16")->data + 12);
  EXPECT_EQ(half_bits(bf16, 0), 0x3f80);  // 1.0
  EXPECT_EQ(half_bits(bf16, 4), 0x8000);  // -0.0
  for (const char* name : {"q8_0", "view"}) {
    EXPECT_EQ(f.find_tensor(name)->nbytes, q8.size());
    EXPECT_EQ(std::memcmp(f.find_tensor(name)->data, q8.data(), q8.size()), 0) << name;
  }
}

TEST(GgufWriter, RefusesInconsistentInput) {
  GgufWriter w;
  std::vector<uint8_t> four(4);
  EXPECT_THROW(w.add_tensor("short", DType::F32, {2}, four), Error);
  EXPECT_THROW(w.add_tensor("partial block", DType::Q8_0, {16}, std::vector<uint8_t>(17)), Error);
  EXPECT_THROW(w.add_tensor("no dims", DType::F32, {}, {}), Error);
  w.add_tensor("t", DType::F32, {1}, four);
  EXPECT_THROW(w.add_tensor("t", DType::F32, {1}, four), Error);
  EXPECT_THROW(gv::array(GgufType::U8, {gv::i8(1)}), Error);
  EXPECT_THROW(GgufWriter(48), Error);
  EXPECT_THROW(w.set("general.alignment", gv::u32(64)), Error);
  GgufValue too_big;
  too_big.type = GgufType::U8;
  too_big.value = int64_t{300};
  w.set("too big", too_big);
  EXPECT_THROW(w.bytes(), Error);
}

TEST(GgufWriter, FloatEncodingRoundsToNearestEven) {
  // bf16 keeps 8 significant bits: 1 + 2^-8 is halfway and goes to even (1),
  // 1 + 3 * 2^-8 is halfway and goes to even (1 + 2^-6).
  const float x[3] = {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, 1.0f + 0x1p-11f};
  const auto bf = encode_floats(x, 3, DType::BF16);
  EXPECT_EQ(half_bits(bf, 0), 0x3f80);
  EXPECT_EQ(half_bits(bf, 1), 0x3f82);
  const auto h = encode_floats(x, 3, DType::F16);
  EXPECT_EQ(half_bits(h, 0), 0x3c04);  // 1 + 2^-8 is exact in f16
  EXPECT_EQ(half_bits(h, 2), 0x3c00);  // 1 + 2^-11 is halfway: to even
  EXPECT_THROW(encode_floats(x, 3, DType::Q8_0), Error);
}

TEST(SafetensorsWriter, RoundTripsThroughTheReader) {
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  const float vals[6] = {1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f};
  w.add_tensor_f32("a.weight", {3, 2}, vals, DType::BF16);  // torch shape [2, 3]
  w.add_tensor_f32("b", {5}, vals, DType::F32);
  w.add_tensor_f32("c", {1}, vals, DType::F16);
  const std::vector<uint8_t> bytes = w.bytes();
  uint64_t header_len;
  std::memcpy(&header_len, bytes.data(), 8);
  EXPECT_EQ(header_len % 8, 0u);
  const auto header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<int64_t>(header_len));
  EXPECT_EQ(header["__metadata__"]["format"], "pt");
  EXPECT_EQ(header["a.weight"]["shape"], nlohmann::json::array({2, 3}));
  EXPECT_EQ(header["a.weight"]["dtype"], "BF16");

  SafetensorsFile f(bytes.data(), bytes.size(), "written");
  ASSERT_EQ(f.tensors().size(), 3u);
  for (const Tensor& t : f.tensors()) {
    if (t.name == "a.weight") {
      EXPECT_EQ(t.type, DType::BF16);
      EXPECT_EQ(t.shape, (std::vector<int64_t>{3, 2}));
      EXPECT_EQ(half_bits(std::vector<uint8_t>(t.data, t.data + t.nbytes), 5), 0x40c0);  // 6.0
    } else if (t.name == "b") {
      EXPECT_EQ(t.type, DType::F32);
      EXPECT_EQ(std::memcmp(t.data, vals, 20), 0);
    } else {
      EXPECT_EQ(t.name, "c");
      EXPECT_EQ(t.type, DType::F16);
    }
  }
}

TEST(SafetensorsWriter, WritesOtherDtypesAndRefusesBadInput) {
  SafetensorsWriter w;
  const int64_t ids[2] = {-1, 1};
  std::vector<uint8_t> raw(16);
  std::memcpy(raw.data(), ids, 16);
  w.add_tensor_raw("ids", "I64", 8, {2}, raw);
  EXPECT_THROW(w.add_tensor_raw("ids", "I64", 8, {2}, raw), Error);
  EXPECT_THROW(w.add_tensor_raw("short", "I64", 8, {3}, raw), Error);
  EXPECT_THROW(w.add_tensor_raw("__metadata__", "I64", 8, {2}, raw), Error);
  EXPECT_THROW(w.add_tensor("q", DType::Q8_0, {32}, std::vector<uint8_t>(34)), Error);
  const std::vector<uint8_t> bytes = w.bytes();
  uint64_t header_len;
  std::memcpy(&header_len, bytes.data(), 8);
  const auto header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<int64_t>(header_len));
  EXPECT_EQ(header["ids"]["data_offsets"], nlohmann::json::array({0, 16}));
  EXPECT_EQ(bytes.size(), 8 + header_len + 16);
  EXPECT_EQ(std::memcmp(bytes.data() + 8 + header_len, ids, 16), 0);
}

}  // namespace
}  // namespace sieve
