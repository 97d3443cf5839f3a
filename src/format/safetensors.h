#pragma once
// Safetensors reader: an 8-byte little-endian header length, a JSON header
// mapping tensor names to {dtype, shape, data_offsets}, then the raw data.
// Every entry is validated against the file: offsets inside the data section,
// sizes equal to shape x element size, no overlaps, known dtypes.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "format/mapped_file.h"
#include "format/tensor.h"

namespace sieve {

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);
  SafetensorsFile(const uint8_t* data, size_t size, std::string label);

  const std::vector<Tensor>& tensors() const { return tensors_; }
  const std::string& label() const { return label_; }

 private:
  void parse(const uint8_t* data, size_t size);

  std::unique_ptr<MappedFile> file_;
  std::string label_;
  std::vector<Tensor> tensors_;
};

}  // namespace sieve
