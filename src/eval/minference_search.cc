#include "eval/minference_search.h"

#include "attention/policies/full_policy.h"
#include "util/error.h"

namespace sieve::eval {
namespace {

// Exact attention for every batch; on the prompt's last batch, each layer's
// heads are searched before the layer's output goes on.
class SearchPolicy : public AttentionPolicy {
 public:
  SearchPolicy(int64_t prompt_length, const PatternSearchOptions& o, MInferenceSearch& out,
               const std::function<void(int64_t)>& on_layer)
      : prompt_length_(prompt_length), options_(o), out_(out), on_layer_(on_layer) {}

  std::string spec() const override { return "minference-search"; }
  void attend(const AttentionInput& in, float* out) override {
    attend_dense(in, rotated_, out);
    if (in.n_q < 2 || in.first_slot + in.n_q != prompt_length_) return;
    out_.layers[in.layer] = search_head_patterns(in, options_);
    if (on_layer_) on_layer_(in.layer);
  }
  std::unique_ptr<AttentionPolicy> clone() const override { throw Error("internal: the search policy is not cloned"); }

 private:
  int64_t prompt_length_;
  PatternSearchOptions options_;
  MInferenceSearch& out_;
  std::function<void(int64_t)> on_layer_;
  std::vector<float> rotated_;
};

}  // namespace

MInferenceSearch run_minference_search(Transformer& tf, const std::vector<int32_t>& prompt, KvType kv_type,
                                       const PatternSearchOptions& options,
                                       const std::function<void(int64_t)>& on_layer) {
  const ModelConfig& c = tf.model().config();
  const int64_t n = static_cast<int64_t>(prompt.size());
  if (n % tf.max_batch_tokens() != 0 && n % tf.max_batch_tokens() < 2)
    throw Error("the calibration prompt's last batch would hold a single token; use another length");
  MInferenceSearch result;
  result.layers.resize(static_cast<size_t>(c.attention_layers()));
  SearchPolicy policy(n, options, result, on_layer);
  KvCache cache(tf.cache_shape(kv_type));
  std::vector<float> logits(static_cast<size_t>(c.vocab_size));
  tf.forward(prompt.data(), n, cache, logits.data(), false, &policy);
  result.config.n_layers = c.attention_layers();
  result.config.n_heads = c.n_heads;
  for (const auto& layer : result.layers) {
    if (static_cast<int64_t>(layer.size()) != c.n_heads) throw Error("internal: a layer was not searched");
    std::vector<HeadPatternChoice> best;
    for (const HeadSearchResult& h : layer) best.push_back(h.best);
    result.config.layers.push_back(std::move(best));
  }
  return result;
}

}  // namespace sieve::eval
