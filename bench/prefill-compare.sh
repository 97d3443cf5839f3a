#!/usr/bin/env bash
# Prefill speed of long prompts: llama.cpp's llama-bench and `sieve bench`
# with each attention spec, length by length and interleaved (llama.cpp's
# run of a length, then sieve's specs at that length), as one markdown table
# of tokens/s with each spec's speed-up over sieve's `full` and the share of
# attention's query-key products it computed (and HiP's search's). See
# bench/README.md.
set -euo pipefail
readonly ME=prefill-compare
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)

usage() {
  cat <<USAGE
usage: bench/prefill-compare.sh [options] MODEL.gguf

options:
  -p LIST       prompt lengths (default 8192,16384,32768,65536)
  -t N          threads for both (default 2)
  -r N          repetitions per test (default 1)
  --warmup      an untimed warm-up run before each test (default none: the prompts are long)
  -ub N         prompt tokens per forward step, for both (llama-bench -ub/-b, sieve -ub; default 512)
  --attn SPEC   a sieve attention spec, repeatable (default: full)
  --json FILE   also write every result as JSON lines
  --no-llamacpp sieve only
  --sieve PATH  sieve binary (default build/sieve)
USAGE
}
die() { echo "$ME: error: $*" >&2; exit 1; }

lengths=8192,16384,32768,65536 threads=2 reps=1 ub=512 json_out="" llama=1 warmup=0 sieve_bin="$REPO_DIR/build/sieve" model=""
specs=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -p) lengths=$2; shift 2 ;;
    -t) threads=$2; shift 2 ;;
    -r) reps=$2; shift 2 ;;
    -ub) ub=$2; shift 2 ;;
    --attn) specs+=("$2"); shift 2 ;;
    --json) json_out=$2; shift 2 ;;
    --no-llamacpp) llama=0; shift ;;
    --warmup) warmup=1; shift ;;
    --sieve) sieve_bin=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) model=$1; shift ;;
  esac
done
[[ -n "$model" && -f "$model" ]] || die "give a GGUF model file (see --help)"
[[ -x "$sieve_bin" ]] || die "no sieve binary at $sieve_bin (build first, or --sieve PATH)"
[[ "$lengths" =~ ^[0-9]+(,[0-9]+)*$ ]] || die "-p must be a comma-separated list of lengths"
((${#specs[@]})) || specs=(full)
command -v jq >/dev/null || die "jq is needed (apt-get install jq)"

work=$(mktemp -d "${TMPDIR:-/tmp}/$ME.XXXXXX")
trap 'rm -rf "$work"' EXIT
results="$work/results.jsonl"
: >"$results"
if ((llama)); then
  llama_bench=$("$SCRIPT_DIR/compare-llamacpp.sh" --build-only)
  # The native build's AMX kernels die on some machines: then the build without them.
  if ! "$llama_bench" -m "$model" -p 32 -n 1 -r 1 -t "$threads" -o json >/dev/null 2>&1; then
    echo "$ME: llama-bench died on a short prefill; using the build without AMX kernels" >&2
    llama_bench=$(SIEVE_LLAMACPP_NO_AMX=1 "$SCRIPT_DIR/compare-llamacpp.sh" --build-only)
  fi
  batch=$((ub > 2048 ? ub : 2048))
fi
no_warmup=()
((warmup)) || no_warmup=(--no-warmup)
IFS=, read -r -a ns <<<"$lengths"
for n in "${ns[@]}"; do
  if ((llama)); then
    echo "$ME: llama.cpp pp$n" >&2
    "$llama_bench" -m "$model" -p "$n" -n 0 -r "$reps" -t "$threads" -ctk f16 -ctv f16 -ub "$ub" -b "$batch" "${no_warmup[@]}" \
      -o json 2>"$work/llama.log" | jq -c --arg n "$n" '.[] | {engine: "llama.cpp", n: ($n | tonumber),
        spec: ("llama.cpp (" + (.backends // "cpu") + ", flash_attn " + (.flash_attn | tostring) + ")"), tokens_per_s: .avg_ts,
        cpu: .cpu_info}' \
      >>"$results" || die "llama-bench failed on pp$n (see $work/llama.log)"
  fi
  for spec in "${specs[@]}"; do
    echo "$ME: sieve pp$n $spec" >&2
    "$sieve_bin" bench -m "$model" -p "$n" -n 0 -r "$reps" -t "$threads" -ub "$ub" --attn "$spec" "${no_warmup[@]}" --json |
      jq -c '.[] | {engine: "sieve", n: .n_tokens, spec: .attn, prefill: .prefill, decode: .decode,
        tokens_per_s: .tokens_per_s, kept: (.policy_counters.prefill_attention_kept // 1),
        search: (.policy_counters.hip_search_share // 0), cpu: .machine,
        peak_rss_bytes: .peak_rss_bytes}' >>"$results"
  done
done
[[ -z "$json_out" ]] || cp "$results" "$json_out"
python3 - "$results" "$ub" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ns = sorted({r["n"] for r in rows})
full = {r["n"]: r["tokens_per_s"] for r in rows if r["engine"] == "sieve" and r["spec"] == "full"}
specs = []
for r in rows:
    if r["spec"] not in specs:
        specs.append(r["spec"])
cpu = next((r["cpu"] for r in rows if r["engine"] == "sieve"), "?")
print(f"prefill tokens/s, -ub {sys.argv[2]}; {cpu}\n")
print("| spec | " + " | ".join(f"pp{n}" for n in ns) + " |")
print("| --- | " + " | ".join("---:" for _ in ns) + " |")
for s in specs:
    cells = []
    for n in ns:
        r = next((x for x in rows if x["spec"] == s and x["n"] == n), None)
        if r is None:
            cells.append("")
            continue
        cell = f"{r['tokens_per_s']:.0f}"
        if n in full and s != "full":
            cell += f" ({r['tokens_per_s'] / full[n]:.2f}x)"
        if r.get("kept", 1) < 1:
            cell += f", {100 * r['kept']:.1f}% of QK"
        if r.get("search", 0) > 0:
            cell += f" + {100 * r['search']:.1f}% search"
        cells.append(cell)
    print(f"| {s} | " + " | ".join(cells) + " |")
PY
