#!/usr/bin/env python3
"""Tokenizes crafted strings under every tokenizer.ggml.pre value sieve knows,
with sieve and with llama.cpp, on the GPT-2 test vocabulary relabelled with
each pre-type, and prints where they differ. Ids differ whenever the words
differ, since merges never cross a word boundary.

usage: compare.py LLAMACPP_TOKENIZE SIEVE_TOKENIZE   (see compare.sh)
"""
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "fuzz"))
import make_seeds as ms  # noqa: E402  (the GGUF reader/writer)

TEXTS = [
    "Hello World's 1234567 foo", "I'M  ok\n\nyes", "a+b=1234567, ok!", "`x` 12345 ab", "abc 2024 x1",
    "a      b", "cafe\u0301s 12", "a \n b", "we'llo", "x;\ny 12", "Hello big world 42",
    "Hello, 世界! 123\n", "Hello, 世界! 1234 x(foo)", "Hi!\n\n12345", "ab1234567 カタ", "한국 camelCase's 42",
    "camelCaseWord HTTPServer's I'M 12345/\n", "你好world 中文abc 12345", "hello world 1234567",
    "Hello, world! (x|y) 12", "a<sentinel:12>IMGIMGABZ  x\ty3!", "   leading and trailing   ",
    "tabs\t\tand\r\nCRLF\r\n", "ΣΑΣ ελληνικά Русский текст", "emoji 🙂🚀 x", "$100.00 + 5% = ^_^ ~~ || <=>",
    "don't DON'T we've You'Re THEY'LL she'd", "3.14159 2,000,000 1e10 0x1F", "x" * 40 + " " * 17 + "y",
    "\u00a0nbsp\u2003em\u3000ideo", "日本語のテキストです。カタカナ、ひらがな。", "مرحبا بالعالم ١٢٣", "हिन्दी पाठ।",
    "ok...!!!???", "line1\nline2\n\n\nline3", "  \n  \n", "UPPER lower Title MiXeD", "naïve façade coöperate",
]


def main():
    llama, sieve = sys.argv[1], sys.argv[2]
    vocab = os.path.join(ROOT, "tests", "data", "tokenizer-vectors", "ggml-vocab-gpt-2.gguf")
    kv, _ = ms.read_gguf(vocab)
    ms.write_gguf.__globals__["print"] = lambda *a, **k: None
    with tempfile.TemporaryDirectory() as tmp:
        texts = os.path.join(tmp, "texts")
        with open(texts, "wb") as f:
            f.write("\n__sep__\n".join(TEXTS).encode())
        probe = os.path.join(tmp, "probe.gguf")
        ms.write_gguf(probe, [(k, t, b"?" if k == b"tokenizer.ggml.pre" else v) for k, t, v in kv], [])
        msg = subprocess.run([sieve, probe, texts], capture_output=True, text=True).stdout
        names = msg.split("known: ")[1].strip().split(", ")
        agree = 0
        for pre in names:
            path = os.path.join(tmp, "vocab.gguf")
            ms.write_gguf(path, [(k, t, pre.encode() if k == b"tokenizer.ggml.pre" else v) for k, t, v in kv], [])
            ref = subprocess.run([llama, path, texts], capture_output=True, text=True).stdout.split("\n")
            got = subprocess.run([sieve, path, texts], capture_output=True, text=True).stdout.split("\n")
            if ref[0] == "LOADFAIL":
                print(f"{pre:26s} not known to this llama.cpp")
                continue
            bad = [i for i in range(len(TEXTS)) if ref[i] != got[i]]
            if bad:
                print(f"{pre:26s} differs on {[TEXTS[i] for i in bad]}")
            else:
                agree += 1
        print(f"{agree} of {len(names)} pre-types agree with llama.cpp on all {len(TEXTS)} texts")


if __name__ == "__main__":
    main()
