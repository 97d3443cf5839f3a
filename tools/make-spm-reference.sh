#!/usr/bin/env bash
# Regenerates tests/data/tokenizer/haystack-spm-ids.txt: SentencePiece's own
# token ids for lines of data/haystack.txt, so the tokenizer tests compare
# sieve against the reference implementation rather than against itself.
#
# spm_encode encodes its input line by line (the newline is not part of the
# text), so the reference is per line: the first 2000 non-empty lines plus
# every later non-empty line with a non-ASCII byte (those exercise byte
# fallback). Output format: "<1-based line number>\t<space-separated ids>".
#
# Needs spm_encode: apt-get install -y sentencepiece
set -euo pipefail
cd "$(dirname "$0")/.."

model=models/sieve-test-27m/tokenizer.model
input=data/haystack.txt
out=tests/data/tokenizer/haystack-spm-ids.txt

command -v spm_encode >/dev/null || { echo "spm_encode not found (apt-get install -y sentencepiece)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

LC_ALL=C awk 'length($0) > 0 { n++; if (n <= 2000 || $0 ~ /[\200-\377]/) print NR "\t" $0 }' "$input" > "$tmp/selected"
cut -f1 "$tmp/selected" > "$tmp/numbers"
cut -f2- "$tmp/selected" | spm_encode --model "$model" --output_format=id > "$tmp/ids"
[ "$(wc -l < "$tmp/numbers")" -eq "$(wc -l < "$tmp/ids")" ] || { echo "line count mismatch" >&2; exit 1; }
paste "$tmp/numbers" "$tmp/ids" > "$out"
echo "wrote $(wc -l < "$out") lines to $out"
