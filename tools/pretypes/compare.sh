#!/usr/bin/env bash
# Compares sieve's pre-tokenizers with llama.cpp's on crafted strings, for
# every tokenizer.ggml.pre value (compare.py). llama.cpp comes from the same
# cache as tools/fixtures/llamacpp-reference.sh (built there if missing);
# sieve from its build folder.
#
# usage: tools/pretypes/compare.sh [SIEVE_BUILD_DIR]   (default build)
#   SIEVE_LLAMACPP_SRC / SIEVE_LLAMACPP_BUILD point at another llama.cpp.
set -euo pipefail
cd "$(dirname "$0")/../.."
cache=${SIEVE_LLAMACPP_CACHE:-$HOME/.cache/sieve-llamacpp}
src=${SIEVE_LLAMACPP_SRC:-$cache/llama.cpp}
lbuild=${SIEVE_LLAMACPP_BUILD:-$cache/build}
sieve_build=${1:-build}
[ -d "$src" ] || { echo "no llama.cpp source at $src (run tools/fixtures/llamacpp-reference.sh once)" >&2; exit 1; }
if [ ! -f "$lbuild/src/libllama.a" ]; then
  cmake -S "$src" -B "$lbuild" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DLLAMA_OPENSSL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF >/dev/null
  ninja -C "$lbuild" llama >/dev/null
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
g++ -std=c++17 -O1 -I"$src/include" -I"$src/ggml/include" tools/pretypes/llamacpp_tokenize.cc \
  "$lbuild/src/libllama.a" "$lbuild/ggml/src/libggml.a" "$lbuild/ggml/src/libggml-cpu.a" \
  "$lbuild/ggml/src/libggml-base.a" -lgomp -lpthread -ldl -o "$tmp/llamacpp_tokenize"
g++ -std=c++20 -O1 -Isrc tools/pretypes/sieve_tokenize.cc "$sieve_build/libsieve_lib.a" \
  $(pkg-config --libs libpcre2-8 libhwy libpng) -lpthread -o "$tmp/sieve_tokenize"
python3 tools/pretypes/compare.py "$tmp/llamacpp_tokenize" "$tmp/sieve_tokenize"
