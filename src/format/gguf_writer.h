#pragma once
// GGUF (v3) writer: metadata of every value type (nested arrays included) and
// tensors of any type sieve knows, plain floats or pre-quantized blocks, laid
// out with the file's alignment. The inverse of GgufFile; used by test
// fixtures, fuzz seeds and commands that convert or quantize models.
//
// Metadata and tensors are written in the order they were added, so the same
// calls always give the same bytes.
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "format/dtype.h"
#include "format/gguf.h"

namespace sieve {

// Builders for metadata values of each GGUF type.
namespace gguf_value {
GgufValue u8(uint8_t v);
GgufValue i8(int8_t v);
GgufValue u16(uint16_t v);
GgufValue i16(int16_t v);
GgufValue u32(uint32_t v);
GgufValue i32(int32_t v);
GgufValue u64(uint64_t v);
GgufValue i64(int64_t v);
GgufValue f32(float v);
GgufValue f64(double v);
GgufValue boolean(bool v);
GgufValue string(std::string v);
// Every item must have type `elem` (an array of arrays holds arrays of any
// element type, as GGUF allows).
GgufValue array(GgufType elem, std::vector<GgufValue> items);
GgufValue string_array(const std::vector<std::string>& v);
GgufValue f32_array(const std::vector<float>& v);
GgufValue i32_array(const std::vector<int32_t>& v);
}  // namespace gguf_value

// Converts floats to F32, F16 or BF16 storage (round to nearest even).
std::vector<uint8_t> encode_floats(const float* values, size_t n, DType type);

class GgufWriter {
 public:
  // alignment: a power of two; anything but GGUF's default 32 is recorded
  // as general.alignment, where readers look for it.
  explicit GgufWriter(uint32_t alignment = 32);

  // Adds or replaces a metadata entry (replacing keeps its position).
  void set(const std::string& key, GgufValue value);
  bool has(const std::string& key) const;

  // shape follows sieve's (and GGUF's) order: shape[0] is the contiguous row
  // length and must be a whole number of blocks of `type`; data holds
  // exactly the bytes the shape needs (raw blocks for quantized types).
  void add_tensor(const std::string& name, DType type, std::vector<int64_t> shape, std::vector<uint8_t> data);
  // Same, but borrows the bytes (e.g. from a mapped file), which must stay
  // alive until write(); avoids copying whole models in memory.
  void add_tensor_view(const std::string& name, DType type, std::vector<int64_t> shape, const uint8_t* data,
                       size_t nbytes);
  // Floats stored as F32, F16 or BF16.
  void add_tensor_f32(const std::string& name, std::vector<int64_t> shape, const float* values, DType store_as);

  void write(std::ostream& out) const;
  void write(const std::string& path) const;
  std::vector<uint8_t> bytes() const;

 private:
  struct Entry {
    std::string key;
    GgufValue value;
  };
  struct PendingTensor {
    std::string name;
    DType type;
    std::vector<int64_t> shape;
    std::vector<uint8_t> owned;
    const uint8_t* data;
    size_t nbytes;
  };
  void check_tensor(const std::string& name, DType type, const std::vector<int64_t>& shape, size_t nbytes) const;

  uint32_t alignment_;
  std::vector<Entry> metadata_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace sieve
