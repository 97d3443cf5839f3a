// StreamDecoder: decode() one token at a time. Text is produced through
// Tokenizer::decode_append, so the pieces are exactly decode()'s; only their
// release is delayed while the tail is an unfinished UTF-8 character (a
// byte-fallback emoji arrives as four tokens).
#include <utility>

#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace sieve {

std::string StreamDecoder::push(int32_t id) {
  at_start_ = tokenizer_.decode_append(id, at_start_, pending_);
  const size_t ready = utf8::complete_prefix(pending_);
  std::string out = pending_.substr(0, ready);
  pending_.erase(0, ready);
  return out;
}

std::string StreamDecoder::flush() { return std::exchange(pending_, std::string()); }

}  // namespace sieve
