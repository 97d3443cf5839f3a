#include "format/safetensors_writer.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "format/gguf_writer.h"  // encode_floats
#include "util/error.h"

namespace sieve {

void SafetensorsWriter::set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }

void SafetensorsWriter::add_tensor_raw(const std::string& name, const std::string& dtype, size_t elem_bytes,
                                       std::vector<int64_t> shape, std::vector<uint8_t> data) {
  if (name.empty() || name == "__metadata__") throw Error("safetensors: invalid tensor name '" + name + "'");
  for (const PendingTensor& t : tensors_)
    if (t.name == name) throw Error("safetensors: tensor '" + name + "' added twice");
  size_t elements = 1;
  for (int64_t d : shape) {
    if (d < 0) throw Error("safetensors: tensor '" + name + "' has a negative dimension");
    elements *= static_cast<size_t>(d);
  }
  if (data.size() != elements * elem_bytes)
    throw Error("safetensors: tensor '" + name + "' has " + std::to_string(data.size()) + " bytes, its shape needs " +
                std::to_string(elements * elem_bytes));
  tensors_.push_back({name, dtype, std::move(shape), std::move(data)});
}

void SafetensorsWriter::add_tensor(const std::string& name, DType type, std::vector<int64_t> shape,
                                   std::vector<uint8_t> data) {
  switch (type) {
    case DType::F32: return add_tensor_raw(name, "F32", 4, std::move(shape), std::move(data));
    case DType::F16: return add_tensor_raw(name, "F16", 2, std::move(shape), std::move(data));
    case DType::BF16: return add_tensor_raw(name, "BF16", 2, std::move(shape), std::move(data));
    default: throw Error(std::string("safetensors: cannot store ") + dtype_name(type) + " (F32, F16, BF16)");
  }
}

void SafetensorsWriter::add_tensor_f32(const std::string& name, std::vector<int64_t> shape, const float* values,
                                       DType store_as) {
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(std::max<int64_t>(d, 0));
  add_tensor(name, store_as, std::move(shape), encode_floats(values, n, store_as));
}

void SafetensorsWriter::write(std::ostream& out) const {
  // ordered_json keeps __metadata__ first and the tensors in data order, which
  // makes the header easy to read; the offsets are what readers rely on.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  uint64_t offset = 0;
  for (const PendingTensor& t : tensors_) {
    // Outermost dimension first, as safetensors (and torch) list shapes.
    std::vector<int64_t> dims(t.shape.rbegin(), t.shape.rend());
    header[t.name] = {{"dtype", t.dtype}, {"shape", dims}, {"data_offsets", {offset, offset + t.data.size()}}};
    offset += t.data.size();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data section starts 8-byte aligned
  const uint64_t len = text.size();
  char len_bytes[8];
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<char>((len >> (8 * i)) & 0xff);
  out.write(len_bytes, 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (const PendingTensor& t : tensors_)
    out.write(reinterpret_cast<const char*>(t.data.data()), static_cast<std::streamsize>(t.data.size()));
  if (!out) throw Error("safetensors write failed");
}

void SafetensorsWriter::write(const std::string& path) const {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error("cannot create '" + path + "'");
  write(out);
  out.close();
  if (!out) throw Error("cannot write '" + path + "'");
}

std::vector<uint8_t> SafetensorsWriter::bytes() const {
  std::ostringstream ss(std::ios::binary);
  write(ss);
  const std::string s = ss.str();
  return std::vector<uint8_t>(s.begin(), s.end());
}

}  // namespace sieve
