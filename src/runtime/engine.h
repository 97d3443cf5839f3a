#pragma once
// The engine: continuous batching of many sequences through one model.
//
// Each step packs the next token of every running sequence and chunks of
// waiting prompts (up to batch_tokens tokens in all) into one forward pass,
// so each weight matrix is read once per step for the whole batch; attention
// runs per sequence through that sequence's own policy over its own pages.
// KV pages come from one pool with a memory budget (kv_memory_bytes); a
// request is admitted when the pages for its next chunk can be had, and when
// the pool runs out a running sequence is preempted (its pages freed, its
// tokens recomputed later), newest first, as vLLM does. Full pages of
// prompts are hashed along the prefix so a later request with the same
// prefix reuses them (for policies that leave cached keys unchanged).
//
// Batch invariance: with EngineOptions::batch_invariant (`--batch-invariant`
// in the CLI and the server) a greedy request gives exactly the same tokens
// alone or inside any batch (tests/engine_test.cc). Without it (the
// default, fastest) the matmul kernels round a row differently depending on
// how many rows share the product, so greedy tokens may diverge after a
// near tie; docs/serving.md gives the measured rate.
//
// Threads: submit(), cancel() and metrics() may be called from any thread;
// step() (and run()) from one engine thread only. Callbacks run on the
// engine thread and must not block for long.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cache/kv_cache.h"
#include "cache/page_pool.h"
#include "kernels/thread_pool.h"
#include "model/model.h"
#include "runtime/metrics.h"
#include "runtime/request.h"
#include "runtime/transformer.h"

namespace sieve {

struct Sequence;

struct EngineOptions {
  KvType kv_type = KvType::F16;
  int64_t kv_memory_bytes = 0;    // KV page pool budget; 0: a context per running sequence, within a quarter of free memory
  int64_t batch_tokens = 512;     // prompt tokens per step, over all sequences (decode tokens come on top)
  int64_t max_running = 16;       // sequences running at once
  int64_t max_waiting = 256;      // queued requests beyond which submit() refuses (QueueFull)
  int64_t context = 0;            // tokens per sequence; 0: the model's trained context
  std::string default_attn = "full";
  std::string default_rope;       // RoPE extension of requests without one (empty: the model's own)
  bool prefix_cache = true;
  // Greedy results independent of what else runs: see Transformer::step.
  // Prompts are then cut at multiples of batch_tokens, prefix reuse at the
  // same multiples, and recomputed generated tokens go one per step.
  bool batch_invariant = false;
  int64_t page_size = 64;
};

// Bytes of one KV page (page_size slots of every layer) for these options.
int64_t kv_page_bytes(const Model& model, const EngineOptions& options);
// Bytes of a page pool that holds `tokens` tokens of one sequence plus the
// pages one step may add (what a single request needs).
int64_t kv_pool_bytes(const Model& model, const EngineOptions& options, int64_t tokens);

// submit() when the waiting queue is full.
class QueueFull : public Error {
 public:
  using Error::Error;
};

class Engine {
 public:
  Engine(const Model& model, ThreadPool& pool, const EngineOptions& options);
  ~Engine();

  const Model& model() const { return model_; }
  const EngineOptions& options() const { return options_; }
  int64_t context() const { return context_; }

  // Validates the request (policy spec, sampling values, lengths against the
  // context and the pool) and queues it; throws RequestError (or QueueFull)
  // without queuing anything. Returns the request's id.
  uint64_t submit(std::vector<int32_t> prompt, RequestOptions options, RequestCallbacks callbacks);
  // Ends a request within one step (its on_finish says "cancelled"); unknown
  // or finished ids are ignored.
  void cancel(uint64_t id);
  // Drops a parked sequence (RequestOptions::keep) and frees its pages.
  void release(uint64_t id);

  // One step: admit, schedule, run the batch, sample, stream. Returns false
  // when there was nothing to do.
  bool step();
  // Steps until every submitted request has finished.
  void run_until_idle();
  // Engine thread body: steps while there is work, sleeps otherwise, until stop().
  void run();
  void stop();
  bool idle() const;

  EngineMetrics metrics() const;

 private:
  void take_incoming();
  void schedule(std::vector<Sequence*>& batch, std::vector<int64_t>& counts);
  int64_t chunk_for(const Sequence& seq, int64_t prompt_budget) const;
  bool decoding(const Sequence& seq) const;
  bool reserve_or_preempt(Sequence& seq, int64_t n);
  void preempt(Sequence& seq);
  void forget_cache(Sequence& seq);
  void start_cache(Sequence& seq);
  void run_batch(const std::vector<Sequence*>& batch, const std::vector<int64_t>& counts);
  void after_batch(Sequence& seq, const float* logits);
  void finish(Sequence& seq, const std::string& reason, const std::string& error = "");
  void register_prefix_pages(Sequence& seq);
  void continue_parked(Sequence& seq);
  bool drop_oldest_parked();
  void publish_gauges();

  const Model& model_;
  ThreadPool& pool_;
  EngineOptions options_;
  int64_t context_;
  Transformer transformer_;
  std::unique_ptr<PagePool> pages_;

  // Engine thread only.
  std::deque<std::unique_ptr<Sequence>> waiting_;
  std::vector<std::unique_ptr<Sequence>> running_;  // admission order
  std::deque<std::unique_ptr<Sequence>> parked_;    // finished with keep, oldest first
  std::vector<float> logits_, scratch_row_;
  int64_t preemptions_ = 0;

  // Shared with other threads.
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<std::unique_ptr<Sequence>> incoming_;
  std::vector<uint64_t> cancelled_, released_;
  uint64_t next_id_ = 1;
  bool stopping_ = false;
  std::atomic<int64_t> running_count_{0}, waiting_count_{0}, pages_used_{0}, pages_cached_{0};
  MetricsRecorder metrics_;
};

}  // namespace sieve
