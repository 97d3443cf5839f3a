// The HTTP server in-process, on a free loopback port with the test model:
// the answers that need a particular configuration (a full queue, draining).
// tests/e2e covers the API with the OpenAI client.
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "server/server.h"
#include "test_paths.h"

namespace sieve::server {
namespace {

ServerOptions small_server() {
  ServerOptions o;
  o.port = 0;
  o.model_path = test_model_dir() + "/model-q8_0.gguf";
  o.threads = 1;
  o.engine.context = 1024;
  o.engine.max_running = 1;
  o.engine.max_waiting = 0;
  o.shutdown_timeout = 2;  // the long stream keeps the server draining this long
  return o;
}

TEST(Server, FullQueueIs429WithRetryAfterAndDrainingIs503) {
  Server server(small_server());
  server.bind();
  server.load();
  std::thread serving([&] { server.serve_until_shutdown(); });
  httplib::Client a("127.0.0.1", server.port()), b("127.0.0.1", server.port());

  // One long stream holds the only running slot; with no waiting room the next request is refused.
  std::thread first([&] {
    a.Post("/v1/completions",
           R"({"prompt": "The kernel", "max_tokens": 400, "temperature": 0, "ignore_eos": true, "stream": true})",
           "application/json");
  });
  for (int i = 0; i < 500; ++i) {  // until the engine runs it
    auto m = b.Get("/metrics");
    if (m && m->body.find("\nsieve:num_requests_running 1\n") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto r = b.Post("/v1/completions", R"({"prompt": "x", "max_tokens": 2})", "application/json");
  EXPECT_TRUE(r);
  if (r) {
    EXPECT_EQ(r->status, 429);
    EXPECT_EQ(r->get_header_value("Retry-After"), "1");
    EXPECT_EQ(nlohmann::json::parse(r->body)["error"]["type"], "rate_limit_error");
  }

  server.request_shutdown();
  int health = 0;
  for (int i = 0; i < 100 && health != 503; ++i) {  // draining: new requests are turned away
    if (i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    httplib::Client c("127.0.0.1", server.port());
    auto r = c.Get("/health");
    if (!r) break;  // already closed
    health = r->status;
  }
  EXPECT_EQ(health, 503);
  first.join();
  serving.join();  // after shutdown_timeout the stream was cancelled and the server returned
}

TEST(Server, AQueuedStreamGetsHeartbeatComments) {
  ServerOptions o = small_server();
  o.engine.max_waiting = 1;
  o.stream_heartbeat = 0.2;
  Server server(o);
  server.bind();
  server.load();
  std::thread serving([&] { server.serve_until_shutdown(); });
  httplib::Client a("127.0.0.1", server.port()), b("127.0.0.1", server.port()), m("127.0.0.1", server.port());
  // The first stream holds the only running slot for a while; the second waits behind it.
  std::thread first([&] {
    a.Post("/v1/completions",
           R"({"prompt": "The kernel", "max_tokens": 300, "temperature": 0, "ignore_eos": true, "stream": true})",
           "application/json");
  });
  for (int i = 0; i < 500; ++i) {
    auto r = m.Get("/metrics");
    if (r && r->body.find("\nsieve:num_requests_running 1\n") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::string body;
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.body = R"({"prompt": "x", "max_tokens": 3, "temperature": 0, "ignore_eos": true, "stream": true})";
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    body.append(data, n);
    return true;
  };
  auto r = b.send(req);
  first.join();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  // Comments while it waited, then its tokens and the end, as usual.
  const size_t comment = body.find(": keep-alive\n\n"), data = body.find("data: {");
  EXPECT_NE(comment, std::string::npos) << body.substr(0, 300);
  EXPECT_LT(comment, data);
  EXPECT_NE(body.find("data: [DONE]\n\n"), std::string::npos);
  server.request_shutdown();
  serving.join();
}

}  // namespace
}  // namespace sieve::server
