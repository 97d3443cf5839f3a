#pragma once
// Writing JSON answers and OpenAI-shaped errors into an httplib response.
#include <httplib.h>

#include <string>

#include "server/openai_response.h"

namespace sieve::server {

inline void reply_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(dump(body), "application/json");
}

inline void reply_error(httplib::Response& res, int status, const std::string& message, const std::string& param = "",
                        const std::string& code = "") {
  reply_json(res, status, error_json(message, error_type(status), param, code));
}

}  // namespace sieve::server
