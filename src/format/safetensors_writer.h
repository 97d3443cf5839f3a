#pragma once
// Safetensors writer: an 8-byte little-endian header length, a JSON header
// ({"__metadata__": {...}, name: {dtype, shape, data_offsets}}), padded with
// spaces so the data starts 8-byte aligned, then the tensors' bytes back to
// back in the order they were added. The inverse of SafetensorsFile.
#include <cstdint>
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include "format/dtype.h"

namespace sieve {

class SafetensorsWriter {
 public:
  // Free-form string metadata (e.g. {"format": "pt"}, as torch writes).
  void set_metadata(const std::string& key, const std::string& value);

  // shape follows sieve's order (shape[0] is the contiguous dimension), as
  // SafetensorsFile reports it; the header lists it outermost first.
  // type: F32, F16 or BF16. data: exactly the bytes the shape needs.
  void add_tensor(const std::string& name, DType type, std::vector<int64_t> shape, std::vector<uint8_t> data);
  // Floats stored as F32, F16 or BF16 (round to nearest even).
  void add_tensor_f32(const std::string& name, std::vector<int64_t> shape, const float* values, DType store_as);
  // Any safetensors dtype ("I64", "U8", "F64", ...) with its element size:
  // the general form the others use.
  void add_tensor_raw(const std::string& name, const std::string& dtype, size_t elem_bytes,
                      std::vector<int64_t> shape, std::vector<uint8_t> data);

  void write(std::ostream& out) const;
  void write(const std::string& path) const;
  std::vector<uint8_t> bytes() const;

 private:
  struct PendingTensor {
    std::string name, dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> data;
  };
  std::map<std::string, std::string> metadata_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace sieve
