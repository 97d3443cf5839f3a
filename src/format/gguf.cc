#include "format/gguf.h"

#include <cstring>
#include <limits>

#include "util/error.h"

namespace sieve {
namespace {

constexpr int kMaxDims = 4;          // as in ggml
constexpr int kMaxArrayDepth = 4;    // nested arrays deeper than this are refused
constexpr uint64_t kMaxKeyLength = 1 << 16;

// Bounds-checked little-endian cursor over the file's bytes.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size, const std::string& label)
      : data_(data), size_(size), label_(label) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(label_ + ": invalid GGUF file: " + what + " (at byte " + std::to_string(pos_) + ")");
  }
  void need(uint64_t n, const char* what) const {
    if (n > remaining()) fail(std::string("truncated while reading ") + what);
  }
  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string read_string(const char* what, uint64_t max_len = std::numeric_limits<uint64_t>::max()) {
    uint64_t n = read<uint64_t>(what);
    if (n > max_len) fail(std::string(what) + " is " + std::to_string(n) + " bytes long");
    // A length past the end is a lie more often than a cut, so say which.
    if (n > remaining()) fail(std::string(what) + " of " + std::to_string(n) + " bytes runs past the end of the file");
    std::string s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& label_;
};

// Smallest encoded size of one value of a type; lets us refuse array counts
// that could not possibly fit in the rest of the file before allocating.
uint64_t min_encoded_size(GgufType t) {
  switch (t) {
    case GgufType::U8: case GgufType::I8: case GgufType::BOOL: return 1;
    case GgufType::U16: case GgufType::I16: return 2;
    case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
    case GgufType::U64: case GgufType::I64: case GgufType::F64: case GgufType::STRING: return 8;
    case GgufType::ARRAY: return 12;
  }
  return 1;
}

bool valid_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::F64); }

GgufValue read_value(Reader& r, GgufType type, int depth) {
  GgufValue v;
  v.type = type;
  switch (type) {
    case GgufType::U8: v.value = int64_t{r.read<uint8_t>("u8 value")}; break;
    case GgufType::I8: v.value = int64_t{r.read<int8_t>("i8 value")}; break;
    case GgufType::U16: v.value = int64_t{r.read<uint16_t>("u16 value")}; break;
    case GgufType::I16: v.value = int64_t{r.read<int16_t>("i16 value")}; break;
    case GgufType::U32: v.value = int64_t{r.read<uint32_t>("u32 value")}; break;
    case GgufType::I32: v.value = int64_t{r.read<int32_t>("i32 value")}; break;
    case GgufType::U64: v.value = static_cast<int64_t>(r.read<uint64_t>("u64 value")); break;
    case GgufType::I64: v.value = r.read<int64_t>("i64 value"); break;
    case GgufType::F32: v.value = double{r.read<float>("f32 value")}; break;
    case GgufType::F64: v.value = r.read<double>("f64 value"); break;
    case GgufType::BOOL: {
      uint8_t b = r.read<uint8_t>("bool value");
      if (b > 1) r.fail("bool value " + std::to_string(b) + " is neither 0 nor 1");
      v.value = b != 0;
      break;
    }
    case GgufType::STRING: v.value = r.read_string("string value"); break;
    case GgufType::ARRAY: {
      if (depth >= kMaxArrayDepth) r.fail("arrays nested too deeply");
      uint32_t et = r.read<uint32_t>("array element type");
      if (!valid_type(et)) r.fail("unknown array element type " + std::to_string(et));
      uint64_t n = r.read<uint64_t>("array length");
      GgufType elem = static_cast<GgufType>(et);
      if (n > r.remaining() / min_encoded_size(elem))
        r.fail("array of " + std::to_string(n) + " elements does not fit in the file");
      GgufArray arr;
      arr.elem_type = elem;
      arr.items.reserve(n);
      for (uint64_t i = 0; i < n; ++i) arr.items.push_back(read_value(r, elem, depth + 1));
      v.value = std::move(arr);
      break;
    }
  }
  return v;
}

const char* type_name(GgufType t) {
  static const char* names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                "bool", "string", "array", "u64", "i64", "f64"};
  return names[static_cast<uint32_t>(t)];
}

}  // namespace

bool GgufValue::is_integer() const {
  switch (type) {
    case GgufType::U8: case GgufType::I8: case GgufType::U16: case GgufType::I16:
    case GgufType::U32: case GgufType::I32: case GgufType::U64: case GgufType::I64:
      return true;
    default:
      return false;
  }
}

GgufFile::GgufFile(const std::string& path)
    : file_(std::make_unique<MappedFile>(path)), label_(path) {
  parse(file_->data(), file_->size());
}

GgufFile::GgufFile(const uint8_t* data, size_t size, std::string label) : label_(std::move(label)) {
  parse(data, size);
}

void GgufFile::parse(const uint8_t* data, size_t size) {
  Reader r(data, size, label_);
  r.need(4, "magic");
  if (std::memcmp(data, "GGUF", 4) != 0) throw Error(label_ + ": not a GGUF file (wrong magic)");
  r.read<uint32_t>("magic");
  version_ = r.read<uint32_t>("version");
  if (version_ != 2 && version_ != 3)
    throw Error(label_ + ": unsupported GGUF version " + std::to_string(version_) + " (sieve reads 2 and 3)");
  uint64_t n_tensors = r.read<uint64_t>("tensor count");
  uint64_t n_kv = r.read<uint64_t>("metadata count");
  // Each metadata entry takes at least 8 (key length) + 4 (type) + 1 bytes;
  // each tensor entry at least 8 + 4 + 8 + 4 + 8.
  if (n_kv > r.remaining() / 13) r.fail("metadata count " + std::to_string(n_kv) + " does not fit in the file");
  if (n_tensors > r.remaining() / 32) r.fail("tensor count " + std::to_string(n_tensors) + " does not fit in the file");

  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = r.read_string("metadata key", kMaxKeyLength);
    uint32_t t = r.read<uint32_t>("metadata type");
    if (!valid_type(t)) r.fail("metadata '" + key + "' has unknown type " + std::to_string(t));
    GgufValue v = read_value(r, static_cast<GgufType>(t), 0);
    if (!metadata_.emplace(key, std::move(v)).second) r.fail("duplicate metadata key '" + key + "'");
  }

  uint64_t alignment = 32;
  if (const GgufValue* a = find("general.alignment")) {
    if (!a->is_integer() || a->as_int() <= 0 || (a->as_int() & (a->as_int() - 1)) != 0)
      throw Error(label_ + ": general.alignment must be a positive power of two");
    alignment = static_cast<uint64_t>(a->as_int());
  }

  struct Pending {
    uint64_t offset;
  };
  std::vector<Pending> offsets;
  for (uint64_t i = 0; i < n_tensors; ++i) {
    Tensor t;
    t.name = r.read_string("tensor name", kMaxKeyLength);
    uint32_t n_dims = r.read<uint32_t>("tensor dimension count");
    if (n_dims == 0 || n_dims > kMaxDims)
      r.fail("tensor '" + t.name + "' has " + std::to_string(n_dims) + " dimensions (1 to 4 allowed)");
    uint64_t elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t dim = r.read<uint64_t>("tensor dimension");
      if (dim == 0 || dim > (uint64_t{1} << 40) || elements > (uint64_t{1} << 50) / dim)
        r.fail("tensor '" + t.name + "' has an absurd dimension " + std::to_string(dim));
      elements *= dim;
      t.shape.push_back(static_cast<int64_t>(dim));
    }
    uint32_t type_id = r.read<uint32_t>("tensor type");
    std::optional<DType> type = dtype_from_gguf(type_id);
    if (!type) r.fail("tensor '" + t.name + "' has unsupported type " + std::to_string(type_id));
    t.type = *type;
    const DTypeInfo& info = dtype_info(t.type);
    if (t.shape[0] % info.block_elems != 0)
      r.fail("tensor '" + t.name + "' row length " + std::to_string(t.shape[0]) +
             " is not a multiple of the " + info.name + " block size " + std::to_string(info.block_elems));
    t.nbytes = static_cast<size_t>(elements / info.block_elems) * info.block_bytes;
    uint64_t offset = r.read<uint64_t>("tensor offset");
    if (offset % alignment != 0) r.fail("tensor '" + t.name + "' offset is not aligned");
    if (tensor_index_.count(t.name)) r.fail("duplicate tensor '" + t.name + "'");
    tensor_index_[t.name] = tensors_.size();
    tensors_.push_back(std::move(t));
    offsets.push_back({offset});
  }

  uint64_t data_start = (r.pos() + alignment - 1) / alignment * alignment;
  if (n_tensors > 0 && data_start > size) r.fail("tensor data section starts past the end of the file");
  for (size_t i = 0; i < tensors_.size(); ++i) {
    Tensor& t = tensors_[i];
    uint64_t off = offsets[i].offset;
    if (off > size - data_start || t.nbytes > size - data_start - off)
      throw Error(label_ + ": tensor '" + t.name + "' (" + std::to_string(t.nbytes) + " bytes at offset " +
                  std::to_string(off) + ") runs past the end of the file (" + std::to_string(size) + " bytes)");
    t.data = data + data_start + off;
  }
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = metadata_.find(key);
  return it == metadata_.end() ? nullptr : &it->second;
}

const Tensor* GgufFile::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

namespace {
[[noreturn]] void wrong_type(const std::string& label, const std::string& key, const char* want, GgufType got) {
  throw Error(label + ": metadata '" + key + "' should be " + want + " but is " + type_name(got));
}
}  // namespace

std::optional<std::string> GgufFile::get_string_opt(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (!v->is_string()) wrong_type(label_, key, "a string", v->type);
  return v->as_string();
}

std::optional<int64_t> GgufFile::get_int_opt(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (!v->is_integer()) wrong_type(label_, key, "an integer", v->type);
  return v->as_int();
}

std::optional<double> GgufFile::get_float_opt(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->is_float()) return v->as_float();
  if (v->is_integer()) return static_cast<double>(v->as_int());
  wrong_type(label_, key, "a number", v->type);
}

std::optional<bool> GgufFile::get_bool_opt(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != GgufType::BOOL) wrong_type(label_, key, "a bool", v->type);
  return v->as_bool();
}

std::string GgufFile::get_string(const std::string& key) const {
  auto v = get_string_opt(key);
  if (!v) throw Error(label_ + ": missing metadata '" + key + "'");
  return *v;
}

int64_t GgufFile::get_int(const std::string& key) const {
  auto v = get_int_opt(key);
  if (!v) throw Error(label_ + ": missing metadata '" + key + "'");
  return *v;
}

double GgufFile::get_float(const std::string& key) const {
  auto v = get_float_opt(key);
  if (!v) throw Error(label_ + ": missing metadata '" + key + "'");
  return *v;
}

namespace {
const GgufArray& array_of(const GgufFile& f, const std::string& key) {
  const GgufValue* v = f.find(key);
  if (!v) throw Error(f.label() + ": missing metadata '" + key + "'");
  if (!v->is_array()) wrong_type(f.label(), key, "an array", v->type);
  return v->as_array();
}
}  // namespace

std::vector<std::string> GgufFile::get_string_array(const std::string& key) const {
  const GgufArray& a = array_of(*this, key);
  if (a.elem_type != GgufType::STRING) wrong_type(label_, key, "an array of strings", a.elem_type);
  std::vector<std::string> out;
  out.reserve(a.items.size());
  for (const GgufValue& v : a.items) out.push_back(v.as_string());
  return out;
}

std::vector<float> GgufFile::get_float_array(const std::string& key) const {
  const GgufArray& a = array_of(*this, key);
  std::vector<float> out;
  out.reserve(a.items.size());
  for (const GgufValue& v : a.items) {
    if (v.is_float()) out.push_back(static_cast<float>(v.as_float()));
    else if (v.is_integer()) out.push_back(static_cast<float>(v.as_int()));
    else wrong_type(label_, key, "an array of numbers", a.elem_type);
  }
  return out;
}

std::vector<int32_t> GgufFile::get_int_array(const std::string& key) const {
  const GgufArray& a = array_of(*this, key);
  std::vector<int32_t> out;
  out.reserve(a.items.size());
  for (const GgufValue& v : a.items) {
    if (!v.is_integer()) wrong_type(label_, key, "an array of integers", a.elem_type);
    out.push_back(static_cast<int32_t>(v.as_int()));
  }
  return out;
}

}  // namespace sieve
