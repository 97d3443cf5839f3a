#pragma once
// One request through the engine, start to end: a batch of one, the same
// path `sieve serve` runs many requests through.
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "runtime/engine.h"

namespace sieve {

// Runs the request to its end on the calling thread (the engine must have
// no thread of its own running). on_text receives the text as it becomes
// final (complete UTF-8, never part of a stop string). Throws RequestError
// for a request the engine refuses, and sieve::Error when it fails.
RequestResult generate(Engine& engine, const std::vector<int32_t>& prompt, const RequestOptions& options,
                       const std::function<void(std::string_view)>& on_text = nullptr);

}  // namespace sieve
