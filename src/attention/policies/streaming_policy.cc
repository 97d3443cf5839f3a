#include "attention/policies/streaming_policy.h"

#include <algorithm>

#include "util/spec.h"
#include "attention/segmented_attention.h"

namespace sieve {

std::unique_ptr<AttentionPolicy> StreamingPolicy::from_spec(Spec& spec) {
  const int64_t sink = spec.take_int("sink", kDefaultSink, 0);
  const int64_t window = spec.take_int("window", kDefaultWindow, 1);
  spec.finish({"sink", "window"});
  return std::make_unique<StreamingPolicy>(sink, window);
}

std::string StreamingPolicy::spec() const {
  return "streaming:sink=" + std::to_string(sink_) + ",window=" + std::to_string(window_);
}

// Slots: the sinks are slots [0, sink) (their pages are never evicted); the
// window of the query in slot s is [max(sink, s + 1 - window), s + 1). Pages
// are evicted only when wholly older than every future window, so the slots
// after the sink pages hold consecutive positions and slot arithmetic holds.
void StreamingPolicy::attend(const AttentionInput& in, float* out) {
  const auto& positions = in.cache.positions();
  const int64_t sink = std::min(sink_, in.cache.size());
  auto plan = [&](int64_t, int64_t t0, int64_t t1, std::vector<Segment>& segments) {
    Segment window;
    Segment sinks;
    int64_t lo = INT64_MAX, hi = 0;
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t limit = in.first_slot + t + 1;
      const int64_t begin = std::max(sink, limit - window_);
      lo = std::min(lo, begin);
      hi = std::max(hi, limit);
      // Window keys keep their true relative distances: rotate the query to its true position.
      window.q_position.push_back(static_cast<double>(positions[limit - 1]));
      window.begin.push_back(begin);
      window.limit.push_back(limit);
      // In the cache the query sits right after sink + (window tokens before it),
      // and the sinks at their own positions 0..sink-1.
      sinks.q_position.push_back(static_cast<double>(sink + (limit - 1 - begin)));
      sinks.begin.push_back(0);
      sinks.limit.push_back(std::min(sink, limit));
    }
    if (sink > 0) {
      sinks.spans.push_back({0, sink});
      segments.push_back(std::move(sinks));
    }
    window.spans.push_back({lo, hi});
    segments.push_back(std::move(window));
  };
  const double read = attend_segments(in, plan, out);
  count_read(in, read);
}

void StreamingPolicy::end_batch(KvCache& cache) {
  const int64_t ps = cache.shape().page_size;
  const int64_t first_page = (sink_ + ps - 1) / ps;           // pages holding sinks stay
  const int64_t oldest_needed = cache.size() - window_ + 1;   // next query's window start
  const int64_t last_page = oldest_needed / ps;               // pages before it are wholly out
  if (last_page > first_page) cache.evict_pages(first_page, last_page);
}

}  // namespace sieve
