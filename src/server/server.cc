#include "server/server.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>

#include "server/connection.h"
#include "server/connection_guard.h"
#include "server/http_reply.h"
#include "server/prometheus.h"
#include "server/request_channel.h"
#include "util/error.h"

namespace sieve::server {
namespace {

constexpr int kKeepAliveSeconds = 5;

struct Route {
  const char* path;
  const char* method;
};

constexpr Route kRoutes[] = {
    {"/v1/completions", "POST"}, {"/completions", "POST"}, {"/v1/chat/completions", "POST"},
    {"/chat/completions", "POST"}, {"/v1/models", "GET"}, {"/models", "GET"},
    {"/tokenize", "POST"}, {"/detokenize", "POST"}, {"/health", "GET"}, {"/metrics", "GET"},
};

std::string base_name(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// An answer given before the body was read: the connection cannot carry
// another request, because the unread body would be taken for one.
void close_if_body_unread(const httplib::Request& req, httplib::Response& res) {
  if (req.get_header_value<uint64_t>("Content-Length") > 0 || req.has_header("Transfer-Encoding"))
    res.set_header("Connection", "close");
}

// Reads a POST body up to `limit` bytes; otherwise answers 413 (or 400 when
// the body could not be read) and returns false.
bool read_body(const httplib::ContentReader& reader, size_t limit, std::string& body, httplib::Response& res) {
  bool too_big = false;
  const bool ok = reader([&](const char* data, size_t n) {
    if (body.size() + n > limit) {
      too_big = true;
      return false;
    }
    body.append(data, n);
    return true;
  });
  if (ok && !too_big) return true;
  res.set_header("Connection", "close");
  if (too_big || res.status == 413) {
    reply_error(res, 413, "the request body is larger than the server's limit of " + std::to_string(limit >> 20) + " MiB (--max-body)",
                "", "request_too_large");
  } else {
    reply_error(res, 400, "the request body could not be read");
  }
  return false;
}

}  // namespace

Server::Server(ServerOptions options) : options_(std::move(options)) {
  if (options_.alias.empty()) options_.alias = base_name(options_.model_path);
  std::random_device rd;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%08x%08x", rd(), rd());
  id_prefix_ = buf;
}

Server::~Server() {
  if (http_) http_->stop();
  if (http_thread_.joinable()) http_thread_.join();
  if (engine_) engine_->stop();
  if (engine_thread_.joinable()) engine_thread_.join();
  guard_.reset();
}

void Server::bind() {
  http_ = std::make_unique<httplib::Server>();
  const EngineOptions& e = options_.engine;
  size_t threads = options_.http_threads > 0 ? static_cast<size_t>(options_.http_threads)
                                             : static_cast<size_t>(std::min<int64_t>(e.max_running + e.max_waiting + 4, 1024));
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http_->set_payload_max_length(options_.max_body);
  http_->set_read_timeout(options_.request_timeout, 0);
  http_->set_write_timeout(30, 0);
  http_->set_keep_alive_timeout(kKeepAliveSeconds);
  http_->set_keep_alive_max_count(1000);
  routes();
  if (options_.port == 0) {
    port_ = http_->bind_to_any_port(options_.host);
    if (port_ <= 0) throw Error("cannot bind " + options_.host + " to a free port");
  } else {
    if (!http_->bind_to_port(options_.host, options_.port))
      throw Error("cannot bind " + options_.host + ":" + std::to_string(options_.port) + " (in use, or not an address of this machine)");
    port_ = options_.port;
  }
  if (!widen_listen_backlog(port_))
    std::fprintf(stderr, "sieve serve: note: could not raise the listen backlog; bursts of connections may wait\n");
  guard_ = std::make_unique<ConnectionGuard>(port_, std::chrono::seconds(options_.request_timeout),
                                              std::chrono::seconds(kKeepAliveSeconds));
  // Called after each answer is written: the connection's next request starts its clock.
  http_->set_logger([this](const httplib::Request& req, const httplib::Response&) {
    guard_->idle(find_connection_socket(req.remote_addr, req.remote_port, req.local_port));
  });
  http_thread_ = std::thread([this] { http_->listen_after_bind(); });
}

void Server::load() {
  model_ = Model::load(options_.model_path);
  if (options_.prepare_model) options_.prepare_model(*model_);
  pool_ = std::make_unique<ThreadPool>(options_.threads);
  engine_ = std::make_unique<Engine>(*model_, *pool_, options_.engine);
  limits_.vocab_size = static_cast<int32_t>(model_->config().vocab_size);
  limits_.pattern_files = options_.pattern_files;
  created_ = static_cast<int64_t>(std::time(nullptr));
  engine_thread_ = std::thread([this] { engine_->run(); });
  State loading = State::Loading;
  state_.compare_exchange_strong(loading, State::Ready);
}

void Server::request_shutdown() {
  if (state_.load() == State::Loading) {
    // Nothing to drain; do not wait for the model to finish loading.
    std::fflush(nullptr);
    _exit(0);
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    shutdown_requested_ = true;
  }
  changed_.notify_all();
}

void Server::serve_until_shutdown() {
  {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return shutdown_requested_; });
  }
  // New requests get 503 from here on. The listening socket stays open until
  // the running requests are done: the HTTP library ends every stream still
  // being written the moment it stops listening.
  state_ = State::Draining;
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(options_.shutdown_timeout * 1000));
  std::vector<uint64_t> left;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait_until(lock, deadline, [&] { return active_.empty(); });
    for (const auto& [id, channel] : active_) left.push_back(id);
  }
  if (!left.empty()) std::fprintf(stderr, "sieve serve: cancelling %zu requests still running\n", left.size());
  for (uint64_t id : left) engine_->cancel(id);
  {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait_for(lock, std::chrono::seconds(10), [&] { return active_.empty(); });
  }
  http_->stop();
  if (http_thread_.joinable()) http_thread_.join();
  engine_->stop();
  if (engine_thread_.joinable()) engine_thread_.join();
}

void Server::finish_request(uint64_t id) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    active_.erase(id);
  }
  changed_.notify_all();
}

std::string Server::next_id(bool chat) {
  return (chat ? "chatcmpl-" : "cmpl-") + id_prefix_ + std::to_string(++counter_);
}

bool Server::authorized(const httplib::Request& req) const {
  if (options_.api_key.empty()) return true;
  const std::string h = req.get_header_value("Authorization");
  const std::string expected = "Bearer " + options_.api_key;
  if (h.size() != expected.size()) return false;
  unsigned diff = 0;  // constant time in the key's length
  for (size_t i = 0; i < h.size(); ++i) diff |= static_cast<unsigned char>(h[i] ^ expected[i]);
  return diff == 0;
}

void Server::routes() {
  httplib::Server& s = *http_;
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    const Route* route = nullptr;
    for (const Route& r : kRoutes) {
      if (req.path == r.path) route = &r;
    }
    if (!route) {
      close_if_body_unread(req, res);
      reply_error(res, 404, "no route " + req.method + " " + req.path, "", "unknown_url");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.method != route->method) {
      close_if_body_unread(req, res);
      res.set_header("Allow", route->method);
      reply_error(res, 405, req.path + " takes " + route->method + ", not " + req.method, "", "method_not_allowed");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.path != "/health" && !authorized(req)) {
      close_if_body_unread(req, res);
      res.set_header("WWW-Authenticate", "Bearer");
      reply_error(res, 401, "missing or wrong API key: send 'Authorization: Bearer <key>'", "", "invalid_api_key");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.path != "/health" && state_.load() != State::Ready) {
      const bool loading = state_.load() == State::Loading;
      if (loading) close_if_body_unread(req, res);
      else res.set_header("Connection", "close");
      res.set_header("Retry-After", loading ? "5" : "30");
      reply_error(res, 503, loading ? "the model is loading" : "the server is shutting down");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Errors the library answers itself (413 body too large, 400 bad request
  // line, ...) get OpenAI's error shape too.
  s.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string message = "HTTP " + std::to_string(res.status);
    if (res.status == 413) message = "the request body is larger than the server's limit (--max-body)";
    if (res.status == 400) message = "malformed HTTP request";
    if (res.status == 404) message = "not found";
    reply_error(res, res.status, message);
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string message = "internal error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::bad_alloc&) {
      message = "out of memory";
    } catch (const std::exception& e) {
      message = std::string("internal error: ") + e.what();
    } catch (...) {
    }
    reply_error(res, 500, message);
  });

  // POST bodies are read here rather than by the library, which does not
  // hold a chunked body to the size limit.
  using Reader = httplib::ContentReader;
  auto post = [this, &s](const char* path, std::function<void(const httplib::Request&, const std::string&, httplib::Response&)> fn) {
    s.Post(path, [this, fn](const httplib::Request& req, httplib::Response& res, const Reader& reader) {
      std::string body;
      if (read_body(reader, options_.max_body, body, res)) fn(req, body, res);
    });
  };
  for (const char* path : {"/v1/completions", "/completions"})
    post(path, [this](const httplib::Request& req, const std::string& body, httplib::Response& res) { handle_completion(req, body, res, false); });
  for (const char* path : {"/v1/chat/completions", "/chat/completions"})
    post(path, [this](const httplib::Request& req, const std::string& body, httplib::Response& res) { handle_completion(req, body, res, true); });
  post("/tokenize", [this](const httplib::Request&, const std::string& body, httplib::Response& res) { handle_tokenize(body, res); });
  post("/detokenize", [this](const httplib::Request&, const std::string& body, httplib::Response& res) { handle_detokenize(body, res); });
  s.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) { handle_models(res); });
  s.Get("/models", [this](const httplib::Request&, httplib::Response& res) { handle_models(res); });
  s.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    switch (state_.load()) {
      case State::Ready: return reply_json(res, 200, {{"status", "ok"}});
      case State::Loading:
        res.set_header("Retry-After", "5");
        return reply_error(res, 503, "the model is loading");
      case State::Draining: return reply_error(res, 503, "the server is shutting down");
    }
  });
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(prometheus_text(engine_->metrics()), "text/plain; version=0.0.4; charset=utf-8");
  });
}

void Server::handle_models(httplib::Response& res) {
  json model = {{"id", options_.alias},
                {"object", "model"},
                {"created", created_},
                {"owned_by", "sieve"},
                {"context_length", engine_->context()}};
  reply_json(res, 200, {{"object", "list"}, {"data", json::array({model})}});
}

void Server::handle_tokenize(const std::string& body, httplib::Response& res) {
  try {
    const TokenizeRequest t = parse_tokenize_request(body);
    reply_json(res, 200, {{"tokens", model_->tokenizer().encode(t.content, t.add_special, t.parse_special)}});
  } catch (const RequestError& e) {
    reply_error(res, 400, e.what(), e.param(), e.code());
  }
}

void Server::handle_detokenize(const std::string& body, httplib::Response& res) {
  try {
    const std::vector<int32_t> tokens = parse_detokenize_request(body, limits_.vocab_size);
    reply_json(res, 200, {{"content", model_->tokenizer().decode(tokens)}});
  } catch (const RequestError& e) {
    reply_error(res, 400, e.what(), e.param(), e.code());
  }
}

}  // namespace sieve::server
