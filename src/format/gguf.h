#pragma once
// GGUF (v2 and v3) reader: parses and validates the header, metadata and tensor
// table, and exposes tensors as views into the memory-mapped file. Every count,
// length and offset is checked against the bytes actually present, so a
// truncated or hostile file is refused with a message, never read past.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "format/mapped_file.h"
#include "format/tensor.h"

namespace sieve {

enum class GgufType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};

struct GgufValue;
struct GgufArray {
  GgufType elem_type = GgufType::U8;
  std::vector<GgufValue> items;
};

struct GgufValue {
  GgufType type = GgufType::U8;
  // Integers of every width are held as int64 (u64 values above 2^63 keep
  // their bits); floats as double.
  std::variant<int64_t, double, bool, std::string, GgufArray> value;

  bool is_integer() const;
  bool is_float() const { return type == GgufType::F32 || type == GgufType::F64; }
  bool is_string() const { return type == GgufType::STRING; }
  bool is_array() const { return type == GgufType::ARRAY; }
  int64_t as_int() const { return std::get<int64_t>(value); }
  double as_float() const { return std::get<double>(value); }
  bool as_bool() const { return std::get<bool>(value); }
  const std::string& as_string() const { return std::get<std::string>(value); }
  const GgufArray& as_array() const { return std::get<GgufArray>(value); }
};

class GgufFile {
 public:
  // Maps and parses a file.
  explicit GgufFile(const std::string& path);
  // Parses bytes the caller keeps alive (fuzzing, tests).
  GgufFile(const uint8_t* data, size_t size, std::string label);

  uint32_t version() const { return version_; }
  const std::string& label() const { return label_; }
  const std::map<std::string, GgufValue>& metadata() const { return metadata_; }
  const std::vector<Tensor>& tensors() const { return tensors_; }

  const GgufValue* find(const std::string& key) const;
  const Tensor* find_tensor(const std::string& name) const;

  // Typed getters: throw sieve::Error naming the key when it is missing or
  // has the wrong type. The optional forms return nullopt when missing.
  std::string get_string(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;  // accepts integers too
  std::optional<std::string> get_string_opt(const std::string& key) const;
  std::optional<int64_t> get_int_opt(const std::string& key) const;
  std::optional<double> get_float_opt(const std::string& key) const;
  std::optional<bool> get_bool_opt(const std::string& key) const;
  // Arrays: strings, floats (as float), integers (as int32).
  std::vector<std::string> get_string_array(const std::string& key) const;
  std::vector<float> get_float_array(const std::string& key) const;
  std::vector<int32_t> get_int_array(const std::string& key) const;

 private:
  void parse(const uint8_t* data, size_t size);

  std::unique_ptr<MappedFile> file_;
  std::string label_;
  uint32_t version_ = 0;
  std::map<std::string, GgufValue> metadata_;
  std::vector<Tensor> tensors_;
  std::map<std::string, size_t> tensor_index_;
};

}  // namespace sieve
