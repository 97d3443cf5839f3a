#pragma once
// Element types of weight tensors, numbered as GGUF numbers them, with the
// block geometry of llama.cpp's block formats (elements per block, bytes per
// block). A row of a tensor is always a whole number of blocks.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace sieve {

enum class DType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,  // activations only
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,  // activations only
  BF16 = 30,
};

struct DTypeInfo {
  const char* name;
  int block_elems;   // elements per block (1 for plain float types)
  int block_bytes;   // bytes per block
};

// Returns nullopt for a GGUF type number sieve does not read.
std::optional<DType> dtype_from_gguf(uint32_t id);
const DTypeInfo& dtype_info(DType t);
inline const char* dtype_name(DType t) { return dtype_info(t).name; }
std::optional<DType> dtype_from_name(const std::string& name);  // "q8_0", "bf16", ...

// Bytes taken by n elements of type t; n must be a multiple of the block size.
inline size_t dtype_row_bytes(DType t, int64_t n) {
  const DTypeInfo& i = dtype_info(t);
  return static_cast<size_t>(n / i.block_elems) * static_cast<size_t>(i.block_bytes);
}

}  // namespace sieve
