#pragma once
// ACT's head search (attention/modifiers/act.h): which heads to calibrate,
// chosen on calibration prompts. The reference (GATECH-EIC/ACT,
// scripts/calibration.sh) calibrates one head at a time in layers 2 to L-2
// and scores the task on a calibration set; the heads whose calibration
// beats the uncalibrated model are kept. Here the task is retrieval
// (passkey, niah): a prompt's answer is scored teacher-forced, token by
// token as a request decodes it: correct when every answer token is the
// greedy choice (what greedy decoding would produce), and its negative
// log-likelihood. Accuracy on a few prompts is coarse, so a head is kept
// when it loses no accuracy and lowers the answers' mean NLL.
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "eval/prompts.h"
#include "runtime/transformer.h"

namespace sieve::eval {

struct AnswerScore {
  int64_t prompts = 0, correct = 0;
  double nll = 0;  // mean over prompts of the answer's summed NLL
  double accuracy() const { return prompts ? static_cast<double>(correct) / static_cast<double>(prompts) : 0; }
};

// Scores the policies `make` builds (a fresh one per prompt) on prompts
// with their answers (the expected digits as they tokenize after " is").
using PolicyMaker = std::function<std::unique_ptr<AttentionPolicy>()>;
AnswerScore score_answers(Transformer& tf, KvType kv_type, const PolicyMaker& make, const std::vector<Prompt>& prompts);

struct ActHeadResult {
  int64_t layer = 0, head = 0;
  AnswerScore score;
  bool kept = false;
};

struct ActSearch {
  AnswerScore baseline;  // `base` uncalibrated
  std::vector<ActHeadResult> heads;
  std::set<std::pair<int64_t, int64_t>> kept;
};

// base: the policy ACT wraps while searching (full). on_head: progress.
ActSearch run_act_search(Transformer& tf, KvType kv_type, const std::string& base, double beta, double threshold,
                         const std::vector<Prompt>& prompts,
                         const std::function<void(const ActHeadResult&)>& on_head = nullptr);

}  // namespace sieve::eval
