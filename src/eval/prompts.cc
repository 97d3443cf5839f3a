#include "eval/prompts.h"

#include <algorithm>
#include <numeric>

#include "eval/rng.h"
#include "util/error.h"

namespace sieve::eval {
namespace {

constexpr std::string_view kPasskeyHeader =
    "There is an important info hidden inside a lot of irrelevant text. Find it and memorize it. "
    "I will quiz you about the important information there.\n";
constexpr std::string_view kNiahHeader =
    "Some special magic numbers are hidden within the following text. Make sure to memorize them. "
    "I will quiz you about the numbers afterwards.\n";

std::string passkey_needle(const std::string& k) {
  return " The pass key is " + k + ". Remember it. " + k + " is the pass key. ";
}
std::string niah_needle(const std::string& word, const std::string& n) {
  return " One of the special magic numbers for " + word + " is: " + n + ". ";
}
std::string niah_question(const std::string& word) {
  return "\nWhat is the special magic number for " + word +
         " mentioned in the provided text? The special magic number for " + word + " mentioned in the provided text is";
}
constexpr std::string_view kPasskeyQuestion = "\nWhat is the pass key? The pass key is";

// Other needles and random depths are drawn in parts per million of the hay,
// so the draw does not depend on n_hay (which depends on the drawn numbers).
constexpr int64_t kPpm = 1000000;

}  // namespace

Task parse_task(const std::string& name) {
  for (Task t : {Task::Passkey, Task::Niah, Task::NiahMultikey, Task::Ppl, Task::PplStream})
    if (name == task_name(t)) return t;
  throw Error("unknown task '" + name + "' (valid: passkey, niah, niah-multikey, ppl, ppl-stream)");
}

const char* task_name(Task task) {
  switch (task) {
    case Task::Passkey: return "passkey";
    case Task::Niah: return "niah";
    case Task::NiahMultikey: return "niah-multikey";
    case Task::Ppl: return "ppl";
    case Task::PplStream: return "ppl-stream";
  }
  return "?";
}

bool is_retrieval(Task task) { return task == Task::Passkey || task == Task::Niah || task == Task::NiahMultikey; }

PieceMode parse_piece_mode(const std::string& name) {
  if (name == "separate") return PieceMode::Separate;
  if (name == "joined") return PieceMode::Joined;
  throw Error("unknown piece tokenization '" + name + "' (valid: separate, joined)");
}

const std::vector<std::string>& needle_words() {
  static const std::vector<std::string> words{
      "apple",   "river",  "stone",   "cloud",   "tiger",   "violet",  "copper", "window", "garden",  "silver",
      "planet",  "rocket", "lemon",   "forest",  "harbor",  "candle",  "marble", "orange", "dragon",  "falcon",
      "meadow",  "winter", "summer",  "autumn",  "spring",  "castle",  "bridge", "island", "desert",  "canyon",
      "glacier", "thunder", "shadow", "crystal", "ember",   "breeze",  "pepper", "walnut", "cedar",   "maple",
      "willow",  "raven",  "otter",   "badger",  "salmon",  "coral",   "amber",  "indigo", "scarlet", "cobalt",
      "saffron", "ginger", "cactus",  "lotus",   "orchid",  "tulip",   "jasmine", "basil", "quartz",  "onyx",
      "topaz",   "garnet", "pearl"};
  return words;
}

PromptBuilder::PromptBuilder(const Tokenizer& tokenizer, std::string_view haystack, PieceMode mode)
    : tokenizer_(tokenizer), mode_(mode) {
  hay_ = tokenizer.encode(haystack, /*add_special=*/false);
  if (hay_.empty()) throw Error("the haystack is empty");
  const std::vector<int32_t> a = tokenizer.encode("a", false);
  dummy_prefix_ = !a.empty() && tokenizer.piece(a[0]).starts_with(' ');
}

// SentencePiece tokenizers (the test model's included) put a space before
// every text they encode, so a piece encoded on its own does not come out as
// it would inside one string: " The pass key is 1. ..." becomes "▁▁" "The"
// ... instead of "▁The" ..., its trailing space a lone "▁", and "\nWhat is"
// starts with a lone "▁". Separate mode (the default) keeps exactly that,
// because it is what the test model was trained on: scored with the model,
// every template token after the needle's "▁▁" is predicted almost surely
// (NLL ~0.00 per token, the trailing lone "▁" included; the digits ~ln 10
// each), "What" after the question's "▁" "\n" costs 0.00 nats, and the
// model answers "▁" + digits as if " is 71432." had been one string. In
// joined mode the same needle costs ~55 nats more and "What" ~12 nats, and
// passkey accuracy (full attention, 10 random-depth samples) falls from
// 1.0 to 0.9 at 4096 tokens and from 1.0 to 0.4 at 8192.
// Joined mode makes each piece tokenize as inside one string: a leading space
// is left to the dummy prefix (giving "▁The"), a lone "▁" before a newline is
// dropped, and a trailing space is dropped because the hay token after a
// needle carries its own "▁" when it starts a word. It serves models trained
// on text-space templates and measures the test model's sensitivity to it.
std::vector<int32_t> PromptBuilder::piece(std::string_view text) const {
  if (mode_ == PieceMode::Separate || !dummy_prefix_) return tokenizer_.encode(text, false);
  const bool leading_space = text.starts_with(' ');
  if (leading_space) text.remove_prefix(1);
  while (text.ends_with(' ')) text.remove_suffix(1);
  std::vector<int32_t> ids = tokenizer_.encode(text, false);
  if (!leading_space && !ids.empty() && tokenizer_.piece(ids[0]) == " ") ids.erase(ids.begin());
  return ids;
}

Prompt PromptBuilder::build(Task task, uint64_t seed, int64_t length, int64_t depth, int64_t sample) const {
  if (!is_retrieval(task)) throw Error(std::string("task ") + task_name(task) + " has no retrieval prompts");
  if (depth != kRandomDepth && (depth < 0 || depth > 100)) throw Error("depth must be between 0 and 100");
  Rng rng(stream_seed(task_name(task), seed, length, depth, sample));
  const bool passkey = task == Task::Passkey;

  // Everything is drawn in a fixed order from the one stream.
  const int n = task == Task::NiahMultikey ? static_cast<int>(rng.uniform(2, 4)) : 1;
  std::vector<std::string> words(n);
  if (!passkey) {
    std::vector<int> idx(needle_words().size());
    std::iota(idx.begin(), idx.end(), 0);
    for (int i = 0; i < n; ++i) {  // partial Fisher-Yates: n distinct words
      std::swap(idx[i], idx[rng.uniform(i, static_cast<int64_t>(idx.size()) - 1)]);
      words[i] = needle_words()[idx[i]];
    }
  }
  const int asked = static_cast<int>(rng.uniform(0, n - 1));
  const int64_t offset = rng.uniform(0, static_cast<int64_t>(hay_.size()) - 1);
  std::vector<int64_t> ppm(n);  // depth of each needle; the asked one's is the cell's
  for (int i = 0; i < n; ++i) ppm[i] = rng.uniform(0, kPpm);
  if (depth != kRandomDepth) ppm[asked] = depth * (kPpm / 100);

  std::vector<int32_t> header;
  if (tokenizer_.bos_id() >= 0) header.push_back(tokenizer_.bos_id());
  const std::vector<int32_t> header_text = piece(passkey ? kPasskeyHeader : kNiahHeader);
  header.insert(header.end(), header_text.begin(), header_text.end());

  // Numbers are redrawn until none of them occurs in the hay's text, so the
  // only place the answer can come from is its needle.
  Prompt p;
  std::vector<std::vector<int32_t>> needles(n);
  std::vector<std::string> values(n);
  std::vector<int32_t> question, hay;
  std::string hay_text;
  int64_t hay_text_n = -1;
  for (int attempt = 0;; ++attempt) {
    if (attempt == 1000) throw Error("could not draw needle numbers absent from the haystack");
    for (int i = 0; i < n; ++i) {
      do {
        values[i] = std::to_string(passkey ? rng.uniform(10000, 99999) : rng.uniform(1000000, 9999999));
      } while (std::find(values.begin(), values.begin() + i, values[i]) != values.begin() + i);
      needles[i] = piece(passkey ? passkey_needle(values[i]) : niah_needle(words[i], values[i]));
    }
    question = piece(passkey ? kPasskeyQuestion : niah_question(words[asked]));
    int64_t n_hay = length - static_cast<int64_t>(header.size() + question.size());
    for (const auto& t : needles) n_hay -= static_cast<int64_t>(t.size());
    if (n_hay < 0)
      throw Error("length " + std::to_string(length) + " is too short for the " + task_name(task) + " template (needs " +
                  std::to_string(length - n_hay) + " tokens without any hay)");
    if (n_hay != hay_text_n) {
      hay.resize(n_hay);
      const int64_t total = static_cast<int64_t>(hay_.size());
      for (int64_t i = 0; i < n_hay; ++i) hay[i] = hay_[(offset + i) % total];
      hay_text = tokenizer_.decode(hay);
      hay_text_n = n_hay;
    }
    bool clean = true;
    for (const std::string& v : values) clean = clean && hay_text.find(v) == std::string::npos;
    if (clean) break;
  }

  const int64_t n_hay = static_cast<int64_t>(hay.size());
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::vector<int64_t> at(n);
  for (int i = 0; i < n; ++i) at[i] = n_hay * ppm[i] / kPpm;  // floor(n_hay * depth / 100)
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return at[a] < at[b]; });

  p.tokens = header;
  p.tokens.reserve(length);
  int64_t h = 0;
  for (int i : order) {
    p.tokens.insert(p.tokens.end(), hay.begin() + h, hay.begin() + at[i]);
    h = at[i];
    if (i == asked) p.asked = static_cast<int>(p.needles.size());
    p.needles.push_back({static_cast<int64_t>(p.tokens.size()), static_cast<int64_t>(needles[i].size()), words[i], values[i]});
    p.tokens.insert(p.tokens.end(), needles[i].begin(), needles[i].end());
  }
  p.tokens.insert(p.tokens.end(), hay.begin() + h, hay.end());
  p.tokens.insert(p.tokens.end(), question.begin(), question.end());
  p.expected = values[asked];
  p.hay_offset = offset;
  p.n_hay = n_hay;
  p.header_size = static_cast<int64_t>(header.size());
  return p;
}

bool answer_correct(std::string_view generated, std::string_view expected) {
  while (generated.starts_with(' ')) generated.remove_prefix(1);
  return !expected.empty() && generated.starts_with(expected);
}

}  // namespace sieve::eval
