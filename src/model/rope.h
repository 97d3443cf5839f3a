#pragma once
// Rotary position embedding angles for a model: the angle of frequency pair i
// at position p is p * inv_freq_i, with inv_freq_i = theta^(-2i/d) / divisor_i
// where the divisors carry the model's own linear or llama3 scaling (all 1
// for plain RoPE), or as a context-extension method for one sequence sets it
// (RopeExtension: PI, NTK-aware, dynamic NTK, YaRN, entropy-aware ABF).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/config.h"

namespace sieve {

// A way to read past the trained context without retraining, chosen per
// sequence (rope=NAME:key=value,...). Keys are cached after RoPE, so it holds
// for a sequence's whole life.
struct RopeExtension {
  enum class Kind { None, Linear, Ntk, Dynamic, Yarn, Abf };
  Kind kind = Kind::None;
  double factor = 1.0;     // linear, ntk, dynamic, yarn: the context's stretch
  int64_t original = 0;    // the trained context length (0: the model's)
  double beta_fast = 32;   // yarn: wavelengths with more than beta_fast turns in `original` keep their frequency
  double beta_slow = 1;    //       those with fewer than beta_slow are interpolated by `factor`
  double attention_factor = 0;  // yarn: 0 for the paper's 0.1 ln(factor) + 1
  double base = 500000;    // abf: the new base frequency
  int64_t unscaled_layers = 2;  // abf: the first layers keep unscaled attention logits
  int64_t length = 0;      // dynamic: the length the sequence may reach (0: set by the engine)

  // Parses "none", "linear:factor=4", "ntk:factor=4",
  // "dynamic:factor=4,original=8192,length=0",
  // "yarn:factor=4,original=8192,beta_fast=32,beta_slow=1,attention_factor=0",
  // "abf:base=500000,original=8192,unscaled_layers=2" (original: the model's
  // trained context by default); throws sieve::Error naming what is wrong.
  // A model that scales its RoPE itself (linear, llama3) takes only none.
  static RopeExtension parse(const std::string& text, const ModelConfig& config);
  // Canonical text with every parameter, "none" for the model's own RoPE.
  std::string spec() const;
  bool none() const { return kind == Kind::None; }
};

// The choices for --rope, one per line with their defaults, for --help.
std::string rope_help();


class Rope {
 public:
  Rope(const ModelConfig& config, const std::vector<float>& freq_divisors, const RopeExtension& extension = {});
  int64_t head_dim() const { return head_dim_; }
  bool interleaved() const { return interleaved_; }
  // The frequencies of the head_dim/2 pairs (radians per position).
  const std::vector<double>& inv_freq() const { return inv_freq_; }
  // Writes head_dim/2 cosines and sines for a position (may be negative:
  // policies rotate by position differences).
  void angles(double position, float* cos, float* sin) const;
  // The same from std::cos/std::sin directly (angles() takes whole positions
  // from tables; tests compare the two).
  void angles_direct(double position, float* cos, float* sin) const;
  // Rotates n_heads consecutive head vectors in place to a position.
  void rotate(float* heads, int64_t n_heads, double position) const;
  // The factor on a layer's attention logits for a query at `position`
  // (YaRN's temperature, ABF's entropy-aware scale; 1 for the others). The
  // rotation itself stays a pure rotation, so policies can undo and redo it.
  float logit_scale(int64_t layer, int64_t position) const;

 private:
  int64_t head_dim_;
  bool interleaved_;
  RopeExtension extension_;
  int64_t original_;  // trained context length, for ABF's scale
  float yarn_scale_ = 1.0f;
  std::vector<double> inv_freq_;
  // Whole positions |p| < 2^(8 * kAngleLevels) compose their angle from one
  // table entry per byte of |p|: cos/sin of (byte << 8 * level) * inv_freq,
  // in double, multiplied as unit complex numbers. Policies that re-rotate
  // queries and keys per chunk call angles() millions of times per prompt,
  // and libm's sincos was most of their time.
  static constexpr int kAngleLevels = 3;
  std::vector<double> table_cos_, table_sin_;  // [level][byte][pair]
};

// The RoPE of a sequence that may reach `length` tokens under `spec`:
// nullptr for the model's own (an empty spec or none). *canonical gets the
// canonical spec ("none" for the model's own). Throws sieve::Error on a bad
// spec.
std::unique_ptr<Rope> make_rope(const std::string& spec, const ModelConfig& config,
                                const std::vector<float>& freq_divisors, int64_t length,
                                std::string* canonical = nullptr);

}  // namespace sieve
