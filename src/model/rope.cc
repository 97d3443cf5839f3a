#include "model/rope.h"

#include <algorithm>
#include <cmath>

#include "kernels/ops.h"
#include "util/error.h"
#include "util/spec.h"

namespace sieve {

namespace {

constexpr double kPi = 3.14159265358979323846;

// theta^(-2i/d) for the pairs, rounded to float32 like the reference
// implementations, so angles match theirs at long positions.
double base_inv_freq(double theta, int64_t i, int64_t d) {
  return static_cast<float>(1.0 / std::pow(theta, static_cast<double>(2 * i) / static_cast<double>(d)));
}

// YaRN's dimension whose wavelength turns `rotations` times in `original`
// positions (the paper's r(d) = original / lambda_d solved for d).
double yarn_correction_dim(double rotations, int64_t d, double theta, int64_t original) {
  return static_cast<double>(d) * std::log(static_cast<double>(original) / (rotations * 2 * kPi)) / (2 * std::log(theta));
}

// The frequencies of an extension method (the model's own RoPE for none).
std::vector<double> extended_inv_freq(const ModelConfig& c, const std::vector<float>& divisors, const RopeExtension& e,
                                      int64_t original) {
  const int64_t d = c.head_dim, pairs = d / 2;
  const double theta = c.rope_theta, d_ratio = static_cast<double>(d) / static_cast<double>(d - 2);
  std::vector<double> f(static_cast<size_t>(pairs));
  using Kind = RopeExtension::Kind;
  switch (e.kind) {
    case Kind::None:
      for (int64_t i = 0; i < pairs; ++i)
        f[i] = base_inv_freq(theta, i, d) / (divisors.empty() ? 1.0 : static_cast<double>(divisors[i]));
      break;
    case Kind::Linear:  // position interpolation: every position divided by the factor
      for (int64_t i = 0; i < pairs; ++i) f[i] = base_inv_freq(theta, i, d) / e.factor;
      break;
    case Kind::Ntk: {  // NTK-aware: a larger base, b' = b s^(d/(d-2))
      const double b = theta * std::pow(e.factor, d_ratio);
      for (int64_t i = 0; i < pairs; ++i) f[i] = base_inv_freq(b, i, d);
      break;
    }
    case Kind::Dynamic: {  // dynamic NTK at the length the sequence may reach
      const double n = static_cast<double>(std::max(e.length, original)), L = static_cast<double>(original);
      const double b = theta * std::pow(e.factor * n / L - (e.factor - 1), d_ratio);
      for (int64_t i = 0; i < pairs; ++i) f[i] = base_inv_freq(b, i, d);
      break;
    }
    case Kind::Yarn: {  // NTK-by-parts: interpolate long wavelengths, keep short ones, ramp between
      const double low = std::max(0.0, std::floor(yarn_correction_dim(e.beta_fast, d, theta, original)));
      double high = std::min(static_cast<double>(d - 1), std::ceil(yarn_correction_dim(e.beta_slow, d, theta, original)));
      if (high == low) high += 0.001;
      for (int64_t i = 0; i < pairs; ++i) {
        const double extrapolated = base_inv_freq(theta, i, d);
        const double interpolated = extrapolated / e.factor;
        const double ramp = std::clamp((static_cast<double>(i) - low) / (high - low), 0.0, 1.0);
        const double keep = 1.0 - ramp;  // 1: the pair's own frequency, 0: interpolated
        f[i] = interpolated * (1.0 - keep) + extrapolated * keep;
      }
      break;
    }
    case Kind::Abf:  // adjusted base frequency
      for (int64_t i = 0; i < pairs; ++i) f[i] = base_inv_freq(e.base, i, d);
      break;
  }
  return f;
}

}  // namespace

Rope::Rope(const ModelConfig& c, const std::vector<float>& divisors, const RopeExtension& extension)
    : head_dim_(c.head_dim),
      interleaved_(c.rope_interleaved),
      extension_(extension),
      original_(extension.original > 0 ? extension.original : c.max_context),
      inv_freq_(extended_inv_freq(c, divisors, extension, original_)) {
  if (extension.kind == RopeExtension::Kind::Yarn) {
    const double t = extension.attention_factor > 0 ? extension.attention_factor
                     : extension.factor > 1     ? 0.1 * std::log(extension.factor) + 1.0
                                                : 1.0;
    yarn_scale_ = static_cast<float>(t * t);  // on queries and keys alike in the paper: squared on the logits
  }
  const size_t pairs = inv_freq_.size();
  table_cos_.resize(kAngleLevels * 256 * pairs);
  table_sin_.resize(kAngleLevels * 256 * pairs);
  for (int level = 0; level < kAngleLevels; ++level)
    for (int64_t byte = 0; byte < 256; ++byte)
      for (size_t i = 0; i < pairs; ++i) {
        const double a = static_cast<double>(byte << (8 * level)) * inv_freq_[i];
        table_cos_[(level * 256 + byte) * pairs + i] = std::cos(a);
        table_sin_[(level * 256 + byte) * pairs + i] = std::sin(a);
      }
}

void Rope::angles_direct(double position, float* cos, float* sin) const {
  for (size_t i = 0; i < inv_freq_.size(); ++i) {
    const double a = position * inv_freq_[i];
    cos[i] = static_cast<float>(std::cos(a));
    sin[i] = static_cast<float>(std::sin(a));
  }
}

void Rope::angles(double position, float* cos, float* sin) const {
  const double magnitude = std::fabs(position);
  if (magnitude != std::floor(magnitude) || magnitude >= static_cast<double>(int64_t{1} << (8 * kAngleLevels)))
    return angles_direct(position, cos, sin);
  const auto p = static_cast<int64_t>(magnitude);
  const size_t pairs = inv_freq_.size();
  const double* c[kAngleLevels];
  const double* s[kAngleLevels];
  for (int level = 0; level < kAngleLevels; ++level) {
    const size_t row = (level * 256 + ((p >> (8 * level)) & 255)) * pairs;
    c[level] = table_cos_.data() + row;
    s[level] = table_sin_.data() + row;
  }
  const double sign = position < 0 ? -1.0 : 1.0;
  for (size_t i = 0; i < pairs; ++i) {
    double re = c[0][i], im = s[0][i];
    for (int level = 1; level < kAngleLevels; ++level) {
      const double r = re * c[level][i] - im * s[level][i];
      im = re * s[level][i] + im * c[level][i];
      re = r;
    }
    cos[i] = static_cast<float>(re);
    sin[i] = static_cast<float>(sign * im);
  }
}

void Rope::rotate(float* heads, int64_t n_heads, double position) const {
  float cos[512], sin[512];
  angles(position, cos, sin);
  for (int64_t h = 0; h < n_heads; ++h) kernels::rope_apply(heads + h * head_dim_, cos, sin, head_dim_, interleaved_);
}

float Rope::logit_scale(int64_t layer, int64_t position) const {
  if (extension_.kind == RopeExtension::Kind::Yarn) return yarn_scale_;
  if (extension_.kind != RopeExtension::Kind::Abf || layer < extension_.unscaled_layers) return 1.0f;
  // Entropy-aware: log_original(position + 1), at least 1, so that the
  // attention entropy stays where it was in training as the context grows.
  return static_cast<float>(std::max(1.0, std::log(static_cast<double>(position + 1)) / std::log(static_cast<double>(original_))));
}

RopeExtension RopeExtension::parse(const std::string& text, const ModelConfig& config) {
  Spec s(text, "rope");
  RopeExtension e;
  const std::string& name = s.name();
  const int64_t max_original = int64_t{1} << 24;
  if (name == "none") {
    s.finish({});
    return e;
  }
  if (config.rope_scaling != RopeScaling::None)
    throw Error("rope '" + text + "': this model scales its RoPE itself (" +
                (config.rope_scaling == RopeScaling::Linear ? std::string("linear") : std::string("llama3")) +
                "); rope= extends models that do not");
  const auto take_factor = [&] { return s.take_double("factor", 4.0, 1.0, 1024.0); };
  const auto take_original = [&] {
    const int64_t v = s.take_int("original", config.max_context, 1);
    if (v > max_original) throw Error("rope '" + text + "': original must be at most " + std::to_string(max_original));
    return v;
  };
  if (name == "linear" || name == "ntk") {
    e.kind = name == "linear" ? Kind::Linear : Kind::Ntk;
    e.factor = take_factor();
    s.finish({"factor"});
    return e;
  }
  if (name == "dynamic") {
    e.kind = Kind::Dynamic;
    e.factor = take_factor();
    e.original = take_original();
    e.length = s.take_int("length", 0, 0);
    s.finish({"factor", "original", "length"});
    return e;
  }
  if (name == "yarn") {
    e.kind = Kind::Yarn;
    e.factor = take_factor();
    e.original = take_original();
    e.beta_fast = s.take_double("beta_fast", 32.0, 1e-3, 1e6);
    e.beta_slow = s.take_double("beta_slow", 1.0, 1e-3, 1e6);
    e.attention_factor = s.take_double("attention_factor", 0.0, 0.0, 100.0);
    if (!(e.beta_fast > e.beta_slow)) throw Error("rope '" + text + "': beta_fast must be greater than beta_slow");
    s.finish({"factor", "original", "beta_fast", "beta_slow", "attention_factor"});
    return e;
  }
  if (name == "abf") {
    e.kind = Kind::Abf;
    e.base = s.take_double("base", 500000.0, 2.0, 1e12);
    e.original = take_original();
    e.unscaled_layers = s.take_int("unscaled_layers", 2, 0);
    s.finish({"base", "original", "unscaled_layers"});
    return e;
  }
  throw Error("unknown rope extension '" + name + "' (none, linear, ntk, dynamic, yarn, abf)");
}

std::string RopeExtension::spec() const {
  auto num = [](double v) {
    std::string t = std::to_string(v);
    t.erase(t.find_last_not_of('0') + 1);
    if (!t.empty() && t.back() == '.') t.pop_back();
    return t;
  };
  switch (kind) {
    case Kind::None: return "none";
    case Kind::Linear: return "linear:factor=" + num(factor);
    case Kind::Ntk: return "ntk:factor=" + num(factor);
    case Kind::Dynamic:
      return "dynamic:factor=" + num(factor) + ",original=" + std::to_string(original) +
             ",length=" + std::to_string(length);
    case Kind::Yarn:
      return "yarn:factor=" + num(factor) + ",original=" + std::to_string(original) + ",beta_fast=" + num(beta_fast) +
             ",beta_slow=" + num(beta_slow) + (attention_factor > 0 ? ",attention_factor=" + num(attention_factor) : "");
    case Kind::Abf:
      return "abf:base=" + num(base) + ",original=" + std::to_string(original) +
             ",unscaled_layers=" + std::to_string(unscaled_layers);
  }
  return "none";
}

std::string rope_help() {
  return "  none\n      the model's own RoPE\n"
         "  linear:factor=4\n      position interpolation: positions divided by factor\n"
         "  ntk:factor=4\n      NTK-aware scaling: base x factor^(d/(d-2))\n"
         "  dynamic:factor=4,original=<trained>\n      dynamic NTK: the base for the length the request may reach\n"
         "  yarn:factor=4,original=<trained>,beta_fast=32,beta_slow=1\n"
         "      YaRN: NTK-by-parts interpolation and attention temperature (0.1 ln factor + 1)^2\n"
         "  abf:base=500000,original=<trained>,unscaled_layers=2\n"
         "      entropy-aware ABF: a new base, and logits x max(1, log_original(position + 1)) past the first layers";
}

std::unique_ptr<Rope> make_rope(const std::string& spec, const ModelConfig& config,
                                const std::vector<float>& freq_divisors, int64_t length, std::string* canonical) {
  RopeExtension e = spec.empty() ? RopeExtension{} : RopeExtension::parse(spec, config);
  // Dynamic NTK's base follows the length the sequence may reach; fixed
  // here, as its keys are cached rotated with it.
  if (e.kind == RopeExtension::Kind::Dynamic && e.length == 0) e.length = length;
  if (canonical) *canonical = e.spec();
  return e.none() ? nullptr : std::make_unique<Rope>(config, freq_divisors, e);
}

}  // namespace sieve
