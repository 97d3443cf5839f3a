#include "format/dtype.h"

#include <array>
#include <cctype>

#include "util/error.h"

namespace sieve {
namespace {

struct Entry {
  DType type;
  DTypeInfo info;
};

constexpr std::array<Entry, 13> kTypes = {{
    {DType::F32, {"f32", 1, 4}},
    {DType::F16, {"f16", 1, 2}},
    {DType::BF16, {"bf16", 1, 2}},
    {DType::Q4_0, {"q4_0", 32, 18}},
    {DType::Q4_1, {"q4_1", 32, 20}},
    {DType::Q5_0, {"q5_0", 32, 22}},
    {DType::Q5_1, {"q5_1", 32, 24}},
    {DType::Q8_0, {"q8_0", 32, 34}},
    {DType::Q8_1, {"q8_1", 32, 36}},
    {DType::Q4_K, {"q4_K", 256, 144}},
    {DType::Q5_K, {"q5_K", 256, 176}},
    {DType::Q6_K, {"q6_K", 256, 210}},
    {DType::Q8_K, {"q8_K", 256, 292}},
}};

}  // namespace

std::optional<DType> dtype_from_gguf(uint32_t id) {
  for (const Entry& e : kTypes) {
    // Q8_1 and Q8_K only ever hold activations; a weight file using them is refused.
    if (static_cast<uint32_t>(e.type) == id && e.type != DType::Q8_1 && e.type != DType::Q8_K)
      return e.type;
  }
  return std::nullopt;
}

const DTypeInfo& dtype_info(DType t) {
  for (const Entry& e : kTypes)
    if (e.type == t) return e.info;
  throw Error("internal: unknown dtype " + std::to_string(static_cast<uint32_t>(t)));
}

std::optional<DType> dtype_from_name(const std::string& name) {
  std::string lower;
  for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const Entry& e : kTypes) {
    std::string n;
    for (const char* p = e.info.name; *p; ++p) n += static_cast<char>(std::tolower(static_cast<unsigned char>(*p)));
    if (n == lower) return e.type;
  }
  return std::nullopt;
}

}  // namespace sieve
