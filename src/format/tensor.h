#pragma once
// A named tensor that lives inside a mapped model file. Shapes follow GGUF's
// order: shape[0] is the length of a row (the contiguous dimension), so a
// weight matrix of an nn.Linear(in, out) has shape {in, out}.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "format/dtype.h"

namespace sieve {

struct Tensor {
  std::string name;
  DType type = DType::F32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
  // A kernel's own arrangement of these weights (the AMX tile layout, say),
  // made by kernels/ on first use under its own lock and kept as long as the
  // tensor; shared by the copies made after it is filled.
  mutable std::shared_ptr<const void> repacked;

  int64_t elements() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  int64_t row_length() const { return shape.empty() ? 1 : shape[0]; }
  int64_t rows() const { return shape.empty() ? 1 : elements() / shape[0]; }
  size_t row_bytes() const { return dtype_row_bytes(type, row_length()); }
  const uint8_t* row(int64_t r) const { return data + static_cast<size_t>(r) * row_bytes(); }
  std::string shape_string() const;
};

}  // namespace sieve
