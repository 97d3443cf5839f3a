#pragma once
// A tiny model whose weights force attention patterns known in advance, for
// the tests of sieve inspect and of layer drop: 2 layers, 4 query heads over
// 2 KV heads of 16 dimensions, hidden 64, in the Hugging Face layout (F32).
//   - layer 0, head 0: a sink head. Its query is a constant and only the
//     first token (BOS) has a key along it, on the slowest RoPE pair, so
//     every query puts nearly all its attention on token 0. BOS's value is
//     zero there, so the head writes nothing: a dormant head.
//   - layer 0, head 2: a local head. Its query and key are the same
//     constant on the first dimension of every RoPE pair, so the score is a
//     sum of cos(f_i * distance), highest at distance 0 by far.
//   - layer 0, heads 1 and 3: zero queries, uniform attention.
//   - layer 1: an identity layer (output projection and MLP down projection
//     zero): its output equals its input exactly.
#include <string>

namespace sieve::testing_support {

constexpr int kSinkLayer = 0, kSinkHead = 0, kLocalHead = 2, kIdentityLayer = 1;

// Writes the model folder (once per process) and returns its path.
std::string hand_built_model_dir();

}  // namespace sieve::testing_support
