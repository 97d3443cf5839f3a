#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "util/error.h"

namespace sieve {

void SamplerOptions::validate() const {
  if (!(temperature >= 0) || !std::isfinite(temperature)) throw Error("--temp must be >= 0");
  if (top_k < 0) throw Error("--top-k must be >= 0");
  if (!(top_p > 0 && top_p <= 1)) throw Error("--top-p must be in (0, 1]");
  if (!(min_p >= 0 && min_p < 1)) throw Error("--min-p must be in [0, 1)");
  if (!(repeat_penalty > 0) || !std::isfinite(repeat_penalty)) throw Error("--repeat-penalty must be > 0");
  if (repeat_last_n < 0) throw Error("--repeat-last-n must be >= 0");
}

Sampler::Sampler(const SamplerOptions& options) : options_(options), rng_(options.seed) { options.validate(); }

void Sampler::observe(int32_t token) {
  if (options_.repeat_last_n == 0) return;
  recent_.push_back(token);
  while (static_cast<int>(recent_.size()) > options_.repeat_last_n) recent_.pop_front();
}

double Sampler::uniform() {
  // 53 random bits: the same on every platform, unlike std::uniform_real_distribution.
  return static_cast<double>(rng_() >> 11) * 0x1.0p-53;
}

int32_t Sampler::sample(const float* logits, int64_t n_vocab) {
  candidates_.resize(n_vocab);
  for (int64_t i = 0; i < n_vocab; ++i) candidates_[i] = {logits[i], static_cast<int32_t>(i)};

  if (options_.repeat_penalty != 1.0f) {
    std::unordered_set<int32_t> seen(recent_.begin(), recent_.end());
    for (int32_t t : seen) {
      if (t < 0 || t >= n_vocab) continue;
      float& l = candidates_[t].first;
      l = l > 0 ? l / options_.repeat_penalty : l * options_.repeat_penalty;
    }
  }
  auto by_logit = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
  if (options_.temperature <= 0) return std::min_element(candidates_.begin(), candidates_.end(), by_logit)->second;

  size_t n = candidates_.size();
  if (options_.top_k > 0 && static_cast<size_t>(options_.top_k) < n) n = options_.top_k;
  std::partial_sort(candidates_.begin(), candidates_.begin() + n, candidates_.end(), by_logit);
  candidates_.resize(n);

  // Probabilities of the remaining candidates at temperature 1 for top-p and min-p.
  auto probs = [&] {
    std::vector<double> p(candidates_.size());
    double z = 0;
    for (size_t i = 0; i < p.size(); ++i) z += (p[i] = std::exp(static_cast<double>(candidates_[i].first - candidates_[0].first)));
    for (double& v : p) v /= z;
    return p;
  };
  if (options_.top_p < 1.0f) {
    std::vector<double> p = probs();
    double cum = 0;
    size_t keep = p.size();
    for (size_t i = 0; i < p.size(); ++i) {
      cum += p[i];
      if (cum >= options_.top_p) { keep = i + 1; break; }
    }
    candidates_.resize(keep);
  }
  if (options_.min_p > 0) {
    std::vector<double> p = probs();
    size_t keep = 1;
    while (keep < p.size() && p[keep] >= options_.min_p * p[0]) ++keep;
    candidates_.resize(keep);
  }
  std::vector<double> w(candidates_.size());
  double z = 0;
  for (size_t i = 0; i < w.size(); ++i)
    z += (w[i] = std::exp(static_cast<double>(candidates_[i].first - candidates_[0].first) / options_.temperature));
  double r = uniform() * z;
  for (size_t i = 0; i < w.size(); ++i) {
    if (r < w[i]) return candidates_[i].second;
    r -= w[i];
  }
  return candidates_.back().second;
}

}  // namespace sieve
