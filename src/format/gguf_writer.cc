#include "format/gguf_writer.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <type_traits>

#include "util/error.h"

namespace sieve {
namespace gguf_value {
namespace {
GgufValue integer(GgufType t, int64_t v) {
  GgufValue g;
  g.type = t;
  g.value = v;
  return g;
}
}  // namespace

GgufValue u8(uint8_t v) { return integer(GgufType::U8, v); }
GgufValue i8(int8_t v) { return integer(GgufType::I8, v); }
GgufValue u16(uint16_t v) { return integer(GgufType::U16, v); }
GgufValue i16(int16_t v) { return integer(GgufType::I16, v); }
GgufValue u32(uint32_t v) { return integer(GgufType::U32, v); }
GgufValue i32(int32_t v) { return integer(GgufType::I32, v); }
// Held as int64 with the same bits, as GgufFile holds u64 values.
GgufValue u64(uint64_t v) { return integer(GgufType::U64, static_cast<int64_t>(v)); }
GgufValue i64(int64_t v) { return integer(GgufType::I64, v); }

GgufValue f32(float v) {
  GgufValue g;
  g.type = GgufType::F32;
  g.value = static_cast<double>(v);
  return g;
}
GgufValue f64(double v) {
  GgufValue g;
  g.type = GgufType::F64;
  g.value = v;
  return g;
}
GgufValue boolean(bool v) {
  GgufValue g;
  g.type = GgufType::BOOL;
  g.value = v;
  return g;
}
GgufValue string(std::string v) {
  GgufValue g;
  g.type = GgufType::STRING;
  g.value = std::move(v);
  return g;
}
GgufValue array(GgufType elem, std::vector<GgufValue> items) {
  for (const GgufValue& v : items)
    if (v.type != elem) throw Error("GGUF array: an item's type differs from the array's element type");
  GgufValue g;
  g.type = GgufType::ARRAY;
  g.value = GgufArray{elem, std::move(items)};
  return g;
}
GgufValue string_array(const std::vector<std::string>& v) {
  std::vector<GgufValue> items;
  items.reserve(v.size());
  for (const std::string& s : v) items.push_back(string(s));
  return array(GgufType::STRING, std::move(items));
}
GgufValue f32_array(const std::vector<float>& v) {
  std::vector<GgufValue> items;
  items.reserve(v.size());
  for (float f : v) items.push_back(f32(f));
  return array(GgufType::F32, std::move(items));
}
GgufValue i32_array(const std::vector<int32_t>& v) {
  std::vector<GgufValue> items;
  items.reserve(v.size());
  for (int32_t i : v) items.push_back(i32(i));
  return array(GgufType::I32, std::move(items));
}
}  // namespace gguf_value

std::vector<uint8_t> encode_floats(const float* values, size_t n, DType type) {
  std::vector<uint8_t> out;
  if (type == DType::F32) {
    out.resize(n * 4);
    if (n) std::memcpy(out.data(), values, n * 4);
    return out;
  }
  if (type != DType::F16 && type != DType::BF16)
    throw Error(std::string("encode_floats: cannot store floats as ") + dtype_name(type) + " (F32, F16, BF16)");
  out.resize(n * 2);
  for (size_t i = 0; i < n; ++i) {
    uint16_t h;
    if (type == DType::F16) {
      // The compiler's conversion rounds to nearest even, as llama.cpp's does.
      _Float16 v = static_cast<_Float16>(values[i]);
      std::memcpy(&h, &v, 2);
    } else {
      uint32_t u;
      std::memcpy(&u, &values[i], 4);
      if ((u & 0x7fffffffu) > 0x7f800000u) h = static_cast<uint16_t>((u >> 16) | 0x40);  // keep NaN a NaN
      else h = static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    }
    std::memcpy(&out[2 * i], &h, 2);
  }
  return out;
}

namespace {

// Little-endian output with a running byte count (for alignment padding).
class Out {
 public:
  explicit Out(std::ostream& os) : os_(os) {}
  template <typename T>
  void put(T v) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    raw(b, sizeof(T));
  }
  void raw(const void* p, size_t n) {
    os_.write(static_cast<const char*>(p), static_cast<std::streamsize>(n));
    pos_ += n;
  }
  void str(const std::string& s) {
    put<uint64_t>(s.size());
    raw(s.data(), s.size());
  }
  void pad(uint64_t alignment) {
    static const char zeros[256] = {};
    while (pos_ % alignment != 0) raw(zeros, std::min<uint64_t>(alignment - pos_ % alignment, sizeof(zeros)));
  }
  uint64_t pos() const { return pos_; }

 private:
  std::ostream& os_;
  uint64_t pos_ = 0;
};

// Refuses integers that do not fit the declared width, so a value is never
// silently truncated on the way to disk.
template <typename T>
T narrow(int64_t v, const std::string& key) {
  if constexpr (std::is_unsigned_v<T> && sizeof(T) == 8) {
    return static_cast<T>(v);  // u64 keeps its bits in an int64
  } else {
    if (v < static_cast<int64_t>(std::numeric_limits<T>::min()) || v > static_cast<int64_t>(std::numeric_limits<T>::max()))
      throw Error("GGUF metadata '" + key + "': value " + std::to_string(v) + " does not fit its type");
    return static_cast<T>(v);
  }
}

void put_value(Out& o, const GgufValue& v, const std::string& key) {
  auto as_int = [&] {
    if (!std::holds_alternative<int64_t>(v.value)) throw Error("GGUF metadata '" + key + "': integer type without an integer");
    return std::get<int64_t>(v.value);
  };
  switch (v.type) {
    case GgufType::U8: o.put(narrow<uint8_t>(as_int(), key)); break;
    case GgufType::I8: o.put(narrow<int8_t>(as_int(), key)); break;
    case GgufType::U16: o.put(narrow<uint16_t>(as_int(), key)); break;
    case GgufType::I16: o.put(narrow<int16_t>(as_int(), key)); break;
    case GgufType::U32: o.put(narrow<uint32_t>(as_int(), key)); break;
    case GgufType::I32: o.put(narrow<int32_t>(as_int(), key)); break;
    case GgufType::U64: o.put(narrow<uint64_t>(as_int(), key)); break;
    case GgufType::I64: o.put(as_int()); break;
    case GgufType::F32: o.put(static_cast<float>(std::get<double>(v.value))); break;
    case GgufType::F64: o.put(std::get<double>(v.value)); break;
    case GgufType::BOOL: o.put<uint8_t>(std::get<bool>(v.value) ? 1 : 0); break;
    case GgufType::STRING: o.str(std::get<std::string>(v.value)); break;
    case GgufType::ARRAY: {
      const GgufArray& a = std::get<GgufArray>(v.value);
      o.put(static_cast<uint32_t>(a.elem_type));
      o.put<uint64_t>(a.items.size());
      for (const GgufValue& item : a.items) {
        if (item.type != a.elem_type) throw Error("GGUF metadata '" + key + "': array item of the wrong type");
        put_value(o, item, key);
      }
      break;
    }
    default:
      throw Error("GGUF metadata '" + key + "': unknown value type");
  }
}

uint64_t align_up(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

}  // namespace

GgufWriter::GgufWriter(uint32_t alignment) : alignment_(alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) throw Error("GGUF alignment must be a power of two");
  if (alignment != 32) set("general.alignment", gguf_value::u32(alignment));
}

void GgufWriter::set(const std::string& key, GgufValue value) {
  if (key == "general.alignment" && (!value.is_integer() || value.as_int() != alignment_))
    throw Error("general.alignment is set by the GgufWriter constructor");
  for (Entry& e : metadata_)
    if (e.key == key) {
      e.value = std::move(value);
      return;
    }
  metadata_.push_back({key, std::move(value)});
}

bool GgufWriter::has(const std::string& key) const {
  for (const Entry& e : metadata_)
    if (e.key == key) return true;
  return false;
}

void GgufWriter::check_tensor(const std::string& name, DType type, const std::vector<int64_t>& shape,
                              size_t nbytes) const {
  if (shape.empty() || shape.size() > 4) throw Error("GGUF tensor '" + name + "' needs 1 to 4 dimensions");
  int64_t elements = 1;
  for (int64_t d : shape) {
    if (d <= 0) throw Error("GGUF tensor '" + name + "' has a non-positive dimension");
    elements *= d;
  }
  const DTypeInfo& info = dtype_info(type);
  if (shape[0] % info.block_elems != 0)
    throw Error("GGUF tensor '" + name + "': row length " + std::to_string(shape[0]) + " is not a whole number of " +
                info.name + " blocks");
  const size_t want = static_cast<size_t>(elements / info.block_elems) * static_cast<size_t>(info.block_bytes);
  if (nbytes != want)
    throw Error("GGUF tensor '" + name + "' has " + std::to_string(nbytes) + " bytes, its shape needs " +
                std::to_string(want));
  for (const PendingTensor& t : tensors_)
    if (t.name == name) throw Error("GGUF tensor '" + name + "' added twice");
}

void GgufWriter::add_tensor(const std::string& name, DType type, std::vector<int64_t> shape, std::vector<uint8_t> data) {
  check_tensor(name, type, shape, data.size());
  const size_t n = data.size();
  tensors_.push_back({name, type, std::move(shape), std::move(data), nullptr, n});
}

void GgufWriter::add_tensor_view(const std::string& name, DType type, std::vector<int64_t> shape,
                                 const uint8_t* data, size_t nbytes) {
  check_tensor(name, type, shape, nbytes);
  tensors_.push_back({name, type, std::move(shape), {}, data, nbytes});
}

void GgufWriter::add_tensor_f32(const std::string& name, std::vector<int64_t> shape, const float* values,
                                DType store_as) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  add_tensor(name, store_as, std::move(shape), encode_floats(values, static_cast<size_t>(std::max<int64_t>(n, 0)), store_as));
}

void GgufWriter::write(std::ostream& os) const {
  Out o(os);
  o.raw("GGUF", 4);
  o.put<uint32_t>(3);
  o.put<uint64_t>(tensors_.size());
  o.put<uint64_t>(metadata_.size());
  for (const Entry& e : metadata_) {
    o.str(e.key);
    o.put(static_cast<uint32_t>(e.value.type));
    put_value(o, e.value, e.key);
  }
  // Offsets are relative to the start of the (aligned) data section; each
  // tensor starts on an alignment boundary.
  uint64_t offset = 0;
  for (const PendingTensor& t : tensors_) {
    o.str(t.name);
    o.put<uint32_t>(static_cast<uint32_t>(t.shape.size()));
    for (int64_t d : t.shape) o.put<uint64_t>(static_cast<uint64_t>(d));
    o.put(static_cast<uint32_t>(t.type));
    o.put<uint64_t>(offset);
    offset = align_up(offset + t.nbytes, alignment_);
  }
  o.pad(alignment_);
  for (const PendingTensor& t : tensors_) {
    o.raw(t.owned.empty() ? t.data : t.owned.data(), t.nbytes);
    o.pad(alignment_);
  }
  if (!os) throw Error("GGUF write failed");
}

void GgufWriter::write(const std::string& path) const {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error("cannot create '" + path + "'");
  write(out);
  out.close();
  if (!out) throw Error("cannot write '" + path + "'");
}

std::vector<uint8_t> GgufWriter::bytes() const {
  std::ostringstream ss(std::ios::binary);
  write(ss);
  const std::string s = ss.str();
  return std::vector<uint8_t>(s.begin(), s.end());
}

}  // namespace sieve
