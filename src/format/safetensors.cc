#include "format/safetensors.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "util/error.h"

namespace sieve {
namespace {

// A JSON value quoted in a message: never throws (bad UTF-8 is replaced) and
// is cut short, so a hostile header cannot make the message huge.
std::string brief(const nlohmann::json& v) {
  std::string s = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return s.size() > 40 ? s.substr(0, 37) + "..." : s;
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path)
    : file_(std::make_unique<MappedFile>(path)), label_(path) {
  parse(file_->data(), file_->size());
}

SafetensorsFile::SafetensorsFile(const uint8_t* data, size_t size, std::string label)
    : label_(std::move(label)) {
  parse(data, size);
}

void SafetensorsFile::parse(const uint8_t* data, size_t size) {
  auto fail = [&](const std::string& what) -> void {
    throw Error(label_ + ": invalid safetensors file: " + what);
  };
  if (size < 8) fail("shorter than its 8-byte header length");
  uint64_t header_len;
  std::memcpy(&header_len, data, 8);
  if (header_len > size - 8) fail("header length " + std::to_string(header_len) + " runs past the end of the file");
  const char* h = reinterpret_cast<const char*>(data + 8);
  nlohmann::json header = nlohmann::json::parse(h, h + header_len, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object()) fail("header is not a JSON object");

  const uint8_t* base = data + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;
  struct Range {
    uint64_t begin, end;
    std::string name;
  };
  std::vector<Range> ranges;
  for (auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    if (!entry.is_object()) fail("entry '" + name + "' is not an object");
    auto dt = entry.find("dtype");
    auto sh = entry.find("shape");
    auto off = entry.find("data_offsets");
    if (dt == entry.end() || !dt->is_string() || sh == entry.end() || !sh->is_array() ||
        off == entry.end() || !off->is_array() || off->size() != 2)
      fail("entry '" + name + "' needs dtype, shape and data_offsets [begin, end]");
    Tensor t;
    t.name = name;
    const std::string dtype = dt->get<std::string>();
    size_t elem_size;
    if (dtype == "F32") t.type = DType::F32, elem_size = 4;
    else if (dtype == "F16") t.type = DType::F16, elem_size = 2;
    else if (dtype == "BF16") t.type = DType::BF16, elem_size = 2;
    else fail("tensor '" + name + "' has dtype " + dtype + " (sieve reads F32, F16, BF16)");
    if (sh->size() > 4) fail("tensor '" + name + "' has more than 4 dimensions");
    uint64_t elements = 1;
    // Safetensors lists the outermost dimension first; sieve's shapes put the
    // contiguous dimension first, as GGUF does.
    for (auto it = sh->rbegin(); it != sh->rend(); ++it) {
      if (!it->is_number_unsigned()) fail("tensor '" + name + "' has dimension " + brief(*it) + ", not an integer >= 0");
      uint64_t d = it->get<uint64_t>();
      if (d == 0 || d > (uint64_t{1} << 40) || elements > (uint64_t{1} << 50) / d)
        fail("tensor '" + name + "' has an absurd dimension " + std::to_string(d));
      elements *= d;
      t.shape.push_back(static_cast<int64_t>(d));
    }
    if (t.shape.empty()) t.shape.push_back(1);
    if (!(*off)[0].is_number_unsigned() || !(*off)[1].is_number_unsigned())
      fail("tensor '" + name + "' has data_offsets " + brief(*off) + ", not two integers >= 0");
    uint64_t b = (*off)[0].get<uint64_t>(), e = (*off)[1].get<uint64_t>();
    if (b > e || e > data_size)
      fail("tensor '" + name + "' data [" + std::to_string(b) + ", " + std::to_string(e) +
           ") runs past the end of the file");
    if (e - b != elements * elem_size)
      fail("tensor '" + name + "' has " + std::to_string(e - b) + " bytes but its shape needs " +
           std::to_string(elements * elem_size));
    t.data = base + b;
    t.nbytes = e - b;
    ranges.push_back({b, e, name});
    tensors_.push_back(std::move(t));
  }
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].begin < ranges[i - 1].end)
      fail("tensors '" + ranges[i - 1].name + "' and '" + ranges[i].name + "' overlap");
}

}  // namespace sieve
