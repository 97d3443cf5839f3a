// POST /v1/completions and /v1/chat/completions: parse, submit to the
// engine, and answer as one JSON object or as a stream of server-sent events.
#include <chrono>
#include <ctime>

#include "chat/chat_template.h"
#include "server/connection.h"
#include "server/connection_guard.h"
#include "server/http_reply.h"
#include "server/request_channel.h"
#include "server/server.h"

namespace sieve::server {
namespace {

constexpr auto kPoll = std::chrono::milliseconds(100);  // how often a waiting handler checks its client

// What a stream needs between calls of its content provider.
struct StreamState {
  uint64_t id = 0;
  std::shared_ptr<RequestChannel> channel;
  ResponseHeader header;
  bool include_usage = false;
  bool logprobs = false;
  bool started = false;
  bool done = false;
  size_t text_sent = 0;  // bytes of the result's text streamed so far
  int fd = -1;
  std::chrono::steady_clock::time_point last_write;
};

uint64_t mix(uint64_t x) {  // splitmix64
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

std::vector<int32_t> Server::prompt_tokens(const CompletionRequest& r) const {
  if (!r.chat) {
    if (r.prompt_is_tokens) return r.prompt_tokens;
    return model_->tokenizer().encode(r.prompt, true, false);
  }
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  for (const ChatMessage& m : r.messages) {
    nlohmann::ordered_json j = {{"role", m.role}, {"content", m.content}};
    if (!m.name.empty()) j["name"] = m.name;
    messages.push_back(std::move(j));
  }
  chat::ChatOptions options;
  options.add_generation_prompt = true;
  options.template_override = options_.chat_template;
  if (!r.template_kwargs.empty()) options.extra = nlohmann::ordered_json::parse(r.template_kwargs);
  try {
    return chat::tokenize_chat(model_->tokenizer(), chat::render_chat(model_->chat_templates(), messages, options));
  } catch (const Error& e) {
    // No template (the message says how to give one), or the template
    // refused this conversation (raise_exception) or passed a limit.
    throw RequestError(std::string("chat template: ") + e.what(), "messages");
  }
}

void Server::handle_completion(const httplib::Request& req, const std::string& body, httplib::Response& res, bool chat) {
  CompletionRequest r;
  std::vector<int32_t> tokens;
  try {
    r = parse_completion_request(body, chat, limits_);
    if (!r.model.empty() && r.model != options_.alias)
      return reply_error(res, 404, "the model '" + r.model + "' does not exist; this server has '" + options_.alias + "'",
                         "model", "model_not_found");
    tokens = prompt_tokens(r);
  } catch (const RequestError& e) {
    return reply_error(res, 400, e.what(), e.param(), e.code());
  }
  RequestOptions& o = r.options;
  const int64_t context = engine_->context();
  if (chat && !r.max_tokens_given) o.max_tokens = std::max<int64_t>(1, context - static_cast<int64_t>(tokens.size()));
  if (!r.seed_given) o.sampling.seed = mix(std::chrono::steady_clock::now().time_since_epoch().count() + counter_.load());

  auto channel = std::make_shared<RequestChannel>();
  RequestCallbacks callbacks;
  callbacks.on_token = [channel](const TokenEvent& e) { channel->push(e); };
  callbacks.on_finish = [channel](const RequestResult& result) { channel->finish(result); };
  uint64_t id = 0;
  {
    // Registered before the engine can finish it, so shutdown sees it.
    std::lock_guard<std::mutex> lock(mutex_);
    try {
      id = engine_->submit(std::move(tokens), o, std::move(callbacks));
    } catch (const QueueFull& e) {
      res.set_header("Retry-After", "1");
      return reply_error(res, 429, e.what(), "", "queue_full");
    } catch (const RequestError& e) {
      return reply_error(res, 400, e.what(), e.param(), e.code());
    } catch (const Error& e) {
      return reply_error(res, 400, e.what());
    }
    active_[id] = channel;
  }

  const int fd = find_connection_socket(req.remote_addr, req.remote_port, req.local_port);
  guard_->busy(fd);  // a stream may run for minutes; the logger marks the connection idle again
  ResponseHeader header{next_id(chat), static_cast<int64_t>(std::time(nullptr)), options_.alias, chat};
  if (r.stream) {
    auto st = std::make_shared<StreamState>();
    st->id = id;
    st->channel = channel;
    st->header = header;
    st->include_usage = r.include_usage;
    st->logprobs = r.logprobs;
    st->fd = fd;
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, st](size_t, httplib::DataSink& sink) {
          const Tokenizer& tok = model_->tokenizer();
          auto send = [&](const std::string& s) {
            st->last_write = std::chrono::steady_clock::now();
            if (sink.write(s.data(), s.size())) return true;
            engine_->cancel(st->id);  // the client is gone
            return false;
          };
          const bool chat = st->header.chat;
          if (!st->started) {
            st->started = true;
            st->last_write = std::chrono::steady_clock::now();
            if (chat && !send(sse_event(chunk_json(st->header, "", nullptr, "", true, st->include_usage)))) return false;
          }
          if (peer_closed(st->fd)) {  // gone: end the sequence now, before the next step
            engine_->cancel(st->id);
            return false;
          }
          std::vector<TokenEvent> events;
          const bool finished = st->channel->wait(events, kPoll);
          for (const TokenEvent& e : events) {
            json lp = nullptr;
            if (st->logprobs && e.token >= 0) {  // token -1: text held back until the end, no new token
              lp = chat ? chat_logprobs(tok, {e.logprob}) : completion_logprobs(tok, {e.logprob}, {int64_t(st->text_sent)});
            } else if (e.text.empty()) {
              continue;
            }
            st->text_sent += e.text.size();
            if (!send(sse_event(chunk_json(st->header, e.text, lp, "", false, st->include_usage)))) return false;
          }
          if (!finished) {
            // A request waiting for its turn or its prompt sends nothing for
            // a while; clients and proxies drop a silent stream (Node's fetch
            // after 300 s, proxies' idle timeouts sooner). An SSE comment
            // keeps it open and every SSE client ignores it.
            const std::chrono::duration<double> silent = std::chrono::steady_clock::now() - st->last_write;
            if (events.empty() && silent.count() >= options_.stream_heartbeat && !send(": keep-alive\n\n")) return false;
            return true;
          }
          const RequestResult& result = st->channel->result();
          const std::string reason = finish_reason(result.stop_reason);
          st->done = true;
          if (reason.empty()) {
            const std::string message = result.stop_reason == "cancelled" ? "the request was cancelled (server shutting down)"
                                                                          : "generation failed: " + result.error;
            if (!send(sse_event(error_json(message, "server_error")))) return false;
          } else {
            // Text the engine released only at the end (bytes held back for a
            // possible stop string or an unfinished character).
            const std::string rest = st->text_sent < result.text.size() ? result.text.substr(st->text_sent) : "";
            if (!send(sse_event(chunk_json(st->header, rest, nullptr, reason, false, st->include_usage)))) return false;
            if (st->include_usage && !send(sse_event(usage_chunk_json(st->header, result)))) return false;
          }
          if (!send("data: [DONE]\n\n")) return false;
          sink.done();
          return true;
        },
        [this, st](bool) {
          if (!st->done) engine_->cancel(st->id);
          finish_request(st->id);
        });
    return;
  }

  std::vector<TokenEvent> events;
  bool cancelled = false;
  while (!channel->wait(events, kPoll)) {
    events.clear();
    if (!cancelled && peer_closed(fd)) {
      engine_->cancel(id);
      cancelled = true;
    }
  }
  finish_request(id);
  const RequestResult& result = channel->result();
  const std::string reason = finish_reason(result.stop_reason);
  if (reason.empty()) {
    if (result.stop_reason == "cancelled") return reply_error(res, 503, "the request was cancelled (client gone or server shutting down)");
    return reply_error(res, 500, "generation failed: " + result.error);
  }
  json lp = nullptr;
  const Tokenizer& tok = model_->tokenizer();
  if (r.logprobs) lp = chat ? chat_logprobs(tok, result.logprobs) : completion_logprobs(tok, result.logprobs, text_offsets(tok, result.logprobs));
  reply_json(res, 200, completion_json(header, result, lp));
}

}  // namespace sieve::server
