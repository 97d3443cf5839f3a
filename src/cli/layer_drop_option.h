#pragma once
// --drop-attn-layers and --drop-layers, for every command that runs a
// model: What Matters in Transformers' attention drop and joint layer drop
// (inspect/layer_redundancy.h). A number N drops the N most redundant
// blocks measured on a calibration set of haystack windows; a list
// ("attn:5,6" or "5,6" for attention, "mlp:7") names them.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/args.h"
#include "model/model.h"

namespace sieve::cli {

struct LayerDropOption {
  std::string attention;  // --drop-attn-layers: N or a list of layers
  std::string joint;      // --drop-layers: N, or attn:LIST and/or mlp:LIST
  std::string calibration = "8x2048";  // --drop-calibration: haystack windows
  std::string haystack;  // the command's --haystack, if it has one (default: the shipped haystack)

  void add_to(Args& args);
  bool given() const { return !attention.empty() || !joint.empty(); }
  // Drops the blocks from the model (nothing when neither option was
  // given); a line on stderr says which. threads: for the calibration run.
  void apply(Model& model, int64_t threads) const;
};

// The blocks a model runs without, for reports: {"attention": [..], "mlp": [..]}.
nlohmann::json dropped_blocks_json(const ModelConfig& config);

}  // namespace sieve::cli
