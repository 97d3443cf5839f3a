#include "tokenizer/text/pretokenizer.h"

#include <algorithm>
#include <cstdint>

#include "tokenizer/text/regex.h"
#include "util/error.h"

namespace sieve {

PreStep PreStep::regex(std::string pattern, SplitBehavior behavior, bool invert) {
  PreStep s;
  s.pattern = std::move(pattern);
  s.behavior = behavior;
  s.invert = invert;
  return s;
}

PreStep PreStep::literal(std::string_view text, SplitBehavior behavior, bool invert) {
  return regex(regex_quote(text), behavior, invert);
}

PreStep PreStep::prefix_space() {
  PreStep s;
  s.kind = Kind::PrefixSpace;
  return s;
}

PreStep PreStep::metaspace(std::string replacement, Prepend prepend, bool split) {
  PreStep s;
  s.kind = Kind::Metaspace;
  s.pattern = regex_quote(replacement);
  s.behavior = SplitBehavior::MergedWithNext;
  s.replacement = std::move(replacement);
  s.prepend = prepend;
  s.split = split;
  return s;
}

Pretokenizer::Pretokenizer(const std::vector<PreStep>& steps) {
  for (const PreStep& s : steps) {
    Step step{s, nullptr};
    if (s.kind == PreStep::Kind::Split || (s.kind == PreStep::Kind::Metaspace && s.split))
      step.re = std::make_unique<Regex>(s.pattern);
    if (s.kind == PreStep::Kind::Metaspace && s.replacement.empty())
      throw Error("Metaspace pre-tokenizer with an empty replacement");
    steps_.push_back(std::move(step));
  }
}

Pretokenizer::~Pretokenizer() = default;

namespace {

// Applies a split behaviour to the pieces of one word (Hugging Face's
// SplitDelimiterBehavior) and appends the non-empty results, with whether
// each begins the input (its own first byte, in a word that did).
void apply_behavior(std::string_view word, bool word_starts, std::vector<RegexPiece>& pieces,
                    SplitBehavior behavior, bool invert, std::vector<std::string>& out,
                    std::vector<uint8_t>& out_starts) {
  if (invert)
    for (RegexPiece& p : pieces) p.match = !p.match;
  std::vector<RegexPiece> kept;
  kept.reserve(pieces.size());
  bool prev_match = false;
  switch (behavior) {
    case SplitBehavior::Isolated:
      kept = pieces;
      break;
    case SplitBehavior::Removed:
      for (const RegexPiece& p : pieces)
        if (!p.match) kept.push_back(p);
      break;
    case SplitBehavior::MergedWithPrevious:
      for (const RegexPiece& p : pieces) {
        if (p.match && !prev_match && !kept.empty()) kept.back().end = p.end;
        else kept.push_back(p);
        prev_match = p.match;
      }
      break;
    case SplitBehavior::MergedWithNext:
      for (size_t i = pieces.size(); i-- > 0;) {
        const RegexPiece& p = pieces[i];
        if (p.match && !prev_match && !kept.empty()) kept.back().start = p.start;
        else kept.push_back(p);
        prev_match = p.match;
      }
      std::reverse(kept.begin(), kept.end());
      break;
    case SplitBehavior::Contiguous:
      for (const RegexPiece& p : pieces) {
        if (p.match == prev_match && !kept.empty()) kept.back().end = p.end;
        else kept.push_back(p);
        prev_match = p.match;
      }
      break;
  }
  for (const RegexPiece& p : kept) {
    if (p.end <= p.start) continue;
    out.emplace_back(word.substr(p.start, p.end - p.start));
    out_starts.push_back(word_starts && p.start == 0);
  }
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  std::string out;
  size_t pos = 0;
  for (size_t m = s.find(from); m != std::string::npos; m = s.find(from, pos)) {
    out.append(s, pos, m - pos);
    out += to;
    pos = m + from.size();
  }
  if (pos == 0) return;
  out.append(s, pos, std::string::npos);
  s = std::move(out);
}

}  // namespace

void Pretokenizer::split(std::string_view text, bool at_input_start, std::vector<std::string>& out) const {
  if (text.empty()) return;
  // starts[i]: word i begins the input (Metaspace's "first" scheme asks, as
  // Hugging Face asks whether a split's original offset is 0).
  std::vector<std::string> words{std::string(text)}, next;
  std::vector<uint8_t> starts{at_input_start}, next_starts;
  std::vector<RegexPiece> pieces;
  for (const Step& step : steps_) {
    const PreStep& s = step.spec;
    next.clear();
    next_starts.clear();
    for (size_t w = 0; w < words.size(); ++w) {
      std::string& word = words[w];
      switch (s.kind) {
        case PreStep::Kind::Split:
          step.re->pieces(word, pieces);
          apply_behavior(word, starts[w], pieces, s.behavior, s.invert, next, next_starts);
          break;
        case PreStep::Kind::PrefixSpace:
          if (!word.starts_with(' ')) word.insert(word.begin(), ' ');
          next.push_back(std::move(word));
          next_starts.push_back(starts[w]);
          break;
        case PreStep::Kind::Metaspace: {
          replace_all(word, " ", s.replacement);
          const bool prepend = s.prepend == PreStep::Prepend::Always ||
                               (s.prepend == PreStep::Prepend::First && starts[w]);
          if (prepend && !word.starts_with(s.replacement)) word.insert(0, s.replacement);
          if (s.split) {
            step.re->pieces(word, pieces);
            apply_behavior(word, starts[w], pieces, SplitBehavior::MergedWithNext, false, next, next_starts);
          } else {
            next.push_back(std::move(word));
            next_starts.push_back(starts[w]);
          }
          break;
        }
      }
    }
    words.swap(next);
    starts.swap(next_starts);
  }
  for (std::string& w : words)
    if (!w.empty()) out.push_back(std::move(w));
}

std::vector<std::string> Pretokenizer::words(std::string_view text) const {
  std::vector<std::string> out;
  split(text, true, out);
  return out;
}

}  // namespace sieve
