#include "attention/prefill/composed_policy.h"

namespace sieve {

ComposedPolicy::ComposedPolicy(std::unique_ptr<PrefillMethod> prefill, std::unique_ptr<AttentionPolicy> decode)
    : prefill_(std::move(prefill)), decode_(std::move(decode)) {}

void ComposedPolicy::attend(const AttentionInput& in, float* out) {
  if (in.n_q > 1) {
    prefill_->plan(in, plan_);
    const PrefillWork w = attend_planned(in, plan_, out);
    work_.pairs_read += w.pairs_read;
    work_.pairs_dense += w.pairs_dense;
    decode_->observe_prefill(in);
  } else {
    decode_->attend(in, out);
  }
  stats_ = decode_->stats();
}

std::unique_ptr<AttentionPolicy> ComposedPolicy::clone() const {
  auto copy = std::make_unique<ComposedPolicy>(prefill_->clone(), decode_->clone());
  copy->work_ = work_;
  copy->stats_ = stats_;
  return copy;
}

std::vector<std::pair<std::string, double>> ComposedPolicy::counters() const {
  auto all = decode_->counters();
  for (auto& c : prefill_->counters()) all.push_back(c);
  all.emplace_back("prefill_attention_kept", work_.pairs_dense > 0 ? work_.pairs_read / work_.pairs_dense : 1.0);
  return all;
}

}  // namespace sieve
