#!/usr/bin/env bash
# Regenerates tests/data/tokenizer/unigram-spm/: a small SentencePiece Unigram
# model (1000 pieces) trained by spm_train on the start of data/haystack.txt
# with its default nmt_nfkc normalizer, so the model carries a real
# precompiled character map and the default whitespace rules; the inputs
# (1500 haystack lines and crafted ones: whitespace runs, tabs, fullwidth
# forms, ligatures, decomposed accents, CJK, characters the model lacks,
# control characters); and spm_encode's ids for each input, one line each.
# The tests compare sieve's Unigram tokenizer with these ids, so they check
# it against SentencePiece itself, not against a re-derivation.
#
# Needs spm_train and spm_encode: apt-get install -y sentencepiece
set -euo pipefail
cd "$(dirname "$0")/.."

command -v spm_train >/dev/null || { echo "spm_train not found (apt-get install -y sentencepiece)" >&2; exit 1; }
out=tests/data/tokenizer/unigram-spm
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

head -c 400000 data/haystack.txt > "$tmp/train.txt"
printf 'Ｆｕｌｌｗｉｄｔｈ ＡＢＣ ① ﬁ café naïve Ⅻ ㍻ 한국어 日本語 Ελληνικά\n' >> "$tmp/train.txt"
spm_train --input="$tmp/train.txt" --model_prefix="$tmp/ugm" --vocab_size=1000 --model_type=unigram \
  --character_coverage=0.9995 --num_threads=1 > "$tmp/train.log" 2>&1
cp "$tmp/ugm.model" "$out/tokenizer.model"

python3 - "$out/inputs.txt" <<'PY'
import sys
lines = open("data/haystack.txt", encoding="utf-8", errors="surrogateescape").read().split("\n")
selected = [l for l in lines if l.strip()][3000:4500]
crafted = [
    "  leading spaces", "trailing spaces   ", "multiple    inner     spaces", "\ttabs\tand\t\ttabs",
    "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３", "ligatures ﬁ ﬂ ﬃ and ① ② ③ Ⅻ ㍻", "café naïve résumé (NFD: cafe\u0301)",
    "한국어 텍스트 日本語のテキスト 中文文本", "Ελληνικά και русский текст", "emoji 🙂🚀 and rare 龘 𠀋",
    "x" * 300, "a\u00a0b\u2003c\u3000d", "zero\u200bwidth\u200cjoin\u200d", "MiXeD CaSe WoRdS 42 3.14159",
    "!!!???...,,,;;;", "     ", "a", "control\x01\x02chars", "Ⓐⓑⓒ ㈱ ㎏ ½ ¼", "ﾊﾝｶｸ ｶﾀｶﾅ",
    "^^^^^^^^^^^^^^^^^^^^^^^^", "----------------------------------------", "==== ==== ====",
]
with open(sys.argv[1], "w", encoding="utf-8", errors="surrogateescape") as f:
    f.write("\n".join(selected + crafted) + "\n")
PY
spm_encode --model "$out/tokenizer.model" --output_format=id < "$out/inputs.txt" > "$out/ids.txt"
[ "$(wc -l < "$out/inputs.txt")" -eq "$(wc -l < "$out/ids.txt")" ] || { echo "line count mismatch" >&2; exit 1; }
echo "wrote $(wc -l < "$out/ids.txt") reference lines to $out"
