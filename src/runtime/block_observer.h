#pragma once
// A window on the residual stream of a forward pass, for analysis (sieve
// inspect's layer redundancy and residual norms): the transformer shows an
// observer the step's rows before and after each layer's attention and MLP
// block. Nothing is copied when no observer is set.
#include <cstdint>

namespace sieve {

enum class Block { Attention, Mlp };

class BlockObserver {
 public:
  virtual ~BlockObserver() = default;
  // x: the step's n rows of the residual stream (n x hidden), the block's
  // input and then its output (input plus what the block added). A dropped
  // block is shown too, its output equal to its input.
  virtual void block_input(int64_t layer, Block block, const float* x, int64_t n) = 0;
  virtual void block_output(int64_t layer, Block block, const float* x, int64_t n) = 0;
};

}  // namespace sieve
