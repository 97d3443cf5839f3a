#pragma once
// What the engine counts, with the meaning vLLM gives the same metrics (the
// names inference gateways read): requests running and waiting, KV-cache
// use, token counters, preemptions, and latency histograms per policy.
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace sieve {

// Cumulative histogram with fixed upper bounds (Prometheus' le buckets).
struct Histogram {
  std::vector<double> bounds;   // ascending; +Inf is implicit
  std::vector<uint64_t> counts;  // per bound, not cumulative; one more for +Inf
  double sum = 0;
  uint64_t count = 0;

  explicit Histogram(std::vector<double> upper_bounds = {});
  void observe(double v);
};

struct EngineMetrics {
  int64_t requests_running = 0;
  int64_t requests_waiting = 0;
  double kv_cache_usage = 0;       // 0-1: pages held by sequences / pool pages
  int64_t kv_pages_total = 0;
  int64_t kv_pages_used = 0;       // held by running sequences
  int64_t kv_pages_cached = 0;     // unreferenced prefix pages kept for reuse
  uint64_t prompt_tokens = 0;      // counters, since start
  uint64_t generation_tokens = 0;
  uint64_t prefix_cached_tokens = 0;
  uint64_t preemptions = 0;
  uint64_t requests_finished = 0;
  std::map<std::string, uint64_t> finished_by_reason;
  // Histograms by policy name ("full", "quest", ...).
  std::map<std::string, Histogram> time_to_first_token;
  std::map<std::string, Histogram> inter_token_latency;
  std::map<std::string, Histogram> e2e_request_latency;
  std::map<std::string, Histogram> request_queue_time;
};

// Thread-safe accumulation of the counters and histograms; the engine
// fills in the gauges when it takes a snapshot.
class MetricsRecorder {
 public:
  void add_prompt_tokens(uint64_t n, uint64_t cached);
  // A generated token: the first of its request with its time to first
  // token (inter_token_s < 0), a later one with the time since the previous.
  void add_generated_token(const std::string& policy, double first_token_s, double inter_token_s);
  void add_preemption();
  void request_finished(const std::string& policy, const std::string& reason, double queue_s, double e2e_s,
                        uint64_t generated);
  EngineMetrics snapshot() const;

 private:
  mutable std::mutex mutex_;
  EngineMetrics m_;
};

// The policy name of a spec: "quest:budget=64" -> "quest".
std::string policy_name(const std::string& spec);

}  // namespace sieve
