#!/usr/bin/env bash
# sieve serve against llama.cpp's llama-server under the same load
# (bench/serve-load.mjs), and the serving checks of docs/serving.md:
#   matrix   every concurrency x prompt length, both servers, a fresh server
#            per cell (no cache carried between cells); each server gets a KV
#            pool / context that holds every sequence of the cell
#   pool     64 concurrent 4096-token requests in a --kv-memory that holds 16
#   prefix   the same 4096-token prompt twice: TTFT of the first and second
#   mixed    16 clients, four policies, one server: per-policy TTFT / ITL
#   eviction 80 concurrent 8000-token requests in 1 GiB of KV, with `full`
#            and with SnapKV at two ratios: how many run at once (not in all)
#
# usage: bench/serve-compare.sh [matrix|pool|prefix|mixed|eviction|all] (default all)
# env:   MODEL (default models/sieve-test-27m/model-q8_0.gguf), THREADS (2),
#        CONCURRENCY ("1 4 16 64"), INPUT_LENS ("512 4096"), OUTPUT_LEN (128),
#        OUT (docs/results/serve), SIEVE (build/sieve), SERVERS ("sieve llama-server"),
#        LLAMA_SERVER: a llama-server binary; without it the matrix runs sieve
#        alone. Build one from the llama.cpp that bench/compare-llamacpp.sh
#        fetches: cmake -S SRC -B SRC/build-server -DLLAMA_BUILD_SERVER=ON
#        -DGGML_NATIVE=ON && cmake --build SRC/build-server --target llama-server
set -euo pipefail
cd "$(dirname "$0")/.."

MODEL=${MODEL:-models/sieve-test-27m/model-q8_0.gguf}
THREADS=${THREADS:-2}
CONCURRENCY=${CONCURRENCY:-1 4 16 64}
INPUT_LENS=${INPUT_LENS:-512 4096}
OUTPUT_LEN=${OUTPUT_LEN:-128}
OUT=${OUT:-docs/results/serve}
SERVERS=${SERVERS:-sieve llama-server}
SIEVE=${SIEVE:-build/sieve}
LLAMA_SERVER=${LLAMA_SERVER:-}
PORT=${PORT:-8190}
what=${1:-all}

die() { echo "serve-compare: $*" >&2; exit 1; }
[ -x "$SIEVE" ] || die "$SIEVE not found: build first (see README)"
command -v node >/dev/null || die "node is needed (apt-get install nodejs)"
mkdir -p "$OUT"
log=$(mktemp -t serve-compare.XXXXXX.log)  # the running server's output

server_pid=
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
}
trap 'stop_server; rm -f "$log"' EXIT

wait_ready() {  # $1: log file
  for _ in $(seq 1 600); do
    if curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1; then return 0; fi
    kill -0 "$server_pid" 2>/dev/null || { cat "$1" >&2; die "the server exited"; }
    sleep 0.1
  done
  die "the server did not become ready in 60 s"
}

# A fresh port per server: the last one's closed connections may still hold
# the previous port (TIME_WAIT), which llama-server cannot bind over.
next_port() { PORT=$((PORT + 1)); }

start_sieve() {  # $1: --parallel, $2: KV MiB, rest: more flags
  local parallel=$1 kv=$2
  next_port
  shift 2
  "$SIEVE" serve -m "$MODEL" -t "$THREADS" --port "$PORT" --parallel "$parallel" --kv-memory "$kv" \
    --max-waiting 1024 "$@" >"$log" 2>&1 &
  server_pid=$!
  wait_ready "$log"
}

# HTTP threads as sieve has (a stream holds one for its whole length; with
# its default of slots + 2, llama-server resets some connections at the end
# of a run).
start_llama() {  # $1: slots, $2: total context
  next_port
  LD_LIBRARY_PATH=$(dirname "$LLAMA_SERVER") "$LLAMA_SERVER" -m "$MODEL" -t "$THREADS" --port "$PORT" \
    -np "$1" -c "$2" -cb --threads-http $((2 * $1 + 8)) >"$log" 2>&1 &
  server_pid=$!
  wait_ready "$log"
}

# KV MiB that holds n sequences of len tokens: 64-token pages of every layer.
kv_mib() {  # $1: sequences, $2: tokens each
  node -e '
    const c = JSON.parse(require("fs").readFileSync(process.argv[1]));
    const perToken = c.num_hidden_layers * 2 * c.num_key_value_heads * (c.head_dim ?? c.hidden_size / c.num_attention_heads) * 2;
    const pages = Number(process.argv[2]) * Math.ceil(Number(process.argv[3]) / 64) + 10;
    console.log(Math.ceil(pages * 64 * perToken / 1048576));' "$(dirname "$MODEL")/config.json" "$1" "$2"
}

load() {  # $1: json file, rest: serve-load options
  local json=$1
  shift
  node bench/serve-load.mjs --url "http://127.0.0.1:$PORT" --output-len "$OUTPUT_LEN" --json "$json" "$@" || true
}

run_matrix() {
  for in_len in $INPUT_LENS; do
    for c in $CONCURRENCY; do
      local n=$((2 * c))
      [ "$n" -lt 8 ] && n=8
      [ "$in_len" -ge 4096 ] && [ "$c" -ge 64 ] && n=$c  # one wave: ~260K prompt tokens already
      local len=$((in_len + OUTPUT_LEN))
      if [[ " $SERVERS " == *" sieve "* ]]; then
        echo "== sieve, concurrency $c, $in_len-token prompts, $n requests"
        start_sieve "$c" "$(kv_mib "$c" "$len")"
        load "$OUT/sieve-c$c-in$in_len.json" --concurrency "$c" --num-prompts "$n" --input-len "$in_len" --label sieve
        stop_server
      fi
      if [ -n "$LLAMA_SERVER" ] && [[ " $SERVERS " == *" llama-server "* ]]; then
        echo "== llama-server, concurrency $c, $in_len-token prompts, $n requests"
        start_llama "$c" $((c * (len + 16)))
        load "$OUT/llama-c$c-in$in_len.json" --concurrency "$c" --num-prompts "$n" --input-len "$in_len" --label llama-server
        stop_server
      fi
    done
  done
}

run_pool() {
  local len=$((4096 + OUTPUT_LEN)) kv
  kv=$(kv_mib 16 "$len")
  echo "== sieve, 64 concurrent 4096-token requests, --kv-memory $kv MiB (16 sequences)"
  start_sieve 64 "$kv"
  load "$OUT/pool-c64-in4096.json" --concurrency 64 --num-prompts 64 --input-len 4096 --label "sieve, KV for 16"
  curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^sieve:(num_preemptions_total|kv_cache_pages_total) ' \
    >"$OUT/pool-metrics.txt"
  stop_server
}

run_prefix() {
  echo "== sieve, the same 4096-token prompt three times, one at a time"
  start_sieve 1 "$(kv_mib 2 $((4096 + OUTPUT_LEN)))"
  load "$OUT/prefix-in4096.json" --concurrency 1 --num-prompts 3 --input-len 4096 --same-prompt --label "sieve, shared prefix"
  stop_server
}

run_mixed() {
  echo "== sieve, 16 clients, four policies, 512-token prompts"
  start_sieve 16 "$(kv_mib 16 $((512 + OUTPUT_LEN)))"
  load "$OUT/mixed-c16-in512.json" --concurrency 16 --num-prompts 64 --input-len 512 --label "sieve, mixed policies" \
    --attn full --attn quest:budget=256 --attn streaming:sink=4,window=256 --attn tokenselect:k=256
  stop_server
}

# A whole prompt per step (--batch-tokens 8192): with 512-token chunks a
# prompt takes 16 steps, during which a running request decodes 16 tokens,
# so only ~output-len / 16 requests would ever run at once and the pool would
# never bind. With 192 generated tokens (8000 + 192 = the trained 8192) it
# does: what runs at once is what the pool holds.
run_eviction() {
  for attn in full snapkv:ratio=0.5 snapkv:ratio=0.875; do
    echo "== sieve, 80 concurrent 8000-token requests, --kv-memory 1024 MiB, attn $attn"
    start_sieve 80 1024 --attn "$attn" --no-prefix-cache --batch-tokens 8192
    load "$OUT/eviction-${attn//[:=]/_}.json" --concurrency 80 --num-prompts 80 --input-len 8000 --output-len 192 \
      --label "sieve, $attn"
    stop_server
  done
}

report() {
  node - "$OUT" <<'EOF'
const fs = require('fs'), path = require('path');
const dir = process.argv[2];
const read = (f) => { try { return JSON.parse(fs.readFileSync(path.join(dir, f))); } catch { return null; } };
const f1 = (x) => (x === null || x === undefined ? '-' : x.toFixed(1));
const rows = [];
for (const f of fs.readdirSync(dir).filter((f) => /^(sieve|llama)-c\d+-in\d+\.json$/.test(f))) {
  const j = read(f);
  rows.push(j);
}
rows.sort((a, b) => a.input_len - b.input_len || a.concurrency - b.concurrency || a.label.localeCompare(b.label));
if (rows.length) {
  console.log('| server | prompt | concurrency | requests (failed) | output tok/s | TTFT median (ms) | TPOT median (ms) | ITL median / p99 (ms) |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const j of rows)
    console.log(`| ${j.label} | ${j.input_len} | ${j.concurrency} | ${j.completed} (${j.failed}) | ${f1(j.output_throughput)} | ${f1(j.ttft_ms.median)} | ${f1(j.tpot_ms.median)} | ${f1(j.itl_ms.median)} / ${f1(j.itl_ms.p99)} |`);
}
const pool = read('pool-c64-in4096.json');
if (pool) console.log(`\npool: ${pool.completed} completed, ${pool.failed} failed, ${f1(pool.output_throughput)} output tok/s; ` +
  fs.readFileSync(path.join(dir, 'pool-metrics.txt'), 'utf8').trim().replace(/\n/g, ', '));
const prefix = read('prefix-in4096.json');
if (prefix) {
  const [a, b, c] = prefix.requests;
  console.log(`prefix: TTFT ${f1(a.ttft_ms)} ms (cached ${a.cached_tokens}), then ${f1(b.ttft_ms)} ms (cached ${b.cached_tokens}), ${f1(c.ttft_ms)} ms: ${(a.ttft_ms / b.ttft_ms).toFixed(1)}x`);
}
const mixed = read('mixed-c16-in512.json');
if (mixed?.per_policy) {
  console.log('\n| policy | requests | TTFT mean / median (ms) | ITL mean / median (ms) | server TTFT mean (ms) | server ITL mean (ms) |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const [a, p] of Object.entries(mixed.per_policy))
    console.log(`| ${a} | ${p.client.completed} | ${f1(p.client.ttft_ms.mean)} / ${f1(p.client.ttft_ms.median)} | ${f1(p.client.itl_ms.mean)} / ${f1(p.client.itl_ms.median)} | ${f1(p.server.ttft_mean_ms)} | ${f1(p.server.itl_mean_ms)} |`);
}
const ev = fs.readdirSync(dir).filter((f) => /^eviction-.*\.json$/.test(f)).map(read).filter((j) => j?.occupancy);
if (ev.length) {
  console.log('\n| policy | requests (failed) | running at once: peak / mean | KV pages held: peak / pool | preemptions | duration (s) | output tok/s |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const j of ev) {
    const o = j.occupancy;
    console.log(`| ${j.label} | ${j.completed} (${j.failed}) | ${o.running_peak} / ${f1(o.running_mean)} | ${o.kv_pages_peak} / ${o.kv_pages_total} | ${o.preemptions ?? '-'} | ${f1(j.duration_s)} | ${f1(j.output_throughput)} |`);
  }
}
EOF
}

case $what in
  matrix) run_matrix ;;
  pool) run_pool ;;
  prefix) run_prefix ;;
  mixed) run_mixed ;;
  eviction) run_eviction ;;
  all) run_matrix; run_pool; run_prefix; run_mixed ;;
  report) ;;
  *) die "unknown part '$what' (matrix, pool, prefix, mixed, eviction, all, report)" ;;
esac
report | tee "$OUT/summary.md"
