#!/usr/bin/env bash
# Runs llama.cpp's llama-bench and `sieve bench` on the same GGUF file, test by
# test and interleaved (llama.cpp's run of a test, then sieve's run of the same
# test), and prints one markdown table comparing them. See bench/README.md.
set -euo pipefail

readonly NODE_LLAMA_CPP_VERSION=3.21.1   # its llama/gitRelease.bundle is the llama.cpp we compare with
readonly ME=compare-llamacpp
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
readonly SCRIPT_DIR REPO_DIR

usage() {
  cat <<EOF
usage: bench/compare-llamacpp.sh [options] MODEL.gguf

Runs llama.cpp's llama-bench and 'sieve bench' on MODEL.gguf, one test at a time,
interleaved, and prints a markdown table (t/s mean ± std, ratio, peak RSS).

options (the test options mean what they mean to llama-bench and sieve bench):
  -t N            threads for both (default 2)
  -p LIST         prefill sizes, comma-separated, 0 for none (default 512)
  -n LIST         decode lengths, comma-separated, 0 for none (default 128)
  -d LIST         cache depths, comma-separated (default 0)
  -r N            repetitions of each test (default 5)
  --cache-type T  KV cache type for both: f32, f16, bf16, q8_0 (default f16);
                  llama-bench gets -ctk T -ctv T, sieve --cache-type T
  -fa on|off|auto llama.cpp flash attention (default: not passed, so llama-bench's
                  own default, auto; the table says what auto resolved to)
  --sieve PATH    sieve binary (default \$SIEVE_BIN, else build/sieve in the repo)
  --sieve-version STR   version to print for sieve (default: git describe of the repo)
  --bw GB/s|auto  memory bandwidth; adds a column with the t/s it allows for the
                  bytes sieve says each token reads (weights + KV cache); auto
                  measures it first (the 1 GiB read figure of --measure-bw)
  --measure-bw    only measure memory bandwidth (STREAM-like read, copy and triad
                  with -t threads; needs a C compiler with OpenMP) and exit
  --wait-load L   before each test, wait (up to 30 min) until the 1-minute load
                  average is below L
  --json FILE     also write every result (both engines, per test) as JSON
  --build-only    only find or build llama-bench and print its path
  -h, --help      this text

environment:
  SIEVE_LLAMACPP_BENCH  a llama-bench binary to use (nothing is built)
  SIEVE_LLAMACPP_SRC    an existing llama.cpp checkout to build llama-bench from
                        (instead of fetching node-llama-cpp@$NODE_LLAMA_CPP_VERSION from npm)
  SIEVE_LLAMACPP_CACHE  where llama.cpp is fetched and built
                        (default \${XDG_CACHE_HOME:-~/.cache}/sieve-llamacpp)
  SIEVE_BIN             the sieve binary (as --sieve)
  SIEVE_LLAMACPP_NO_AMX=1  build and use llama-bench without its AMX kernels from the
                        start (otherwise that happens only when the GGML_NATIVE=ON build
                        dies on this machine, e.g. with SIGILL or SIGSEGV, in the probe)
EOF
}

die() { echo "$ME: error: $*" >&2; exit 1; }
note() { echo "$ME: $*" >&2; }

# ---------------------------------------------------------------- options
threads=2 prompts=512 gens=128 depths=0 reps=5 cache_type=f16 fa=""
sieve_bin=${SIEVE_BIN:-} sieve_version="" bw="" wait_load="" json_out="" build_only=0 measure_bw_only=0 model=""
orig_args=("$@")

need_value() { [[ $# -ge 2 && -n "$2" && "$2" != -* ]] || die "option $1 needs a value (see --help)"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    -t|--threads) need_value "$@"; threads=$2; shift 2 ;;
    -p|--n-prompt) need_value "$@"; prompts=$2; shift 2 ;;
    -n|--n-gen) need_value "$@"; gens=$2; shift 2 ;;
    -d|--n-depth) need_value "$@"; depths=$2; shift 2 ;;
    -r|--repetitions) need_value "$@"; reps=$2; shift 2 ;;
    --cache-type) need_value "$@"; cache_type=$2; shift 2 ;;
    -fa|--flash-attn) need_value "$@"; fa=$2; shift 2 ;;
    --sieve) need_value "$@"; sieve_bin=$2; shift 2 ;;
    --sieve-version) need_value "$@"; sieve_version=$2; shift 2 ;;
    --bw) need_value "$@"; bw=$2; shift 2 ;;
    --wait-load) need_value "$@"; wait_load=$2; shift 2 ;;
    --json) need_value "$@"; json_out=$2; shift 2 ;;
    --build-only) build_only=1; shift ;;
    --measure-bw) measure_bw_only=1; shift ;;
    -m|--model) need_value "$@"; model=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; [[ $# -le 1 ]] || die "only one model file, please"; model=${1:-$model}; shift $# ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) [[ -z "$model" ]] || die "only one model file, please (got '$model' and '$1')"; model=$1; shift ;;
  esac
done

is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }
is_list() { [[ "$1" =~ ^[0-9]+(,[0-9]+)*$ ]]; }
is_num() { [[ "$1" =~ ^[0-9]+([.][0-9]+)?$ ]]; }
{ is_uint "$threads" && ((threads >= 1)); } || die "-t must be a positive integer, not '$threads'"
{ is_uint "$reps" && ((reps >= 1)); } || die "-r must be a positive integer, not '$reps'"
for l in "-p:$prompts" "-n:$gens" "-d:$depths"; do
  is_list "${l#*:}" || die "${l%%:*} must be a comma-separated list of integers, not '${l#*:}'"
done
case "$cache_type" in f32|f16|bf16|q8_0) ;; *) die "--cache-type must be f32, f16, bf16 or q8_0, not '$cache_type'" ;; esac
case "$fa" in ""|on|off|auto) ;; *) die "-fa must be on, off or auto, not '$fa'" ;; esac
[[ -z "$bw" || "$bw" == auto ]] || is_num "$bw" || die "--bw must be a number of GB/s or auto, not '$bw'"
[[ -z "$wait_load" ]] || is_num "$wait_load" || die "--wait-load must be a number, not '$wait_load'"

work=$(mktemp -d "${TMPDIR:-/tmp}/$ME.XXXXXX")
trap 'rm -rf "$work"' EXIT

# ---------------------------------------------------------------- bandwidth
# STREAM-like: each of N threads (OpenMP, static schedule) streams its share of
# float arrays of SIZE MiB; best of the passes. Bytes counted as STREAM does
# (read: 1 array, copy: 2, triad: 3; no write-allocate traffic).
build_bw() {
  local cc
  cc=$(command -v cc || command -v gcc || true)
  [[ -n "$cc" ]] || die "a C compiler is needed to measure bandwidth (apt-get install gcc)"
  cat >"$work/bw.c" <<'EOF'
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
  int threads = atoi(argv[1]), reps = atoi(argv[3]);
  size_t n = (size_t)(atof(argv[2]) * 1048576 / sizeof(float));
  omp_set_num_threads(threads);
  float *a = aligned_alloc(64, n * 4), *b = aligned_alloc(64, n * 4), *c = aligned_alloc(64, n * 4);
  if (!a || !b || !c) return 1;
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; i++) a[i] = 1, b[i] = 2, c[i] = 0;
  double best[3] = {1e30, 1e30, 1e30}, t, s;
  volatile float sink = 0;
  for (int r = 0; r < reps; r++) {
    t = omp_get_wtime(), s = 0;
#pragma omp parallel for schedule(static) reduction(+ : s)
    for (size_t i = 0; i < n; i++) s += a[i];
    t = omp_get_wtime() - t, sink += s;
    if (t < best[0]) best[0] = t;
    t = omp_get_wtime();
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) c[i] = a[i];
    t = omp_get_wtime() - t;
    if (t < best[1]) best[1] = t;
    t = omp_get_wtime();
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) c[i] = a[i] + 3.0f * b[i];
    t = omp_get_wtime() - t;
    if (t < best[2]) best[2] = t;
  }
  double bytes = (double)n * 4;
  printf("%.1f %.1f %.1f\n", bytes / best[0] / 1e9, 2 * bytes / best[1] / 1e9, 3 * bytes / best[2] / 1e9);
  return sink == -1;
}
EOF
  "$cc" -O3 -march=native -ffast-math -fopenmp "$work/bw.c" -o "$work/bw" 2>"$work/bw.log" ||
    { cat "$work/bw.log" >&2; die "could not compile the bandwidth test (needs OpenMP)"; }
}
bw_run() { "$work/bw" "$threads" "$1" "$2" || die "the bandwidth test failed"; }  # $1: MiB per array, $2: passes

if ((measure_bw_only)); then
  build_bw
  echo "| MiB per array | read GB/s | copy GB/s | triad GB/s |"
  echo "| ---: | ---: | ---: | ---: |"
  for size in 1024 64 48 24 16 4; do
    read -r r c tr <<<"$(bw_run "$size" $((size >= 1024 ? 10 : 50)))"
    echo "| $size | $r | $c | $tr |"
  done
  echo
  echo "($threads threads; $(grep -m1 '^model name' /proc/cpuinfo | sed 's/^[^:]*: *//'); 1-min load average $(cut -d' ' -f1 /proc/loadavg))"
  exit 0
fi

# ---------------------------------------------------------------- llama-bench
cache_root=${SIEVE_LLAMACPP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sieve-llamacpp}

# The CMake flags of the two builds. native: tuned for this CPU (GGML_NATIVE=ON,
# which on an AMX Xeon also compiles llama.cpp's AMX kernels). noamx: the same
# instruction sets named one by one, from what /proc/cpuinfo lists, with the
# AMX ones off; used when the native build dies with an illegal instruction.
llama_cmake_flags() {  # $1: native | noamx
  if [[ $1 == native ]]; then echo "-DGGML_NATIVE=ON"; return; fi
  local flags=" $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | sed 's/^[^:]*://') " out="-DGGML_NATIVE=OFF"
  has() { [[ "$flags" == *" $1 "* ]] && echo ON || echo OFF; }
  out+=" -DGGML_AVX=$(has avx) -DGGML_AVX2=$(has avx2) -DGGML_FMA=$(has fma) -DGGML_F16C=$(has f16c)"
  out+=" -DGGML_BMI2=$(has bmi2) -DGGML_AVX_VNNI=$(has avx_vnni) -DGGML_AVX512=$(has avx512f)"
  out+=" -DGGML_AVX512_VBMI=$(has avx512vbmi) -DGGML_AVX512_VNNI=$(has avx512_vnni) -DGGML_AVX512_BF16=$(has avx512_bf16)"
  out+=" -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
  echo "$out"
}

build_llama_bench() {  # $1: llama.cpp source dir, $2: build dir, $3: native | noamx
  local src=$1 build=$2 gen=() log flags
  command -v cmake >/dev/null || die "cmake is needed to build llama-bench (apt-get install cmake)"
  command -v ninja >/dev/null && gen=(-G Ninja)
  mkdir -p "$build"
  log=$build/build.log
  read -r -a flags <<<"$(llama_cmake_flags "$3")"
  note "building llama-bench ($3: ${flags[*]}) from $src in $build (log: $log); this takes a while"
  if ! { cmake -S "$src" -B "$build" "${gen[@]}" \
           -DCMAKE_BUILD_TYPE=Release "${flags[@]}" -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
           -DBUILD_SHARED_LIBS=OFF -DGGML_CCACHE=OFF \
           -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF &&
         cmake --build "$build" --target llama-bench -j "$(nproc)"; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die "building llama-bench failed (full log: $log)"
  fi
}

fetch_llama_cpp() {  # $1: dir to clone llama.cpp into
  local dest=$1 npm_dir=$cache_root/npm-node-llama-cpp-$NODE_LLAMA_CPP_VERSION bundle
  command -v npm >/dev/null || die "npm is needed to fetch llama.cpp (apt-get install npm), or set SIEVE_LLAMACPP_SRC / SIEVE_LLAMACPP_BENCH"
  command -v git >/dev/null || die "git is needed to unpack llama.cpp (apt-get install git)"
  bundle=$npm_dir/node_modules/node-llama-cpp/llama/gitRelease.bundle
  if [[ ! -f "$bundle" ]]; then
    note "fetching node-llama-cpp@$NODE_LLAMA_CPP_VERSION from npm into $npm_dir (for its llama.cpp git bundle)"
    mkdir -p "$npm_dir"
    # --ignore-scripts: no prebuilt binaries are downloaded; --omit=optional: nor
    # the per-platform binary packages (several hundred MB we do not use).
    npm i -E "node-llama-cpp@$NODE_LLAMA_CPP_VERSION" --ignore-scripts --omit=optional \
      --no-audit --no-fund --loglevel=error --prefix "$npm_dir" >&2 || die "npm could not fetch node-llama-cpp@$NODE_LLAMA_CPP_VERSION"
    [[ -f "$bundle" ]] || die "node-llama-cpp@$NODE_LLAMA_CPP_VERSION has no llama/gitRelease.bundle"
  fi
  rm -rf "$dest.tmp"
  git -c advice.detachedHead=false clone --quiet "$bundle" "$dest.tmp" || die "git clone of $bundle failed"
  mv "$dest.tmp" "$dest"
}

find_llama_bench() {  # $1: native | noamx
  local variant=$1
  if [[ -n "${SIEVE_LLAMACPP_BENCH:-}" ]]; then
    [[ $variant == native ]] || die "SIEVE_LLAMACPP_BENCH=$SIEVE_LLAMACPP_BENCH cannot run here, and it is not ours to rebuild; unset it to let the script build llama-bench without AMX"
    [[ -f "$SIEVE_LLAMACPP_BENCH" ]] || die "SIEVE_LLAMACPP_BENCH=$SIEVE_LLAMACPP_BENCH: no such file"
    [[ -x "$SIEVE_LLAMACPP_BENCH" ]] || die "SIEVE_LLAMACPP_BENCH=$SIEVE_LLAMACPP_BENCH is not executable"
    echo "$SIEVE_LLAMACPP_BENCH"; return
  fi
  local src build suffix=""
  [[ $variant == native ]] || suffix=-$variant
  if [[ -n "${SIEVE_LLAMACPP_SRC:-}" ]]; then
    src=$SIEVE_LLAMACPP_SRC
    [[ -f "$src/CMakeLists.txt" && -d "$src/tools/llama-bench" ]] ||
      die "SIEVE_LLAMACPP_SRC=$src is not a llama.cpp checkout with tools/llama-bench"
    build=$cache_root/build-$(git -C "$src" rev-parse --short=12 HEAD 2>/dev/null || echo local)$suffix
  else
    src=$cache_root/node-llama-cpp-$NODE_LLAMA_CPP_VERSION/llama.cpp
    build=$cache_root/node-llama-cpp-$NODE_LLAMA_CPP_VERSION/build$suffix
  fi
  if [[ ! -x "$build/bin/llama-bench" ]]; then
    mkdir -p "$cache_root"
    exec 9>"$cache_root/.lock"
    command -v flock >/dev/null && flock 9   # one build at a time
    if [[ ! -x "$build/bin/llama-bench" ]]; then
      [[ -f "$src/CMakeLists.txt" ]] || fetch_llama_cpp "$src"
      build_llama_bench "$src" "$build" "$variant"
    fi
    exec 9>&-
  fi
  [[ -x "$build/bin/llama-bench" ]] || die "no llama-bench in $build/bin after building"
  echo "$build/bin/llama-bench"
}

# SIEVE_LLAMACPP_NO_AMX=1 goes straight to the build without AMX kernels.
llama_variant=native
[[ "${SIEVE_LLAMACPP_NO_AMX:-0}" == 0 ]] || llama_variant=noamx
llama_bench=$(find_llama_bench "$llama_variant")
if ((build_only)); then echo "$llama_bench"; exit 0; fi

# ---------------------------------------------------------------- checks
[[ -n "$model" ]] || { usage >&2; die "no model file given"; }
[[ -e "$model" ]] || die "model file '$model' does not exist"
[[ -f "$model" && -r "$model" ]] || die "model '$model' is not a readable file"
[[ "$(head -c 4 "$model")" == GGUF ]] || die "'$model' is not a GGUF file (llama-bench reads only GGUF)"
[[ -n "$sieve_bin" ]] || sieve_bin=$REPO_DIR/build/sieve
[[ -f "$sieve_bin" ]] || die "no sieve binary at '$sieve_bin' (build it: cmake -S . -B build -G Ninja && ninja -C build sieve; or pass --sieve PATH)"
[[ -x "$sieve_bin" ]] || die "'$sieve_bin' is not executable"
command -v jq >/dev/null || die "jq is needed to read the JSON results (apt-get install jq)"
if [[ ! -x /usr/bin/time ]]; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    note "installing Debian's 'time' package (for /usr/bin/time, to measure peak RSS)"
    { apt-get install -y time || { apt-get update && apt-get install -y time; }; } >/dev/null 2>&1 ||
      die "could not install the 'time' package"
  fi
  [[ -x /usr/bin/time ]] || die "/usr/bin/time is needed to measure peak RSS (apt-get install time)"
fi
if [[ -z "$sieve_version" ]]; then
  sieve_version=$(git -C "$REPO_DIR" describe --always --dirty --tags 2>/dev/null || echo unknown)
fi

if [[ "$bw" == auto ]]; then
  build_bw
  read -r bw _ <<<"$(bw_run 1024 10)"
  note "measured read bandwidth: $bw GB/s ($threads threads, 1 GiB)"
  bw_note="memory read bandwidth $bw GB/s, measured by --measure-bw (1 GiB, $threads threads)"
elif [[ -n "$bw" ]]; then
  bw_note="memory bandwidth $bw GB/s, as given"
fi

# ---------------------------------------------------------------- running
llama_common=(-m "$model" -t "$threads" -r "$reps" -ctk "$cache_type" -ctv "$cache_type")
[[ -z "$fa" ]] || llama_common+=(-fa "$fa")
sieve_common=(bench -m "$model" -t "$threads" -r "$reps" --cache-type "$cache_type" --json)

# What llama.cpp's flash-attention setting resolves to (auto is decided when
# the context is made). The probe also runs a short prefill, so that a build
# whose kernels cannot run on this machine fails here rather than in a test:
# built with GGML_NATIVE=ON on some AMX Xeons, llama.cpp repacks q8_0 and
# q4_k_m weights for its AMX kernels and then dies in prefill, with an illegal
# instruction (SIGILL, exit status 132) on some, a segmentation fault (SIGSEGV,
# 139) on others, while decode works. Then it is rebuilt without its AMX
# kernels (llama_cmake_flags noamx) and probed again.
probe_llama() {
  "$llama_bench" "${llama_common[@]}" -p 32 -n 1 -r 1 --no-warmup -v -o json >"$work/probe.json" 2>"$work/probe.log"
}
signal_name() {  # $1: exit status
  case $1 in
    132) echo "an illegal instruction (SIGILL, exit status 132)" ;;
    134) echo "an abort (SIGABRT, exit status 134)" ;;
    135) echo "a bus error (SIGBUS, exit status 135)" ;;
    136) echo "a floating-point exception (SIGFPE, exit status 136)" ;;
    139) echo "a segmentation fault (SIGSEGV, exit status 139)" ;;
    *) echo "exit status $1" ;;
  esac
}
llama_note=""
probe_status=0
probe_llama || probe_status=$?
if ((probe_status > 128)) && [[ $llama_variant == native ]]; then
  tail -n 5 "$work/probe.log" >&2
  note "llama-bench ($llama_bench) died with $(signal_name "$probe_status") on a short prefill of '$model'"
  note "switching to llama-bench without its AMX kernels (GGML_NATIVE=OFF, the CPU's AVX/AVX-512 sets named, GGML_AMX_* OFF; built now unless cached)"
  llama_variant=noamx
  llama_bench=$(find_llama_bench noamx)
  llama_note=" (the GGML_NATIVE=ON build died here with $(signal_name "$probe_status"); this one is built without AMX kernels)"
  probe_status=0
  probe_llama || probe_status=$?
fi
if ((probe_status != 0)); then
  tail -n 20 "$work/probe.log" >&2
  die "llama-bench ($llama_bench) could not run on '$model': $(signal_name "$probe_status") (see above)"
fi
[[ -n "$llama_note" || $llama_variant == native ]] || llama_note=" (built without AMX kernels: SIEVE_LLAMACPP_NO_AMX)"
fa_resolved=$(grep -o 'Flash Attention [a-z ]*' "$work/probe.log" | head -n 1 | sed 's/^Flash Attention //; s/not supported, set to //' || true)

load1() { cut -d' ' -f1 /proc/loadavg; }
wait_quiet() {
  [[ -n "$wait_load" ]] || return 0
  local waited=0
  while awk -v l="$(load1)" -v m="$wait_load" 'BEGIN{exit !(l >= m)}'; do
    ((waited == 0)) && note "load average $(load1) >= $wait_load: waiting"
    ((waited >= 1800)) && { note "still loaded after 30 min; going on"; return 0; }
    sleep 10; waited=$((waited + 10))
  done
}

# CPU time the whole machine spent busy (or stolen by the hypervisor), in clock ticks.
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }
hz=$(getconf CLK_TCK)

# run_timed NAME CMD...: runs CMD with stdout to $work/NAME.json, stderr to
# $work/NAME.log, its peak RSS (KiB) in $work/NAME.rss and, in $work/NAME.bg,
# how many CPUs other processes kept busy on average while it ran.
run_timed() {
  local name=$1 b0 b1; shift
  b0=$(busy_ticks)
  local status=0
  /usr/bin/time -f '%M %e %U %S' -o "$work/$name.time" "$@" >"$work/$name.json" 2>"$work/$name.log" || status=$?
  if ((status != 0)); then
    tail -n 20 "$work/$name.log" >&2
    local sig
    sig=$(grep -o 'Command terminated by signal [0-9]*' "$work/$name.time" 2>/dev/null | grep -o '[0-9]*$' || true)
    [[ -z "$sig" ]] || status=$((128 + sig))
    die "died with $(signal_name "$status"): $*"
  fi
  b1=$(busy_ticks)
  tail -n 1 "$work/$name.time" | awk -v b="$((b1 - b0))" -v hz="$hz" -v rss="$work/$name.rss" -v bg="$work/$name.bg" '
    { print $1 > rss; x = $2 > 0 ? (b / hz - $3 - $4) / $2 : 0; printf "%.2f\n", x < 0 ? 0 : x > bg }'
}

IFS=, read -r -a depth_list <<<"$depths"
IFS=, read -r -a prompt_list <<<"$prompts"
IFS=, read -r -a gen_list <<<"$gens"
tests=()
for d in "${depth_list[@]}"; do
  for p in "${prompt_list[@]}"; do ((p > 0)) && tests+=("pp $p $d"); done
  for n in "${gen_list[@]}"; do ((n > 0)) && tests+=("tg $n $d"); done
done
((${#tests[@]} > 0)) || die "no tests: -p and -n are all 0"

loads=()
: >"$work/results.jsonl"
i=0
for t in "${tests[@]}"; do
  read -r kind size depth <<<"$t"
  i=$((i + 1))
  if [[ $kind == pp ]]; then np=$size ng=0; else np=0 ng=$size; fi
  name="$kind$size"; ((depth > 0)) && name+=" @ d$depth"
  wait_quiet
  loads+=("$(load1)")
  note "[$i/${#tests[@]}] $name: llama.cpp (load ${loads[-1]})"
  run_timed "llama$i" "$llama_bench" "${llama_common[@]}" -p "$np" -n "$ng" -d "$depth" -o json
  note "[$i/${#tests[@]}] $name: sieve"
  run_timed "sieve$i" "$sieve_bin" "${sieve_common[@]}" -p "$np" -n "$ng" -d "$depth"
  jq -c --arg name "$name" --arg kind "$kind" --argjson size "$size" --argjson depth "$depth" \
     --argjson lrss "$(tail -n 1 "$work/llama$i.rss")" --argjson srss "$(tail -n 1 "$work/sieve$i.rss")" \
     --arg load "${loads[-1]}" --slurpfile s "$work/sieve$i.json" \
     --argjson lbg "$(cat "$work/llama$i.bg")" --argjson sbg "$(cat "$work/sieve$i.bg")" \
     '(.[0]) as $l | ($s[0][0]) as $s |
      if $l == null or $s == null then error("missing result") else . end |
      {test: $name, kind: $kind, n_tokens: $size, depth: $depth, load_avg_1m: ($load | tonumber),
       llamacpp: {tokens_per_s: $l.avg_ts, tokens_per_s_std: $l.stddev_ts, samples_tokens_per_s: $l.samples_ts,
                  peak_rss_bytes: ($lrss * 1024), background_cpus: $lbg, build_commit: $l.build_commit, build_number: $l.build_number,
                  flash_attn: $l.flash_attn, type_k: $l.type_k, type_v: $l.type_v, n_threads: $l.n_threads,
                  cpu_info: $l.cpu_info, model_type: $l.model_type, model_size: $l.model_size},
       sieve: ($s + {peak_rss_bytes_time: ($srss * 1024), background_cpus: $sbg})}' \
     "$work/llama$i.json" >>"$work/results.jsonl" ||
    die "could not read the results of $name (llama.cpp: $work/llama$i.json, sieve: $work/sieve$i.json)"
done

jq -s . "$work/results.jsonl" >"$work/results.json"
[[ -z "$json_out" ]] || cp "$work/results.json" "$json_out"

# ---------------------------------------------------------------- table
cpu=$(grep -m1 '^model name' /proc/cpuinfo | sed 's/^[^:]*: *//' || echo unknown)
mem_gib=$(awk '/^MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo)
llama_version=$(jq -r '.[0].llamacpp | "\(.build_commit) (build \(.build_number))"' "$work/results.json")
fa_json=$(jq -r '.[0].llamacpp.flash_attn' "$work/results.json")
case "$fa_json" in -1) fa_desc=auto ;; 0) fa_desc=off ;; 1) fa_desc=on ;; *) fa_desc=$fa_json ;; esac
[[ -n "$fa" ]] || fa_desc+=" (llama-bench's default)"
[[ -z "$fa_resolved" ]] || fa_desc+=", resolved to $fa_resolved"
model_desc=$(jq -r '.[0].llamacpp | "\(.model_type), \(.model_size / 1048576 * 10 | round / 10) MiB"' "$work/results.json")
load_range=$(printf '%s\n' "${loads[@]}" | sort -g | sed -n '1p;$p' | paste -sd' ' - | awk '{print "min " $1 ", max " $NF}')

echo "**Model:** \`$model\` ($model_desc)  "
echo "**Machine:** $cpu, $(nproc) CPUs online, $mem_gib GiB RAM; $(uname -sr)  "
echo "**Date:** $(date -u '+%Y-%m-%d %H:%M UTC')  "
echo "**llama.cpp:** $llama_version, llama-bench$llama_note, flash attention $fa_desc, KV cache $cache_type/$cache_type  "
echo "**sieve:** $sieve_version, sieve bench, attention full, KV cache $cache_type  "
echo "**Settings:** $threads threads, $reps repetitions, tests interleaved (llama.cpp then sieve, per test)  "
echo "**Load:** 1-min load average before the tests: $load_range; *other CPU load* = CPUs kept busy by other processes (or stolen by the hypervisor) on average during the llama.cpp / sieve run of the test, from /proc/stat less the run's own CPU time  "
[[ -z "$bw" ]] || echo "**Bandwidth bound:** $bw_note; bound = bandwidth / (weight + KV bytes per token)  "
printf '**Command:** `bench/compare-llamacpp.sh'
for a in "${orig_args[@]}"; do
  if [[ "$a" =~ ^[A-Za-z0-9_./,=:+@%-]+$ ]]; then printf ' %s' "$a"; else printf ' %q' "$a"; fi
done
printf '`\n\n'

jq -r '.[] | [.test, .llamacpp.tokens_per_s, .llamacpp.tokens_per_s_std, .sieve.tokens_per_s, .sieve.tokens_per_s_std,
             .llamacpp.peak_rss_bytes, .sieve.peak_rss_bytes_time, .sieve.weight_bytes_per_token,
             .sieve.kv_bytes_per_token, .sieve.flops_per_token, .llamacpp.background_cpus,
             .sieve.background_cpus] | map(tostring) | join("\t")' "$work/results.json" |
  awk -F'\t' -v bw="$bw" '
    function row(a, n,   i, s) { s = "|"; for (i = 1; i <= n; i++) s = s " " a[i] " |"; print s }
    BEGIN {
      n = split("test|llama.cpp t/s|sieve t/s|sieve/llama.cpp|llama.cpp RSS MiB|sieve RSS MiB|weight MB/tok|KV MB/tok|GFLOP/tok|other CPU load", h, "|")
      if (bw != "") h[++n] = "bandwidth bound t/s"
      row(h, n)
      for (i = 1; i <= n; i++) h[i] = i == 1 ? "---" : "---:"
      row(h, n)
    }
    {
      c[1] = $1
      c[2] = sprintf("%.2f ± %.2f", $2, $3)
      c[3] = sprintf("%.2f ± %.2f", $4, $5)
      c[4] = $2 > 0 ? sprintf("%.2f", $4 / $2) : "?"
      c[5] = sprintf("%.1f", $6 / 1048576)
      c[6] = sprintf("%.1f", $7 / 1048576)
      c[7] = sprintf("%.2f", $8 / 1e6)
      c[8] = sprintf("%.3f", $9 / 1e6)
      c[9] = sprintf("%.4f", $10 / 1e9)
      c[10] = sprintf("%.2f / %.2f", $11, $12)
      if (bw != "") c[11] = sprintf("%.0f", bw * 1e9 / ($8 + $9))
      row(c, n)
    }'
