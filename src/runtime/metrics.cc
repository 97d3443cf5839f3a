#include "runtime/metrics.h"

namespace sieve {
namespace {

// Bounds close to vLLM's, in seconds.
std::vector<double> latency_bounds() {
  return {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0};
}

Histogram& histogram(std::map<std::string, Histogram>& by_policy, const std::string& policy) {
  auto it = by_policy.find(policy);
  if (it == by_policy.end()) it = by_policy.emplace(policy, Histogram(latency_bounds())).first;
  return it->second;
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds) : bounds(std::move(upper_bounds)), counts(bounds.size() + 1, 0) {}

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds.size() && v > bounds[i]) ++i;
  ++counts[i];
  sum += v;
  ++count;
}

void MetricsRecorder::add_prompt_tokens(uint64_t n, uint64_t cached) {
  std::lock_guard<std::mutex> lock(mutex_);
  m_.prompt_tokens += n;
  m_.prefix_cached_tokens += cached;
}

void MetricsRecorder::add_generated_token(const std::string& policy, double first_token_s, double inter_token_s) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++m_.generation_tokens;
  if (first_token_s >= 0) histogram(m_.time_to_first_token, policy).observe(first_token_s);
  if (inter_token_s >= 0) histogram(m_.inter_token_latency, policy).observe(inter_token_s);
}

void MetricsRecorder::add_preemption() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++m_.preemptions;
}

void MetricsRecorder::request_finished(const std::string& policy, const std::string& reason, double queue_s,
                                       double e2e_s, uint64_t) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++m_.requests_finished;
  ++m_.finished_by_reason[reason];
  histogram(m_.request_queue_time, policy).observe(queue_s);
  histogram(m_.e2e_request_latency, policy).observe(e2e_s);
}

EngineMetrics MetricsRecorder::snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return m_;
}

std::string policy_name(const std::string& spec) { return spec.substr(0, spec.find(':')); }

}  // namespace sieve
