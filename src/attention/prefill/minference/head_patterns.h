#pragma once
// MInference's per-head sparse patterns (Jiang et al. 2024, "MInference
// 1.0"; reference code microsoft/MInference) and the per-model file that
// assigns one to every head of every layer (what the offline pattern search
// writes and `minference:config=FILE` loads).
//
//   A-shape        sinks + local window: each query reads the first `init`
//                  keys and the `local` keys ending at itself.
//   Vertical-Slash `vertical` key columns and `slash` diagonals, estimated
//                  online from the attention of the batch's last 64 queries.
//   Block-Sparse   per block of 64 queries, the `topk` blocks of 64 keys
//                  whose mean key best matches the block's mean query.
//   dense          every key (a head the search found no pattern for).
//
// The file, JSON:
//   {"format": "sieve-minference-patterns", "version": 1,
//    "model": {"layers": L, "heads": H},
//    "layers": [[{"pattern": "vertical_slash", "vertical": 1000, "slash": 6096}, ... H], ... L],
//    "search": {...}}   (optional: how it was found)
// Each head may also carry "recall" and "error" from the search. The
// reference's own files (a list of L objects {"head": [type, v, s, score]},
// types "vertical_and_slash", "stream_llm", "block_sparse") load too, read
// as the reference reads them: stream_llm is A-shape with init v and local
// s; block_sparse takes the reference kernel's top 100 blocks.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace sieve {

struct ModelConfig;

enum class HeadPattern { kDense, kAShape, kVerticalSlash, kBlockSparse };

const char* head_pattern_name(HeadPattern p);

struct HeadPatternChoice {
  HeadPattern pattern = HeadPattern::kVerticalSlash;
  int64_t vertical = 0;  // A-shape: init; Vertical-Slash: vertical lines
  int64_t slash = 0;     // A-shape: local window; Vertical-Slash: diagonals
  int64_t topk = 0;      // Block-Sparse: key blocks per query block
  // From the search, for reports (NaN when unknown).
  double recall = std::numeric_limits<double>::quiet_NaN();
  double error = std::numeric_limits<double>::quiet_NaN();

  // Short form for tables: "A(128,896)", "VS(50,970)", "BS(8)", "dense".
  std::string describe() const;

  bool operator==(const HeadPatternChoice& o) const {
    return pattern == o.pattern && vertical == o.vertical && slash == o.slash && topk == o.topk;
  }
};

struct PatternConfig {
  int64_t n_layers = 0, n_heads = 0;
  std::vector<std::vector<HeadPatternChoice>> layers;  // [layer][query head]
  std::string search_json;  // the "search" object as written, or empty

  // Reads and checks a file against the model (layer and head counts,
  // pattern names, sizes); throws sieve::Error naming the file, the layer
  // and head, and what is wrong.
  static PatternConfig load(const std::string& path, const ModelConfig& model);
  // Parses file text (the same checks; `name` names it in errors).
  static PatternConfig parse(const std::string& text, const std::string& name, const ModelConfig& model);
  std::string to_json() const;
  void save(const std::string& path) const;
};

// The reference's pattern for heads a config does not list.
HeadPatternChoice default_vertical_slash();

}  // namespace sieve
