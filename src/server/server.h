#pragma once
// sieve's OpenAI-compatible HTTP server. It parses, validates and streams;
// every generation is one Engine::submit, run by one engine thread, and the
// HTTP thread that received the request waits on that request's channel.
//
// Lifecycle: bind() takes the port (GET /health answers 503 while loading),
// load() reads the model and starts the engine, then /health is 200.
// request_shutdown() (SIGTERM/SIGINT) turns new requests away with 503, lets
// running requests finish for up to shutdown_timeout seconds, cancels what is
// left, closes the port and returns.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <functional>
#include <string>
#include <thread>

#include "runtime/engine.h"
#include "server/openai_request.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace sieve::server {

class ConnectionGuard;
class RequestChannel;

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string model_path;
  std::string alias;            // the model's name in the API; default: the file or folder name
  std::string api_key;          // empty: no authentication
  std::string chat_template;    // a chat template's source used instead of the model's (empty: the model's)
  int threads = 1;              // compute threads
  int http_threads = 0;         // connections served at once; 0: parallel + max_waiting + 4
  size_t max_body = 8u << 20;   // bytes
  int request_timeout = 30;     // seconds a client may take to send a request (slow clients get 408)
  double shutdown_timeout = 30; // seconds running requests get after SIGTERM
  double stream_heartbeat = 15; // seconds a stream may stay silent (queued, prefilling) before an SSE comment is sent
  std::vector<std::string> pattern_files;  // files requests may name in attn config= (minference's patterns and ACT's heads)
  EngineOptions engine;
  // Called on the model right after it loads, before the engine starts
  // (the CLI's --drop-attn-layers).
  std::function<void(Model&)> prepare_model;
};

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();

  // Binds the port and starts answering (503 until load() is done). Throws
  // sieve::Error when the port cannot be had.
  void bind();
  int port() const { return port_; }
  // Loads the model and starts the engine thread; /health turns 200.
  void load();
  // Blocks until request_shutdown(), then drains as described above.
  void serve_until_shutdown();
  // Async-signal-unsafe; call from a normal thread (the signal thread).
  void request_shutdown();

 private:
  enum class State { Loading, Ready, Draining };

  void routes();
  bool authorized(const httplib::Request& req) const;
  void handle_completion(const httplib::Request& req, const std::string& body, httplib::Response& res, bool chat);
  void handle_tokenize(const std::string& body, httplib::Response& res);
  void handle_detokenize(const std::string& body, httplib::Response& res);
  void handle_models(httplib::Response& res);
  // Prompt tokens of a request (chat: the rendered messages).
  std::vector<int32_t> prompt_tokens(const CompletionRequest& r) const;
  void stream_response(uint64_t id, const CompletionRequest& r, std::shared_ptr<RequestChannel> channel,
                       const httplib::Request& req, httplib::Response& res);
  void finish_request(uint64_t id);
  std::string next_id(bool chat);

  ServerOptions options_;
  std::unique_ptr<httplib::Server> http_;
  std::unique_ptr<ConnectionGuard> guard_;
  std::thread http_thread_, engine_thread_;
  int port_ = 0;
  std::atomic<State> state_{State::Loading};
  int64_t created_ = 0;

  std::unique_ptr<Model> model_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<Engine> engine_;
  RequestLimits limits_;

  std::mutex mutex_;
  std::condition_variable changed_;
  bool shutdown_requested_ = false;
  std::map<uint64_t, std::shared_ptr<RequestChannel>> active_;  // submitted, not yet answered
  std::atomic<uint64_t> counter_{0};
  std::string id_prefix_;
};

}  // namespace sieve::server
