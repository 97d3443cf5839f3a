// How often continuous batching changes greedy tokens: runs each request
// alone (a batch of one), then all of them at once through one engine, and
// compares the generated tokens. With --batch-invariant they must agree
// exactly; without it (the default engine) the matmul kernels round a row
// differently with the number of rows in the product, and this measures how
// often that flips a greedy token.
//
//   sieve_batch_invariance MODEL HAYSTACK [requests=16] [prompt_tokens=256] [max_tokens=64] [invariant=0]
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "runtime/engine.h"
#include "runtime/generator.h"

using namespace sieve;

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL HAYSTACK [requests] [prompt_tokens] [max_tokens] [invariant 0|1]\n", argv[0]);
    return 2;
  }
  const int requests = argc > 3 ? std::stoi(argv[3]) : 16;
  const int64_t prompt_tokens = argc > 4 ? std::stoll(argv[4]) : 256;
  const int64_t max_tokens = argc > 5 ? std::stoll(argv[5]) : 64;
  const bool invariant = argc > 6 && std::string(argv[6]) == "1";
  auto model = Model::load(argv[1]);
  std::ifstream in(argv[2]);
  std::stringstream text;
  text << in.rdbuf();
  const std::vector<int32_t> hay = model->tokenizer().encode(text.str(), false);
  ThreadPool pool(2);
  const std::vector<std::string> policies = {"full", "streaming:sink=4,window=124", "quest:page=16,budget=128",
                                             "recycled:budget=128,stride=16"};
  std::vector<std::vector<int32_t>> prompts;
  std::vector<RequestOptions> options;
  for (int i = 0; i < requests; ++i) {
    std::vector<int32_t> p = {model->tokenizer().bos_id()};
    const size_t at = static_cast<size_t>(i) * 4099 % (hay.size() - static_cast<size_t>(prompt_tokens));
    p.insert(p.end(), hay.begin() + static_cast<int64_t>(at), hay.begin() + static_cast<int64_t>(at) + prompt_tokens - 1);
    prompts.push_back(p);
    RequestOptions o;
    o.sampling.temperature = 0;
    o.max_tokens = max_tokens;
    o.ignore_eos = true;
    o.attn = policies[static_cast<size_t>(i) % policies.size()];
    options.push_back(o);
  }
  EngineOptions eo;
  eo.batch_invariant = invariant;
  eo.max_running = requests;
  std::vector<RequestResult> alone, together(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    Engine engine(*model, pool, eo);
    alone.push_back(generate(engine, prompts[i], options[i]));
  }
  Engine engine(*model, pool, eo);
  for (size_t i = 0; i < prompts.size(); ++i) {
    RequestCallbacks cb;
    cb.on_finish = [&together, i](const RequestResult& r) { together[i] = r; };
    engine.submit(prompts[i], options[i], cb);
  }
  engine.run_until_idle();
  int same = 0;
  int64_t tokens = 0, agreeing = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    size_t k = 0;
    while (k < alone[i].tokens.size() && k < together[i].tokens.size() && alone[i].tokens[k] == together[i].tokens[k]) ++k;
    same += k == alone[i].tokens.size() && k == together[i].tokens.size();
    tokens += static_cast<int64_t>(alone[i].tokens.size());
    agreeing += static_cast<int64_t>(k);
    std::printf("request %2zu %-32s first difference at token %s\n", i, options[i].attn.c_str(),
                k == alone[i].tokens.size() ? "-" : std::to_string(k).c_str());
  }
  std::printf("%s: %d of %d requests identical; %lld of %lld tokens before the first difference (%.1f%%)\n",
              invariant ? "batch-invariant" : "default", same, requests, static_cast<long long>(agreeing),
              static_cast<long long>(tokens), 100.0 * static_cast<double>(agreeing) / static_cast<double>(tokens));
  return 0;
}
