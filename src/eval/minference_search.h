#pragma once
// Runs MInference's pattern search (attention/prefill/minference/
// pattern_search.h) on a model: a calibration prompt goes through the model
// with exact attention, and every layer's heads are searched on the
// prompt's last batch, with the keys and queries the model really makes.
// The result is the per-model pattern file `minference:config=FILE` loads.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "attention/prefill/minference/pattern_search.h"
#include "runtime/transformer.h"

namespace sieve::eval {

struct MInferenceSearch {
  PatternConfig config;                                // each head's best
  std::vector<std::vector<HeadSearchResult>> layers;  // every candidate, [layer][head]
};

// on_layer(l): layer l's heads are done (for progress).
MInferenceSearch run_minference_search(Transformer& tf, const std::vector<int32_t>& prompt, KvType kv_type,
                                       const PatternSearchOptions& options,
                                       const std::function<void(int64_t)>& on_layer = nullptr);

}  // namespace sieve::eval
