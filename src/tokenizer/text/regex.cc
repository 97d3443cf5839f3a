#include "tokenizer/text/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "tokenizer/utf8.h"
#include "util/error.h"

namespace sieve {

namespace {

// Oniguruma (which Hugging Face tokenizers use) matches \s against Unicode
// White_Space; PCRE2's \s in UCP mode leaves out U+0085. Spelling the class
// out keeps the two engines splitting identically.
constexpr std::string_view kSpaceClass = R"(\t\n\x0B\f\r\x{85}\p{Z})";

std::string rewrite_space_escapes(const std::string& pattern) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[++i];
      if (e == 's') {
        if (in_class) out += kSpaceClass;
        else out += "[" + std::string(kSpaceClass) + "]";
      } else if (e == 'S' && !in_class) {
        out += "[^" + std::string(kSpaceClass) + "]";
      } else if (e == 'x' && i + 1 < pattern.size() && pattern[i + 1] == '{') {
        // \x{...} is copied whole so its digits are not read as escapes.
        const size_t close = pattern.find('}', i);
        const size_t end = close == std::string::npos ? pattern.size() : close + 1;
        out += c;
        out.append(pattern, i, end - i);
        i = end - 1;
      } else {
        out += c;
        out += e;
      }
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
      out += c;
      // A ']' right after '[' or '[^' is a literal member.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
      continue;
    }
    if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

}  // namespace

std::string regex_quote(std::string_view text) {
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    const bool plain = (u >= '0' && u <= '9') || (u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || u >= 0x80;
    if (!plain) {
      // \x{..} for every ASCII symbol: never a metacharacter, in or out of
      // a class, and NUL survives too.
      static const char* hex = "0123456789ABCDEF";
      out += "\\x{";
      out += hex[u >> 4];
      out += hex[u & 15];
      out += '}';
    } else {
      out += c;
    }
  }
  return out;
}

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

Regex::Regex(const std::string& pattern) {
  const std::string rewritten = rewrite_space_escapes(pattern);
  int err = 0;
  PCRE2_SIZE err_off = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(rewritten.data()), rewritten.size(),
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &err_off, nullptr);
  if (!code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    throw Error("pre-tokenizer regex does not compile (" + std::string(reinterpret_cast<char*>(msg)) +
                " at offset " + std::to_string(err_off) + "): " + pattern);
  }
  // JIT is an optimisation only; the interpreter gives the same matches.
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  code_ = code;
}

namespace {

// Match data, match context and JIT stack, made once per thread: making them
// per call cost more than the matching on short words. The match data holds
// 32 pairs; a pattern with more groups still reports the whole match.
struct MatchResources {
  pcre2_match_data* md = pcre2_match_data_create(32, nullptr);
  pcre2_match_context* mctx = pcre2_match_context_create(nullptr);
  // Long runs of whitespace or punctuation need more than the default 32 KiB.
  pcre2_jit_stack* stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
  MatchResources() {
    if (!md || !mctx || !stack) throw Error("out of memory in the pre-tokenizer");
    pcre2_jit_stack_assign(mctx, nullptr, stack);
  }
  ~MatchResources() {
    pcre2_match_data_free(md);
    pcre2_match_context_free(mctx);
    pcre2_jit_stack_free(stack);
  }
};

}  // namespace

void Regex::pieces(std::string_view text, std::vector<RegexPiece>& out) const {
  auto* code = static_cast<pcre2_code*>(code_);
  out.clear();
  thread_local MatchResources r;
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t offset = 0, prev = 0;
  uint32_t options = 0;
  while (offset <= text.size()) {
    const int rc = pcre2_match(code, subject, text.size(), offset, options, r.md, r.mctx);
    if (rc == PCRE2_ERROR_NOMATCH) {
      if (options == 0) break;
      // No non-empty match right after an empty one: step one character.
      if (offset >= text.size()) break;
      offset += utf8::char_length(text, offset);
      options = 0;
      continue;
    }
    if (rc < 0) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof msg);
      throw Error("pre-tokenizer regex failed: " + std::string(reinterpret_cast<char*>(msg)));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(r.md);
    const size_t start = ov[0], end = ov[1];
    if (start > prev) out.push_back(RegexPiece{prev, start, false});
    out.push_back(RegexPiece{start, end, true});
    prev = end;
    offset = end;
    // After an empty match, look for a non-empty one at the same place
    // before moving on (the usual find-all rule).
    options = start == end ? (PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED) : 0;
    if (start == end && end >= text.size()) break;
  }
  if (prev < text.size()) out.push_back(RegexPiece{prev, text.size(), false});
}

}  // namespace sieve
