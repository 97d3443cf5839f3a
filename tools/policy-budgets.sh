#!/usr/bin/env bash
# Retrieval accuracy of the selecting attention policies at fixed fractions of
# the context (a token budget of L/4, L/8, L/16 for an L-token prompt), next to
# `full`, on identical prompts. One `sieve eval` per length; the JSON of each
# lands in OUT/TASK-L.json with a sidecar OUT/TASK-L.specs listing, in result
# order, the policy and fraction behind each spec. tools/policy-budgets-table.py
# turns a folder of them into one markdown table.
#
# How a budget of B tokens (per query head) maps to each policy's parameters.
# The papers state their budgets as totals; where a policy has several parts,
# they keep the reference configuration's proportions roughly:
#   quest        budget=B (pages of 16, first two layers dense)
#   quest-group  budget=B,select=group (one selection per KV head)
#   recycled     budget=B (stride 50)
#   tokenselect  n_init=B/16, n_local=B/4, k=B-n_init-n_local, chunk=min(512,n_local)
#                (reference: 128 + 512 + 2048)
#   infllm       init=B/16, local=B/2, block=min(128,B/16), topk=(B-init-local)/block,
#                repr=min(4,block), chunk=min(512,local)
#                (reference, 8K models: 128 + 4096 + 16 x 128)
#   longheads    16 chunks of B/16 (reference: 16 chunks of 256 for a 4K window)
#   streaming    sink=4, window=B-4
set -euo pipefail

usage() {
  cat <<EOF
usage: tools/policy-budgets.sh -m MODEL --task TASK --lengths L1,L2 [options]

  --fractions LIST   budget denominators (default 4,8,16: budgets of L/4, L/8, L/16)
  --policies LIST    policies to run at each budget (default quest,tokenselect,longheads,infllm,recycled)
  --full 0|1         also run full attention (default 1)
  --samples N        prompts per length, random needle depth (default 20)
  --seed S           prompt seed (default 1)
  -t N               threads of each eval (default 1)
  --out DIR          where the JSON goes (default docs/results/budgets)
  --sieve PATH       sieve binary (default build/sieve)
EOF
}

model="" task="" lengths="" fractions=4,8,16 policies=quest,tokenselect,longheads,infllm,recycled
with_full=1 samples=20 seed=1 threads=1 out=docs/results/budgets sieve=build/sieve
while [[ $# -gt 0 ]]; do
  case "$1" in
    -m) model=$2; shift 2 ;;
    --task) task=$2; shift 2 ;;
    --lengths) lengths=$2; shift 2 ;;
    --fractions) fractions=$2; shift 2 ;;
    --policies) policies=$2; shift 2 ;;
    --full) with_full=$2; shift 2 ;;
    --samples) samples=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    -t) threads=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --sieve) sieve=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "policy-budgets: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
[[ -n "$model" && -n "$task" && -n "$lengths" ]] || { usage >&2; exit 2; }

min() { echo $(( $1 < $2 ? $1 : $2 )); }
max() { echo $(( $1 > $2 ? $1 : $2 )); }

# The spec of policy $1 at a budget of $2 tokens.
budget_spec() {
  local p=$1 b=$2
  case "$p" in
    quest) echo "quest:budget=$b" ;;
    quest-group) echo "quest:budget=$b,select=group" ;;
    recycled) echo "recycled:budget=$b" ;;
    streaming) echo "streaming:sink=4,window=$((b - 4))" ;;
    tokenselect)
      local init=$((b / 16)) local_=$((b / 4))
      echo "tokenselect:k=$((b - init - local_)),n_init=$init,n_local=$local_,chunk=$(min 512 $local_)" ;;
    infllm)
      local init=$((b / 16)) local_=$((b / 2)) block
      block=$(min 128 $((b / 16)))
      local topk=$(( (b - init - local_) / block ))
      echo "infllm:init=$init,local=$local_,block=$block,repr=$(min 4 $block),topk=$topk,chunk=$(min 512 $local_),cache_blocks=$(max 32 $topk)" ;;
    longheads) echo "longheads:chunk=$((b / 16)),chunks=16" ;;
    *) echo "policy-budgets: no budget rule for policy '$p'" >&2; exit 2 ;;
  esac
}

mkdir -p "$out"
IFS=, read -r -a length_list <<<"$lengths"
IFS=, read -r -a fraction_list <<<"$fractions"
IFS=, read -r -a policy_list <<<"$policies"
for L in "${length_list[@]}"; do
  args=() sidecar=""
  if [[ "$with_full" == 1 ]]; then args+=(--attn full); sidecar+=$'full\t1\tfull\n'; fi
  for p in "${policy_list[@]}"; do
    for f in "${fraction_list[@]}"; do
      spec=$(budget_spec "$p" $((L / f)))
      args+=(--attn "$spec")
      sidecar+="$p"$'\t'"1/$f"$'\t'"$spec"$'\n'
    done
  done
  name=$out/$task-$L${SUFFIX:+-$SUFFIX}
  printf '%s' "$sidecar" >"$name.specs"
  echo "policy-budgets: $task L=$L -> $name.json" >&2
  "$sieve" eval -m "$model" --task "$task" --lengths "$L" --random-depth --samples "$samples" --seed "$seed" \
    -t "$threads" --no-plots --json "${args[@]}" >"$name.json.tmp"
  mv "$name.json.tmp" "$name.json"
done
