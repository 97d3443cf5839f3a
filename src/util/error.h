#pragma once
// Errors that reach the user. Every failure caused by input from outside
// (files, flags, prompts, HTTP bodies) is thrown as sieve::Error with a
// one-line message that names what is wrong; frontends print it and exit 1.
#include <stdexcept>
#include <string>

namespace sieve {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace sieve
