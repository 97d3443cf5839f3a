#include "tokenizer/sentencepiece_model.h"

#include <cstring>

#include "util/error.h"

namespace sieve {

namespace {

// Protobuf wire types.
enum Wire : uint32_t { kVarint = 0, kFixed64 = 1, kBytes = 2, kFixed32 = 5 };

class ProtoReader {
 public:
  ProtoReader(std::string_view data, const std::string& label, const char* message)
      : data_(data), label_(label), message_(message) {}

  bool at_end() const { return pos_ >= data_.size(); }

  // Reads a field key; refuses field number 0 and the deprecated group types.
  void key(uint32_t& field, uint32_t& wire) {
    const uint64_t k = varint();
    field = static_cast<uint32_t>(k >> 3);
    wire = static_cast<uint32_t>(k & 7);
    if (field == 0 || k >> 3 > 0x1FFFFFFF) fail("invalid field number");
    if (wire != kVarint && wire != kFixed64 && wire != kBytes && wire != kFixed32)
      fail("unsupported wire type " + std::to_string(wire));
  }

  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) fail("truncated varint");
      const auto b = static_cast<uint8_t>(data_[pos_++]);
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (b < 0x80) return v;
    }
    fail("varint longer than 10 bytes");
  }

  std::string_view bytes() {
    const uint64_t n = varint();
    if (n > data_.size() - pos_) fail("length " + std::to_string(n) + " runs past the end");
    std::string_view out = data_.substr(pos_, n);
    pos_ += n;
    return out;
  }

  float fixed32_float() {
    if (data_.size() - pos_ < 4) fail("truncated fixed32");
    uint32_t bits = 0;
    for (int i = 0; i < 4; ++i) bits |= static_cast<uint32_t>(static_cast<uint8_t>(data_[pos_ + i])) << (8 * i);
    pos_ += 4;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }

  void skip(uint32_t wire) {
    switch (wire) {
      case kVarint: varint(); break;
      case kBytes: bytes(); break;
      case kFixed64:
        if (data_.size() - pos_ < 8) fail("truncated fixed64");
        pos_ += 8;
        break;
      case kFixed32:
        if (data_.size() - pos_ < 4) fail("truncated fixed32");
        pos_ += 4;
        break;
      default: fail("unsupported wire type");
    }
  }

  // Typed reads that check the wire type the schema expects.
  uint64_t expect_varint(uint32_t wire, const char* field) {
    if (wire != kVarint) fail(std::string(field) + " is not a varint");
    return varint();
  }
  std::string_view expect_bytes(uint32_t wire, const char* field) {
    if (wire != kBytes) fail(std::string(field) + " is not length-delimited");
    return bytes();
  }
  float expect_float(uint32_t wire, const char* field) {
    if (wire != kFixed32) fail(std::string(field) + " is not a float");
    return fixed32_float();
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(label_ + ": not a valid SentencePiece model: " + message_ + ": " + what + " (at byte " +
                std::to_string(pos_) + ")");
  }

 private:
  std::string_view data_;
  const std::string& label_;
  const char* message_;
  size_t pos_ = 0;
};

// proto2 int32 fields are sign-extended to 64 bits on the wire.
int32_t as_int32(uint64_t v) { return static_cast<int32_t>(static_cast<int64_t>(v)); }

SentencePieceModel::Piece parse_piece(std::string_view data, const std::string& label) {
  ProtoReader r(data, label, "SentencePiece");
  SentencePieceModel::Piece p;
  while (!r.at_end()) {
    uint32_t field, wire;
    r.key(field, wire);
    switch (field) {
      case 1: p.text = std::string(r.expect_bytes(wire, "piece")); break;
      case 2: p.score = r.expect_float(wire, "score"); break;
      case 3: p.type = as_int32(r.expect_varint(wire, "type")); break;
      default: r.skip(wire);
    }
  }
  return p;
}

void parse_trainer_spec(std::string_view data, const std::string& label, SentencePieceModel& m) {
  ProtoReader r(data, label, "TrainerSpec");
  while (!r.at_end()) {
    uint32_t field, wire;
    r.key(field, wire);
    switch (field) {
      case 3: m.model_type = as_int32(r.expect_varint(wire, "model_type")); break;
      case 24: m.treat_whitespace_as_suffix = r.expect_varint(wire, "treat_whitespace_as_suffix") != 0; break;
      case 35: m.byte_fallback = r.expect_varint(wire, "byte_fallback") != 0; break;
      case 40: m.unk_id = as_int32(r.expect_varint(wire, "unk_id")); break;
      case 41: m.bos_id = as_int32(r.expect_varint(wire, "bos_id")); break;
      case 42: m.eos_id = as_int32(r.expect_varint(wire, "eos_id")); break;
      case 43: m.pad_id = as_int32(r.expect_varint(wire, "pad_id")); break;
      default: r.skip(wire);
    }
  }
}

void parse_normalizer_spec(std::string_view data, const std::string& label, SentencePieceModel& m) {
  ProtoReader r(data, label, "NormalizerSpec");
  while (!r.at_end()) {
    uint32_t field, wire;
    r.key(field, wire);
    switch (field) {
      case 1: m.normalizer_name = std::string(r.expect_bytes(wire, "name")); break;
      case 2: m.precompiled_charsmap = std::string(r.expect_bytes(wire, "precompiled_charsmap")); break;
      case 3: m.add_dummy_prefix = r.expect_varint(wire, "add_dummy_prefix") != 0; break;
      case 4: m.remove_extra_whitespaces = r.expect_varint(wire, "remove_extra_whitespaces") != 0; break;
      case 5: m.escape_whitespaces = r.expect_varint(wire, "escape_whitespaces") != 0; break;
      default: r.skip(wire);
    }
  }
}

}  // namespace

SentencePieceModel parse_sentencepiece_model(std::string_view bytes, const std::string& label) {
  SentencePieceModel m;
  ProtoReader r(bytes, label, "ModelProto");
  while (!r.at_end()) {
    uint32_t field, wire;
    r.key(field, wire);
    switch (field) {
      case 1: m.pieces.push_back(parse_piece(r.expect_bytes(wire, "pieces"), label)); break;
      case 2: parse_trainer_spec(r.expect_bytes(wire, "trainer_spec"), label, m); break;
      case 3: parse_normalizer_spec(r.expect_bytes(wire, "normalizer_spec"), label, m); break;
      default: r.skip(wire);  // self_test_data, denormalizer_spec
    }
  }
  if (m.pieces.empty()) throw Error(label + ": not a valid SentencePiece model: it has no pieces");
  return m;
}

}  // namespace sieve
