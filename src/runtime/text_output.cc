#include "runtime/text_output.h"

#include <algorithm>

namespace sieve {
namespace {

// Length of the longest suffix of text that is a proper prefix of a stop
// string: that much must be held back while streaming.
size_t held_back(const std::string& text, const std::vector<std::string>& stops) {
  size_t hold = 0;
  for (const std::string& s : stops)
    for (size_t k = std::min(s.size() - 1, text.size()); k > hold; --k)
      if (text.compare(text.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
  return hold;
}

}  // namespace

TextOutput::TextOutput(const Tokenizer& tokenizer, std::vector<std::string> stops)
    : decoder_(tokenizer), stops_(std::move(stops)) {}

std::string TextOutput::push(int32_t token, bool& stopped) {
  stopped = false;
  pending_ += decoder_.push(token);
  // The earliest stop string wins; only the text since the last push can
  // complete one, but a stop may begin in the held-back part.
  size_t cut = std::string::npos;
  for (const std::string& s : stops_) cut = std::min(cut, pending_.find(s));
  if (cut != std::string::npos) {
    stopped = true;
    std::string out = pending_.substr(0, cut);
    pending_.clear();
    return out;
  }
  const size_t hold = held_back(pending_, stops_);
  std::string ready = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, ready.size());
  return ready;
}

std::string TextOutput::flush() {
  std::string out = pending_ + decoder_.flush();
  pending_.clear();
  return out;
}

}  // namespace sieve
