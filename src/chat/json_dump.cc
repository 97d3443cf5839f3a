// json.dumps as Python's json module writes it: the same separators,
// indentation, escapes and float formatting, dict order kept unless
// sort_keys.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "chat/builtins.h"
#include "chat/unicode.h"

namespace sieve::chat {

namespace {

void dump_string(std::string& out, const std::string& s, bool ensure_ascii) {
  out += '"';
  for (char32_t c : decode_utf8(s)) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default: {
        char buf[16];
        if (c < 0x20 || (ensure_ascii && c >= 0x7F)) {
          if (c >= 0x10000) {
            const char32_t v = c - 0x10000;
            std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", static_cast<unsigned>(0xD800 + (v >> 10)),
                          static_cast<unsigned>(0xDC00 + (v & 0x3FF)));
          } else {
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          }
          out += buf;
        } else {
          append_utf8(out, c);
        }
      }
    }
  }
  out += '"';
}

std::string key_string(const Value& k) {
  switch (k.kind) {
    case Kind::String: return k.s;
    case Kind::Bool: return k.b ? "true" : "false";
    case Kind::None: return "null";
    case Kind::Int: return std::to_string(k.i);
    case Kind::Float: return std::isfinite(k.f) ? float_repr(k.f) : std::isnan(k.f) ? "NaN" : k.f > 0 ? "Infinity" : "-Infinity";
    default: fail(std::string("TypeError: keys must be str, int, float, bool or None, not ") + type_name(k));
  }
}

void dump(std::string& out, const Value& v, const JsonStyle& st, int level) {
  if (level > 512) fail("ValueError: value nested too deeply for tojson");
  if (out.size() > (64u << 20)) fail("tojson output too large");
  auto newline = [&](int lvl) {
    out += '\n';
    for (int k = 0; k < lvl; ++k) out += st.indent;
  };
  switch (v.kind) {
    case Kind::None: out += "null"; return;
    case Kind::Bool: out += v.b ? "true" : "false"; return;
    case Kind::Int: out += std::to_string(v.i); return;
    case Kind::Float:
      if (std::isnan(v.f)) out += "NaN";
      else if (std::isinf(v.f)) out += v.f > 0 ? "Infinity" : "-Infinity";
      else out += float_repr(v.f);
      return;
    case Kind::String: dump_string(out, v.s, st.ensure_ascii); return;
    case Kind::List:
    case Kind::Tuple: {
      if (v.list->empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t k = 0; k < v.list->size(); ++k) {
        if (k) out += st.item_sep;
        if (st.indent_set) newline(level + 1);
        dump(out, (*v.list)[k], st, level + 1);
      }
      if (st.indent_set) newline(level);
      out += ']';
      return;
    }
    case Kind::Dict: {
      if (v.dict->items.empty()) {
        out += "{}";
        return;
      }
      std::vector<std::pair<std::string, const Value*>> items;
      for (const auto& [k, x] : v.dict->items) items.emplace_back(key_string(k), &x);
      if (st.sort_keys) {
        for (const auto& [k, x] : v.dict->items)
          if (!k.is_string()) fail("TypeError: '<' not supported between keys of different types");
        std::stable_sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      }
      out += '{';
      for (size_t k = 0; k < items.size(); ++k) {
        if (k) out += st.item_sep;
        if (st.indent_set) newline(level + 1);
        dump_string(out, items[k].first, st.ensure_ascii);
        out += st.key_sep;
        dump(out, *items[k].second, st, level + 1);
      }
      if (st.indent_set) newline(level);
      out += '}';
      return;
    }
    default: fail(std::string("TypeError: Object of type ") + type_name(v) + " is not JSON serializable");
  }
}

}  // namespace

std::string json_dumps(const Value& v, const JsonStyle& style) {
  std::string out;
  dump(out, v, style, 0);
  return out;
}

}  // namespace sieve::chat
