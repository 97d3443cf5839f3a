#include "server/prometheus.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace sieve::server {
namespace {

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  char buf[64];
  for (int precision = 15; precision <= 17; ++precision) {  // the shortest text that reads back as v
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

// Label values are policy names and finish reasons (engine-made), but escape
// them as the format asks anyway.
std::string label(const std::string& v) {
  std::string s;
  for (char c : v) {
    if (c == '\\' || c == '"') s += '\\';
    if (c == '\n') {
      s += "\\n";
      continue;
    }
    s += c;
  }
  return s;
}

void head(std::string& out, const std::string& name, const char* type, const char* help) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void gauge(std::string& out, const std::string& name, const char* help, double v) {
  head(out, name, "gauge", help);
  out += name + " " + number(v) + "\n";
}

void counter(std::string& out, const std::string& name, const char* help, double v) {
  head(out, name, "counter", help);
  out += name + " " + number(v) + "\n";
}

void histograms(std::string& out, const std::string& name, const char* help, const std::map<std::string, Histogram>& by_policy) {
  head(out, name, "histogram", help);
  for (const auto& [policy, h] : by_policy) {
    const std::string l = "policy=\"" + label(policy) + "\"";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < h.bounds.size(); ++i) {
      cumulative += i < h.counts.size() ? h.counts[i] : 0;
      out += name + "_bucket{" + l + ",le=\"" + number(h.bounds[i]) + "\"} " + std::to_string(cumulative) + "\n";
    }
    out += name + "_bucket{" + l + ",le=\"+Inf\"} " + std::to_string(h.count) + "\n";
    out += name + "_sum{" + l + "} " + number(h.sum) + "\n";
    out += name + "_count{" + l + "} " + std::to_string(h.count) + "\n";
  }
}

}  // namespace

std::string prometheus_text(const EngineMetrics& m) {
  std::string out;
  gauge(out, "sieve:num_requests_running", "Requests in the running batch.", static_cast<double>(m.requests_running));
  gauge(out, "sieve:num_requests_waiting", "Requests waiting to be admitted.", static_cast<double>(m.requests_waiting));
  gauge(out, "sieve:kv_cache_usage_perc", "Fraction of KV-cache pages held by requests (0-1).", m.kv_cache_usage);
  gauge(out, "sieve:kv_cache_pages_total", "KV-cache pages in the pool.", static_cast<double>(m.kv_pages_total));
  gauge(out, "sieve:kv_cache_pages_used", "KV-cache pages held by running requests.", static_cast<double>(m.kv_pages_used));
  gauge(out, "sieve:kv_cache_pages_cached", "Unreferenced prefix-cache pages kept for reuse.", static_cast<double>(m.kv_pages_cached));
  counter(out, "sieve:prompt_tokens_total", "Prompt tokens processed.", static_cast<double>(m.prompt_tokens));
  counter(out, "sieve:generation_tokens_total", "Tokens generated.", static_cast<double>(m.generation_tokens));
  counter(out, "sieve:prefix_cache_hits_total", "Prompt tokens whose KV came from the prefix cache.",
          static_cast<double>(m.prefix_cached_tokens));
  counter(out, "sieve:num_preemptions_total", "Times a running request was preempted.", static_cast<double>(m.preemptions));
  // vLLM's reasons: stop (end of generation or a stop string), length
  // (max_tokens or the context), abort (cancelled); anything else as it is.
  std::map<std::string, uint64_t> by_reason;
  for (const auto& [reason, n] : m.finished_by_reason) {
    const std::string r = reason == "eos" ? "stop" : reason == "context" ? "length" : reason == "cancelled" ? "abort" : reason;
    by_reason[r] += n;
  }
  head(out, "sieve:request_success_total", "counter", "Finished requests by finish reason (stop, length, abort, error).");
  for (const auto& [reason, n] : by_reason)
    out += "sieve:request_success_total{finished_reason=\"" + label(reason) + "\"} " + std::to_string(n) + "\n";
  histograms(out, "sieve:time_to_first_token_seconds", "Time to the first generated token.", m.time_to_first_token);
  histograms(out, "sieve:inter_token_latency_seconds", "Time between generated tokens.", m.inter_token_latency);
  histograms(out, "sieve:e2e_request_latency_seconds", "Time from arrival to the end of a request.", m.e2e_request_latency);
  histograms(out, "sieve:request_queue_time_seconds", "Time a request waited before it first ran.", m.request_queue_time);
  return out;
}

}  // namespace sieve::server
