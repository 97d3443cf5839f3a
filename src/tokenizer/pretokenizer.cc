#include "tokenizer/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <map>

#include "tokenizer/utf8.h"
#include "util/error.h"

namespace sieve {

namespace {

// The patterns as the original tokenizer.json files spell them.
const char* const kGpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
const char* const kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kQwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

const std::map<std::string, const char*>& known_pres() {
  static const std::map<std::string, const char*> pres = {
      {"default", kGpt2},   {"gpt-2", kGpt2},       {"phi-2", kGpt2},
      {"llama-bpe", kLlama3}, {"llama3", kLlama3},  {"llama-v3", kLlama3}, {"dbrx", kLlama3}, {"smaug-bpe", kLlama3},
      {"qwen2", kQwen2},    {"deepseek-r1-qwen", kQwen2}, {"stablelm2", kQwen2},
  };
  return pres;
}

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

struct Pretokenizer::Regex {
  pcre2_code* code = nullptr;
  ~Regex() { pcre2_code_free(code); }
};

Pretokenizer::Pretokenizer(const std::vector<std::string>& patterns) {
  for (const std::string& p : patterns) {
    const std::string rewritten = rewrite_space_escapes(p);
    int err = 0;
    PCRE2_SIZE err_off = 0;
    auto re = std::make_unique<Regex>();
    re->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(rewritten.data()), rewritten.size(),
                             PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &err_off, nullptr);
    if (!re->code) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      throw Error("pre-tokenizer regex does not compile (" + std::string(reinterpret_cast<char*>(msg)) +
                  " at offset " + std::to_string(err_off) + "): " + p);
    }
    // JIT is an optimisation only; the interpreter gives the same matches.
    pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE);
    regexes_.push_back(std::move(re));
  }
}

Pretokenizer::~Pretokenizer() = default;

std::vector<std::string> Pretokenizer::patterns_for(const std::string& pre) {
  const auto& pres = known_pres();
  auto it = pres.find(pre);
  if (it == pres.end()) {
    std::string known;
    for (const auto& [name, pattern] : pres) known += (known.empty() ? "" : ", ") + name;
    throw Error("unknown pre-tokenizer '" + pre + "' (tokenizer.ggml.pre); known: " + known);
  }
  return {it->second};
}

void Pretokenizer::split(std::string_view text, std::vector<std::string_view>& out) const {
  if (regexes_.empty()) {
    if (!text.empty()) out.push_back(text);
    return;
  }
  std::vector<std::string_view> words{text}, next;
  for (const auto& re : regexes_) {
    next.clear();
    for (std::string_view w : words) split_one(*re, w, next);
    words.swap(next);
  }
  out.insert(out.end(), words.begin(), words.end());
}

void Pretokenizer::split_one(const Regex& re, std::string_view text, std::vector<std::string_view>& out) const {
  if (text.empty()) return;
  struct Resources {
    pcre2_match_data* md = nullptr;
    pcre2_match_context* mctx = nullptr;
    pcre2_jit_stack* stack = nullptr;
    ~Resources() {
      pcre2_match_data_free(md);
      pcre2_match_context_free(mctx);
      pcre2_jit_stack_free(stack);
    }
  } r;
  r.md = pcre2_match_data_create_from_pattern(re.code, nullptr);
  r.mctx = pcre2_match_context_create(nullptr);
  // Long runs of whitespace or punctuation need more than the default 32 KiB.
  r.stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
  if (!r.md || !r.mctx || !r.stack) throw Error("out of memory in the pre-tokenizer");
  pcre2_jit_stack_assign(r.mctx, nullptr, r.stack);

  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t offset = 0, emitted = 0;
  while (offset < text.size()) {
    const int rc = pcre2_match(re.code, subject, text.size(), offset, 0, r.md, r.mctx);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof msg);
      throw Error("pre-tokenizer regex failed: " + std::string(reinterpret_cast<char*>(msg)));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(r.md);
    const size_t start = ov[0], end = ov[1];
    if (end <= start) {  // empty match: step over one character
      if (start >= text.size()) break;
      offset = start + utf8::char_length(text, start);
      continue;
    }
    if (start > emitted) out.push_back(text.substr(emitted, start - emitted));
    out.push_back(text.substr(start, end - start));
    emitted = offset = end;
  }
  if (emitted < text.size()) out.push_back(text.substr(emitted));
}

}  // namespace sieve
