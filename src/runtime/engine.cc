#include "runtime/engine.h"

#include <algorithm>
#include <cstring>

#include "runtime/memory_budget.h"
#include "runtime/sequence.h"
#include "runtime/token_choice.h"

namespace sieve {
namespace {

double seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

int64_t pages_for(int64_t tokens, int64_t page_size) { return (tokens + page_size - 1) / page_size; }

}  // namespace

int64_t kv_page_bytes(const Model& model, const EngineOptions& options) {
  KvCacheShape shape;
  shape.type = options.kv_type;
  shape.n_layers = model.config().attention_layers();
  shape.n_kv_heads = model.config().n_kv_heads;
  shape.head_dim = model.config().head_dim;
  shape.page_size = options.page_size;
  return static_cast<int64_t>(KvCache::page_bytes(shape));
}

int64_t kv_pool_bytes(const Model& model, const EngineOptions& options, int64_t tokens) {
  return (pages_for(tokens + options.batch_tokens, options.page_size) + 2) * kv_page_bytes(model, options);
}

Engine::Engine(const Model& model, ThreadPool& pool, const EngineOptions& options)
    : model_(model), pool_(pool), options_(options),
      context_(options.context > 0 ? options.context : model.config().max_context),
      transformer_(model, pool, options.batch_tokens + options.max_running, options.batch_invariant) {
  if (options_.batch_tokens < 1) throw Error("--batch-tokens must be at least 1");
  if (options_.max_running < 1) throw Error("--parallel must be at least 1");
  if (options_.max_waiting < 0) throw Error("--max-waiting must be >= 0");
  make_policy(options_.default_attn, model.config());  // a bad default fails here, not on every request
  if (!options_.default_rope.empty()) RopeExtension::parse(options_.default_rope, model.config());
  KvCacheShape shape = transformer_.cache_shape(options_.kv_type);
  shape.page_size = options_.page_size;
  const size_t page_bytes = KvCache::page_bytes(shape);
  int64_t kv_bytes = options_.kv_memory_bytes;
  if (kv_bytes <= 0) {
    // A full context for each of max_running sequences, as far as a quarter
    // of the memory the system has left allows; at least one context.
    const int64_t one = pages_for(context_, options_.page_size) * static_cast<int64_t>(page_bytes);
    const int64_t step = (pages_for(options_.batch_tokens, options_.page_size) + 1) * static_cast<int64_t>(page_bytes);
    const auto quarter = static_cast<int64_t>(available_memory_bytes() / 4);
    int64_t contexts = options_.max_running;
    if (quarter > 0) contexts = std::clamp<int64_t>(quarter / one, 1, contexts);
    kv_bytes = contexts * one + step;
  }
  check_memory_fits(static_cast<size_t>(kv_bytes), "the KV cache pool");
  const int64_t capacity = kv_bytes / static_cast<int64_t>(page_bytes);
  // A step must always be able to run one chunk of one sequence.
  const int64_t min_pages = pages_for(options_.batch_tokens, options_.page_size) + 1;
  if (capacity < min_pages)
    throw Error("--kv-memory " + mib(static_cast<size_t>(kv_bytes)) + " holds " + std::to_string(capacity) +
                " KV pages; one step of --batch-tokens " + std::to_string(options_.batch_tokens) + " needs " +
                std::to_string(min_pages) + " (" + mib(static_cast<size_t>(min_pages) * page_bytes) + ")");
  pages_ = std::make_unique<PagePool>(page_bytes, capacity);
  logits_.resize(static_cast<size_t>((options_.batch_tokens + options_.max_running) * model.config().vocab_size));
}

Engine::~Engine() = default;

uint64_t Engine::submit(std::vector<int32_t> prompt, RequestOptions options, RequestCallbacks callbacks) {
  const ModelConfig& c = model_.config();
  if (prompt.empty()) throw RequestError("the prompt is empty", "prompt");
  for (int32_t t : prompt)
    if (t < 0 || t >= c.vocab_size)
      throw RequestError("token id " + std::to_string(t) + " is out of range (vocabulary has " +
                             std::to_string(c.vocab_size) + " tokens)",
                         "prompt");
  if (options.attn.empty()) options.attn = options_.default_attn;
  if (options.rope.empty()) options.rope = options_.default_rope;
  std::unique_ptr<AttentionPolicy> policy;
  try {
    policy = make_policy(options.attn, c);
  } catch (const Error& e) {
    throw RequestError(e.what(), "attn");
  }
  try {
    options.sampling.validate();
  } catch (const Error& e) {
    throw RequestError(e.what(), "temperature");
  }
  if (options.max_tokens < 0) throw RequestError("max_tokens must be >= 0", "max_tokens");
  std::unique_ptr<Rope> rope;
  try {
    const int64_t reach = std::min<int64_t>(context_, static_cast<int64_t>(prompt.size()) + options.max_tokens);
    rope = make_rope(options.rope, c, model_.weights().rope_freq_divisors, reach, &options.rope);
  } catch (const Error& e) {
    throw RequestError(e.what(), "rope");
  }
  if (options.top_logprobs > 20) throw RequestError("top_logprobs must be at most 20", "top_logprobs");
  for (const std::string& s : options.stop)
    if (s.empty()) throw RequestError("a stop string must not be empty", "stop");
  const int64_t n = static_cast<int64_t>(prompt.size());
  if (!policy->evicts() && n > context_)
    throw RequestError("the prompt is " + std::to_string(n) + " tokens, longer than the context of " +
                           std::to_string(context_) +
                           " tokens (shorten it, raise the context, or use an attention policy that evicts, "
                           "e.g. streaming)",
                       "prompt", "context_length_exceeded");
  // Pages the request may hold at once: all its tokens, or for a policy that
  // evicts, what it keeps plus a step's chunk (bounded by the pool anyway).
  if (!policy->evicts()) {
    const int64_t tokens = std::min(context_, n + options.max_tokens);
    const int64_t need = pages_for(tokens, options_.page_size) + 1;
    if (need > pages_->capacity())
      throw RequestError("the request needs up to " + std::to_string(tokens) + " tokens of KV cache (" +
                             mib(static_cast<size_t>(need) * pages_->page_bytes()) + "); the pool holds " +
                             mib(static_cast<size_t>(pages_->capacity()) * pages_->page_bytes()) +
                             " in all (--kv-memory)",
                         "max_tokens", "context_length_exceeded");
  }
  if (options.prompt_logits && n * c.vocab_size > (int64_t{1} << 31))
    throw RequestError("prompt logits of " + std::to_string(n) + " tokens would not fit in memory", "prompt");

  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_) throw QueueFull("the engine is shutting down");
  const int64_t free_slots = std::max<int64_t>(0, options_.max_running - running_count_.load());
  if (static_cast<int64_t>(incoming_.size()) + waiting_count_.load() >= options_.max_waiting + free_slots)
    throw QueueFull("the queue is full (" + std::to_string(options_.max_waiting) + " waiting requests)");
  const uint64_t id = next_id_++;
  incoming_.push_back(std::make_unique<Sequence>(id, std::move(prompt), std::move(options), std::move(callbacks),
                                                 std::move(policy), std::move(rope), model_.tokenizer()));
  wake_.notify_all();
  return id;
}

void Engine::cancel(uint64_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  cancelled_.push_back(id);
  wake_.notify_all();
}

void Engine::release(uint64_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  released_.push_back(id);
  wake_.notify_all();
}

void Engine::take_incoming() {
  std::vector<std::unique_ptr<Sequence>> in;
  std::vector<uint64_t> cancelled, released;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    in.swap(incoming_);
    cancelled.swap(cancelled_);
    released.swap(released_);
  }
  for (uint64_t id : released)
    std::erase_if(parked_, [&](const auto& p) { return p->id == id; });
  for (auto& s : in) {
    if (s->options.continue_from) continue_parked(*s);
    waiting_.push_back(std::move(s));
  }
  for (uint64_t id : cancelled) {
    for (auto& s : waiting_)
      if (s->id == id) s->cancelled = true;
    for (auto& s : running_)
      if (s->id == id) s->cancelled = true;
  }
  // Cancelled requests end now, freeing their pages before scheduling.
  std::vector<Sequence*> done;
  for (auto& s : waiting_)
    if (s->cancelled) done.push_back(s.get());
  for (auto& s : running_)
    if (s->cancelled) done.push_back(s.get());
  for (Sequence* s : done) finish(*s, "cancelled");
}

bool Engine::step() {
  take_incoming();
  if (running_.empty() && waiting_.empty()) {
    publish_gauges();
    return false;
  }
  std::vector<Sequence*> batch;
  std::vector<int64_t> counts;
  schedule(batch, counts);
  if (!batch.empty()) run_batch(batch, counts);
  publish_gauges();
  return true;
}

void Engine::publish_gauges() {
  running_count_.store(static_cast<int64_t>(running_.size()));
  waiting_count_.store(static_cast<int64_t>(waiting_.size()));
  pages_used_.store(pages_->used());
  pages_cached_.store(pages_->cached());
}

bool Engine::decoding(const Sequence& s) const {
  // Batch-invariant mode recomputes generated tokens (after a preemption)
  // one per step, as they were first computed.
  return s.pending() == 1 ? s.n_computed >= s.n_prompt - 1 : options_.batch_invariant && s.n_computed >= s.n_prompt;
}

int64_t Engine::chunk_for(const Sequence& s, int64_t prompt_budget) const {
  if (decoding(s)) return 1;
  if (!options_.batch_invariant) return std::min(s.pending(), prompt_budget);
  // Prompts in chunks ending at multiples of batch_tokens, whole or not at all.
  const int64_t b = options_.batch_tokens;
  const int64_t n = std::min(s.n_prompt - s.n_computed, b - s.n_computed % b);
  return n <= prompt_budget ? n : 0;
}

void Engine::schedule(std::vector<Sequence*>& batch, std::vector<int64_t>& counts) {
  // Decode tokens (one per running sequence) come on top of a budget of
  // batch_tokens prompt tokens, so prompts never stall running streams.
  int64_t budget = options_.batch_tokens;
  bool preempted = false;
  std::vector<Sequence*> prefill;
  std::vector<int64_t> prefill_counts;
  auto take = [&](Sequence& s, int64_t n) {
    if (decoding(s)) {
      batch.push_back(&s);
      counts.push_back(n);
    } else {
      prefill.push_back(&s);
      prefill_counts.push_back(n);
      budget -= n;
    }
  };
  // Running sequences first, in admission order. When pages run out, the
  // newest is preempted.
  for (size_t i = 0; i < running_.size();) {
    Sequence& s = *running_[i];
    const int64_t n = chunk_for(s, budget);
    if (n == 0) {
      ++i;
      continue;
    }
    const int64_t before = preemptions_;
    const bool kept = reserve_or_preempt(s, n);
    preempted |= preemptions_ != before;
    if (!kept) continue;  // s itself was preempted (it was the newest)
    take(s, n);
    ++i;
  }
  // Then waiting requests, oldest first, while they fit.
  while (!preempted && !waiting_.empty() && static_cast<int64_t>(running_.size()) < options_.max_running) {
    Sequence& s = *waiting_.front();
    if (!s.cache) start_cache(s);
    const int64_t n = chunk_for(s, budget);
    if (n == 0) break;
    bool reserved;
    while (!(reserved = s.cache->reserve(n)) && drop_oldest_parked()) {
    }
    if (!reserved) {
      forget_cache(s);  // it keeps no pages while it waits
      if (running_.empty())  // cannot happen with the checks in submit; never spin on it
        finish(s, "error", "the KV cache pool cannot hold the request's next chunk");
      break;
    }
    running_.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
    take(s, n);
  }
  // Decode rows first, then prompt chunks (batch-invariant products group them so).
  batch.insert(batch.end(), prefill.begin(), prefill.end());
  counts.insert(counts.end(), prefill_counts.begin(), prefill_counts.end());
}

bool Engine::reserve_or_preempt(Sequence& s, int64_t n) {
  while (!s.cache->reserve(n)) {
    if (drop_oldest_parked()) continue;  // parked conversations go first
    Sequence& victim = *running_.back();
    preempt(victim);
    if (&victim == &s) return false;
  }
  return true;
}

void Engine::forget_cache(Sequence& s) {
  // Its pages go back to the pool; its tokens (prompt and generated) are
  // recomputed when it is admitted again, with a fresh policy instance.
  s.cache.reset();
  s.n_computed = 0;
  s.hashed_pages = 0;
  s.last_hash = s.prefix_root;
  s.policy = make_policy(s.policy_spec, model_.config());
  s.policy_told_prompt_end = false;
  if (!s.scheduled_once) s.result.cached_prompt_tokens = 0;
}

void Engine::preempt(Sequence& s) {
  forget_cache(s);
  ++s.result.preemptions;
  ++preemptions_;
  metrics_.add_preemption();
  auto it = std::find_if(running_.begin(), running_.end(), [&](const auto& p) { return p.get() == &s; });
  waiting_.push_front(std::move(*it));
  running_.erase(it);
}

void Engine::start_cache(Sequence& s) {
  KvCacheShape shape = transformer_.cache_shape(options_.kv_type);
  shape.page_size = options_.page_size;
  s.cache.emplace(shape, *pages_);
  if (!options_.prefix_cache || !s.policy->shares_prefix() || s.options.prompt_logits) return;
  // Reuse the longest run of indexed full pages; at least the last token is
  // computed, for its logits.
  const int64_t ps = options_.page_size;
  int64_t max_pages = (static_cast<int64_t>(s.tokens.size()) - 1) / ps;
  // Batch-invariant prompts are cut at multiples of batch_tokens: reuse up to
  // one, so the rest is computed exactly as without the cache.
  const int64_t unit = options_.batch_invariant ? std::max<int64_t>(1, options_.batch_tokens / ps) : 1;
  std::vector<KvPage*> found;
  uint64_t parent = s.prefix_root;
  for (int64_t p = 0; p < max_pages; ++p) {
    KvPage* page = pages_->lookup(parent, s.tokens.data() + p * ps, ps);
    if (!page) break;
    found.push_back(page);
    parent = page->hash;
  }
  int64_t usable = static_cast<int64_t>(found.size()) / unit * unit;
  if (options_.batch_invariant && options_.batch_tokens % ps != 0) usable = 0;
  for (size_t i = static_cast<size_t>(usable); i < found.size(); ++i) pages_->release(found[i]);
  found.resize(std::min<size_t>(found.size(), static_cast<size_t>(usable)));
  if (found.empty()) return;
  parent = found.back()->hash;
  s.cache->adopt_prefix(found);
  s.n_computed = static_cast<int64_t>(found.size()) * ps;
  s.hashed_pages = static_cast<int64_t>(found.size());
  s.last_hash = parent;
  if (!s.scheduled_once) s.result.cached_prompt_tokens = std::min(s.n_computed, s.n_prompt);
}

void Engine::continue_parked(Sequence& s) {
  auto it = std::find_if(parked_.begin(), parked_.end(),
                         [&](const auto& p) { return p->id == s.options.continue_from; });
  if (it == parked_.end()) return;  // dropped (memory ran short): computed from scratch
  std::unique_ptr<Sequence> old = std::move(*it);
  parked_.erase(it);
  // Only an exact extension of what the parked sequence holds continues.
  if (old->tokens.size() > s.tokens.size() || !std::equal(old->tokens.begin(), old->tokens.end(), s.tokens.begin()) ||
      !old->cache || old->rope_spec != s.rope_spec)
    return;
  if (old->policy_spec == s.policy_spec) {
    s.policy = std::move(old->policy);
  } else if (old->policy->rewrites_cache() || !s.policy->shares_prefix()) {
    return;  // a different policy that cannot start from this cache
  }
  s.cache = std::move(old->cache);
  s.n_computed = old->n_computed;
  s.hashed_pages = old->hashed_pages;
  s.last_hash = old->last_hash;
  s.result.cached_prompt_tokens = std::min(s.n_computed, s.n_prompt);
}

bool Engine::drop_oldest_parked() {
  if (parked_.empty()) return false;
  parked_.pop_front();  // its cache gives its pages back
  return true;
}

void Engine::register_prefix_pages(Sequence& s) {
  if (!options_.prefix_cache || !s.policy->shares_prefix()) return;
  const int64_t ps = options_.page_size;
  for (; (s.hashed_pages + 1) * ps <= s.n_computed; ++s.hashed_pages) {
    const int32_t* toks = s.tokens.data() + s.hashed_pages * ps;
    KvPage* page = s.cache->page(s.hashed_pages);
    pages_->insert(page, s.last_hash, toks, ps);
    s.last_hash = prefix_page_hash(s.last_hash, toks, ps);
  }
}

void Engine::run_batch(const std::vector<Sequence*>& batch, const std::vector<int64_t>& counts) {
  const int64_t n_vocab = model_.config().vocab_size;
  std::vector<SequenceChunk> chunks(batch.size());
  const auto now = Clock::now();
  for (size_t i = 0; i < batch.size(); ++i) {
    Sequence& s = *batch[i];
    if (!s.scheduled_once) {
      s.scheduled_once = true;
      s.first_scheduled = now;
      metrics_.add_prompt_tokens(static_cast<uint64_t>(s.n_prompt), static_cast<uint64_t>(s.result.cached_prompt_tokens));
    }
    SequenceChunk& c = chunks[i];
    c.cache = &*s.cache;
    c.policy = s.policy.get();
    c.rope = s.rope.get();
    c.tokens = s.tokens.data() + s.n_computed;
    c.n = counts[i];
    c.first_position = s.n_computed;
    const bool ends = s.n_computed + counts[i] == static_cast<int64_t>(s.tokens.size());
    if (s.options.prompt_logits && s.n_computed < s.n_prompt) {
      s.result.prompt_logits.resize(static_cast<size_t>(s.n_prompt * n_vocab));
      c.logits = s.result.prompt_logits.data() + s.n_computed * n_vocab;
      c.all_logits = true;
    } else if (ends) {
      c.logits = logits_.data() + static_cast<int64_t>(i) * n_vocab;
    }
  }
  try {
    transformer_.step(chunks.data(), static_cast<int64_t>(chunks.size()));
  } catch (const std::exception& e) {
    // The batch's caches are in an unknown state: its requests fail, the
    // engine goes on with the others.
    for (Sequence* s : batch) finish(*s, "error", e.what());
    return;
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    Sequence& s = *batch[i];
    s.n_computed += counts[i];
    register_prefix_pages(s);
    if (s.pending() > 0) continue;
    if (!s.policy_told_prompt_end) {
      s.policy->end_prompt(*s.cache, pool_);
      s.policy_told_prompt_end = true;
    }
    const float* row = chunks[i].all_logits ? chunks[i].logits + (counts[i] - 1) * n_vocab : chunks[i].logits;
    after_batch(s, row);
  }
}

void Engine::after_batch(Sequence& s, const float* logits) {
  const int64_t n_vocab = model_.config().vocab_size;
  const Tokenizer& tok = model_.tokenizer();
  if (!s.prompt_done) {
    s.prompt_done = true;
    s.prompt_end = Clock::now();
    s.result.last_prompt_logits.assign(logits, logits + n_vocab);
  }
  if (s.generated() >= s.options.max_tokens) return finish(s, "length");
  std::vector<float>& row = scratch_row_;  // the sampler and penalties change it
  row.assign(logits, logits + n_vocab);
  apply_penalties(row.data(), n_vocab, s.token_counts, s.options.presence_penalty, s.options.frequency_penalty);
  const int32_t token = s.sampler.sample(row.data(), n_vocab);
  if (!s.options.ignore_eos && tok.is_end_of_generation(token)) return finish(s, "eos");

  const auto now = Clock::now();
  TokenEvent ev;
  ev.token = token;
  if (s.options.top_logprobs >= 0) {
    ev.logprob = token_logprob(logits, n_vocab, token, s.options.top_logprobs);
    s.result.logprobs.push_back(ev.logprob);
  }
  metrics_.add_generated_token(s.policy_name, s.generated() == 0 ? seconds(s.submitted, now) : -1.0,
                               s.generated() == 0 ? -1.0 : seconds(s.last_token, now));
  if (s.generated() == 0) s.result.first_token_seconds = seconds(s.submitted, now);
  s.last_token = now;
  s.tokens.push_back(token);
  s.result.tokens.push_back(token);
  s.sampler.observe(token);
  if (s.options.presence_penalty != 0.0f || s.options.frequency_penalty != 0.0f) {
    if (s.token_counts.empty()) s.token_counts.assign(static_cast<size_t>(n_vocab), 0);
    ++s.token_counts[token];
  }
  bool stopped = false;
  ev.text = s.output.push(token, stopped);
  s.result.text += ev.text;
  if (s.callbacks.on_token) s.callbacks.on_token(ev);
  if (stopped) return finish(s, "stop");
  if (s.generated() >= s.options.max_tokens) return finish(s, "length");
  if (!s.policy->evicts() && s.n_computed >= context_) return finish(s, "context");
}

void Engine::finish(Sequence& s, const std::string& reason, const std::string& error) {
  const auto now = Clock::now();
  RequestResult& r = s.result;
  r.stop_reason = reason;
  r.error = error;
  if (reason != "stop" && reason != "error" && reason != "cancelled") {
    const std::string rest = s.output.flush();
    r.text += rest;
    if (!rest.empty() && s.callbacks.on_token) {
      TokenEvent ev;
      ev.token = -1;  // no new token: text held back until the end
      ev.text = rest;
      s.callbacks.on_token(ev);
    }
  }
  r.total_seconds = seconds(s.submitted, now);
  r.queue_seconds = s.scheduled_once ? seconds(s.submitted, s.first_scheduled) : r.total_seconds;
  r.prefill_seconds = s.prompt_done ? seconds(s.first_scheduled, s.prompt_end) : 0;
  r.decode_seconds = s.prompt_done ? seconds(s.prompt_end, now) : 0;
  r.attention_reads = s.policy->stats();
  r.policy_counters = s.policy->counters();
  r.kv_cache_bytes = s.cache ? s.cache->bytes_allocated() : 0;
  const bool park = s.options.keep && s.cache && (reason == "eos" || reason == "stop" || reason == "length");
  if (!park) s.cache.reset();  // pages back to the pool
  metrics_.request_finished(s.policy_name, reason, r.queue_seconds, r.total_seconds,
                            static_cast<uint64_t>(r.tokens.size()));
  if (s.callbacks.on_finish) s.callbacks.on_finish(r);
  // Drop the sequence (this destroys s).
  auto erase_from = [&](auto& list) {
    auto it = std::find_if(list.begin(), list.end(), [&](const auto& p) { return p.get() == &s; });
    if (it == list.end()) return false;
    list.erase(it);
    return true;
  };
  if (park) {
    auto it = std::find_if(running_.begin(), running_.end(), [&](const auto& p) { return p.get() == &s; });
    if (it != running_.end()) {
      parked_.push_back(std::move(*it));
      running_.erase(it);
      return;
    }
  }
  if (!erase_from(running_)) erase_from(waiting_);
}

void Engine::run_until_idle() {
  while (step()) {
  }
}

void Engine::run() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] {
        return stopping_ || !incoming_.empty() || !cancelled_.empty() || !running_.empty() || !waiting_.empty();
      });
      if (stopping_ && incoming_.empty() && running_.empty() && waiting_.empty()) return;
    }
    step();
  }
}

void Engine::stop() {
  std::lock_guard<std::mutex> lock(mutex_);
  stopping_ = true;
  wake_.notify_all();
}

bool Engine::idle() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return incoming_.empty() && running_count_.load() == 0 && waiting_count_.load() == 0;
}

EngineMetrics Engine::metrics() const {
  EngineMetrics m = metrics_.snapshot();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    m.requests_waiting = waiting_count_.load() + static_cast<int64_t>(incoming_.size());
  }
  m.requests_running = running_count_.load();
  m.kv_pages_total = pages_->capacity();
  m.kv_pages_used = pages_used_.load();
  m.kv_pages_cached = pages_cached_.load();
  m.kv_cache_usage = m.kv_pages_total > 0 ? static_cast<double>(m.kv_pages_used) / static_cast<double>(m.kv_pages_total) : 0;
  return m;
}

}  // namespace sieve
