#pragma once
// ACT, the Attention Calibration Technique (Yu et al., "Unveiling and
// Harnessing Hidden Attention Sinks: Training-Free Attention Calibration
// Technique for Enhancing Large Language Models", ICML 2024; reference code
// GATECH-EIC/ACT, models/llama_modelling_aug.py), as a modifier on any
// policy: "full+act:config=FILE", "quest+act", "minference+tokenselect+act".
//
// For each calibrated head (a list chosen on a calibration set, sieve
// act-search), a key j is a sink when the mean attention it receives from
// the queries that see it, sum_i A[i][j] / (rows seeing j), exceeds
// `threshold` (0.1, the reference's); the first sink found (lowest slot,
// normally the first token) is left alone. Every query row of the head then
// keeps `beta` (0.4) of its attention on the sinks and gives the rest to the
// other keys in proportion to their attention, so the row still sums to one.
//
// The reference runs one forward pass over a whole prompt. Here rows arrive
// in batches (and decoded tokens one by one): a head's sinks are those of
// every row it has seen so far, this batch's included, before calibration.
// Calibrated heads read every cached key exactly (the method needs each
// row's full distribution); the other heads are the wrapped policy's.
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "attention/attention_rows.h"
#include "attention/policy.h"

namespace sieve {

class Spec;

struct ActOptions {
  double beta = 0.4;        // share of a sink's attention kept
  double threshold = 0.1;   // mean attention above which a key is a sink
  std::set<std::pair<int64_t, int64_t>> heads;  // (layer, query head) calibrated
  std::string source;       // "all" or the head file, for the spec
};

// ACT's head file: {"version": 1, "heads": [[layer, head], ...], ...}, as
// sieve act-search writes it. Errors name the file (`name`) and the head.
std::set<std::pair<int64_t, int64_t>> parse_act_heads(const std::string& text, const std::string& name,
                                                      const ModelConfig& config);
std::set<std::pair<int64_t, int64_t>> load_act_heads(const std::string& path, const ModelConfig& config);
void save_act_heads(const std::string& path, const std::set<std::pair<int64_t, int64_t>>& heads,
                    const std::string& search_json);
// The layers the reference calibrates: all but the first two and the last.
bool act_layer_eligible(int64_t layer, int64_t n_layers);

// Sinks from a head's column statistics: mass[j] summed attention on slot j,
// seeing[j] how many rows saw it. Ascending, the first detected left out.
std::vector<int64_t> act_sinks(const std::vector<double>& mass, const std::vector<int64_t>& seeing, int64_t n,
                               double threshold);
// Calibrates one attention row of n slots in place (sinks ascending, < n).
void act_calibrate_row(float* probs, int64_t n, const std::vector<int64_t>& sinks, double beta);

class ActPolicy : public AttentionPolicy {
 public:
  ActPolicy(std::unique_ptr<AttentionPolicy> inner, ActOptions options);
  // Parses "act:..." (config=FILE | heads=all, beta, threshold) around `inner`.
  static std::unique_ptr<AttentionPolicy> from_spec(Spec& spec, const ModelConfig& config,
                                                    std::unique_ptr<AttentionPolicy> inner);

  std::string spec() const override;
  void attend(const AttentionInput& in, float* out) override;
  std::unique_ptr<AttentionPolicy> clone() const override;
  void end_batch(KvCache& cache) override { inner_->end_batch(cache); }
  void end_prompt(KvCache& cache, ThreadPool& pool) override { inner_->end_prompt(cache, pool); }
  void reset_stats() override {
    inner_->reset_stats();
    stats_ = {};
    own_bytes_ = own_slots_ = 0;
  }
  std::vector<std::pair<std::string, double>> counters() const override;

  const AttentionPolicy& inner() const { return *inner_; }
  // A calibrated head's current sinks (slots), for tests and inspection.
  std::vector<int64_t> sinks(int64_t layer, int64_t head) const;

 private:
  struct HeadState {
    int64_t layer = 0, head = 0;
    std::vector<double> mass;      // per slot: attention received, summed over rows
    std::vector<int64_t> rows_at;  // per slot: rows whose own slot it is
    std::vector<int64_t> sinks;
  };
  void calibrate_head(const AttentionInput& in, HeadState& st, float* out);

  std::unique_ptr<AttentionPolicy> inner_;
  ActOptions options_;
  std::vector<HeadState> heads_;
  // Keys and values of each (layer, KV head) a calibrated head reads, kept
  // so each step reads only the new slots.
  std::map<std::pair<int64_t, int64_t>, HeadKv> kv_;
  std::vector<float> rotated_, probs_;  // scratch
  double own_bytes_ = 0, own_slots_ = 0;  // decoded tokens' reads of the calibrated heads
};

}  // namespace sieve
