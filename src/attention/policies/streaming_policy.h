#pragma once
// `streaming` (StreamingLLM, Xiao et al. 2023): keep the first `sink` tokens
// (attention sinks) and the most recent `window` tokens; evict the rest.
// Positions are assigned inside the cache, as the paper does: the sinks sit
// at 0..sink-1 and the window right after them, so the model never sees a
// distance longer than sink + window however long generation runs.
#include <string>

#include "attention/policy.h"

namespace sieve {

class Spec;

class StreamingPolicy : public AttentionPolicy {
 public:
  // Paper defaults: 4 sink tokens; the reference code's recent window of 2000.
  static constexpr int64_t kDefaultSink = 4;
  static constexpr int64_t kDefaultWindow = 2000;

  StreamingPolicy(int64_t sink, int64_t window) : sink_(sink), window_(window) {}
  static std::unique_ptr<AttentionPolicy> from_spec(Spec& spec);

  std::string spec() const override;
  void attend(const AttentionInput& in, float* out) override;
  void observe_prefill(const AttentionInput&) override {}  // keeps nothing but the cache (end_batch evicts)
  void end_batch(KvCache& cache) override;
  std::unique_ptr<AttentionPolicy> clone() const override { return std::make_unique<StreamingPolicy>(*this); }
  bool evicts() const override { return true; }

  int64_t sink() const { return sink_; }
  int64_t window() const { return window_; }

 private:
  int64_t sink_, window_;
};

}  // namespace sieve
